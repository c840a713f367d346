//! `ingot::hooks`: the callbacks see the program's allocations, frees and
//! reallocations through the global allocator, and nothing once cleared.
//!
//! Only the test thread's calls are recorded (a thread-local flag), so the
//! harness's other threads do not disturb the counts.
#![cfg(feature = "std")]

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use ingot::hooks::{self, Hooks};
use ingot::Ingot;

#[global_allocator]
static A: Ingot = Ingot;

thread_local! {
    static RECORDING: Cell<bool> = const { Cell::new(false) };
}

#[derive(Default)]
struct Recorder {
    allocs: AtomicUsize,
    frees: AtomicUsize,
    resizes: AtomicUsize,
    /// The last calls, as (kind, ptr, requested, usable); made while
    /// reporting is off for this thread, so the Vec's own growth is not
    /// reported back.
    log: Mutex<Vec<(char, usize, usize, usize)>>,
}

impl Recorder {
    fn record(&self, kind: char, ptr: *mut u8, requested: usize, usable: usize) {
        if RECORDING.with(|r| r.get()) {
            let counter = match kind {
                'a' => &self.allocs,
                'f' => &self.frees,
                _ => &self.resizes,
            };
            counter.fetch_add(1, Ordering::Relaxed);
            self.log
                .lock()
                .unwrap()
                .push((kind, ptr as usize, requested, usable));
        }
    }
}

impl Hooks for Recorder {
    fn on_alloc(&self, ptr: *mut u8, requested: usize, usable: usize) {
        self.record('a', ptr, requested, usable);
    }
    fn on_free(&self, ptr: *mut u8, usable: usize) {
        self.record('f', ptr, 0, usable);
    }
    fn on_resize(&self, _old: *mut u8, new_ptr: *mut u8, requested: usize, usable: usize) {
        self.record('r', new_ptr, requested, usable);
    }
}

#[test]
fn hooks_see_allocations_frees_and_resizes() {
    let rec: &'static Recorder = Box::leak(Box::default());
    hooks::set(rec);
    RECORDING.with(|r| r.set(true));

    let b = Box::new([7u8; 100]);
    let addr = &*b as *const [u8; 100] as usize;
    drop(b);
    let mut v: Vec<u64> = Vec::with_capacity(4);
    v.extend(0..1000); // grows by reallocation
    let big = vec![0u8; 3 << 20];
    drop(big);
    drop(v);

    RECORDING.with(|r| r.set(false));
    hooks::clear();
    let log = rec.log.lock().unwrap().clone();

    // The Box: one allocation of 100 bytes, then its free, same address.
    let alloc = log
        .iter()
        .find(|e| e.0 == 'a' && e.1 == addr)
        .expect("the Box's allocation");
    assert_eq!(alloc.2, 100);
    assert!(alloc.3 >= 100, "usable {} < 100", alloc.3);
    assert!(
        log.iter().any(|e| e.0 == 'f' && e.1 == addr),
        "the Box's free: {log:?}"
    );
    // The Vec's growth and the 3 MiB buffer.
    assert!(
        rec.resizes.load(Ordering::Relaxed) >= 1,
        "no resize: {log:?}"
    );
    assert!(log
        .iter()
        .any(|e| e.0 == 'r' && e.2 == 8000 || e.0 == 'r' && e.2 >= 8000));
    assert!(
        log.iter().any(|e| e.0 == 'a' && e.2 == 3 << 20),
        "the 3 MiB allocation"
    );
    assert!(rec.allocs.load(Ordering::Relaxed) >= 3);
    assert!(rec.frees.load(Ordering::Relaxed) >= 3);

    // Cleared: nothing more is reported, even while recording.
    let before = rec.allocs.load(Ordering::Relaxed);
    RECORDING.with(|r| r.set(true));
    let after_clear = Box::new(1u64);
    drop(after_clear);
    RECORDING.with(|r| r.set(false));
    assert_eq!(rec.allocs.load(Ordering::Relaxed), before);
}

//! ingot as the global allocator of a whole Rust program: this test binary.
//!
//! Everything the program allocates (the test harness included) goes through
//! `ingot::Ingot`. The tests use the standard collections across threads,
//! over-aligned and zero-sized types, large and zeroed buffers and
//! reallocation, and check through `ingot::stats()` that ingot served them
//! and through `ingot::check()` that its heap stayed consistent.
//!
//! The tests take one lock each, so that the counter deltas they assert are
//! theirs (the harness runs tests on several threads). The harness's own
//! threads still allocate and free meanwhile, and `allocated` leaves out
//! what every thread's cache holds, which moves by a cache's worth when one
//! of them fills, flushes or exits: so the deltas allow `SLACK`.

use std::alloc::{GlobalAlloc, Layout};
use std::collections::{BTreeMap, HashMap};
use std::sync::{mpsc, Mutex, MutexGuard};
use std::thread;

use ingot::Ingot;

#[global_allocator]
static A: Ingot = Ingot;

const MIB: usize = 1 << 20;
/// What the harness may allocate or free while a test runs.
const SLACK: usize = 1 << 20;

fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The counters are only complete with the `stats` feature (the default).
const STATS: bool = cfg!(feature = "stats");

fn allocated() -> usize {
    ingot::stats().allocated
}

fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("read /proc/self/statm");
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

fn assert_aligned<T>(p: *const T, align: usize, what: &str) {
    assert_eq!(
        p as usize % align,
        0,
        "{what}: {p:?} not aligned to {align}"
    );
}

fn assert_heap_ok() {
    assert_eq!(ingot::check(), Ok(()), "ingot::check() after the test");
}

#[test]
fn serves_the_global_allocations() {
    let _g = serial();
    let before = allocated();
    let v = vec![7u8; 64 * MIB];
    let b: Box<[u64]> = vec![3u64; MIB].into_boxed_slice();
    let s = "ingot".repeat(MIB);
    let during = allocated();
    assert!(v.iter().step_by(4096).all(|&x| x == 7));
    assert!(b.iter().all(|&x| x == 3));
    assert_eq!(s.len(), 5 * MIB);
    if STATS {
        let expect = 64 * MIB + 8 * MIB + 5 * MIB;
        assert!(
            during + SLACK >= before + expect,
            "allocated {before} -> {during}, expected +{expect}"
        );
    }
    drop((v, b, s));
    let after = allocated();
    if STATS {
        assert!(
            after + 70 * MIB <= during,
            "allocated {during} -> {after} after the drops"
        );
    }
    let st = ingot::stats();
    assert!(st.mapped >= st.active, "{st:?}");
    assert!(st.resident >= st.active, "{st:?}");
    assert!(st.metadata > 0, "{st:?}");
    assert_heap_ok();
}

#[test]
fn collections_across_threads() {
    let _g = serial();
    const THREADS: usize = 4;
    const N: u64 = 100_000;
    let before = allocated();

    type Batch = (
        Vec<String>,
        HashMap<u64, String>,
        BTreeMap<String, Vec<u8>>,
        Box<[u64]>,
    );
    let (tx, rx) = mpsc::channel::<(usize, Batch)>();
    let makers: Vec<_> = (0..THREADS)
        .map(|t| {
            let tx = tx.clone();
            thread::spawn(move || {
                let strings: Vec<String> = (0..N).map(|i| format!("{t}:{i}")).collect();
                let hash: HashMap<u64, String> = (0..N).map(|i| (i, i.to_string())).collect();
                let btree: BTreeMap<String, Vec<u8>> = (0..N)
                    .map(|i| (format!("{i:08}"), vec![t as u8; (i % 64) as usize]))
                    .collect();
                let boxed: Box<[u64]> = (0..N).map(|i| i * t as u64).collect();
                tx.send((t, (strings, hash, btree, boxed))).unwrap();
            })
        })
        .collect();
    drop(tx);
    for m in makers {
        m.join().unwrap();
    }
    let batches: Vec<(usize, Batch)> = rx.iter().collect();
    assert_eq!(batches.len(), THREADS);
    if STATS {
        // At least the strings' bytes and the boxed slices are live now.
        let at_least = THREADS * (N as usize) * (8 + 8);
        let during = allocated();
        assert!(
            during + SLACK >= before + at_least,
            "allocated {before} -> {during}, expected +{at_least}"
        );
    }

    // Checked and dropped on other threads than the ones that made them.
    let checkers: Vec<_> = batches
        .into_iter()
        .map(|(t, (strings, hash, btree, boxed))| {
            thread::spawn(move || {
                for (i, s) in strings.iter().enumerate() {
                    assert_eq!(*s, format!("{t}:{i}"));
                }
                for i in (0..N).step_by(97) {
                    assert_eq!(hash[&i], i.to_string());
                    let v = &btree[&format!("{i:08}")];
                    assert_eq!(v.len(), (i % 64) as usize);
                    assert!(v.iter().all(|&b| b == t as u8));
                    assert_eq!(boxed[i as usize], i * t as u64);
                }
            })
        })
        .collect();
    for c in checkers {
        c.join().unwrap();
    }
    if STATS {
        // Threads flush their caches when they exit: back near the start.
        let after = allocated();
        assert!(
            after < before + 4 * MIB,
            "allocated {before} -> {after} after the threads"
        );
    }
    assert_heap_ok();
}

#[repr(align(32))]
struct A32([u8; 40]);
#[repr(align(64))]
struct A64(u8);
#[repr(align(4096))]
struct A4096([u64; 3]);
#[repr(align(2097152))]
struct A2M([u8; 100]);

#[test]
fn over_aligned_types() {
    let _g = serial();
    let boxes32: Vec<Box<A32>> = (0..1000).map(|i| Box::new(A32([i as u8; 40]))).collect();
    let boxes64: Vec<Box<A64>> = (0..1000).map(|i| Box::new(A64(i as u8))).collect();
    let boxes4k: Vec<Box<A4096>> = (0..64).map(|i| Box::new(A4096([i; 3]))).collect();
    // Box::new would build a 2 MiB value on the stack first: allocate it in
    // place (through the global allocator) and let the Box free it.
    let boxes2m: Vec<Box<A2M>> = (0..4)
        .map(|i| unsafe {
            let p = std::alloc::alloc(Layout::new::<A2M>()).cast::<A2M>();
            assert!(!p.is_null());
            p.write_bytes(0, 1);
            (*p).0 = [i; 100];
            Box::from_raw(p)
        })
        .collect();
    for (i, b) in boxes32.iter().enumerate() {
        assert_aligned(&**b, 32, "Box<A32>");
        assert!(b.0.iter().all(|&x| x == i as u8));
    }
    for (i, b) in boxes64.iter().enumerate() {
        assert_aligned(&**b, 64, "Box<A64>");
        assert_eq!(b.0, i as u8);
    }
    for (i, b) in boxes4k.iter().enumerate() {
        assert_aligned(&**b, 4096, "Box<A4096>");
        assert_eq!(b.0, [i as u64; 3]);
    }
    for (i, b) in boxes2m.iter().enumerate() {
        assert_aligned(&**b, 2 * MIB, "Box<A2M>");
        assert!(b.0.iter().all(|&x| x == i as u8));
    }

    // Growing a Vec reallocates: the alignment and the contents must stay.
    let mut v: Vec<A4096> = Vec::new();
    for i in 0..3000u64 {
        v.push(A4096([i, i + 1, i + 2]));
        assert_aligned(v.as_ptr(), 4096, "Vec<A4096> after a push");
    }
    assert!(v
        .iter()
        .enumerate()
        .all(|(i, x)| x.0 == [i as u64, i as u64 + 1, i as u64 + 2]));
    v.truncate(10);
    v.shrink_to_fit();
    assert_aligned(v.as_ptr(), 4096, "Vec<A4096> after shrink_to_fit");
    assert_eq!(v[9].0, [9, 10, 11]);
    assert_heap_ok();
}

#[test]
fn alignments_up_to_1gib() {
    let _g = serial();
    for lg in 0..=30 {
        let align = 1usize << lg;
        // Sizes past the alignment only up to 1 MiB: beyond, realloc would
        // copy (and make resident) up to a gibibyte for nothing.
        for size in [1, 24, 1000, align.min(MIB), align.min(MIB) + 1] {
            let layout = Layout::from_size_align(size, align).unwrap();
            unsafe {
                let p = std::alloc::alloc(layout);
                assert!(!p.is_null(), "alloc {layout:?}");
                assert_aligned(p, align, "alloc");
                p.write(0x5a);
                p.add(size - 1).write(0xa5);
                // realloc keeps the alignment and the contents
                let new_size = size * 2 + 100;
                let q = std::alloc::realloc(p, layout, new_size);
                assert!(!q.is_null(), "realloc {layout:?} to {new_size}");
                assert_aligned(q, align, "realloc");
                assert_eq!(q.read(), if size == 1 { 0xa5 } else { 0x5a });
                assert_eq!(q.add(size - 1).read(), 0xa5);
                std::alloc::dealloc(q, Layout::from_size_align(new_size, align).unwrap());
            }
        }
    }
    assert_heap_ok();
}

#[test]
fn zero_sized_types() {
    let _g = serial();
    let before = allocated();
    let mut units: Vec<()> = Vec::new();
    for _ in 0..1_000_000 {
        units.push(());
    }
    let boxed_unit = Box::new(());
    let empty: Box<[u64]> = Vec::new().into_boxed_slice();
    let zst_array = Box::new([(); 1000]);
    assert_eq!(units.len(), 1_000_000);
    if STATS {
        let now = allocated();
        assert!(
            now < before + SLACK,
            "zero-sized values allocated: {before} -> {now}"
        );
    }
    drop((units, boxed_unit, empty, zst_array));

    // GlobalAlloc callers may still pass zero sizes: each gets a distinct,
    // aligned block that can be reallocated and freed.
    let mut blocks = Vec::new();
    for lg in [0, 3, 4, 5, 6, 12, 16, 21] {
        let layout = Layout::from_size_align(0, 1 << lg).unwrap();
        for _ in 0..3 {
            let p = unsafe { A.alloc(layout) };
            assert!(!p.is_null(), "alloc {layout:?}");
            assert_aligned(p, layout.align(), "zero-size alloc");
            blocks.push((p, layout));
        }
    }
    let mut addrs: Vec<usize> = blocks.iter().map(|&(p, _)| p as usize).collect();
    addrs.sort_unstable();
    addrs.dedup();
    assert_eq!(addrs.len(), blocks.len(), "zero-size blocks are distinct");
    for (p, layout) in blocks {
        unsafe {
            let z = A.alloc_zeroed(layout);
            assert!(!z.is_null());
            A.dealloc(z, layout);
            let q = A.realloc(p, layout, 0);
            assert!(!q.is_null(), "realloc to size 0 keeps a block");
            assert_aligned(q, layout.align(), "zero-size realloc");
            A.dealloc(q, layout);
        }
    }
    assert_heap_ok();
}

#[test]
fn large_buffers_and_realloc() {
    let _g = serial();
    // Vec growth: a chain of reallocations up to 96 MiB.
    let mut v: Vec<u32> = Vec::new();
    for i in 0..(24 * MIB as u32) {
        v.push(i);
    }
    assert!(v
        .iter()
        .enumerate()
        .step_by(1021)
        .all(|(i, &x)| x == i as u32));
    v.truncate(1000);
    v.shrink_to_fit();
    assert!(v.iter().enumerate().all(|(i, &x)| x == i as u32));

    let mut s = String::new();
    for i in 0..200_000 {
        s.push_str(&i.to_string());
    }
    assert!(s.starts_with("0123456789101112"));

    // Reallocation of an over-aligned block through every size range.
    let align = 64;
    let mut layout = Layout::from_size_align(100, align).unwrap();
    unsafe {
        let mut p = A.alloc(layout);
        for i in 0..100 {
            p.add(i).write(i as u8);
        }
        for new_size in [200, 5000, 40_000, 3 * MIB, 40 * MIB, 1000, 100] {
            p = A.realloc(p, layout, new_size);
            assert!(!p.is_null(), "realloc to {new_size}");
            assert_aligned(p, align, "realloc");
            for i in 0..100 {
                assert_eq!(
                    p.add(i).read(),
                    i as u8,
                    "byte {i} after realloc to {new_size}"
                );
            }
            layout = Layout::from_size_align(new_size, align).unwrap();
        }
        A.dealloc(p, layout);
    }
    assert_heap_ok();
}

#[test]
fn zeroed_allocations() {
    let _g = serial();
    // Reused memory is cleared: dirty a block of each size, free it, and
    // ask for zeroed memory of the same layout.
    for &(size, align) in &[
        (1, 1),
        (24, 8),
        (100, 16),
        (1000, 64),
        (5000, 4096),
        (40_000, 16),
        (3 * MIB, 16),
        (3 * MIB, 2 * MIB),
    ] {
        let layout = Layout::from_size_align(size, align).unwrap();
        for _ in 0..4 {
            unsafe {
                let dirty = A.alloc(layout);
                std::ptr::write_bytes(dirty, 0xff, size);
                A.dealloc(dirty, layout);
                let z = A.alloc_zeroed(layout);
                assert_aligned(z, align, "alloc_zeroed");
                let bytes = std::slice::from_raw_parts(z, size);
                assert!(
                    bytes.iter().all(|&b| b == 0),
                    "alloc_zeroed {layout:?} not zero"
                );
                A.dealloc(z, layout);
            }
        }
    }

    // Fresh pages are zero already: a large zeroed block is not written, so
    // it does not become resident.
    for align in [16, 2 * MIB] {
        let layout = Layout::from_size_align(256 * MIB, align).unwrap();
        let rss_before = rss();
        let z = unsafe { A.alloc_zeroed(layout) };
        assert!(!z.is_null());
        let grew = rss().saturating_sub(rss_before);
        assert!(
            grew < 16 * MIB,
            "alloc_zeroed of 256 MiB (align {align}) made {grew} bytes resident"
        );
        let bytes = unsafe { std::slice::from_raw_parts(z, layout.size()) };
        assert!(bytes.iter().step_by(4093).all(|&b| b == 0));
        unsafe { A.dealloc(z, layout) };
    }
    // vec! of zeros takes the same path.
    let rss_before = rss();
    let v = vec![0u64; 32 * MIB];
    let grew = rss().saturating_sub(rss_before);
    assert!(
        grew < 16 * MIB,
        "vec![0u64; 32 Mi] made {grew} bytes resident"
    );
    assert_eq!(v[12345], 0);
    drop(v);
    assert_heap_ok();
}

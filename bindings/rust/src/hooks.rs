//! Allocation hooks, for profilers and tracers: a safe wrapper over
//! `ingot_hooks_set`.
//!
//! A profiler such as Tracy wants to hear of every allocation and free. With
//! ingot as the global allocator the program need not wrap [`GlobalAlloc`]
//! for that: it installs a [`Hooks`] value and ingot calls it.
//!
//! ```
//! use std::sync::atomic::{AtomicUsize, Ordering};
//!
//! #[global_allocator]
//! static GLOBAL: ingot::Ingot = ingot::Ingot;
//!
//! struct Count(AtomicUsize);
//! impl ingot::hooks::Hooks for Count {
//!     fn on_alloc(&self, _ptr: *mut u8, _requested: usize, _usable: usize) {
//!         self.0.fetch_add(1, Ordering::Relaxed);
//!     }
//! }
//! static COUNT: Count = Count(AtomicUsize::new(0));
//!
//! fn main() {
//!     ingot::hooks::set(&COUNT);
//!     let v: Vec<Box<u64>> = (0..100).map(Box::new).collect();
//!     ingot::hooks::clear();
//!     assert!(COUNT.0.load(Ordering::Relaxed) >= 101);
//!     drop(v);
//! }
//! ```
//!
//! What ingot reports: every call that goes through ingot, which is every
//! allocation of a program whose global allocator is [`crate::Ingot`]
//! (and nothing of C code that uses the C library's `malloc`). Allocations
//! a callback makes are not reported, so callbacks may allocate. Hooks set
//! before the first allocation see every call; set later, they see the
//! calling thread's calls at once and every other thread's from that
//! thread's next cache refill, flush or garbage pass (at most a few thousand
//! allocations later). While hooks are set, every allocation takes ingot's
//! slower checked path.
//!
//! A callback runs on the allocating thread, inside the allocator: it must
//! not block on a lock that a thread allocating meanwhile may hold. A panic
//! in a callback aborts the process.
//!
//! [`GlobalAlloc`]: core::alloc::GlobalAlloc

use core::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::sys;

/// The callbacks. Each has a default that does nothing, so an
/// implementation writes only those it needs.
pub trait Hooks: Sync + 'static {
    /// A block of `usable` bytes at `ptr` was handed out for a request of
    /// `requested` bytes.
    fn on_alloc(&self, ptr: *mut u8, requested: usize, usable: usize) {
        let _ = (ptr, requested, usable);
    }

    /// The block of `usable` bytes at `ptr` was freed.
    fn on_free(&self, ptr: *mut u8, usable: usize) {
        let _ = (ptr, usable);
    }

    /// The block at `old_ptr` was resized (reallocated) to `usable` bytes at
    /// `new_ptr` for a request of `requested` bytes; `old_ptr == new_ptr`
    /// when it was resized in place.
    fn on_resize(&self, old_ptr: *mut u8, new_ptr: *mut u8, requested: usize, usable: usize) {
        let _ = (old_ptr, new_ptr, requested, usable);
    }
}

/// Runs a callback; a panic must not unwind into ingot's C code.
fn guarded(f: impl FnOnce()) {
    if catch_unwind(AssertUnwindSafe(f)).is_err() {
        std::process::abort();
    }
}

unsafe extern "C" fn on_alloc<H: Hooks>(
    ctx: *mut c_void,
    ptr: *mut c_void,
    requested: usize,
    usable: usize,
) {
    // SAFETY: ctx is the &'static H that set() installed.
    let hooks = &*(ctx as *const H);
    guarded(|| hooks.on_alloc(ptr.cast(), requested, usable));
}

unsafe extern "C" fn on_free<H: Hooks>(ctx: *mut c_void, ptr: *mut c_void, usable: usize) {
    // SAFETY: as in on_alloc.
    let hooks = &*(ctx as *const H);
    guarded(|| hooks.on_free(ptr.cast(), usable));
}

unsafe extern "C" fn on_resize<H: Hooks>(
    ctx: *mut c_void,
    old_ptr: *mut c_void,
    new_ptr: *mut c_void,
    requested: usize,
    usable: usize,
) {
    // SAFETY: as in on_alloc.
    let hooks = &*(ctx as *const H);
    guarded(|| hooks.on_resize(old_ptr.cast(), new_ptr.cast(), requested, usable));
}

/// Installs `hooks`, in place of any hooks set before.
///
/// `hooks` is `'static` because threads that read the previous record may
/// still be inside its callbacks when this returns; a value that lives for
/// the whole program never dangles. (A value made at run time can be given
/// with `Box::leak`.)
pub fn set<H: Hooks>(hooks: &'static H) {
    let record = sys::IngotHooks {
        on_alloc: Some(on_alloc::<H>),
        on_free: Some(on_free::<H>),
        on_resize: Some(on_resize::<H>),
        ctx: hooks as *const H as *mut c_void,
    };
    // SAFETY: ingot copies the record; ctx is 'static and Sync, and the
    // trampolines match ctx's type.
    unsafe { sys::ingot_hooks_set(&record) };
}

/// Removes the hooks: from the return on, no callback starts (one that
/// started before may still be running on another thread).
pub fn clear() {
    // SAFETY: null removes the hooks.
    unsafe { sys::ingot_hooks_set(core::ptr::null()) };
}

//! ingot as Rust's global allocator.
//!
//! ingot is a memory allocator written in C (size-class slabs, per-thread
//! caches, a central page heap). This crate compiles it from the ingot tree
//! it sits in and links it statically; the library defines only `ingot_*`
//! names, so it serves Rust's allocations without replacing the C library's
//! `malloc` for the rest of the process.
//!
//! ```
//! #[global_allocator]
//! static GLOBAL: ingot::Ingot = ingot::Ingot;
//!
//! fn main() {
//!     let v: Vec<u64> = (0..1000).collect();
//!     assert_eq!(v[999], 999);
//!     assert!(ingot::check().is_ok());
//! }
//! ```
//!
//! Beside the allocator: [`ctl`], typed reads and writes of ingot's
//! `mallctl` names (statistics, purging, decay, per-thread counters, the
//! background thread, profiling; raw names and MIBs); [`malloc_conf!`],
//! options compiled into the program; [`profile`], the checks live in this
//! process; [`stats`] and [`check`]; and [`sys`], the raw C declarations.
//!
//! Cargo features choose ingot's build profile: `stats` (default: the
//! counters behind [`stats`]), `hardened` (every hardening: double and
//! invalid free detection, canaries, guard pages, ...), `debug` (assertions
//! and junk filling). The `std` feature (default) adds `prof`, heap
//! profiling, whose calls take file paths, and `hooks`, allocation callbacks
//! for profilers; without it the crate is `no_std`.
#![no_std]

#[cfg(feature = "std")]
extern crate std;

pub mod ctl;
#[cfg(feature = "std")]
pub mod hooks;
#[cfg(feature = "std")]
pub mod prof;

use core::alloc::{GlobalAlloc, Layout};
use core::fmt;

/// The allocator. Make it the global allocator with
/// `#[global_allocator] static GLOBAL: ingot::Ingot = ingot::Ingot;`.
///
/// Every [`Layout`] is honoured: any power-of-two alignment the system can
/// map (1 GiB and beyond), zero sizes, zeroed allocations (memory ingot
/// knows to be zero, such as fresh pages, is not written again), reallocation
/// that keeps the alignment, and deallocation that hands ingot the size.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ingot;

/// Every block ingot returns is aligned to its 16-byte quantum.
const QUANTUM: usize = 16;
/// `MALLOCX_ZERO` of ingot's jemalloc-style flags.
const MALLOCX_ZERO: i32 = 0x40;

/// The flag word of a layout: `MALLOCX_LG_ALIGN(lg)` when the alignment is
/// above what every block has anyway, else 0 (the fast paths).
#[inline(always)]
fn align_flags(layout: Layout) -> i32 {
    if layout.align() <= QUANTUM {
        0
    } else {
        // A power of two below 2^64: lg is at most 63, within the 6 bits.
        layout.align().trailing_zeros() as i32
    }
}

// SAFETY: ingot returns blocks of at least the requested size at the
// requested alignment, or null; a block stays valid until it is freed; the
// functions are thread-safe. The size and flags given back on free and
// reallocation are those of the layout the block was allocated with, as
// GlobalAlloc's contract guarantees.
unsafe impl GlobalAlloc for Ingot {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        sys::ingot_mallocx(layout.size(), align_flags(layout)).cast()
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        sys::ingot_mallocx(layout.size(), align_flags(layout) | MALLOCX_ZERO).cast()
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        sys::ingot_sdallocx(ptr.cast(), layout.size(), align_flags(layout))
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // On failure the block stays where it was, as GlobalAlloc requires.
        sys::ingot_rallocx(ptr.cast(), new_size, align_flags(layout)).cast()
    }
}

/// ingot's main counters, in bytes (see `struct ingot_stats` in ingot.h).
///
/// Without the `stats` feature the counters of large blocks are compiled
/// out, so `allocated`, `active` and `mapped` count less than is there.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Bytes in live allocations (by size class).
    pub allocated: usize,
    /// Bytes in pages that hold live allocations.
    pub active: usize,
    /// Bytes of pages that may be resident: active, dirty and metadata.
    pub resident: usize,
    /// Bytes mapped from the operating system.
    pub mapped: usize,
    /// Bytes of ingot's own bookkeeping.
    pub metadata: usize,
    /// Bytes mapped but given back to the operating system (purged).
    pub retained: usize,
}

/// The counters as of the call, over every thread.
pub fn stats() -> Stats {
    let mut raw = sys::IngotStats::default();
    // SAFETY: ingot_stats_get fills the struct it is given; any thread may
    // call it at any time.
    unsafe { sys::ingot_stats_get(&mut raw) };
    Stats {
        allocated: raw.allocated,
        active: raw.active,
        resident: raw.resident,
        mapped: raw.mapped,
        metadata: raw.metadata,
        retained: raw.retained,
    }
}

/// The crate's version, which is that of the ingot C sources it builds.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The checks in force in this process: `"hardened"`, `"debug"` or
/// `"default"`.
///
/// A build with the `hardened` feature is always hardened. Otherwise the
/// profile is the option `profile` read at start, from (later overriding
/// earlier) the program's [`malloc_conf!`], `MALLOC_CONF`, then `INGOT_CONF`
/// (`INGOT_CONF=profile:hardened` switches a built program without a
/// rebuild); a build with the `debug` feature reads `"debug"` where that
/// option says `"default"`.
pub fn profile() -> &'static str {
    if cfg!(feature = "hardened") {
        return "hardened";
    }
    match ctl::opt::profile::read() {
        Ok("default") | Err(_) if cfg!(feature = "debug") => "debug",
        Ok(name) => name,
        Err(_) => "default",
    }
}

/// Sets ingot's options from inside the program, at build time: ingot's
/// equivalent of jemalloc's `malloc_conf` symbol.
///
/// ```
/// ingot::malloc_conf!("dirty_decay_ms:5000,background_thread:true");
///
/// #[global_allocator]
/// static GLOBAL: ingot::Ingot = ingot::Ingot;
/// # fn main() {
/// # if std::env::var_os("INGOT_CONF").is_none() && std::env::var_os("MALLOC_CONF").is_none() {
/// assert_eq!(ingot::ctl::opt::dirty_decay_ms::read(), Ok(5000));
/// # }
/// # }
/// ```
///
/// The string, in jemalloc's syntax (`name:value,name:value`), is read once
/// at start, before `MALLOC_CONF` and `INGOT_CONF`, which override it (so an
/// operator can still change a setting without a rebuild). The macro defines
/// the C symbol `ingot_malloc_conf`, which the linked ingot reads (the
/// crate's build defines only `ingot_*` names, so jemalloc's `malloc_conf`
/// name is left to the C library's allocator). Use it once, in the crate of
/// the final binary (a definition in a library crate can be left out by the
/// linker, as nothing else refers to it).
#[macro_export]
macro_rules! malloc_conf {
    ($conf:literal) => {
        #[no_mangle]
        #[used]
        #[allow(non_upper_case_globals)]
        static ingot_malloc_conf: $crate::ConfString =
            $crate::ConfString::new(concat!($conf, "\0"));
    };
}

/// The value behind [`malloc_conf!`]: a pointer to a NUL-terminated string
/// that lives as long as the program, as C's `const char *`.
#[repr(transparent)]
pub struct ConfString(*const u8);

// SAFETY: the pointer leads to a 'static string that nobody writes.
unsafe impl Sync for ConfString {}

impl ConfString {
    /// Wraps `conf`, which must end with a NUL byte (checked at compile
    /// time when used in a static, as malloc_conf! does).
    pub const fn new(conf: &'static str) -> ConfString {
        let bytes = conf.as_bytes();
        assert!(
            !bytes.is_empty() && bytes[bytes.len() - 1] == 0,
            "the option string must end with a NUL byte"
        );
        ConfString(bytes.as_ptr())
    }
}

/// Verifies every invariant of ingot's heap.
///
/// Safe at any moment from any thread. On failure ingot has written one line
/// naming the first broken invariant to stderr.
pub fn check() -> Result<(), HeapCorrupted> {
    // SAFETY: ingot_check only reads the heap, under its locks.
    if unsafe { sys::ingot_check() } == 0 {
        Ok(())
    } else {
        Err(HeapCorrupted)
    }
}

/// [`check`] found a broken heap invariant (described on stderr).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeapCorrupted;

impl fmt::Display for HeapCorrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ingot heap check failed (the broken invariant is on stderr)")
    }
}

/// The raw C declarations of `include/ingot.h` that the safe API uses
/// (what an `ingot-sys` crate would hold). Everything here is `unsafe` to
/// call; [`ctl`] and the rest of the crate wrap it.
pub mod sys {
    use core::ffi::c_void;

    /// `struct ingot_stats`.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default)]
    pub struct IngotStats {
        pub allocated: usize,
        pub active: usize,
        pub metadata: usize,
        pub resident: usize,
        pub mapped: usize,
        pub retained: usize,
    }

    /// `struct ingot_hooks`.
    #[repr(C)]
    pub struct IngotHooks {
        pub on_alloc: Option<unsafe extern "C" fn(*mut c_void, *mut c_void, usize, usize)>,
        pub on_free: Option<unsafe extern "C" fn(*mut c_void, *mut c_void, usize)>,
        pub on_resize:
            Option<unsafe extern "C" fn(*mut c_void, *mut c_void, *mut c_void, usize, usize)>,
        pub ctx: *mut c_void,
    }

    // C's int is i32 on every target ingot builds for (core::ffi::c_int
    // needs Rust 1.64; the crate builds with 1.63, Debian 12's).
    extern "C" {
        pub fn ingot_mallocx(size: usize, flags: i32) -> *mut c_void;
        pub fn ingot_rallocx(ptr: *mut c_void, size: usize, flags: i32) -> *mut c_void;
        pub fn ingot_sdallocx(ptr: *mut c_void, size: usize, flags: i32);
        pub fn ingot_stats_get(out: *mut IngotStats);
        pub fn ingot_check() -> i32;
        pub fn ingot_hooks_set(hooks: *const IngotHooks) -> i32;
        pub fn ingot_mallctl(
            name: *const u8,
            oldp: *mut c_void,
            oldlenp: *mut usize,
            newp: *mut c_void,
            newlen: usize,
        ) -> i32;
        pub fn ingot_mallctlnametomib(
            name: *const u8,
            mibp: *mut usize,
            miblenp: *mut usize,
        ) -> i32;
        pub fn ingot_mallctlbymib(
            mib: *const usize,
            miblen: usize,
            oldp: *mut c_void,
            oldlenp: *mut usize,
            newp: *mut c_void,
            newlen: usize,
        ) -> i32;
    }
}

//! Typed reads and writes of ingot's `mallctl` names, in the style of
//! `tikv-jemalloc-ctl`.
//!
//! ```
//! #[global_allocator]
//! static GLOBAL: ingot::Ingot = ingot::Ingot;
//!
//! use ingot::ctl::{arena, epoch, stats};
//!
//! fn main() -> Result<(), ingot::ctl::Error> {
//!     let v = vec![1u8; 1 << 20];
//!     epoch::advance()?; // the stats.* names read a snapshot the epoch refreshes
//!     println!("{} bytes allocated", stats::allocated::read()?);
//!     drop(v);
//!     arena::purge(arena::ALL)?; // dirty pages of every arena back to the OS now
//!
//!     // A name read often: look it up once, then read by MIB.
//!     let resident = stats::resident::mib()?;
//!     epoch::advance()?;
//!     assert!(resident.read()? > 0);
//!     Ok(())
//! }
//! ```
//!
//! Each name is a module holding `read()` (and `write()` / `update()` where
//! the name can be written) and `mib()`, which looks the name up once and
//! returns a handle that reads and writes without the lookup. Names with an
//! index (`arena.<i>.*`) are functions taking the index. [`raw`] reads and
//! writes any name, by name or by [`Mib`], at a type the caller states.
//!
//! Every call fails with [`Error`], the `errno` value `mallctl` returned:
//! `ENOENT` for an unknown name (a profiling name without `prof:true`,
//! or an index past the arenas), `EINVAL` for a wrong size or value,
//! `EPERM` for writing a read-only name, `EFAULT` for a value ingot refuses
//! (a decay time below -1) or an arena index without a live arena, `EAGAIN`
//! when the background thread could not be started.
//!
//! The statistics are those of the `stats` feature (on by default); without
//! it large blocks are left out of the counters.

use core::ffi::c_void;
use core::fmt;
use core::marker::PhantomData;
use core::mem::{size_of, MaybeUninit};
use core::ptr;

use crate::sys;

/// A failed `mallctl` call: the `errno` value it returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Error(i32);

/// The error codes `mallctl` returns (the same on Linux, the BSDs and macOS).
impl Error {
    /// A read-only name was written, or a name that takes no value was
    /// given one.
    pub const EPERM: i32 = 1;
    /// No such name, or a name whose subsystem is off (the `prof.*` names
    /// without `prof:true`).
    pub const ENOENT: i32 = 2;
    /// The name could not act now (the background thread did not start).
    pub const EAGAIN: i32 = 11;
    /// Out of memory.
    pub const ENOMEM: i32 = 12;
    /// A value ingot refuses (a decay time below -1), an arena index
    /// without a live arena, a file that could not be written.
    pub const EFAULT: i32 = 14;
    /// A wrong size or value, or a name longer than [`NAME_MAX`] bytes or
    /// holding a NUL byte.
    pub const EINVAL: i32 = 22;

    /// The error code (an `errno` value), as `mallctl` returned it.
    pub fn code(self) -> i32 {
        self.0
    }

    /// The error of a `mallctl` return value.
    pub fn from_code(code: i32) -> Error {
        Error(code)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.0 {
            Error::EPERM => "EPERM: the name cannot be written (or read) that way",
            Error::ENOENT => {
                "ENOENT: no such name, or its subsystem is off (prof.* needs prof:true)"
            }
            Error::EAGAIN => "EAGAIN: the change could not be made now",
            Error::ENOMEM => "ENOMEM: out of memory",
            Error::EFAULT => "EFAULT: no such arena, or a file could not be written",
            Error::EINVAL => "EINVAL: invalid name, size or value",
            code => return write!(f, "mallctl failed with error {code}"),
        };
        write!(f, "mallctl failed: {what}")
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}

/// The result of every call here.
pub type Result<T> = core::result::Result<T, Error>;

/// The longest name these calls take, in bytes (ingot's longest is under 50).
pub const NAME_MAX: usize = 127;

/// The most components a [`Mib`] holds (ingot's deepest name has 6).
pub const MIB_MAX: usize = 8;

fn check(code: i32) -> Result<()> {
    if code == 0 {
        Ok(())
    } else {
        Err(Error(code))
    }
}

/// A name with its NUL, on the stack (no allocation: the calls work from
/// inside an allocator hook and without `std`).
struct CName([u8; NAME_MAX + 1]);

impl CName {
    fn new(name: &str) -> Result<CName> {
        let bytes = name.as_bytes();
        if bytes.len() > NAME_MAX || bytes.contains(&0) {
            return Err(Error(Error::EINVAL));
        }
        let mut buf = [0u8; NAME_MAX + 1];
        buf[..bytes.len()].copy_from_slice(bytes);
        Ok(CName(buf))
    }

    fn as_ptr(&self) -> *const u8 {
        self.0.as_ptr()
    }
}

/// A NUL-terminated string that ingot keeps for the life of the process
/// (option values, the version) as `&'static str`.
///
/// # Safety
/// `p` is null or points at such a string.
unsafe fn static_str(p: *const u8) -> &'static str {
    if p.is_null() {
        return "";
    }
    let mut len = 0;
    while *p.add(len) != 0 {
        len += 1;
    }
    // ingot's strings are ASCII (option values it checked, its version).
    core::str::from_utf8(core::slice::from_raw_parts(p, len)).unwrap_or("")
}

/// A name looked up once ([`raw::name_to_mib`]): its components, which
/// `mallctlbymib` takes instead of the name. Indexed names are looked up
/// with any index and changed with [`Mib::set`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mib {
    ids: [usize; MIB_MAX],
    len: usize,
}

impl Mib {
    /// The components.
    pub fn as_slice(&self) -> &[usize] {
        &self.ids[..self.len]
    }

    /// Replaces component `pos` (for example the arena index, component 1 of
    /// `arena.<i>.purge`). Panics if `pos` is past the name's depth.
    pub fn set(&mut self, pos: usize, value: usize) -> &mut Mib {
        assert!(
            pos < self.len,
            "component {pos} of a {}-component name",
            self.len
        );
        self.ids[pos] = value;
        self
    }

    /// Reads the value, a `T`.
    ///
    /// # Safety
    /// `T` is the type of the name (`size_t` is `usize`, `unsigned` is
    /// `u32`, `bool` is `bool`, `ssize_t` is `isize`, ...). ingot refuses a
    /// `T` of the wrong size (`EINVAL`) but cannot see a wrong type of the
    /// right size.
    pub unsafe fn read<T: Copy>(&self) -> Result<T> {
        let mut value = MaybeUninit::<T>::uninit();
        let mut len = size_of::<T>();
        check(sys::ingot_mallctlbymib(
            self.ids.as_ptr(),
            self.len,
            value.as_mut_ptr().cast(),
            &mut len,
            ptr::null_mut(),
            0,
        ))?;
        Ok(value.assume_init())
    }

    /// Writes `value`, a `T`.
    ///
    /// # Safety
    /// As for [`Mib::read`]; pointers written must stay valid as long as
    /// ingot keeps them (the names that take strings copy them).
    pub unsafe fn write<T>(&self, mut value: T) -> Result<()> {
        check(sys::ingot_mallctlbymib(
            self.ids.as_ptr(),
            self.len,
            ptr::null_mut(),
            ptr::null_mut(),
            (&mut value as *mut T).cast(),
            size_of::<T>(),
        ))
    }

    /// Writes `value` and returns the value before, in one call.
    ///
    /// # Safety
    /// As for [`Mib::write`].
    pub unsafe fn update<T: Copy>(&self, mut value: T) -> Result<T> {
        let mut old = MaybeUninit::<T>::uninit();
        let mut len = size_of::<T>();
        check(sys::ingot_mallctlbymib(
            self.ids.as_ptr(),
            self.len,
            old.as_mut_ptr().cast(),
            &mut len,
            (&mut value as *mut T).cast(),
            size_of::<T>(),
        ))?;
        Ok(old.assume_init())
    }

    /// Calls a name that takes no value and returns none (`arena.<i>.purge`,
    /// `thread.tcache.flush`).
    pub fn call(&self) -> Result<()> {
        // SAFETY: no pointer is passed.
        check(unsafe {
            sys::ingot_mallctlbymib(
                self.ids.as_ptr(),
                self.len,
                ptr::null_mut(),
                ptr::null_mut(),
                ptr::null_mut(),
                0,
            )
        })
    }

    /// Reads a name whose value is a string ingot keeps (`const char *`).
    pub fn read_str(&self) -> Result<&'static str> {
        // SAFETY: the names that hold `const char *` point at strings
        // that live as long as the process.
        unsafe { self.read::<*const u8>().map(|p| static_str(p)) }
    }
}

/// Any name, by name or by [`Mib`], at a type the caller states: ingot's
/// `mallctl`, `mallctlnametomib` and `mallctlbymib`.
pub mod raw {
    use super::*;

    /// Looks `name` up once, for [`Mib::read`] and friends.
    pub fn name_to_mib(name: &str) -> Result<Mib> {
        let name = CName::new(name)?;
        let mut mib = Mib {
            ids: [0; MIB_MAX],
            len: MIB_MAX,
        };
        // SAFETY: name is NUL-terminated; ids has room for len components.
        check(unsafe {
            sys::ingot_mallctlnametomib(name.as_ptr(), mib.ids.as_mut_ptr(), &mut mib.len)
        })?;
        Ok(mib)
    }

    /// Reads `name`, a `T`.
    ///
    /// # Safety
    /// `T` is the name's type, as for [`Mib::read`].
    pub unsafe fn read<T: Copy>(name: &str) -> Result<T> {
        let name = CName::new(name)?;
        let mut value = MaybeUninit::<T>::uninit();
        let mut len = size_of::<T>();
        check(sys::ingot_mallctl(
            name.as_ptr(),
            value.as_mut_ptr().cast(),
            &mut len,
            ptr::null_mut(),
            0,
        ))?;
        Ok(value.assume_init())
    }

    /// Writes `value`, a `T`, to `name`.
    ///
    /// # Safety
    /// As for [`Mib::write`].
    pub unsafe fn write<T>(name: &str, mut value: T) -> Result<()> {
        let name = CName::new(name)?;
        check(sys::ingot_mallctl(
            name.as_ptr(),
            ptr::null_mut(),
            ptr::null_mut(),
            (&mut value as *mut T).cast::<c_void>(),
            size_of::<T>(),
        ))
    }

    /// Writes `value` to `name` and returns the value before.
    ///
    /// # Safety
    /// As for [`Mib::write`].
    pub unsafe fn update<T: Copy>(name: &str, mut value: T) -> Result<T> {
        let name = CName::new(name)?;
        let mut old = MaybeUninit::<T>::uninit();
        let mut len = size_of::<T>();
        check(sys::ingot_mallctl(
            name.as_ptr(),
            old.as_mut_ptr().cast(),
            &mut len,
            (&mut value as *mut T).cast::<c_void>(),
            size_of::<T>(),
        ))?;
        Ok(old.assume_init())
    }

    /// Calls `name`, which takes no value and returns none.
    pub fn call(name: &str) -> Result<()> {
        let name = CName::new(name)?;
        // SAFETY: no pointer but the name is passed.
        check(unsafe {
            sys::ingot_mallctl(
                name.as_ptr(),
                ptr::null_mut(),
                ptr::null_mut(),
                ptr::null_mut(),
                0,
            )
        })
    }

    /// Reads `name`, whose value is a string ingot keeps (`const char *`).
    pub fn read_str(name: &str) -> Result<&'static str> {
        // SAFETY: as in Mib::read_str.
        unsafe { read::<*const u8>(name).map(|p| static_str(p)) }
    }
}

/// A [`Mib`] of a name whose type is known: reads and writes are safe.
#[derive(Clone, Copy, Debug)]
pub struct TypedMib<T> {
    mib: Mib,
    ty: PhantomData<fn() -> T>,
}

impl<T: Copy> TypedMib<T> {
    fn lookup(name: &str) -> Result<TypedMib<T>> {
        raw::name_to_mib(name).map(|mib| TypedMib {
            mib,
            ty: PhantomData,
        })
    }

    /// Reads the value.
    pub fn read(&self) -> Result<T> {
        // SAFETY: the module that made this handle names T as the type.
        unsafe { self.mib.read() }
    }

    /// The components, for [`raw`] use.
    pub fn mib(&self) -> Mib {
        self.mib
    }
}

/// A [`TypedMib`] of a name that can be written.
#[derive(Clone, Copy, Debug)]
pub struct TypedMibMut<T>(TypedMib<T>);

impl<T: Copy> TypedMibMut<T> {
    /// Reads the value.
    pub fn read(&self) -> Result<T> {
        self.0.read()
    }

    /// Writes `value`.
    pub fn write(&self, value: T) -> Result<()> {
        // SAFETY: the module that made this handle names T as the type.
        unsafe { self.0.mib.write(value) }
    }

    /// Writes `value` and returns the value before.
    pub fn update(&self, value: T) -> Result<T> {
        // SAFETY: as in write.
        unsafe { self.0.mib.update(value) }
    }
}

/// A read-only name of type `$ty`: a module with read() and mib().
macro_rules! ro {
    ($(#[$doc:meta])* $module:ident, $name:literal, $ty:ty) => {
        $(#[$doc])*
        pub mod $module {
            use crate::ctl::{Result, TypedMib};
            /// The mallctl name.
            pub const NAME: &str = $name;
            /// Reads the value.
            pub fn read() -> Result<$ty> {
                // SAFETY: the name's type is the one stated.
                unsafe { crate::ctl::raw::read::<$ty>(NAME) }
            }
            /// Looks the name up once; the handle reads without the lookup.
            pub fn mib() -> Result<TypedMib<$ty>> {
                TypedMib::lookup(NAME)
            }
        }
    };
}

/// A name of type `$ty` that can be read and written.
macro_rules! rw {
    ($(#[$doc:meta])* $module:ident, $name:literal, $ty:ty) => {
        $(#[$doc])*
        pub mod $module {
            use crate::ctl::{Result, TypedMib, TypedMibMut};
            /// The mallctl name.
            pub const NAME: &str = $name;
            /// Reads the value.
            pub fn read() -> Result<$ty> {
                // SAFETY: the name's type is the one stated.
                unsafe { crate::ctl::raw::read::<$ty>(NAME) }
            }
            /// Writes `value`.
            pub fn write(value: $ty) -> Result<()> {
                // SAFETY: as in read.
                unsafe { crate::ctl::raw::write::<$ty>(NAME, value) }
            }
            /// Writes `value` and returns the value before.
            pub fn update(value: $ty) -> Result<$ty> {
                // SAFETY: as in read.
                unsafe { crate::ctl::raw::update::<$ty>(NAME, value) }
            }
            /// Looks the name up once; the handle reads and writes without
            /// the lookup.
            pub fn mib() -> Result<TypedMibMut<$ty>> {
                TypedMib::lookup(NAME).map(TypedMibMut)
            }
        }
    };
}

/// A read-only name whose value is a string ingot keeps.
macro_rules! ro_str {
    ($(#[$doc:meta])* $module:ident, $name:literal) => {
        $(#[$doc])*
        pub mod $module {
            use crate::ctl::Result;
            /// The mallctl name.
            pub const NAME: &str = $name;
            /// Reads the value.
            pub fn read() -> Result<&'static str> {
                crate::ctl::raw::read_str(NAME)
            }
        }
    };
}

ro_str!(
    /// `version`: the jemalloc version ingot answers as
    /// (`"5.3.0-0-g<commit>"`), for programs that check it.
    version, "version"
);

/// `epoch`: the statistics (`stats.*`) are a snapshot, refreshed when the
/// epoch is advanced.
pub mod epoch {
    use super::{Result, TypedMib};

    /// The mallctl name.
    pub const NAME: &str = "epoch";

    /// Refreshes the statistics and returns the new epoch.
    pub fn advance() -> Result<u64> {
        // SAFETY: epoch is a uint64_t; the value read is the one after the
        // write.
        unsafe { super::raw::update::<u64>(NAME, 1) }
    }

    /// The current epoch.
    pub fn read() -> Result<u64> {
        // SAFETY: as in advance.
        unsafe { super::raw::read::<u64>(NAME) }
    }

    /// The name looked up once, for advancing often.
    pub fn mib() -> Result<Mib> {
        TypedMib::lookup(NAME).map(Mib)
    }

    /// `epoch` looked up once.
    #[derive(Clone, Copy, Debug)]
    pub struct Mib(TypedMib<u64>);

    impl Mib {
        /// Refreshes the statistics and returns the new epoch.
        pub fn advance(&self) -> Result<u64> {
            // SAFETY: epoch is a uint64_t.
            unsafe { self.0.mib().update(1u64) }
        }
    }
}

/// `stats.*`: the process's totals, in bytes, as of the last
/// [`epoch::advance`].
pub mod stats {
    ro!(
        /// `stats.allocated`: bytes in live allocations.
        allocated, "stats.allocated", usize
    );
    ro!(
        /// `stats.active`: bytes in pages that hold live allocations.
        active, "stats.active", usize
    );
    ro!(
        /// `stats.metadata`: bytes of ingot's own bookkeeping.
        metadata, "stats.metadata", usize
    );
    ro!(
        /// `stats.resident`: bytes of pages that may be resident (active,
        /// dirty and metadata).
        resident, "stats.resident", usize
    );
    ro!(
        /// `stats.mapped`: bytes mapped from the operating system.
        mapped, "stats.mapped", usize
    );
    ro!(
        /// `stats.retained`: bytes mapped but given back to the operating
        /// system (purged).
        retained, "stats.retained", usize
    );
}

/// `arenas.*`: about every arena, and the defaults of new ones.
pub mod arenas {
    ro!(
        /// `arenas.narenas`: the arenas made so far (automatic and created).
        narenas, "arenas.narenas", u32
    );
    rw!(
        /// `arenas.dirty_decay_ms`: the dirty decay time of arenas created
        /// from now on (ms; 0 purges at once, -1 never).
        dirty_decay_ms, "arenas.dirty_decay_ms", isize
    );
    rw!(
        /// `arenas.muzzy_decay_ms`: accepted and kept for jemalloc
        /// compatibility (ingot purges straight to the OS).
        muzzy_decay_ms, "arenas.muzzy_decay_ms", isize
    );
    ro!(
        /// `arenas.page`: ingot's page size in bytes.
        page, "arenas.page", usize
    );
    ro!(
        /// `arenas.quantum`: the alignment of every block.
        quantum, "arenas.quantum", usize
    );
    ro!(
        /// `arenas.nbins`: the number of small size classes.
        nbins, "arenas.nbins", u32
    );

    /// `arenas.bin.<i>.size`: the size of small class `i` (below
    /// [`nbins`]).
    pub fn bin_size(i: u32) -> super::Result<usize> {
        let mut mib = super::raw::name_to_mib("arenas.bin.0.size")?;
        mib.set(2, i as usize);
        // SAFETY: arenas.bin.<i>.size is a size_t.
        unsafe { mib.read() }
    }
}

/// `arena.<i>.*`: one arena, or with [`arena::ALL`] every arena.
pub mod arena {
    use super::{raw, Mib, Result};

    /// The index that names every arena (jemalloc's `MALLCTL_ARENAS_ALL`).
    pub const ALL: u32 = 4096;

    fn indexed(name: &str, i: u32) -> Result<Mib> {
        let mut mib = raw::name_to_mib(name)?;
        mib.set(1, i as usize);
        Ok(mib)
    }

    /// `arena.<i>.purge`: returns every unused dirty page of arena `i` (or
    /// of every arena) to the operating system now.
    pub fn purge(i: u32) -> Result<()> {
        indexed("arena.0.purge", i)?.call()
    }

    /// `arena.<i>.decay`: returns the dirty pages whose decay time has
    /// passed.
    pub fn decay(i: u32) -> Result<()> {
        indexed("arena.0.decay", i)?.call()
    }

    /// `arena.<i>.dirty_decay_ms`: arena `i`'s dirty decay time (ms).
    pub fn dirty_decay_ms(i: u32) -> Result<isize> {
        // SAFETY: the name is an ssize_t.
        unsafe { indexed("arena.0.dirty_decay_ms", i)?.read() }
    }

    /// Sets arena `i`'s dirty decay time (ms; 0 purges at once, -1 never);
    /// every dirty page counts as decayed now, as in jemalloc.
    pub fn set_dirty_decay_ms(i: u32, ms: isize) -> Result<()> {
        // SAFETY: as above.
        unsafe { indexed("arena.0.dirty_decay_ms", i)?.write(ms) }
    }

    /// `arena.<i>.muzzy_decay_ms`: kept for jemalloc compatibility.
    pub fn muzzy_decay_ms(i: u32) -> Result<isize> {
        // SAFETY: as above.
        unsafe { indexed("arena.0.muzzy_decay_ms", i)?.read() }
    }

    /// Sets arena `i`'s muzzy decay time (kept for jemalloc compatibility).
    pub fn set_muzzy_decay_ms(i: u32, ms: isize) -> Result<()> {
        // SAFETY: as above.
        unsafe { indexed("arena.0.muzzy_decay_ms", i)?.write(ms) }
    }
}

/// `thread.*`: the calling thread.
pub mod thread {
    use super::{raw, Result};
    use core::marker::PhantomData;

    ro!(
        /// `thread.allocated`: bytes the calling thread has allocated, ever.
        allocated, "thread.allocated", u64
    );
    ro!(
        /// `thread.deallocated`: bytes the calling thread has freed, ever.
        deallocated, "thread.deallocated", u64
    );
    rw!(
        /// `thread.arena`: the arena the calling thread allocates from.
        arena, "thread.arena", u32
    );

    /// `thread.tcache.flush`: returns the calling thread's cached blocks to
    /// the arenas.
    pub fn tcache_flush() -> Result<()> {
        raw::call("thread.tcache.flush")
    }

    /// A counter of the calling thread that is read with a plain load.
    ///
    /// ingot's thread cache counts allocations per size class on its fast
    /// path, not in bytes, so there is no live byte counter to point at:
    /// the pointer (`thread.allocatedp` / `thread.deallocatedp`) leads to a
    /// per-thread copy that ingot brings up to date whenever the thread
    /// reads any of `thread.allocated`, `thread.allocatedp`,
    /// `thread.deallocated`, `thread.deallocatedp`. Between such reads
    /// [`ThreadLocal::get`] returns the same value; [`ThreadLocal::refresh`]
    /// moves it on (one `mallctl`, a sum over the size classes). jemalloc's
    /// pointer follows every allocation.
    ///
    /// The handle belongs to the thread that made it (it is neither `Send`
    /// nor `Sync`).
    #[derive(Debug)]
    pub struct ThreadLocal<T> {
        ptr: *const T,
        name: &'static str,
        not_send: PhantomData<*const T>,
    }

    impl ThreadLocal<u64> {
        /// The value as of the last refresh (a plain load).
        pub fn get(&self) -> u64 {
            // SAFETY: ptr points at the calling thread's copy, which lives
            // as long as the thread, and the handle cannot leave the thread.
            unsafe { core::ptr::read_volatile(self.ptr) }
        }

        /// Brings the copy up to date and returns it.
        pub fn refresh(&self) -> Result<u64> {
            // SAFETY: the name is a uint64_t.
            unsafe { raw::read::<u64>(self.name) }?;
            Ok(self.get())
        }
    }

    fn pointer(p_name: &'static str, name: &'static str) -> Result<ThreadLocal<u64>> {
        // SAFETY: the p names are uint64_t *.
        let ptr = unsafe { raw::read::<*const u64>(p_name)? };
        Ok(ThreadLocal {
            ptr,
            name,
            not_send: PhantomData,
        })
    }

    /// `thread.allocatedp`: the calling thread's allocated bytes, read with
    /// a plain load (see [`ThreadLocal`] for when the value moves).
    pub fn allocatedp() -> Result<ThreadLocal<u64>> {
        pointer("thread.allocatedp", "thread.allocated")
    }

    /// `thread.deallocatedp`: the calling thread's freed bytes, as
    /// [`allocatedp`].
    pub fn deallocatedp() -> Result<ThreadLocal<u64>> {
        pointer("thread.deallocatedp", "thread.deallocated")
    }
}

rw!(
    /// `background_thread`: whether a thread purges decayed pages in the
    /// background (also while the program sleeps). Writing `true` starts it
    /// (`EAGAIN` when it cannot), `false` stops it.
    background_thread, "background_thread", bool
);

rw!(
    /// `max_background_threads`: kept for jemalloc compatibility (ingot runs
    /// one purger thread); 1 up to the CPU count.
    max_background_threads, "max_background_threads", usize
);

/// `opt.*`: the options read at start (the program's `ingot_malloc_conf`,
/// see [`malloc_conf!`](crate::malloc_conf), then `MALLOC_CONF`, then
/// `INGOT_CONF`).
pub mod opt {
    ro_str!(
        /// `opt.profile`: the checks chosen at start: "default", "hardened"
        /// or "debug" (a build with the `hardened` feature is hardened
        /// whatever this says).
        profile, "opt.profile"
    );
    ro!(
        /// `opt.narenas`: the automatic arenas.
        narenas, "opt.narenas", u32
    );
    ro!(
        /// `opt.tcache`: whether threads have caches.
        tcache, "opt.tcache", bool
    );
    ro!(
        /// `opt.dirty_decay_ms`: the dirty decay time at start.
        dirty_decay_ms, "opt.dirty_decay_ms", isize
    );
    ro!(
        /// `opt.muzzy_decay_ms`: accepted for jemalloc compatibility.
        muzzy_decay_ms, "opt.muzzy_decay_ms", isize
    );
    ro!(
        /// `opt.background_thread`: the background thread at start.
        background_thread, "opt.background_thread", bool
    );
    ro_str!(
        /// `opt.junk`: the fill ("false", "true", "alloc", "free").
        junk, "opt.junk"
    );
    ro!(
        /// `opt.zero`: whether every allocation is zeroed.
        zero, "opt.zero", bool
    );
    ro!(
        /// `opt.prof`: whether heap profiling was enabled at start.
        prof, "opt.prof", bool
    );
    ro!(
        /// `opt.lg_prof_sample`: log2 of the mean bytes between samples, at
        /// start.
        lg_prof_sample, "opt.lg_prof_sample", usize
    );
}

/// `config.*`: how the linked ingot was built.
pub mod config {
    ro!(
        /// `config.stats`: built with the statistics (the `stats` feature).
        stats, "config.stats", bool
    );
    ro!(
        /// `config.debug`: built with assertions (the `debug` feature).
        debug, "config.debug", bool
    );
    ro!(
        /// `config.prof`: built with heap profiling (always true).
        prof, "config.prof", bool
    );
}

/// `prof.*`: heap profiling, for programs started with `prof:true`
/// (otherwise every name but writing `false` to `prof.active` fails with
/// `ENOENT`). [`crate::prof`] has the same calls with file paths.
pub mod prof {
    rw!(
        /// `prof.active`: whether allocations are sampled now.
        active, "prof.active", bool
    );
    rw!(
        /// `prof.thread_active_init`: whether new threads are sampled.
        thread_active_init, "prof.thread_active_init", bool
    );
    rw!(
        /// `prof.gdump`: dump whenever mapped memory reaches a new peak.
        gdump, "prof.gdump", bool
    );
    ro!(
        /// `prof.lg_sample`: log2 of the mean bytes between samples.
        lg_sample, "prof.lg_sample", usize
    );
    ro!(
        /// `prof.interval`: bytes between interval dumps (0: none).
        interval, "prof.interval", u64
    );

    /// `prof.reset`: drops every sample and sets `lg_sample` (below 63).
    pub fn reset(lg_sample: usize) -> super::Result<()> {
        // SAFETY: prof.reset takes a size_t.
        unsafe { super::raw::write("prof.reset", lg_sample) }
    }

    /// `prof.dump` to the automatic name `<prof_prefix>.<pid>.<seq>.m<mseq>.heap`
    /// (for a path, see [`crate::prof::dump`]).
    pub fn dump() -> super::Result<()> {
        // SAFETY: prof.dump takes a const char *; null is the automatic name.
        unsafe { super::raw::write("prof.dump", core::ptr::null::<u8>()) }
    }
}

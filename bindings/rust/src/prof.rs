//! Heap profiling: switching sampling on and off and writing profiles, for
//! programs started with profiling enabled (`INGOT_CONF=prof:true`, or
//! `MALLOC_CONF=prof:true`; read when ingot starts).
//!
//! ```no_run
//! use std::path::Path;
//!
//! ingot::prof::activate(true)?; // sample from now on
//! // ... the work to profile ...
//! ingot::prof::dump(Some(Path::new("/tmp/app.heap")))?; // for jeprof
//! ingot::prof::dump(None)?; // to <prof_prefix>.<pid>.<seq>.m<mseq>.heap
//! ingot::prof::dump_pprof(Path::new("/tmp/app.pprof"))?; // for google-pprof
//! # Ok::<(), ingot::prof::Error>(())
//! ```
//!
//! Each call is ingot's `mallctl` of the jemalloc name it names, and fails
//! with the error code `mallctl` returns (see [`Error`]).

use core::ffi::c_void;
use core::fmt;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// A failed profiling call: the error code ingot's `mallctl` returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Error(i32);

/// The error codes of the profiling calls (the same on Linux, the BSDs and
/// macOS).
impl Error {
    /// Profiling is not enabled: the program was not started with
    /// `prof:true` (switching it off still succeeds).
    pub const ENOENT: i32 = 2;
    /// The profile file could not be written.
    pub const EFAULT: i32 = 14;
    /// An invalid argument, such as a path that holds a NUL byte.
    pub const EINVAL: i32 = 22;

    /// The error code (an `errno` value), as `mallctl` returned it.
    pub fn code(self) -> i32 {
        self.0
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Error::ENOENT => f.write_str("heap profiling is not enabled (start with prof:true)"),
            Error::EFAULT => f.write_str("the heap profile could not be written"),
            Error::EINVAL => f.write_str("invalid argument to a heap profiling call"),
            code => write!(f, "heap profiling call failed (error {code})"),
        }
    }
}

impl std::error::Error for Error {}

/// Writes `value` to the mallctl name `name` (NUL-terminated).
fn write<T>(name: &[u8], value: &mut T) -> Result<(), Error> {
    debug_assert_eq!(name.last(), Some(&0));
    // SAFETY: name is NUL-terminated; value points at a T that lives across
    // the call, and its size is the length given.
    let code = unsafe {
        crate::ffi::ingot_mallctl(
            name.as_ptr(),
            core::ptr::null_mut(),
            core::ptr::null_mut(),
            (value as *mut T).cast::<c_void>(),
            core::mem::size_of::<T>(),
        )
    };
    if code == 0 {
        Ok(())
    } else {
        Err(Error(code))
    }
}

/// Writes a path to a mallctl name that takes a `const char *` (null: the
/// automatic name).
fn write_path(name: &[u8], path: Option<&Path>) -> Result<(), Error> {
    let path = match path {
        Some(p) => Some(CString::new(p.as_os_str().as_bytes()).map_err(|_| Error(Error::EINVAL))?),
        None => None,
    };
    let mut ptr: *const u8 = path
        .as_ref()
        .map_or(core::ptr::null(), |p| p.as_ptr().cast());
    write(name, &mut ptr)
}

/// Starts (`true`) or stops (`false`) sampling: `prof.active`.
///
/// Fails with [`Error::ENOENT`] when the program was not started with
/// `prof:true`, except that stopping always succeeds.
pub fn activate(on: bool) -> Result<(), Error> {
    let mut on = on;
    write(b"prof.active\0", &mut on)
}

/// Writes the heap profile in jemalloc's `heap_v2` form, which `jeprof`
/// reads: to `path`, or with `None` to the automatic name
/// `<prof_prefix>.<pid>.<seq>.m<mseq>.heap` (`prof.dump`).
///
/// Fails with [`Error::ENOENT`] without `prof:true`, [`Error::EFAULT`] when
/// the file cannot be written, [`Error::EINVAL`] for a path with a NUL byte.
pub fn dump(path: Option<&Path>) -> Result<(), Error> {
    write_path(b"prof.dump\0", path)
}

/// Writes the heap profile in the legacy `heap profile:` text form that
/// Google's pprof (Debian's `google-pprof`) reads, to `path`
/// (`prof.dump_pprof`, an ingot extension). Fails as [`dump`] does.
pub fn dump_pprof(path: &Path) -> Result<(), Error> {
    write_path(b"prof.dump_pprof\0", Some(path))
}

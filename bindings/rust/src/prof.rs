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

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::ctl::raw;

/// A failed profiling call: [`crate::ctl::Error`], whose `code()` is the
/// error code ingot's `mallctl` returned (`Error::ENOENT` without
/// `prof:true`, `Error::EFAULT` for a file that cannot be written,
/// `Error::EINVAL` for a path holding a NUL byte).
pub use crate::ctl::Error;

/// Writes a path to a mallctl name that takes a `const char *` (null: the
/// automatic name).
fn write_path(name: &str, path: Option<&Path>) -> Result<(), Error> {
    let path = match path {
        Some(p) => Some(
            CString::new(p.as_os_str().as_bytes()).map_err(|_| Error::from_code(Error::EINVAL))?,
        ),
        None => None,
    };
    let ptr: *const u8 = path
        .as_ref()
        .map_or(core::ptr::null(), |p| p.as_ptr().cast());
    // SAFETY: the names take a const char * (null: the automatic name),
    // read during the call; the CString outlives it.
    unsafe { raw::write(name, ptr) }
}

/// Starts (`true`) or stops (`false`) sampling: `prof.active`.
///
/// Fails with [`Error::ENOENT`] when the program was not started with
/// `prof:true`, except that stopping always succeeds.
pub fn activate(on: bool) -> Result<(), Error> {
    crate::ctl::prof::active::write(on)
}

/// Writes the heap profile in jemalloc's `heap_v2` form, which `jeprof`
/// reads: to `path`, or with `None` to the automatic name
/// `<prof_prefix>.<pid>.<seq>.m<mseq>.heap` (`prof.dump`).
///
/// Fails with [`Error::ENOENT`] without `prof:true`, [`Error::EFAULT`] when
/// the file cannot be written, [`Error::EINVAL`] for a path with a NUL byte.
pub fn dump(path: Option<&Path>) -> Result<(), Error> {
    write_path("prof.dump", path)
}

/// Writes the heap profile in the legacy `heap profile:` text form that
/// Google's pprof (Debian's `google-pprof`) reads, to `path`
/// (`prof.dump_pprof`, an ingot extension). Fails as [`dump`] does.
pub fn dump_pprof(path: &Path) -> Result<(), Error> {
    write_path("prof.dump_pprof", Some(path))
}

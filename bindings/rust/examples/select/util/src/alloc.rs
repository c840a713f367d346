//! The program's allocator, chosen by Cargo feature:
//!
//! | feature          | allocator                                        |
//! |------------------|--------------------------------------------------|
//! | `ingot` (default)| ingot; profile from `INGOT_CONF` at start        |
//! | `ingot-hardened` | ingot built hardened (every check, always)       |
//! | `system`         | the C library's malloc (`std::alloc::System`)    |
//! | none             | the system allocator, as a fallback              |
//!
//! Two at once is a compile error. The binary declares
//! `#[global_allocator] static ALLOC: Allocator = new_allocator();`, calls
//! [`announce`] at start and keeps the guard it returns, which prints the
//! statistics when `main` returns.

#[cfg(any(
    all(feature = "ingot", feature = "ingot-hardened"),
    all(feature = "ingot", feature = "system"),
    all(feature = "ingot-hardened", feature = "system"),
))]
compile_error!(
    "select-util: choose one allocator feature, `ingot` (the default), `ingot-hardened` or \
     `system`; for a non-default one turn the default off: \
     --no-default-features --features system"
);

/// The global allocator type of this build.
#[cfg(any(feature = "ingot", feature = "ingot-hardened"))]
pub type Allocator = ingot::Ingot;
/// The global allocator type of this build.
#[cfg(not(any(feature = "ingot", feature = "ingot-hardened")))]
pub type Allocator = std::alloc::System;

/// The value for `#[global_allocator]`.
pub const fn new_allocator() -> Allocator {
    #[cfg(any(feature = "ingot", feature = "ingot-hardened"))]
    return ingot::Ingot;
    #[cfg(not(any(feature = "ingot", feature = "ingot-hardened")))]
    return std::alloc::System;
}

/// Which allocator and profile are live, in one line.
pub fn describe() -> String {
    #[cfg(any(feature = "ingot", feature = "ingot-hardened"))]
    {
        let built = if cfg!(feature = "ingot-hardened") {
            "hardened"
        } else {
            "default"
        };
        format!(
            "allocator: ingot {} (profile {}, build {built}, feature {})",
            ingot::VERSION,
            ingot::profile(),
            if cfg!(feature = "ingot-hardened") {
                "ingot-hardened"
            } else {
                "ingot"
            },
        )
    }
    #[cfg(not(any(feature = "ingot", feature = "ingot-hardened")))]
    {
        if cfg!(feature = "system") {
            "allocator: system (feature system)".to_string()
        } else {
            "allocator: system (no allocator feature chosen: the fallback)".to_string()
        }
    }
}

/// Prints statistics when dropped (at the end of `main`).
#[must_use = "the statistics are printed when the guard is dropped"]
pub struct StatsAtExit(());

impl Drop for StatsAtExit {
    fn drop(&mut self) {
        eprintln!("{}", stats_line());
    }
}

/// Prints which allocator and profile are live (on stderr) and returns the
/// guard that prints the statistics at exit.
pub fn announce() -> StatsAtExit {
    eprintln!("{}", describe());
    StatsAtExit(())
}

/// The peak resident set of the process (VmHWM), in KiB, where the system
/// says it.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The statistics line: ingot's counters (through ingot::ctl), and the peak
/// RSS for every allocator.
pub fn stats_line() -> String {
    let peak = peak_rss_kib().map_or("?".to_string(), |k| format!("{k} KiB"));
    #[cfg(any(feature = "ingot", feature = "ingot-hardened"))]
    {
        use ingot::ctl::{epoch, stats};
        let read = || -> Result<String, ingot::ctl::Error> {
            epoch::advance()?;
            Ok(format!(
                "stats: allocated {} active {} resident {} mapped {} retained {} metadata {} \
                 peak_rss {peak}",
                stats::allocated::read()?,
                stats::active::read()?,
                stats::resident::read()?,
                stats::mapped::read()?,
                stats::retained::read()?,
                stats::metadata::read()?,
            ))
        };
        read().unwrap_or_else(|e| format!("stats: unavailable ({e}) peak_rss {peak}"))
    }
    #[cfg(not(any(feature = "ingot", feature = "ingot-hardened")))]
    {
        format!("stats: peak_rss {peak} (the system allocator keeps no counters)")
    }
}

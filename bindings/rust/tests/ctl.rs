//! `ingot::ctl`: the typed names, the raw calls by name and by MIB, and the
//! error codes, in a program whose global allocator is ingot.
//!
//! Every test takes one lock, so that the counter deltas some assert are
//! theirs: another test's megabytes, an epoch advanced, or a panic's
//! backtrace (symbolising it allocates megabytes) would move them. The
//! harness's threads still allocate meanwhile (`SLACK`).

use std::sync::{Mutex, MutexGuard};
use std::thread;

use ingot::ctl::{self, arena, arenas, config, epoch, opt, raw, stats, Error};
use ingot::Ingot;

#[global_allocator]
static A: Ingot = Ingot;

const MIB: usize = 1 << 20;
const SLACK: usize = MIB;
const STATS: bool = cfg!(feature = "stats");

fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn code<T: std::fmt::Debug>(r: ctl::Result<T>) -> i32 {
    r.unwrap_err().code()
}

#[test]
fn version_and_config() {
    let _g = serial();
    // The jemalloc version ingot answers as, for programs that check it.
    let v = ctl::version::read().unwrap();
    assert!(v.starts_with("5.3.0-"), "version {v:?}");
    assert_eq!(config::stats::read(), Ok(cfg!(feature = "stats")));
    assert_eq!(config::debug::read(), Ok(cfg!(feature = "debug")));
    assert_eq!(config::prof::read(), Ok(true));
}

#[test]
fn epoch_advances() {
    let _g = serial();
    let e0 = epoch::read().unwrap();
    let e1 = epoch::advance().unwrap();
    assert!(e1 > e0, "epoch {e0} -> {e1}");
    let mib = epoch::mib().unwrap();
    let e2 = mib.advance().unwrap();
    assert!(e2 > e1, "epoch {e1} -> {e2}");
    assert_eq!(epoch::read(), Ok(e2));
}

#[test]
fn stats_follow_allocations() {
    let _g = serial();
    epoch::advance().unwrap();
    let before = stats::allocated::read().unwrap();
    let blocks: Vec<Vec<u8>> = (0..32).map(|i| vec![i as u8; 2 * MIB]).collect();
    // The snapshot does not move until the epoch does.
    assert_eq!(stats::allocated::read(), Ok(before));
    epoch::advance().unwrap();
    let during = stats::allocated::read().unwrap();
    if STATS {
        assert!(
            during + SLACK >= before + 64 * MIB,
            "stats.allocated {before} -> {during} with 64 MiB live"
        );
    }
    let active = stats::active::read().unwrap();
    let resident = stats::resident::read().unwrap();
    let mapped = stats::mapped::read().unwrap();
    let metadata = stats::metadata::read().unwrap();
    stats::retained::read().unwrap();
    assert!(active >= during, "active {active} < allocated {during}");
    assert!(resident >= active, "resident {resident} < active {active}");
    assert!(mapped >= active, "mapped {mapped} < active {active}");
    assert!(metadata > 0);
    // The same snapshot as ingot::stats() would give at that epoch: by name,
    // by typed MIB and by raw MIB.
    let by_mib = stats::allocated::mib().unwrap();
    assert_eq!(by_mib.read(), Ok(during));
    assert_eq!(unsafe { by_mib.mib().read::<usize>() }, Ok(during));
    assert_eq!(unsafe { raw::read::<usize>("stats.allocated") }, Ok(during));
    drop(blocks);
    epoch::advance().unwrap();
    let after = stats::allocated::read().unwrap();
    if STATS {
        assert!(
            after + 60 * MIB <= during,
            "stats.allocated {during} -> {after} after the drop"
        );
    }
}

#[test]
fn arenas_and_size_classes() {
    let _g = serial();
    let n = arenas::narenas::read().unwrap();
    assert!(n >= 1);
    assert!(opt::narenas::read().unwrap() <= n);
    assert_eq!(arenas::quantum::read(), Ok(16));
    assert!(arenas::page::read().unwrap().is_power_of_two());
    let nbins = arenas::nbins::read().unwrap();
    assert!(nbins > 10, "nbins {nbins}");
    let sizes: Vec<usize> = (0..nbins).map(|i| arenas::bin_size(i).unwrap()).collect();
    assert!(sizes.windows(2).all(|w| w[0] < w[1]), "{sizes:?}");
    // Each class is what nallocx-style rounding gives: a Vec of that
    // capacity fits its block exactly.
    assert_eq!(sizes[0] % 8, 0);
    // By raw MIB: one lookup, the index changed in place.
    let mut mib = raw::name_to_mib("arenas.bin.0.size").unwrap();
    assert_eq!(mib.as_slice().len(), 4);
    for (i, &size) in sizes.iter().enumerate() {
        mib.set(2, i);
        assert_eq!(unsafe { mib.read::<usize>() }, Ok(size));
    }
    assert_eq!(code(arenas::bin_size(nbins)), Error::ENOENT);
}

#[test]
fn purge_returns_dirty_pages() {
    let _g = serial();
    let pdirty = || {
        epoch::advance().unwrap();
        let mut mib = raw::name_to_mib("stats.arenas.0.pdirty").unwrap();
        mib.set(2, arena::ALL as usize);
        unsafe { mib.read::<usize>().unwrap() }
    };
    // Freed 64 KiB blocks leave their pages dirty (decay time 1 s).
    let blocks: Vec<Vec<u8>> = (0..256).map(|_| vec![1u8; 64 * 1024]).collect();
    drop(blocks);
    ingot::ctl::thread::tcache_flush().unwrap();
    let dirty = pdirty();
    if STATS {
        assert!(dirty > 0, "no dirty page after freeing 16 MiB");
    }
    arena::purge(arena::ALL).unwrap();
    let after = pdirty();
    assert!(
        after < 64,
        "pdirty {dirty} -> {after} after arena.<ALL>.purge"
    );
    for i in 0..arenas::narenas::read().unwrap() {
        arena::purge(i).unwrap();
        arena::decay(i).unwrap();
    }
    // As in jemalloc: an index past the arenas is no name at all.
    assert_eq!(code(arena::purge(4000)), Error::ENOENT);
}

#[test]
fn decay_times_read_and_write() {
    let _g = serial();
    let old = arena::dirty_decay_ms(0).unwrap();
    assert_eq!(old, opt::dirty_decay_ms::read().unwrap());
    arena::set_dirty_decay_ms(0, 5000).unwrap();
    assert_eq!(arena::dirty_decay_ms(0), Ok(5000));
    arena::set_dirty_decay_ms(0, -1).unwrap();
    assert_eq!(arena::dirty_decay_ms(0), Ok(-1));
    assert_eq!(code(arena::set_dirty_decay_ms(0, -2)), Error::EFAULT);
    arena::set_dirty_decay_ms(0, old).unwrap();
    assert_eq!(arena::dirty_decay_ms(0), Ok(old));

    arena::set_muzzy_decay_ms(0, 250).unwrap();
    assert_eq!(arena::muzzy_decay_ms(0), Ok(250));
    arena::set_muzzy_decay_ms(0, opt::muzzy_decay_ms::read().unwrap()).unwrap();

    let default = arenas::dirty_decay_ms::read().unwrap();
    assert_eq!(arenas::dirty_decay_ms::update(3000), Ok(default));
    assert_eq!(arenas::dirty_decay_ms::mib().unwrap().read(), Ok(3000));
    arenas::dirty_decay_ms::write(default).unwrap();
    assert_eq!(arenas::muzzy_decay_ms::read(), opt::muzzy_decay_ms::read());
    assert_eq!(code(arena::dirty_decay_ms(4000)), Error::ENOENT);
}

#[test]
fn thread_counters() {
    let _g = serial();
    let p = ctl::thread::allocatedp().unwrap();
    let q = ctl::thread::deallocatedp().unwrap();
    let a0 = p.refresh().unwrap();
    let d0 = q.refresh().unwrap();
    let v = vec![5u8; 4 * MIB];
    let a1 = p.refresh().unwrap();
    assert_eq!(p.get(), a1);
    if STATS {
        assert!(a1 >= a0 + 4 * MIB as u64, "thread.allocated {a0} -> {a1}");
    }
    assert!(ctl::thread::allocated::read().unwrap() >= a1);
    drop(v);
    let d1 = q.refresh().unwrap();
    if STATS {
        assert!(d1 >= d0 + 4 * MIB as u64, "thread.deallocated {d0} -> {d1}");
    }
    // Another thread has counters of its own.
    let main_total = p.refresh().unwrap();
    let other = thread::spawn(|| {
        let p = ctl::thread::allocatedp().unwrap();
        let v = vec![1u8; 1000];
        let n = p.refresh().unwrap();
        drop(v);
        n
    })
    .join()
    .unwrap();
    if STATS {
        assert!(
            other >= 1000 && other < main_total,
            "other thread {other}, main {main_total}"
        );
    }
    let arena_now = ctl::thread::arena::read().unwrap();
    assert!(arena_now < arenas::narenas::read().unwrap());
    assert_eq!(code(ctl::thread::arena::write(4000)), Error::EFAULT);
}

#[test]
fn background_thread_switches() {
    let _g = serial();
    let was = ctl::background_thread::read().unwrap();
    assert_eq!(was, opt::background_thread::read().unwrap());
    assert_eq!(ctl::background_thread::update(true), Ok(was));
    assert_eq!(ctl::background_thread::read(), Ok(true));
    ctl::background_thread::write(false).unwrap();
    assert_eq!(ctl::background_thread::mib().unwrap().read(), Ok(false));
    ctl::background_thread::write(was).unwrap();

    let max = ctl::max_background_threads::read().unwrap();
    ctl::max_background_threads::write(1).unwrap();
    assert_eq!(ctl::max_background_threads::read(), Ok(1));
    assert_eq!(code(ctl::max_background_threads::write(0)), Error::EINVAL);
    ctl::max_background_threads::write(max.max(1)).unwrap();
}

#[test]
fn options_read_back() {
    let _g = serial();
    for var in ["INGOT_CONF", "MALLOC_CONF"] {
        if std::env::var_os(var).is_some() {
            return; // the caller chose options; the defaults are not in force
        }
    }
    assert_eq!(opt::profile::read(), Ok("default"));
    assert_eq!(opt::junk::read(), Ok("false"));
    assert_eq!(opt::tcache::read(), Ok(true));
    assert_eq!(opt::zero::read(), Ok(false));
    assert_eq!(opt::prof::read(), Ok(false));
    assert_eq!(opt::dirty_decay_ms::read(), Ok(1000));
    assert_eq!(opt::lg_prof_sample::read(), Ok(19));
}

#[test]
fn profiling_names_without_prof() {
    let _g = serial();
    if opt::prof::read().unwrap() {
        return; // tests/prof.rs covers a program started with prof:true
    }
    assert_eq!(code(ctl::prof::active::write(true)), Error::ENOENT);
    assert_eq!(ctl::prof::active::write(false), Ok(()));
    assert_eq!(code(ctl::prof::dump()), Error::ENOENT);
    assert_eq!(code(ctl::prof::reset(12)), Error::ENOENT);
}

#[test]
fn errors_are_mallctls() {
    let _g = serial();
    assert_eq!(
        code(unsafe { raw::read::<usize>("no.such.name") }),
        Error::ENOENT
    );
    assert_eq!(code(raw::name_to_mib("stats.nothing")), Error::ENOENT);
    // A wrong size, a read-only name written, a value given to a name that
    // takes none.
    assert_eq!(
        code(unsafe { raw::read::<u8>("stats.allocated") }),
        Error::EINVAL
    );
    assert_eq!(
        code(unsafe { raw::write("stats.allocated", 1usize) }),
        Error::EPERM
    );
    assert_eq!(
        code(unsafe { raw::write("thread.tcache.flush", 1usize) }),
        Error::EPERM
    );
    // Names the calls refuse before ingot sees them.
    assert_eq!(
        code(raw::call(&"x".repeat(ctl::NAME_MAX + 1))),
        Error::EINVAL
    );
    assert_eq!(code(raw::call("epoch\0")), Error::EINVAL);
    // by MIB: an index past the arenas
    let mut mib = raw::name_to_mib("arena.0.purge").unwrap();
    mib.set(1, 4000);
    assert_eq!(code(mib.call()), Error::ENOENT);

    let err = Error::from_code(Error::ENOENT);
    assert!(err.to_string().contains("ENOENT"), "{err}");
    assert!(Error::from_code(99).to_string().contains("99"));
}

/// With `std`, an std::error::Error: `?` into Box<dyn Error> works.
#[cfg(feature = "std")]
#[test]
fn errors_convert_to_boxed_errors() {
    let _g = serial();
    let boxed: Box<dyn std::error::Error> = Box::new(Error::from_code(Error::ENOENT));
    assert!(boxed.source().is_none());
    let f = || -> Result<u64, Box<dyn std::error::Error>> { Ok(epoch::advance()?) };
    assert!(f().is_ok());
}

#[test]
#[should_panic(expected = "component 5 of a 4-component name")]
fn mib_set_past_the_depth_panics() {
    let _g = serial();
    raw::name_to_mib("arenas.bin.0.size").unwrap().set(5, 0);
}

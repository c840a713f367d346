//! `ingot::prof`: heap profiling switched and dumped from Rust.
//!
//! ingot reads `prof:true` when it starts, so the test with profiling on runs
//! in a child process: this test binary again, started with
//! `INGOT_CONF=prof:true,...` and told to run only `child_with_prof_on`
//! (ignored in ordinary runs).
#![cfg(feature = "std")]

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use ingot::prof::{self, Error};
use ingot::Ingot;

#[global_allocator]
static A: Ingot = Ingot;

/// Where the child writes its files (set only in the child).
const CHILD_DIR: &str = "INGOT_PROF_TEST_DIR";

fn first_line(path: &Path) -> String {
    let text = fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let text = String::from_utf8_lossy(&text);
    text.lines().next().unwrap_or("").to_string()
}

/// This binary runs without prof:true (unless the caller's environment
/// turns it on): the calls fail as jemalloc's mallctl does then.
#[test]
fn without_prof_the_calls_fail_with_enoent() {
    for var in ["INGOT_CONF", "MALLOC_CONF"] {
        if env::var(var).map_or(false, |v| v.contains("prof:true")) {
            panic!("{var} turns profiling on; this test needs it off");
        }
    }
    let dir = env::temp_dir().join(format!("ingot-rust-prof-off-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let file = dir.join("x.heap");

    assert_eq!(prof::activate(true).unwrap_err().code(), Error::ENOENT);
    assert_eq!(prof::activate(false), Ok(()));
    assert_eq!(prof::dump(Some(&file)).unwrap_err().code(), Error::ENOENT);
    assert_eq!(prof::dump(None).unwrap_err().code(), Error::ENOENT);
    assert_eq!(prof::dump_pprof(&file).unwrap_err().code(), Error::ENOENT);
    assert!(!file.exists());
    fs::remove_dir(&dir).unwrap();
}

#[test]
fn a_path_with_a_nul_byte_is_einval() {
    let err = prof::dump(Some(Path::new("a\0b"))).unwrap_err();
    assert_eq!(err.code(), Error::EINVAL);
    assert!(!err.to_string().is_empty());
}

#[test]
fn with_prof_on_the_calls_switch_and_dump() {
    let dir = env::temp_dir().join(format!("ingot-rust-prof-on-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let out = Command::new(env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "child_with_prof_on",
            "--test-threads=1",
        ])
        .env(
            "INGOT_CONF",
            format!("prof:true,prof_prefix:{}/p", dir.display()),
        )
        .env_remove("MALLOC_CONF")
        .env(CHILD_DIR, &dir)
        .output()
        .expect("start the child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    fs::remove_dir_all(&dir).unwrap();
}

/// Run by `with_prof_on_the_calls_switch_and_dump` in a child with prof:true.
#[test]
#[ignore]
fn child_with_prof_on() {
    let dir = PathBuf::from(
        env::var_os(CHILD_DIR).expect("run by with_prof_on_the_calls_switch_and_dump"),
    );
    let blocks: Vec<Vec<u8>> = (0..64).map(|_| vec![1u8; 1 << 20]).collect();

    assert_eq!(prof::activate(false), Ok(()));
    assert_eq!(prof::activate(true), Ok(()));
    let named = dir.join("x.heap");
    assert_eq!(prof::dump(Some(&named)), Ok(()));
    assert!(
        first_line(&named).starts_with("heap_v2/"),
        "{}",
        first_line(&named)
    );
    assert_eq!(prof::dump(None), Ok(()));
    let automatic = dir.join(format!("p.{}.0.m0.heap", std::process::id()));
    assert!(
        first_line(&automatic).starts_with("heap_v2/"),
        "{}",
        automatic.display()
    );
    let pprof = dir.join("x.pprof");
    assert_eq!(prof::dump_pprof(&pprof), Ok(()));
    assert!(
        first_line(&pprof).starts_with("heap profile:"),
        "{}",
        first_line(&pprof)
    );
    let unwritable = Path::new("/nonexistent-ingot-dir/x.heap");
    assert_eq!(
        prof::dump(Some(unwritable)).unwrap_err().code(),
        Error::EFAULT
    );

    // The same names through ingot::ctl.
    use ingot::ctl;
    assert_eq!(ctl::opt::prof::read(), Ok(true));
    assert_eq!(
        ctl::prof::lg_sample::read(),
        ctl::opt::lg_prof_sample::read()
    );
    assert_eq!(ctl::prof::active::update(false), Ok(true));
    assert_eq!(ctl::prof::active::mib().unwrap().read(), Ok(false));
    ctl::prof::active::write(true).unwrap();
    assert_eq!(ctl::prof::thread_active_init::read(), Ok(true));
    assert_eq!(ctl::prof::gdump::update(true), Ok(false));
    ctl::prof::gdump::write(false).unwrap();
    assert_eq!(ctl::prof::interval::read(), Ok(0));
    ctl::prof::reset(16).unwrap();
    assert_eq!(ctl::prof::lg_sample::read(), Ok(16));
    assert_eq!(ctl::prof::reset(63).unwrap_err().code(), Error::EINVAL);
    let automatic_dumps = || {
        fs::read_dir(&dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("p.")
            })
            .count()
    };
    let dumps = automatic_dumps();
    ctl::prof::dump().unwrap();
    assert_eq!(automatic_dumps(), dumps + 1);
    drop(blocks);
}

//! Options set by the program (`ingot::malloc_conf!`) and the profile chosen
//! at start from `INGOT_CONF`, without a rebuild.
//!
//! ingot reads its options once, at start, so the runs with `INGOT_CONF`
//! set are child processes: this test binary again, told to run one of the
//! `child_*` tests (ignored in ordinary runs).

use std::env;
use std::process::{Command, Output};

use ingot::ctl::opt;
use ingot::Ingot;

ingot::malloc_conf!("narenas:3,dirty_decay_ms:2500,muzzy_decay_ms:7");

#[global_allocator]
static A: Ingot = Ingot;

/// Set in the children, so that a child test knows it was started by its
/// parent.
const CHILD: &str = "INGOT_MALLOC_CONF_TEST_CHILD";

fn caller_set_options() -> bool {
    env::var_os("INGOT_CONF").is_some() || env::var_os("MALLOC_CONF").is_some()
}

fn run_child(test: &str, ingot_conf: &str) -> Output {
    Command::new(env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            test,
            "--test-threads=1",
            "--nocapture",
        ])
        .env("INGOT_CONF", ingot_conf)
        .env_remove("MALLOC_CONF")
        .env(CHILD, "1")
        .output()
        .expect("start the child")
}

fn assert_child_passed(out: &Output) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_programs_options_are_read() {
    if caller_set_options() {
        return; // the environment overrides what this test checks
    }
    assert_eq!(opt::narenas::read(), Ok(3));
    assert_eq!(opt::dirty_decay_ms::read(), Ok(2500));
    assert_eq!(opt::muzzy_decay_ms::read(), Ok(7));
    assert_eq!(ingot::ctl::arena::dirty_decay_ms(0), Ok(2500));
    let expect = if cfg!(feature = "hardened") {
        "hardened"
    } else if cfg!(feature = "debug") {
        "debug"
    } else {
        "default"
    };
    assert_eq!(ingot::profile(), expect);
}

#[test]
fn ingot_conf_overrides_them_and_picks_the_debug_profile() {
    assert_child_passed(&run_child(
        "child_debug_profile",
        "dirty_decay_ms:100,profile:debug",
    ));
}

#[test]
fn ingot_conf_picks_the_hardened_profile() {
    let out = run_child("child_hardened_profile", "profile:hardened");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The child frees a block twice: the hardened checks stop it.
    assert!(
        !out.status.success() && stderr.contains("double free"),
        "child ({}) was not stopped by a double free check:\n{}\n{stderr}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(stderr.contains("profile hardened"), "{stderr}");
}

/// In a child with INGOT_CONF=dirty_decay_ms:100,profile:debug.
#[test]
#[ignore]
fn child_debug_profile() {
    assert!(env::var_os(CHILD).is_some(), "run by its parent test");
    // INGOT_CONF overrides the program's value; the others stay.
    assert_eq!(opt::dirty_decay_ms::read(), Ok(100));
    assert_eq!(opt::narenas::read(), Ok(3));
    assert_eq!(opt::muzzy_decay_ms::read(), Ok(7));
    assert_eq!(opt::profile::read(), Ok("debug"));
    if !cfg!(feature = "hardened") {
        assert_eq!(ingot::profile(), "debug");
    }
    // The debug profile fills new blocks with 0xa5.
    unsafe {
        let p = ingot::sys::ingot_mallocx(48, 0).cast::<u8>();
        assert!(!p.is_null());
        let bytes = std::slice::from_raw_parts(p, 48);
        assert!(bytes.iter().all(|&b| b == 0xa5), "{bytes:?}");
        ingot::sys::ingot_sdallocx(p.cast(), 48, 0);
    }
}

/// In a child with INGOT_CONF=profile:hardened: ends with a double free.
#[test]
#[ignore]
fn child_hardened_profile() {
    assert!(env::var_os(CHILD).is_some(), "run by its parent test");
    assert_eq!(ingot::profile(), "hardened");
    eprintln!("profile {}", ingot::profile());
    unsafe {
        let p = ingot::sys::ingot_mallocx(100, 0);
        assert!(!p.is_null());
        ingot::sys::ingot_sdallocx(p, 100, 0);
        ingot::sys::ingot_sdallocx(p, 100, 0);
    }
    unreachable!("the second free returned");
}

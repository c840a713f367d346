//! build.rs — compiles ingot's C sources into `OUT_DIR/libingot.a` and links it.
//!
//! The sources are those of `csrc/` when it exists (a packaged crate: `make
//! rust-package` copies `src/`, `arch/`, `include/` and
//! `tools/gen_sizeclass.c` there before `cargo package`), else those of the
//! ingot tree the crate sits in (`../..`). The repository keeps one copy.
//!
//! Mirrors the top-level Makefile (read it for the meaning of each flag), with
//! no crate from a registry: the C compiler is run through std::process.
//!
//! 1. `tools/gen_sizeclass.c` is built for the host and writes the size-class
//!    table `OUT_DIR/gen/sizeclass_table.h` (the Makefile's build/gen-p12/).
//! 2. `src/*.c` (freestanding, CORE_CFLAGS) and `arch/<os>.c` (ARCH_CFLAGS)
//!    are compiled with `-DINGOT_OVERRIDE=0`: the library defines only the
//!    `ingot_*` names, so linking it never replaces the process's malloc.
//! 3. `ar` archives the objects; cargo links the archive and pthread.
//!
//! Cargo features pick the build profile: `stats` (default; STATS=1),
//! `hardened` (HARDENED=1), `debug` (DEBUG=1).
//!
//! Environment: `CC` (default `cc`), `HOST_CC` (for the generator; default
//! `CC`), `AR` (default `ar`), `INGOT_LG_PAGE` (default 12, log2 of ingot's
//! page; at least the OS page of the target), `INGOT_CFLAGS` (appended).
//!
//! One difference from the Makefile: no `-ftls-model=initial-exec`. For an
//! executable the linker turns the default model into the same local-exec
//! code; without the flag the archive also works inside a cdylib that is
//! loaded with dlopen.

use std::env;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let carried = manifest.join("csrc");
    let root = if carried.join("src").is_dir() {
        carried
    } else {
        manifest.join("../..")
    };
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));

    for dir in ["src", "arch", "include", "tools/gen_sizeclass.c"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    for var in ["CC", "HOST_CC", "AR", "INGOT_LG_PAGE", "INGOT_CFLAGS"] {
        println!("cargo:rerun-if-env-changed={var}");
    }

    let cc = env::var_os("CC").unwrap_or_else(|| "cc".into());
    let host_cc = env::var_os("HOST_CC").unwrap_or_else(|| cc.clone());
    let ar = env::var_os("AR").unwrap_or_else(|| "ar".into());
    let lg_page = env::var("INGOT_LG_PAGE").unwrap_or_else(|_| "12".into());
    let feature = |name: &str| env::var_os(format!("CARGO_FEATURE_{name}")).is_some();

    // The arch back end: linux.c on Linux, posix.c on the other Unix systems.
    let target_os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let arch = if target_os == "linux" || target_os == "android" {
        "linux"
    } else if env::var("CARGO_CFG_TARGET_FAMILY")
        .map_or(false, |f| f.split(',').any(|f| f == "unix"))
    {
        "posix"
    } else {
        panic!("ingot: no arch back end for target OS {target_os:?} in this crate");
    };

    // 1. the size-class table
    let gen = out.join("gen");
    fs::create_dir_all(&gen).expect("create OUT_DIR/gen");
    let generator = out.join("gen_sizeclass");
    run(Command::new(&host_cc)
        .args(["-std=c11", "-O1", "-o"])
        .arg(&generator)
        .arg(root.join("tools/gen_sizeclass.c")));
    let table = Command::new(&generator)
        .arg(&lg_page)
        .output()
        .expect("run gen_sizeclass");
    if !table.status.success() {
        panic!(
            "gen_sizeclass {lg_page} failed: {}",
            String::from_utf8_lossy(&table.stderr)
        );
    }
    fs::write(gen.join("sizeclass_table.h"), &table.stdout).expect("write sizeclass_table.h");

    // 2. the objects
    let defs = [
        format!("-DINGOT_DEBUG={}", feature("DEBUG") as u8),
        format!("-DINGOT_STATS={}", feature("STATS") as u8),
        format!("-DINGOT_HARDENED={}", feature("HARDENED") as u8),
        format!("-DINGOT_LG_PAGE={lg_page}"),
        "-DINGOT_OVERRIDE=0".to_string(),
    ];
    let debug_info = env::var("DEBUG").map_or(false, |d| d != "false" && d != "0");
    let common = |std: &str| -> Vec<OsString> {
        let mut flags: Vec<OsString> = [std, "-O2", "-fPIC", "-fvisibility=hidden"]
            .iter()
            .map(OsString::from)
            .collect();
        if debug_info {
            flags.push("-g".into());
        }
        flags.extend(defs.iter().map(OsString::from));
        flags.push(include_flag(&root.join("include")));
        flags.push(include_flag(&root.join("arch")));
        flags
    };
    let mut core_flags = common("-std=c11");
    core_flags.extend(
        ["-ffreestanding", "-fno-plt", "-fno-stack-protector"]
            .iter()
            .map(OsString::from),
    );
    core_flags.push(include_flag(&gen));
    let mut arch_flags = common("-std=gnu11");
    if let Ok(extra) = env::var("INGOT_CFLAGS") {
        for flag in extra.split_whitespace() {
            core_flags.push(flag.into());
            arch_flags.push(flag.into());
        }
    }

    let mut sources: Vec<PathBuf> = fs::read_dir(root.join("src"))
        .expect("read ingot's src/")
        .map(|entry| entry.expect("read ingot's src/").path())
        .filter(|path| path.extension().map_or(false, |ext| ext == "c"))
        .collect();
    sources.sort();
    let obj_dir = out.join("obj");
    fs::create_dir_all(&obj_dir).expect("create OUT_DIR/obj");
    let mut jobs: Vec<(PathBuf, &[OsString], PathBuf)> = sources
        .iter()
        .map(|src| {
            let obj = obj_dir.join(src.file_stem().unwrap()).with_extension("o");
            (src.clone(), core_flags.as_slice(), obj)
        })
        .collect();
    jobs.push((
        root.join(format!("arch/{arch}.c")),
        arch_flags.as_slice(),
        obj_dir.join(format!("arch_{arch}.o")),
    ));

    let parallel: usize = env::var("NUM_JOBS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1)
        .max(1);
    let mut running: Vec<(Child, &Path)> = Vec::new();
    for (src, flags, obj) in &jobs {
        if running.len() == parallel {
            let (child, src) = running.remove(0);
            wait(child, src);
        }
        let child = Command::new(&cc)
            .args(flags.iter())
            .arg("-c")
            .arg(src)
            .arg("-o")
            .arg(obj)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run the C compiler {cc:?}: {e}"));
        running.push((child, src));
    }
    for (child, src) in running {
        wait(child, src);
    }

    // 3. the archive
    let archive = out.join("libingot.a");
    let _ = fs::remove_file(&archive);
    run(Command::new(&ar)
        .arg("crs")
        .arg(&archive)
        .args(jobs.iter().map(|(_, _, obj)| obj)));

    println!("cargo:rustc-link-search=native={}", out.display());
    println!("cargo:rustc-link-lib=static=ingot");
    println!("cargo:rustc-link-lib=pthread");
}

fn include_flag(dir: &Path) -> OsString {
    let mut flag = OsString::from("-I");
    flag.push(dir);
    flag
}

fn run(cmd: &mut Command) {
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    if !status.success() {
        panic!("{cmd:?} failed: {status}");
    }
}

fn wait(mut child: Child, src: &Path) {
    let status = child.wait().expect("wait for the C compiler");
    if !status.success() {
        panic!("compiling {} failed: {status}", src.display());
    }
}

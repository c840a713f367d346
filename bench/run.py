#!/usr/bin/env python3
"""Benchmark runner of ingot: every workload under every allocator.

    run.py full      [options]   all workloads, several rounds, callgrind counts
    run.py quick     [options]   a reduced set with small counts (under two minutes)
    run.py scaling   [options]   the threaded workloads at several thread counts
    run.py callgrind [options]   only the fast-path instruction counts

Allocators are chosen with LD_PRELOAD: ingot (lib/libingot.so, given by
--ingot), glibc (no preload), and Debian's jemalloc, mimalloc and tcmalloc,
installed with apt-get when missing (unless --no-install). An allocator that
cannot be found or does not load is skipped with a line saying why.

Rounds are interleaved: each round runs every workload once under every
allocator, in an order that rotates from round to round, so drift of the
machine spreads over all of them. Each run goes through build/measure (wall
time and peak RSS from wait4). The report takes medians over the rounds.

Outputs, under bench/results/ (or --out): raw.csv (one row per run),
summary.csv (medians and ratios), callgrind.csv, report.md (also printed),
errors.log (output of failed runs), and PNG plots drawn with gnuplot.
Standard library only (Python 3.9 or later).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import functools
import glob
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.join(HERE, "build")
MEASURE = os.path.join(BUILD, "measure")

ALL_ALLOCATORS = ["ingot", "glibc", "jemalloc", "mimalloc", "tcmalloc"]

# Peers from Debian: candidate library names (first found wins) and the package
# that provides the first of them.
PEERS = {
    "jemalloc": (["libjemalloc.so.2"], "libjemalloc2"),
    "mimalloc": (["libmimalloc.so.2", "libmimalloc.so.2.0", "libmimalloc.so"], "libmimalloc2.0"),
    "tcmalloc": (["libtcmalloc_minimal.so.4", "libtcmalloc.so.4"], "libtcmalloc-minimal4"),
}
TOOLS = {"gnuplot": "gnuplot-nox", "valgrind": "valgrind", "sqlite3": "sqlite3"}

# Callgrind: iterations of the short run (the long run does twice as many).
# The loops of bench/workloads/fastpath.c, in the order it runs them.
CALLGRIND_LOOPS = ["pair", "batch", "mix", "burst", "flood"]
CALLGRIND_N = {"full": 100000, "quick": 20000, "callgrind": 100000}


def log(msg: str) -> None:
    print(msg, flush=True)


# --------------------------------------------------------------------------
# Allocators


@dataclass
class Allocator:
    name: str
    preload: str | None  # LD_PRELOAD value; None for glibc
    version: str
    env: tuple = ()      # extra environment, e.g. ingot's profile


@functools.lru_cache(maxsize=None)
def lib_dirs() -> tuple[str, ...]:
    dirs = []
    try:
        arch = subprocess.run(["gcc", "-print-multiarch"], capture_output=True, text=True).stdout.strip()
        if arch:
            dirs.append(f"/usr/lib/{arch}")
    except OSError:
        pass
    dirs += sorted(glob.glob("/usr/lib/*-linux-gnu*")) + ["/usr/lib64", "/usr/lib", "/usr/local/lib"]
    return tuple(d for i, d in enumerate(dirs) if d not in dirs[:i] and os.path.isdir(d))


def find_lib(names: list[str]) -> str | None:
    for name in names:
        for d in lib_dirs():
            p = os.path.join(d, name)
            if os.path.exists(p):
                return p
    return None


def package_version(pkg: str) -> str:
    try:
        r = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", pkg], capture_output=True, text=True)
        return r.stdout.strip() if r.returncode == 0 and r.stdout.strip() else "?"
    except OSError:
        return "?"


def apt_install(packages: list[str]) -> None:
    """Installs the packages with apt-get, if we can; failures are reported, not raised."""
    if not packages:
        return
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        log(f"note: cannot install {' '.join(packages)} (needs apt-get and root)")
        return
    log(f"installing missing packages: {' '.join(packages)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    r = subprocess.run(["apt-get", "install", "-y", "--no-install-recommends"] + packages,
                       env=env, capture_output=True, text=True)
    if r.returncode != 0:
        log(f"note: apt-get install failed (exit {r.returncode}): {r.stderr.strip()[-300:]}")


def ensure_peers(wanted: list[str], need_tools: list[str], install: bool) -> None:
    missing = [PEERS[a][1] for a in wanted if a in PEERS and find_lib(PEERS[a][0]) is None]
    missing += [TOOLS[t] for t in need_tools if shutil.which(t) is None]
    if missing and install:
        apt_install(missing)


def probe(preload: str | None) -> tuple[bool, str]:
    """Checks that malloc/free/realloc really come from the preloaded library."""
    env = clean_env(preload)
    try:
        r = subprocess.run([os.path.join(BUILD, "probe")], env=env, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, str(e)
    if r.returncode != 0:
        return False, f"probe exited with {r.returncode}: {r.stderr.strip()[-200:]}"
    want = os.path.realpath(preload) if preload else None
    for line in r.stdout.splitlines():
        sym, _, path = line.partition(" ")
        got = os.path.realpath(path)
        if want is not None and got != want:
            return False, f"{sym} comes from {path}, not the preloaded library ({r.stderr.strip()[-200:]})"
        if want is None and "libc.so" not in os.path.basename(got):
            return False, f"{sym} comes from {path}, not glibc"
    return True, ""


def resolve_allocators(names: list[str], ingot: str, install: bool, need_tools: list[str]) -> list[Allocator]:
    ensure_peers(names, need_tools, install)
    found = []
    for name in names:
        if name == "glibc":
            path, version = None, "glibc " + platform.libc_ver()[1]
        elif name in ("ingot", "ingot-hardened", "ingot-prof"):
            path = ingot if os.path.exists(ingot) else None
            version = "working tree"
            if path is None:
                log(f"skip: {name} ({ingot} not found; build it with make)")
                continue
            if name == "ingot-hardened":
                # The same library, with the hardened checks chosen at start.
                found.append(Allocator(name, path, version + ", profile:hardened",
                                       (("INGOT_CONF", "profile:hardened"),)))
                continue
            if name == "ingot-prof":
                # The same library, heap profiling at the default rate.
                found.append(Allocator(name, path, version + ", prof:true",
                                       (("MALLOC_CONF", "prof:true"),)))
                continue
        elif name == "jemalloc-prof":
            # Debian's jemalloc (built with profiling) with prof:true, the
            # peer of ingot-prof.
            path = find_lib(PEERS["jemalloc"][0])
            if path is None:
                log(f"skip: {name} (libjemalloc not found)")
                continue
            found.append(Allocator(name, path, f"{PEERS['jemalloc'][1]} "
                                   f"{package_version(PEERS['jemalloc'][1])}, prof:true",
                                   (("MALLOC_CONF", "prof:true"),)))
            continue
        elif name in PEERS:
            path = find_lib(PEERS[name][0])
            if path is None:
                log(f"skip: {name} (none of {', '.join(PEERS[name][0])} found; package {PEERS[name][1]})")
                continue
            pkg = PEERS[name][1] if os.path.basename(path) == PEERS[name][0][0] else "libgoogle-perftools4"
            version = f"{pkg} {package_version(pkg)}"
        else:
            log(f"skip: {name} (unknown allocator; known: {', '.join(ALL_ALLOCATORS)}, "
                "ingot-hardened, ingot-prof, jemalloc-prof)")
            continue
        ok, why = probe(path)
        if not ok:
            log(f"skip: {name} ({why})")
            continue
        found.append(Allocator(name, path, version))
    return found


def clean_env(preload: str | None, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a run: ours, less any preload or allocator tuning, so
    that every allocator runs with its defaults."""
    env = dict(os.environ)
    for k in ("LD_PRELOAD", "MALLOC_CONF", "INGOT_CONF", "MIMALLOC_VERBOSE"):
        env.pop(k, None)
    if preload:
        env["LD_PRELOAD"] = preload
    env.update(extra or {})
    return env


# --------------------------------------------------------------------------
# Workloads


@dataclass
class Workload:
    name: str
    argv: list[str]                 # '{rss_out}' is replaced by a per-run file
    env: dict[str, str] = field(default_factory=dict)
    stdin: str | None = None        # file fed to the program's stdin
    group: str = ""                 # throughput table row label ("" = not listed)
    threads: int = 1
    scalable: bool = False          # takes --threads; run by 'scaling'
    has_result: bool = True         # prints a result line (a real program may not)


def bin_(name: str) -> str:
    return os.path.join(BUILD, name)


def workloads(threads: int, scale: float, results: str, kind: str) -> list[Workload]:
    """The workload list. Counts are chosen so one run takes about 0.2-0.5 s on
    the 2-core reference machine under the faster allocators."""
    def n(count: float) -> str:
        return str(max(1, int(count * scale)))

    T = threads
    ws: list[Workload] = []

    def loop(mode: str, lo: int, hi: int, label: str, count: float, t: int = 1, group: str = "") -> None:
        suffix = f"-t{t}" if group else ""
        ws.append(Workload(f"{mode}-{label}{suffix}",
                           [bin_("sizeloop"), "--mode", mode, "--min", str(lo), "--max", str(hi),
                            "--threads", str(t), "--iters", n(count)],
                           group=group, threads=t, scalable=bool(group)))

    ranges = [(16, 128, "16-128", 40e6, 15e6), (128, 1024, "128-1k", 40e6, 15e6),
              (1024, 8192, "1k-8k", 20e6, 4e6), (8192, 65536, "8k-64k", 4e6, 2e5)]
    for lo, hi, label, pair_n, batch_n in ranges:
        loop("pair", lo, hi, label, pair_n)
    for lo, hi, label, pair_n, batch_n in ranges:
        loop("batch", lo, hi, label, batch_n)
    for t in sorted({1, T}):
        loop("pair", 16, 1024, "16-1k", 30e6, t, f"hot pair 16..1k")
        loop("sized", 16, 1024, "16-1k", 30e6, t, f"hot pair, sized free, 16..1k")
        loop("batch", 16, 1024, "16-1k", 15e6, t, f"batch 16..1k")
        loop("mix", 16, 1024, "16-1k", 20e6, t, f"random mix 16..1k")
        ws.append(Workload(f"prodcons-t{t}", [bin_("prodcons"), "--threads", str(t), "--iters", n(1e7)],
                           group="producer/consumer", threads=t, scalable=True))
    ws += [
        Workload("frag", [bin_("frag"), "--iters", n(1e5)]),
        Workload("burst-64", [bin_("fastpath"), "--mode", "burst", "--iters", n(4e7)]),
        Workload("flood-64", [bin_("fastpath"), "--mode", "flood", "--iters", n(2e7)]),
        Workload(f"larson-t{T}", [bin_("larson"), "--threads", str(T), "--iters", n(6e6)],
                 threads=T, scalable=True),
        Workload(f"falseshare-active-t{T}", [bin_("falseshare"), "--mode", "active", "--threads", str(T),
                                             "--iters", n(4e5)], threads=T, scalable=True),
        Workload(f"falseshare-passive-t{T}", [bin_("falseshare"), "--mode", "passive", "--threads", str(T),
                                              "--iters", n(4e5)], threads=T, scalable=True),
        Workload(f"churn-t{T}", [bin_("churn"), "--threads", str(T), "--iters", n(1e4)],
                 threads=T, scalable=True),
        Workload(f"stress-t{T}", [bin_("stress"), "--threads", str(T), "--iters", n(1e6)],
                 threads=T, scalable=True),
        Workload("realloc-str", [bin_("realloc"), "--mode", "str", "--iters", n(2e6)]),
        Workload("realloc-array", [bin_("realloc"), "--mode", "array", "--iters", n(1e8)]),
        Workload("large", [bin_("large"), "--iters", n(200)]),
        Workload("large-buffers", [bin_("large"), "--mode", "buffers", "--iters", n(500)]),
        Workload("memreturn", [bin_("memreturn"), "--iters", n(256 << 20),
                               "--idle-ms", "2000" if kind == "full" else "500", "--out", "{rss_out}"]),
    ]
    python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else shutil.which("python3")
    if python:
        ws.append(Workload("py-dict", [python, os.path.join(HERE, "real", "dict.py"), n(1.5e5)],
                           env={"PYTHONMALLOC": "malloc"}))
    else:
        log("skip: workload py-dict (no python3)")
    sqlite = shutil.which("sqlite3")
    if sqlite:
        with open(os.path.join(HERE, "real", "sqlite.sql")) as f:
            sql = f.read().replace("@ROWS@", n(1e5))
        path = os.path.join(results, "sqlite-input.sql")
        with open(path, "w") as f:
            f.write(sql)
        ws.append(Workload("sqlite", [sqlite, ":memory:"], stdin=path, has_result=False))
    else:
        log("skip: workload sqlite (no sqlite3)")
    return ws


QUICK = ["pair-16-1k-t1", "batch-16-1k-t", "mix-16-1k-t1", "pair-8k-64k", "prodcons-t", "frag", "larson",
         "falseshare-passive", "churn", "stress", "realloc-str", "realloc-array", "large", "memreturn", "py-dict", "sqlite"]


def select(ws: list[Workload], patterns: list[str]) -> list[Workload]:
    return [w for w in ws if any(w.name == p or w.name.startswith(p) for p in patterns)]


# --------------------------------------------------------------------------
# Running


@dataclass
class Run:
    round: int
    workload: str
    allocator: str
    status: str              # "ok", or why not
    wall_s: float = math.nan
    maxrss_kib: float = math.nan
    mem_kib: float = math.nan  # the memory figure ranked: mem_kib from the result line, else peak RSS
    ops: float = math.nan
    seconds: float = math.nan
    extra: str = ""


def parse_kv(line: str) -> dict[str, str]:
    return dict(tok.split("=", 1) for tok in line.split()[1:] if "=" in tok)


def run_one(w: Workload, a: Allocator, rnd: int, results: str, timeout: float, errlog) -> Run:
    mfile = os.path.join(results, f".measure-{os.getpid()}")
    rss_out = os.path.join(results, f"memreturn-rss-{a.name}.dat")
    argv = [arg.replace("{rss_out}", rss_out) for arg in w.argv]
    cmd = [MEASURE, "-t", str(timeout), "-o", mfile, "--"] + argv
    stdin = open(w.stdin) if w.stdin else subprocess.DEVNULL
    try:
        r = subprocess.run(cmd, env=clean_env(a.preload, {**dict(a.env), **(w.env or {})}), stdin=stdin,
                           capture_output=True, text=True)
    finally:
        if w.stdin:
            stdin.close()
    run = Run(rnd, w.name, a.name, "ok")
    try:
        with open(mfile) as f:
            m = parse_kv(f.read())
        os.unlink(mfile)
    except OSError:
        m = {}
    result = next((parse_kv(l) for l in r.stdout.splitlines() if l.startswith("result ")), None)
    if not m:
        run.status = f"measure failed ({r.returncode})"
    elif m.get("timeout") == "1":
        run.status = f"timeout {timeout:.0f}s"
    elif m.get("signal", "0") != "0":
        run.status = f"signal {m['signal']}"
    elif m.get("exit") != "0":
        run.status = f"exit {m.get('exit')}"
    elif result is None and w.has_result:
        run.status = "no result line"
    if m:
        run.wall_s = float(m["wall_s"])
        run.maxrss_kib = float(m["maxrss_kib"])
        run.mem_kib = run.maxrss_kib
    if result:
        run.ops = float(result.get("ops", "nan"))
        run.seconds = float(result.get("seconds", "nan"))
        if "mem_kib" in result:
            run.mem_kib = float(result["mem_kib"])
        run.extra = ";".join(f"{k}={v}" for k, v in result.items()
                             if k not in ("workload", "ops", "seconds", "mem_kib"))
    if run.status != "ok":
        errlog.write(f"=== round {rnd} {w.name} {a.name}: {run.status}\n$ {' '.join(argv)}\n"
                     f"--- stdout\n{r.stdout[-2000:]}\n--- stderr\n{r.stderr[-4000:]}\n")
        errlog.flush()
    return run


def run_rounds(ws: list[Workload], allocs: list[Allocator], rounds: int, results: str, timeout: float) -> list[Run]:
    runs = []
    width = max(len(w.name) for w in ws)
    with open(os.path.join(results, "errors.log"), "w") as errlog:
        for rnd in range(1, rounds + 1):
            for wi, w in enumerate(ws):
                k = (rnd + wi) % len(allocs)
                for a in allocs[k:] + allocs[:k]:
                    run = run_one(w, a, rnd, results, timeout, errlog)
                    runs.append(run)
                    if run.status == "ok":
                        what = f"{run.wall_s:8.3f} s {run.mem_kib / 1024:9.1f} MiB"
                    else:
                        what = f"FAILED: {run.status} (see errors.log)"
                    log(f"[{rnd}/{rounds}] {w.name:<{width}} {a.name:<9} {what}")
    return runs


def write_raw(runs: list[Run], path: str) -> None:
    with open(path, "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["round", "workload", "allocator", "status", "wall_s", "maxrss_kib", "mem_kib",
                     "ops", "seconds", "extra"])
        for r in runs:
            wr.writerow([r.round, r.workload, r.allocator, r.status, fmt_num(r.wall_s), fmt_num(r.maxrss_kib),
                         fmt_num(r.mem_kib), fmt_num(r.ops), fmt_num(r.seconds), r.extra])


def fmt_num(x: float) -> str:
    return "" if x is None or math.isnan(x) else f"{x:.6g}"


# --------------------------------------------------------------------------
# Summaries


def medians(runs: list[Run], key) -> dict[tuple[str, str], float]:
    """Median of key(run) over the successful rounds, per (workload, allocator)."""
    groups: dict[tuple[str, str], list[float]] = {}
    for r in runs:
        if r.status == "ok":
            v = key(r)
            if v is not None and not math.isnan(v):
                groups.setdefault((r.workload, r.allocator), []).append(v)
    return {k: statistics.median(v) for k, v in groups.items()}


def ratios(med: dict[tuple[str, str], float], wnames: list[str], anames: list[str]) -> dict[tuple[str, str], float]:
    """Each allocator's median over the best (lowest) median of the others."""
    out = {}
    for w in wnames:
        for a in anames:
            if (w, a) not in med:
                continue
            others = [med[(w, b)] for b in anames if b != a and (w, b) in med]
            if others and min(others) > 0:
                out[(w, a)] = med[(w, a)] / min(others)
    return out


def geomean(xs: list[float]) -> float:
    xs = [x for x in xs if x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else math.nan


def failures(runs: list[Run], w: str, a: str) -> int:
    return sum(1 for r in runs if r.workload == w and r.allocator == a and r.status != "ok")


def table(title: str, unit_fmt, runs: list[Run], med, rat, wnames, anames) -> tuple[list[str], dict[str, float]]:
    lines = [title, "", "| workload | " + " | ".join(anames) + " |",
             "|---|" + "---:|" * len(anames)]
    for w in wnames:
        vals = {a: med.get((w, a)) for a in anames}
        present = [v for v in vals.values() if v is not None]
        best = min(present) if present else None
        cells = []
        for a in anames:
            v = vals[a]
            if v is None:
                nf = failures(runs, w, a)
                cells.append(f"FAIL ({nf})" if nf else "-")
                continue
            c = unit_fmt(v)
            if (w, a) in rat:
                c += f" ({rat[(w, a)]:.2f})"
            if v == best and len(present) > 1:
                c = f"**{c}**"
            nf = failures(runs, w, a)
            if nf:
                c += f" [{nf} failed]"
            cells.append(c)
        lines.append(f"| {w} | " + " | ".join(cells) + " |")
    gm = {a: geomean([rat[(w, a)] for w in wnames if (w, a) in rat]) for a in anames}
    best_gm = min((g for g in gm.values() if not math.isnan(g)), default=None)
    lines.append("| **geomean of ratios** | " + " | ".join(
        "-" if math.isnan(gm[a]) else (f"**{gm[a]:.3f}**" if gm[a] == best_gm else f"{gm[a]:.3f}")
        for a in anames) + " |")
    return lines, gm


def throughput_table(runs: list[Run], ws: list[Workload], anames: list[str]) -> list[str]:
    tp = medians(runs, lambda r: r.ops / r.seconds / 1e6 if r.seconds > 0 else math.nan)
    rows = [w for w in ws if w.group]
    if not rows:
        return []
    lines = ["## Throughput (median Mops/s, higher is better; ops = malloc+free pairs, or blocks passed)", "",
             "| workload | threads | " + " | ".join(anames) + " |", "|---|---:|" + "---:|" * len(anames)]
    for w in sorted(rows, key=lambda w: (w.group, w.threads)):
        vals = [tp.get((w.name, a)) for a in anames]
        best = max((v for v in vals if v is not None), default=None)
        cells = ["-" if v is None else (f"**{v:.3g}**" if v == best else f"{v:.3g}") for v in vals]
        lines.append(f"| {w.group} | {w.threads} | " + " | ".join(cells) + " |")
    return lines


# --------------------------------------------------------------------------
# Callgrind


def callgrind(allocs: list[Allocator], n: int, results: str) -> dict[str, dict[str, float]]:
    """Instructions per malloc+free in each fastpath loop, per allocator: the
    difference of a run with 2n and one with n iterations, over n."""
    if shutil.which("valgrind") is None:
        log("skip: callgrind counts (valgrind not found)")
        return {}
    cgdir = os.path.join(results, "callgrind")
    os.makedirs(cgdir, exist_ok=True)
    loops = CALLGRIND_LOOPS
    out: dict[str, dict[str, float]] = {}
    for a in allocs:
        seg = {}
        ok = True
        for iters in (n, 2 * n):
            base = os.path.join(cgdir, f"{a.name}-{iters}.out")
            for old in glob.glob(base + "*"):
                os.unlink(old)
            cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={base}", "--dump-instr=no",
                   "--dump-line=no"] + [f"--dump-after=loop_{l}" for l in loops] + \
                  [bin_("fastpath"), "--iters", str(iters)]
            r = subprocess.run(cmd, env=clean_env(a.preload, dict(a.env)), capture_output=True, text=True)
            parts = {}
            for path in glob.glob(base + ".*"):
                with open(path) as f:
                    text = f.read()
                trig = re.search(r"^desc: Trigger: --dump-after=loop_(\w+)", text, re.M)
                tot = re.search(r"^totals: (\d+)", text, re.M)
                if trig and tot:
                    parts[trig.group(1)] = int(tot.group(1))
            if r.returncode != 0 or set(parts) != set(loops):
                log(f"callgrind: {a.name} failed (exit {r.returncode}): {r.stderr.strip()[-300:]}")
                ok = False
                break
            seg[iters] = parts
        if ok:
            out[a.name] = {l: (seg[2 * n][l] - seg[n][l]) / n for l in loops}
            log(f"callgrind: {a.name:<9} " + "  ".join(f"{l} {out[a.name][l]:.1f}" for l in loops))
    with open(os.path.join(results, "callgrind.csv"), "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["allocator"] + [f"{l}_instr_per_pair" for l in loops])
        for a, v in out.items():
            wr.writerow([a] + [f"{v[l]:.1f}" for l in loops])
    return out


def callgrind_table(cg: dict[str, dict[str, float]], n: int) -> list[str]:
    if not cg:
        return []
    lines = ["## Fast-path instructions (callgrind, instructions per malloc+free)", "",
             f"Counted as (Ir of a run with {2 * n} iterations - Ir with {n}) / {n}, per loop, so start-up "
             "cancels; each figure includes the loop's own 3-5 instructions (the same for all). "
             "Pair, batch and mix use sizes of 16..1024 bytes; burst is 1000 blocks of 64 bytes, "
             "then their 1000 frees; flood the same with 10000 blocks, more than a thread cache keeps.", "",
             "| allocator | hot pair | batch 1000 | random mix | burst 1000 x 64 B | flood 10000 x 64 B |",
             "|---|---:|---:|---:|---:|---:|"]
    best = {l: min(v[l] for v in cg.values()) for l in CALLGRIND_LOOPS}
    for a, v in cg.items():
        cells = [f"**{v[l]:.1f}**" if v[l] == best[l] else f"{v[l]:.1f}" for l in CALLGRIND_LOOPS]
        lines.append(f"| {a} | " + " | ".join(cells) + " |")
    return lines


# --------------------------------------------------------------------------
# Plots


def gnuplot(script: str, results: str, name: str) -> None:
    if shutil.which("gnuplot") is None:
        return
    path = os.path.join(results, name + ".gp")
    with open(path, "w") as f:
        f.write(script)
    r = subprocess.run(["gnuplot", path], cwd=results, capture_output=True, text=True)
    if r.returncode != 0:
        log(f"note: gnuplot {name} failed: {r.stderr.strip()[-300:]}")


def plot_ratios(rat, wnames, anames, results: str, what: str, file: str) -> None:
    dat = os.path.join(results, file + ".dat")
    with open(dat, "w") as f:
        f.write("# workload " + " ".join(anames) + "\n")
        for w in wnames:
            f.write(w + " " + " ".join(f"{rat[(w, a)]:.4f}" if (w, a) in rat else "NaN" for a in anames) + "\n")
    cols = ", ".join(f"'{file}.dat' using {i + 2}{':xtic(1)' if i == 0 else ''} title '{a}'"
                     for i, a in enumerate(anames))
    width = max(900, 60 * len(wnames) + 200)
    gnuplot(f"""set terminal pngcairo size {width},520 noenhanced font ',9'
set output '{file}.png'
set title '{what}: median / best median of the other allocators (below 1: better than all others; log scale)'
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set logscale y 2
set yrange [0.0625:32]
set grid ytics
set xtics rotate by -45 scale 0
set key outside top center horizontal
set arrow from graph 0, first 1 to graph 1, first 1 nohead lw 2 dt 2
plot {cols}
""", results, file)


def plot_memreturn(anames: list[str], results: str) -> None:
    series = [(a, f"memreturn-rss-{a}.dat") for a in anames
              if os.path.exists(os.path.join(results, f"memreturn-rss-{a}.dat"))]
    if not series:
        return
    cols = ", ".join(f"'{f}' using ($1/1000):($2/1024) with lines lw 2 title '{a}'" for a, f in series)
    gnuplot(f"""set terminal pngcairo size 900,500 noenhanced font ',10'
set output 'memreturn_rss.png'
set title 'memreturn: RSS over time (build the working set, free the oldest 90%, idle); last round'
set xlabel 'seconds'
set ylabel 'RSS (MiB)'
set grid
set key top right
plot {cols}
""", results, "memreturn_rss")


# --------------------------------------------------------------------------
# Report


def header(kind: str, allocs: list[Allocator], args, skipped: list[str]) -> list[str]:
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "?")
    except OSError:
        pass
    lines = [f"# ingot benchmarks ({kind})", "",
             f"- date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
             f"- machine: {cpu}, {os.cpu_count()} CPUs, Linux {platform.release()}",
             f"- rounds: {args.rounds} (interleaved), scale {args.scale}, threads {args.threads}"]
    lines.append("- allocators: " + "; ".join(f"{a.name} ({a.version}{', ' + a.preload if a.preload else ''})"
                                              for a in allocs))
    if skipped:
        lines.append("- skipped: " + ", ".join(skipped))
    return lines


def report_main(kind: str, args, allocs: list[Allocator], ws: list[Workload], runs: list[Run],
                cg: dict, results: str) -> str:
    anames = [a.name for a in allocs]
    wnames = [w.name for w in ws]
    tmed = medians(runs, lambda r: r.wall_s)
    mmed = medians(runs, lambda r: r.mem_kib)
    trat = ratios(tmed, wnames, anames)
    mrat = ratios(mmed, wnames, anames)

    with open(os.path.join(results, "summary.csv"), "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["workload", "allocator", "median_wall_s", "time_ratio", "median_mem_kib", "mem_ratio",
                     "failed_runs"])
        for w in wnames:
            for a in anames:
                wr.writerow([w, a, fmt_num(tmed.get((w, a), math.nan)), fmt_num(trat.get((w, a), math.nan)),
                             fmt_num(mmed.get((w, a), math.nan)), fmt_num(mrat.get((w, a), math.nan)),
                             failures(runs, w, a)])

    skipped = [a for a in args.allocs if a not in anames]
    lines = header(kind, allocs, args, skipped) + [""]
    tl, tgm = table("## Time (median wall seconds of the whole process; in brackets the ratio to the best "
                    "of the others: below 1 = faster than all of them)", lambda v: f"{v:.3f}",
                    runs, tmed, trat, wnames, anames)
    ml, mgm = table("## Memory (median peak RSS in MiB; memreturn: RSS after the idle phase; in brackets "
                    "the ratio to the best of the others)", lambda v: f"{v / 1024:.1f}",
                    runs, mmed, mrat, wnames, anames)
    lines += tl + [""] + ml + [""]
    lines += ["## Summary (geometric mean over the workloads of the ratio to the best of the others)", "",
              "| allocator | time | memory |", "|---|---:|---:|"]
    for a in anames:
        lines.append(f"| {a} | {tgm[a]:.3f} | {mgm[a]:.3f} |")
    lines.append("")
    tt = throughput_table(runs, ws, anames)
    if tt:
        lines += tt + [""]
    cl = callgrind_table(cg, CALLGRIND_N[kind])
    if cl:
        lines += cl + [""]
    nfail = sum(1 for r in runs if r.status != "ok")
    if nfail:
        lines += [f"{nfail} runs failed; their output is in errors.log.", ""]
    plot_ratios(trat, wnames, anames, results, "time", "time_ratio")
    plot_ratios(mrat, wnames, anames, results, "memory", "mem_ratio")
    plot_memreturn(anames, results)
    pngs = [p for p in ("time_ratio.png", "mem_ratio.png", "memreturn_rss.png")
            if os.path.exists(os.path.join(results, p))]
    if pngs:
        lines += ["## Plots", ""] + [f"![{p}]({p})" for p in pngs] + [""]
    lines += ["Raw results: raw.csv (every run), summary.csv (medians and ratios), callgrind.csv."]
    return "\n".join(lines) + "\n"


def report_scaling(args, allocs: list[Allocator], ws: list[Workload], runs: list[Run], results: str) -> str:
    anames = [a.name for a in allocs]
    tp = medians(runs, lambda r: r.ops / r.seconds / 1e6 if r.seconds > 0 else math.nan)
    lines = header("scaling", allocs, args, [a for a in args.allocs if a not in anames]) + [""]
    lines += ["Median throughput in Mops/s (higher is better) of each threaded workload at each thread count; "
              "per-thread work is fixed except for falseshare and churn, whose total is fixed.", ""]
    bases = []
    for w in ws:
        base = re.sub(r"-t\d+$", "", w.name)
        if base not in bases:
            bases.append(base)
    with open(os.path.join(results, "scaling.csv"), "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["workload", "threads"] + anames)
        for base in bases:
            lines += [f"### {base}", "", "| threads | " + " | ".join(anames) + " |",
                      "|---:|" + "---:|" * len(anames)]
            for w in ws:
                if re.sub(r"-t\d+$", "", w.name) != base:
                    continue
                vals = [tp.get((w.name, a)) for a in anames]
                best = max((v for v in vals if v is not None), default=None)
                lines.append(f"| {w.threads} | " + " | ".join(
                    "-" if v is None else (f"**{v:.3g}**" if v == best else f"{v:.3g}") for v in vals) + " |")
                wr.writerow([base, w.threads] + [fmt_num(v if v is not None else math.nan) for v in vals])
            lines.append("")
    plot_scaling(tp, ws, bases, anames, results)
    if os.path.exists(os.path.join(results, "scaling.png")):
        lines += ["![scaling.png](scaling.png)", ""]
    return "\n".join(lines) + "\n"


def plot_scaling(tp, ws: list[Workload], bases: list[str], anames: list[str], results: str) -> None:
    plots = []
    for base in bases:
        dat = f"scaling-{base}.dat"
        with open(os.path.join(results, dat), "w") as f:
            f.write("# threads " + " ".join(anames) + "\n")
            for w in ws:
                if re.sub(r"-t\d+$", "", w.name) == base:
                    f.write(f"{w.threads} " + " ".join(
                        f"{tp[(w.name, a)]:.4f}" if (w.name, a) in tp else "NaN" for a in anames) + "\n")
        cols = ", ".join(f"'{dat}' using 1:{i + 2} with linespoints lw 2 title '{a}'" for i, a in enumerate(anames))
        plots.append(f"set title '{base}'\nplot {cols}")
    cols_n = 3
    rows_n = (len(plots) + cols_n - 1) // cols_n
    gnuplot(f"""set terminal pngcairo size {cols_n * 450},{rows_n * 330} noenhanced font ',9'
set output 'scaling.png'
set multiplot layout {rows_n},{cols_n}
set logscale x 2
set xlabel 'threads'
set ylabel 'Mops/s'
set grid
set key below horizontal font ',8'
""" + "\n".join(plots) + "\nunset multiplot\n", results, "scaling")


# --------------------------------------------------------------------------
# Main


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("kind", choices=["full", "quick", "scaling", "callgrind"])
    p.add_argument("--ingot", default=os.path.join(os.path.dirname(HERE), "lib", "libingot.so"))
    p.add_argument("--allocs", default=" ".join(ALL_ALLOCATORS), help="allocators, space-separated")
    p.add_argument("--only", default="", help="workloads to run: names or name prefixes, space-separated")
    p.add_argument("--rounds", type=int, default=None)
    p.add_argument("--scale", type=float, default=None, help="multiplies every iteration count")
    p.add_argument("--threads", type=int, default=2, help="threads of the threaded workloads")
    p.add_argument("--threads-list", default="1 2 4 8 16", help="thread counts for 'scaling'")
    p.add_argument("--timeout", type=float, default=None, help="seconds before a run is killed")
    p.add_argument("--out", default=None, help="results folder (default bench/results[/quick|/scaling])")
    p.add_argument("--no-install", action="store_true", help="do not apt-get missing peers")
    args = p.parse_args()
    args.allocs = args.allocs.split()
    kind = args.kind
    if args.rounds is None:
        args.rounds = {"full": 7, "quick": 2, "scaling": 1, "callgrind": 0}[kind]
    if args.scale is None:
        args.scale = {"full": 1.0, "quick": 0.2, "scaling": 0.25, "callgrind": 1.0}[kind]
    if args.timeout is None:
        args.timeout = 120.0 if kind == "full" else 60.0
    results = args.out or os.path.join(HERE, "results", "" if kind in ("full", "callgrind") else kind)
    os.makedirs(results, exist_ok=True)

    for tool in (MEASURE, bin_("probe")):
        if not os.access(tool, os.X_OK):
            log(f"error: {tool} missing; build with 'make bench-build'")
            return 2

    tools = ["gnuplot", "sqlite3"] + (["valgrind"] if kind in ("full", "quick", "callgrind") else [])
    allocs = resolve_allocators(args.allocs, args.ingot, not args.no_install, tools)
    if not allocs:
        log("error: no allocator to measure")
        return 1
    log("allocators: " + ", ".join(f"{a.name} [{a.preload or 'no preload'}]" for a in allocs))

    if kind == "callgrind":
        cg = callgrind(allocs, CALLGRIND_N[kind], results)
        text = "\n".join(callgrind_table(cg, CALLGRIND_N[kind])) + "\n"
        with open(os.path.join(results, "callgrind.md"), "w") as f:
            f.write(text)
        print(text)
        return 0 if cg else 1

    if kind == "scaling":
        ws = [w for t in (int(x) for x in args.threads_list.split())
              for w in workloads(t, args.scale, results, kind) if w.scalable and w.threads == t]
        ws.sort(key=lambda w: (re.sub(r"-t\d+$", "", w.name), w.threads))
    else:
        ws = workloads(args.threads, args.scale, results, kind)
        if kind == "quick":
            ws = select(ws, QUICK)
    if args.only:
        ws = select(ws, args.only.split())
    if not ws:
        log("error: no workload selected")
        return 1

    log(f"{len(ws)} workloads x {len(allocs)} allocators x {args.rounds} rounds")
    runs = run_rounds(ws, allocs, args.rounds, results, args.timeout)
    write_raw(runs, os.path.join(results, "raw.csv"))

    if kind == "scaling":
        text = report_scaling(args, allocs, ws, runs, results)
        path = os.path.join(results, "scaling.md")
    else:
        cg = callgrind(allocs, CALLGRIND_N[kind], results)
        text = report_main(kind, args, allocs, ws, runs, cg, results)
        path = os.path.join(results, "report.md")
    with open(path, "w") as f:
        f.write(text)
    print()
    print(text)
    log(f"written: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

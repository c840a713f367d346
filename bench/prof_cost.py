#!/usr/bin/env python3
"""The cost of heap profiling, in instructions: callgrind's total count of
each workload under ingot and under Debian's jemalloc, each without and with
prof:true at the default rate (one sample per 512 KiB allocated on average).

Instruction counts are exact and repeatable, so this measures on a shared,
noisy machine what wall time cannot; `make bench-prof` gives the times.
The workloads are bench/'s own at a reduced count (callgrind is ~50x
slower), single-threaded so that the counts do not depend on scheduling.

    python3 bench/prof_cost.py [--ingot lib/libingot.so] [--out DIR]

Writes DIR/prof_cost.md (also printed): per workload, the count of each run
and the extra instructions that profiling costs, as a percentage of the same
allocator without it. Standard library only.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.join(HERE, "build")


def sizeloop(mode, lo, hi, iters):
    return [os.path.join(BUILD, "sizeloop"), "--mode", mode, "--min", str(lo), "--max", str(hi),
            "--threads", "1", "--iters", str(iters)]


PYTHON = "/usr/bin/python3"
WORKLOADS = [
    ("pair-16-1k", sizeloop("pair", 16, 1024, 400000)),
    ("batch-16-1k", sizeloop("batch", 16, 1024, 200000)),
    ("mix-16-1k", sizeloop("mix", 16, 1024, 400000)),
    ("pair-1k-8k", sizeloop("pair", 1024, 8192, 200000)),
    ("pair-8k-64k", sizeloop("pair", 8192, 65536, 40000)),
    ("frag", [os.path.join(BUILD, "frag"), "--iters", "20000"]),
    ("realloc-str", [os.path.join(BUILD, "realloc"), "--mode", "str", "--iters", "200000"]),
    ("py-dict", [PYTHON, os.path.join(HERE, "real", "dict.py"), "50000"]),
]


def jemalloc_path():
    for d in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib"):
        p = os.path.join(d, "libjemalloc.so.2")
        if os.path.exists(p):
            return p
    return None


def instructions(cmd, preload, conf):
    env = dict(os.environ, LD_PRELOAD=preload, PYTHONMALLOC="malloc")
    env.pop("INGOT_CONF", None)
    env.pop("MALLOC_CONF", None)
    if conf:
        env["MALLOC_CONF"] = conf
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "cg.out")
        r = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"] + cmd,
                           env=env, cwd=tmp, capture_output=True, text=True)
        m = re.search(r"Collected : (\d+)", r.stderr)
        if r.returncode != 0 or not m:
            sys.exit(f"{' '.join(cmd)} failed under {preload} {conf}: {r.stderr[-400:]}")
        return int(m.group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ingot", default=os.path.join(HERE, "..", "lib", "libingot.so"))
    ap.add_argument("--out", default=os.path.join(HERE, "results", "prof"))
    args = ap.parse_args()
    allocs = [("ingot", os.path.abspath(args.ingot))]
    je = jemalloc_path()
    if je:
        allocs.append(("jemalloc", je))
    else:
        print("skip: jemalloc (libjemalloc.so.2 not found; package libjemalloc2)")
    rows = []
    for name, cmd in WORKLOADS:
        if not os.path.exists(cmd[0]):
            print(f"skip: {name} ({cmd[0]} not found)")
            continue
        row = [name]
        for alloc, path in allocs:
            off = instructions(cmd, path, "")
            on = instructions(cmd, path, "prof:true")
            row += [off, on, 100.0 * (on - off) / off]
            print(f"{name:14} {alloc:9} {off:>13,} -> {on:>13,}  (+{100.0 * (on - off) / off:.1f}%)",
                  flush=True)
        rows.append(row)
    head = "| workload |" + "".join(f" {a} | {a} prof:true | cost |" for a, _ in allocs)
    lines = ["## Heap profiling's cost (callgrind instructions, whole process)", "",
             head, "|---|" + "---:|---:|---:|" * len(allocs)]
    for row in rows:
        cells = [row[0]]
        for i in range(len(allocs)):
            off, on, pct = row[1 + 3 * i: 4 + 3 * i]
            cells += [f"{off:,}", f"{on:,}", f"+{pct:.1f}%"]
        lines.append("| " + " | ".join(cells) + " |")
    report = "\n".join(lines) + "\n"
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "prof_cost.md"), "w") as f:
        f.write(report)
    print(report)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""make_corpus.py — writes the seed corpora (fuzz/corpus/<harness>/) and the
AFL dictionaries (fuzz/dict/<harness>.dict) for the fuzz harnesses.

Run from anywhere: python3 fuzz/make_corpus.py. The seeds follow the input
formats documented at the top of each harness; each seed reaches one area
(aligned allocation, resizing, bad requests, ...) so that the fuzzer starts
from there. Existing seed files of these names are overwritten; others are
left alone (crash regressions added by hand stay).
"""
import os
import re
import struct
import sys

FUZZ = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(FUZZ)

# ---- fuzz_ops -------------------------------------------------------------

OP = dict(malloc=0, calloc=1, realloc=2, free=3, aligned_alloc=4, posix_memalign=5,
          memalign=6, inspect=7, bad=8, maint=9, mallocx=10, rallocx=11, xallocx=12)


def size(n):
    """Encodes a size: small (<= 1024), medium (<= 65536) or rare (<= 4 MiB)."""
    if n <= 1024:
        return bytes([0]) + struct.pack("<H", n)
    if n <= 65536:
        low = 1 if n == 65536 else 0  # the u16 holds n - low
        return bytes([192 + low]) + struct.pack("<H", n - low)
    return bytes([255]) + struct.pack("<I", n)


def align(lg):
    """Encodes an alignment of 2^lg (0..21)."""
    return bytes([lg if lg <= 16 else 240 + (lg - 17)])


def op(name, slot, *operands):
    return bytes([OP[name], slot]) + b"".join(operands)


def xflags(lg=None, zero=False, tcache_none=False, arena0=False):
    f = (1 if lg is not None else 0) | (2 if zero else 0) | (4 if tcache_none else 0)
    f |= 0x38 if arena0 else 0
    return bytes([f]) + (align(lg) if lg is not None else b"")


def ops_seeds():
    seeds = {}
    seeds["malloc_free"] = b"".join(
        [op("malloc", i, size(n)) for i, n in enumerate([0, 1, 8, 16, 24, 100, 512, 1024])]
        + [op("free", i, bytes([i])) for i in range(8)])
    seeds["calloc_realloc"] = b"".join([
        op("calloc", 1, bytes([3]), size(300)),
        op("realloc", 1, bytes([2]), size(5000)),     # grow, small to large
        op("realloc", 1, bytes([2]), size(40)),       # shrink back
        op("realloc", 2, bytes([2]), size(64)),       # realloc(NULL, n)
        op("realloc", 2, bytes([1]), size(999)),      # reallocarray
        op("realloc", 2, bytes([0]), size(0)),        # realloc(p, 0)
        op("realloc", 3, bytes([2]), size(20000)),
        op("realloc", 3, bytes([2]), size(70000)),    # large to larger, maybe in place
        op("realloc", 3, bytes([2]), size(30000)),
        op("inspect", 3),
    ])
    seeds["aligned"] = b"".join(
        [op("aligned_alloc", lg, align(lg), size(100 + lg)) for lg in range(0, 17, 2)]
        + [op("posix_memalign", 32 + lg, align(lg), size(3000)) for lg in (1, 3, 6, 12, 16)]
        + [op("memalign", 64 + lg, bytes([lg]), size(16 * lg)) for lg in (4, 9, 13)]
        + [op("memalign", 80, bytes([230]), size(77))]           # alignment not a power of two
        + [op("aligned_alloc", 90, align(21), size(100))]       # 2 MiB alignment
        + [op("free", s, bytes([1])) for s in (0, 2, 4, 35, 44, 66, 73, 90)])
    seeds["sized_free"] = b"".join(
        [op("malloc", i, size(n)) for i, n in enumerate([1, 17, 200, 4000, 30000, 70000])]
        + [op("aligned_alloc", 10, align(7), size(300)), op("memalign", 11, bytes([12]), size(5000))]
        + [op("free", i, bytes([1])) for i in list(range(6)) + [10, 11]])
    seeds["bad_requests"] = b"".join(
        [op("malloc", 7, size(50))]
        + [op("bad", 7, bytes([k])) for k in range(10)]
        + [op("inspect", 7)])
    seeds["maintenance"] = b"".join(
        [op("malloc", i, size(64 * i + 1)) for i in range(20)]
        + [op("free", i, bytes([0])) for i in range(0, 20, 2)]
        + [op("maint", 0, bytes([k])) for k in (1, 2, 3, 0)]
        + [op("inspect", i) for i in range(1, 20, 2)])
    seeds["large"] = b"".join([
        op("malloc", 1, size(65536)),
        op("malloc", 2, size(1 << 20)),
        op("calloc", 3, bytes([0]), size(3 << 20)),
        op("posix_memalign", 4, align(20), size(4 << 20)),
        op("realloc", 2, bytes([2]), size(2 << 20)),
        op("free", 1, bytes([0])), op("free", 3, bytes([1])),
        op("maint", 0, bytes([2])),                   # purge with big blocks live
        op("inspect", 2), op("inspect", 4),
    ])
    seeds["churn"] = b"".join(
        [op("malloc", i, size((i * 37) % 1025)) for i in range(256)]
        + [op("free", i, bytes([i])) for i in range(0, 256, 3)]
        + [op("malloc", i, size((i * 91) % 700)) for i in range(0, 256, 3)])
    seeds["xapi"] = b"".join([
        op("mallocx", 1, xflags(), size(100)),
        op("mallocx", 2, xflags(lg=6, zero=True), size(1000)),
        op("mallocx", 3, xflags(tcache_none=True), size(3000)),
        op("mallocx", 4, xflags(arena0=True, zero=True), size(50000)),
        op("rallocx", 1, xflags(zero=True), size(5000)),
        op("rallocx", 2, xflags(lg=12), size(200)),
        op("xallocx", 4, xflags(zero=True), size(60000), struct.pack("<H", 4096)),
        op("xallocx", 3, xflags(), size(10), struct.pack("<H", 0)),
        op("free", 1, bytes([2])), op("free", 2, bytes([3])),
        op("free", 3, bytes([3])), op("free", 4, bytes([2])),
    ])
    # Regressions: each of these aborted a HARDENED=1 build before the small
    # blocks' canary was counted in every size computation.
    seeds["hardened_free_sized"] = op("malloc", 0, size(100)) + op("free", 0, bytes([1]))
    seeds["hardened_nallocx"] = op("mallocx", 0, xflags(), size(100))
    seeds["hardened_aligned"] = b"".join(op("aligned_alloc", s, align(6), size(106)) for s in range(16))
    seeds["hardened_mallocx_zero"] = op("mallocx", 0, xflags(zero=True), size(255))
    seeds["hardened_rallocx_zero"] = (op("malloc", 0, size(1))
                                      + op("rallocx", 0, xflags(zero=True, tcache_none=True), size(769))
                                      + op("free", 0, bytes([0])))
    seeds["hardened_rallocx_align"] = (op("mallocx", 1, xflags(), size(100))
                                       + op("mallocx", 2, xflags(lg=6), size(1000))
                                       + op("rallocx", 1, xflags(zero=True), size(5000))
                                       + op("rallocx", 2, xflags(lg=12), size(200)))
    return seeds


# ---- fuzz_conf ------------------------------------------------------------

def conf_seeds():
    seeds = {
        "narenas": "narenas:2",
        "tcache": "tcache:false,tcache_max:1024",
        "decay": "dirty_decay_ms:-1,muzzy_decay_ms:0",
        "fill": "junk:alloc,zero:true,xmalloc:false",
        "stats_print": "stats_print:false,stats_print_opts:gmJ",
        "zero_realloc": "zero_realloc:alloc,retain:true",
        "profile": "profile:hardened",
        "malformed": "abort_conf:false,bogus:1,narenas:,:5,,tcache_max:18446744073709551616",
        "compat_only": "percpu_arena:percpu,metadata_thp:auto,thp:never,background_thread:true",
        "long_string": "lg_extent_max_active_fit:4,junk:" + "x" * 70,
    }
    return {name: s.encode() for name, s in seeds.items()}


def conf_dict():
    names = re.findall(r"^OPT\(\w+, (\w+),", open(os.path.join(ROOT, "src/conf_options.inc")).read(), re.M)
    words = names + ["true", "false", "-1", "0", ":", ",", "18446744073709551615",
                     "alloc", "free", "abort", "hardened", "debug", "default"]
    return words


# ---- fuzz_mallctl ---------------------------------------------------------

def raw_name(s):
    return bytes([255]) + s.encode() + b"\0"


def access(read=False, lenp_only=False, write=None, oldlen_index=0):
    rw = (1 if read else 0) | (2 if lenp_only else 0) | (4 if write is not None else 0)
    rw |= oldlen_index << 3
    out = bytes([rw])
    if write is not None:
        out += bytes([len(write)]) + write
    return out


def mallctl(name, acc):
    return bytes([0]) + raw_name(name) + acc


def bymib(name, acc, miblen=8, edit=0, index=None):
    return bytes([1]) + raw_name(name) + bytes([miblen, edit]) + \
        (bytes([index]) if index is not None else b"") + acc


def mallctl_seeds():
    u64 = lambda v: struct.pack("<Q", v)
    u32 = lambda v: struct.pack("<I", v)
    seeds = {}
    seeds["reads"] = b"".join(mallctl(n, access(read=True, oldlen_index=i)) for n, i in [
        ("version", 4), ("epoch", 3), ("config.stats", 2), ("opt.narenas", 1),
        ("opt.tcache_max", 0), ("arenas.narenas", 1), ("arenas.page", 0),
        ("arenas.bin.0.size", 0), ("stats.allocated", 0), ("thread.allocated", 3)])
    seeds["writes"] = b"".join([
        mallctl("epoch", access(read=True, write=u64(1), oldlen_index=3)),
        mallctl("thread.tcache.flush", access()),
        mallctl("arena.0.purge", access()),
        mallctl("arena.4096.decay", access()),
        mallctl("arenas.dirty_decay_ms", access(read=True, write=struct.pack("<q", 5000), oldlen_index=3)),
        mallctl("thread.tcache.enabled", access(read=True, write=b"\1", oldlen_index=2)),
        mallctl("opt.narenas", access(write=u32(3))),             # read-only: EPERM
        mallctl("thread.arena", access(read=True, write=u32(0), oldlen_index=1)),
    ])
    seeds["create_destroy"] = b"".join([
        mallctl("arenas.create", access(read=True, oldlen_index=1)),
        mallctl("tcache.create", access(read=True, oldlen_index=1)),
        mallctl("tcache.flush", access(write=u32(0))),
        mallctl("tcache.destroy", access(write=u32(0))),
        mallctl("arena.4095.reset", access()),
        mallctl("arena.4095.destroy", access()),
    ])
    seeds["mib"] = b"".join([
        bymib("arenas.bin.0.size", access(read=True, oldlen_index=0)),
        bymib("arenas.bin.0.size", access(read=True, oldlen_index=0), edit=1 | (2 << 1), index=5),
        bymib("stats.arenas.0.pactive", access(read=True, oldlen_index=0), edit=1 | (2 << 1), index=250),
        bymib("arenas.lextent.0.size", access(read=True, oldlen_index=0), miblen=2),
        bytes([3, 3, 1, 2, 3]) + access(read=True),                 # raw mib
    ])
    seeds["bad_lengths"] = b"".join(
        mallctl(n, access(read=True, oldlen_index=i, write=b"\xff" * w))
        for n, i, w in [("epoch", 6, 3), ("arenas.narenas", 14, 0), ("stats.active", 5, 9),
                        ("thread.tcache.enabled", 9, 2), ("", 0, 0), ("arena.", 0, 0),
                        ("stats.arenas.99999999999999999999.pactive", 0, 0)])
    seeds["lookup_stats"] = b"".join([
        mallctl("arenas.lookup", access(read=True, write=b"\0" * 8, oldlen_index=1)),
        mallctl("arenas.lookup", access(read=True, write=b"\1" * 8, oldlen_index=1)),
        bytes([2]) + b"J\0", bytes([2]) + b"gmdablxe\0", bytes([2]) + b"\0",
    ])
    seeds["guard"] = b"".join(mallctl(n, access(read=True, oldlen_index=i)) for n, i in [
        ("guard.sampled", 3), ("guard.failed", 3), ("guard.live", 0), ("guard.cells", 0),
        ("opt.guard_sample", 0), ("guard", 0)])
    return seeds


MALLCTL_WORDS = [
    "version", "epoch", "background_thread", "config.", "opt.", "thread.", "tcache.",
    "arena.", "arenas.", "stats.", "prof.", "experimental.", ".bins.", ".bin.", ".lextent.",
    ".lextents.", ".mutexes.", "allocated", "active", "mapped", "resident", "retained",
    "metadata", "narenas", "nbins", "nlextents", "purge", "decay", "reset", "destroy",
    "create", "flush", "lookup", "size", "nregs", "slab_size", "dirty_decay_ms",
    "muzzy_decay_ms", "pactive", "pdirty", "nmalloc", "ndalloc", "curregs", "enabled",
    "4096", "4097", "0", "1", "guard.", "sampled", "failed", "live", "cells", "guard_sample",
]


def write_dir(path, files):
    os.makedirs(path, exist_ok=True)
    for name, data in files.items():
        with open(os.path.join(path, name), "wb") as f:
            f.write(data)


def write_dict(path, words):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("# AFL dictionary, written by fuzz/make_corpus.py\n")
        for i, w in enumerate(words):
            f.write('w%d="%s"\n' % (i, w.replace("\\", "\\\\").replace('"', '\\"')))


def main():
    write_dir(os.path.join(FUZZ, "corpus/ops"), ops_seeds())
    write_dir(os.path.join(FUZZ, "corpus/conf"), conf_seeds())
    write_dir(os.path.join(FUZZ, "corpus/mallctl"), mallctl_seeds())
    write_dict(os.path.join(FUZZ, "dict/conf.dict"), conf_dict())
    write_dict(os.path.join(FUZZ, "dict/mallctl.dict"), MALLCTL_WORDS)
    total = 0
    for d, _, fs in os.walk(os.path.join(FUZZ, "corpus")):
        total += sum(os.path.getsize(os.path.join(d, f)) for f in fs)
    print("fuzz corpora: %d bytes" % total)
    return 0


if __name__ == "__main__":
    sys.exit(main())

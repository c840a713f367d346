"""Real-program workload: Python building and dropping large dicts.

Run as `python3 dict.py N` under PYTHONMALLOC=malloc, so that every object goes
through the preloaded malloc rather than Python's own small-object pool. Three
rounds each build a dict of N entries (str keys, values a mix of str, tuple and
list), then drop it. Prints the benchmark result line.
"""
import sys
import time


def build(n, salt):
    d = {}
    for i in range(n):
        key = "k%d-%d" % (i, salt)
        kind = i % 3
        if kind == 0:
            d[key] = "v" * (1 + (i * 7919) % 60)
        elif kind == 1:
            d[key] = (i, key, float(i))
        else:
            d[key] = [i] * (1 + i % 9)
    return d


def main():
    n = int(sys.argv[1])
    t0 = time.perf_counter()
    for salt in range(3):
        d = build(n, salt)
        assert len(d) == n
        del d
    t = time.perf_counter() - t0
    print("result workload=py-dict ops=%d seconds=%.6f" % (3 * n, t), flush=True)


main()

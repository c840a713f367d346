"""The program `make trace-demo` traces: Python building and dropping a few
kinds of objects, in phases that show in the plot of live bytes.

Run it with PYTHONMALLOC=malloc so that every object comes from malloc
(Python's own small-object allocator would otherwise hide them).
"""
import gc

# Phase 1: a dict of 200,000 short strings.
names = {i: f"item-{i:06d}" for i in range(200_000)}

# Phase 2: 2,000 lists of 100 floats each; the dict stays alive.
rows = [[float(i * j) for j in range(100)] for i in range(2_000)]

# Phase 3: one large byte string, grown by doubling (realloc).
blob = b"x"
while len(blob) < 8 << 20:
    blob += blob

# Drop them in turn: the dict, then the lists, then the bytes.
del names
gc.collect()
del rows
gc.collect()
del blob
print("trace demo done")

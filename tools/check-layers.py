#!/usr/bin/env python3
"""tools/check-layers.py — make check-layers: no file of src/ includes the
header of a layer above its own.

The layer order is the table in src/README.md (bottom up, one row a layer):
every file named in backquotes in a row belongs to that layer. A .c file not
named there belongs to the layer of the header with its name. Fails, naming
each, on an include of a header from a later row, and on a file of src/ (or
an included header) the table does not place."""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SRC = os.path.join(ROOT, "src")


def read_layers():
    """File name -> (row index, layer name), from src/README.md's table."""
    rank = {}
    in_table = False
    row = 0
    with open(os.path.join(SRC, "README.md")) as f:
        for line in f:
            if line.startswith("| layer (bottom up)"):
                in_table = True
                continue
            if not in_table:
                continue
            if not line.startswith("|"):
                break
            cells = line.split("|")
            if cells[1].strip().startswith("---"):
                continue
            for name in re.findall(r"`([^`]+\.(?:h|c|inc))`", cells[2]):
                rank[os.path.basename(name)] = (row, cells[1].strip())
            row += 1
    return rank


def main():
    rank = read_layers()
    if not rank:
        print("check-layers: no layer table in src/README.md")
        return 1
    errors = []
    for name in sorted(os.listdir(SRC)):
        if not name.endswith((".c", ".h", ".inc")):
            continue
        own = rank.get(name) or rank.get(name[:-2] + ".h" if name.endswith(".c") else name)
        if own is None:
            errors.append(f"src/{name}: in no layer of src/README.md's table")
            continue
        with open(os.path.join(SRC, name)) as f:
            for lineno, line in enumerate(f, 1):
                m = re.match(r'\s*#\s*include\s*"([^"]+)"', line)
                if not m:
                    continue
                header = os.path.basename(m.group(1))
                theirs = rank.get(header)
                if theirs is None:
                    errors.append(f"src/{name}:{lineno}: {header} is in no layer of src/README.md's table")
                elif theirs[0] > own[0]:
                    errors.append(f"src/{name}:{lineno}: {own[1]} includes {header}, "
                                  f"of a layer above it ({theirs[1]})")
    for e in errors:
        print(e)
    if errors:
        print(f"check-layers: {len(errors)} include(s) against the layer order of src/README.md")
        return 1
    print("check-layers: every include of src/ follows the layer order of src/README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())

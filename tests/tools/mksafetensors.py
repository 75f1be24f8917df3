#!/usr/bin/env python3
"""mksafetensors.py OUT [--tensors N] [--elems E] [--dtype F32|BF16|F16] [--seed S]

Writes a safetensors file (the format as documented: 8-byte little-endian
header length, JSON header, data) with N tensors of E elements each, filled
with deterministic pseudo-random bytes. Used by the model tests and benches;
needs only the Python standard library."""
import argparse
import json
import random
import struct

SIZES = {"F32": 4, "BF16": 2, "F16": 2, "U8": 1, "I64": 8}

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("--tensors", type=int, default=4)
ap.add_argument("--elems", type=int, default=1024)
ap.add_argument("--dtype", default="F32", choices=sorted(SIZES))
ap.add_argument("--seed", type=int, default=1)
a = ap.parse_args()

size = SIZES[a.dtype]
header, off = {"__metadata__": {"format": "pt"}}, 0
for i in range(a.tensors):
    n = a.elems * size
    header[f"layer.{i}.weight"] = {"dtype": a.dtype, "shape": [a.elems], "data_offsets": [off, off + n]}
    off += n
h = json.dumps(header, separators=(",", ":")).encode()
h += b" " * (-(8 + len(h)) % 8)  # writers pad the header so data starts aligned
rng = random.Random(a.seed)
with open(a.out, "wb") as f:
    f.write(struct.pack("<Q", len(h)))
    f.write(h)
    left = off
    while left:
        n = min(left, 1 << 20)
        f.write(rng.randbytes(n))
        left -= n

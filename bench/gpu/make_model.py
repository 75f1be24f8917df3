"""make_model.py PATH [GIB] — a bf16 safetensors file of about GIB GiB (default 6)
of random weights, 128 MiB tensors (4096 x 16384) plus a few small odd-sized
ones so tensor offsets are not all 4 KiB aligned. Written with safetensors'
own save_file, as a PyTorch checkpoint would be."""
import sys

import torch
from safetensors.torch import save_file

path = sys.argv[1]
gib = float(sys.argv[2]) if len(sys.argv) > 2 else 6.0
g = torch.Generator().manual_seed(6)
tensors = {}
n_big = max(1, int(gib * 8))  # 8 x 128 MiB per GiB
for i in range(n_big):
    tensors[f"model.layers.{i}.weight"] = torch.randn(4096, 16384, generator=g, dtype=torch.float32).to(torch.bfloat16)
    # odd sizes: the next tensor starts 2-byte aligned, not 4 KiB aligned
    tensors[f"model.layers.{i}.bias"] = torch.randn(4096 + 2 * i + 1, generator=g).to(torch.bfloat16)
save_file(tensors, path, metadata={"format": "pt"})
total = sum(t.numel() * t.element_size() for t in tensors.values())
print(f"wrote {path}: {len(tensors)} tensors, {total} bytes of bf16")

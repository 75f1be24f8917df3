"""torch_bench.py FILE LIB [ROUNDS] [THREADS] [CHUNK_MIB] — in one process, warm page
cache -> GPU 0:
  safetensors.torch.load_file(FILE, device='cuda')
  CPU load (safetensors, mmap) + pin_memory() + .to('cuda', non_blocking=True)
  custody (LIB = libcustody_loader.so, through ctypes): LOADER_PINNED_RING
each ROUNDS times with torch.cuda.synchronize(); best GB/s of each (GB = 1e9 bytes
of tensor data). Then checks custody's bytes against torch's copy: 8 tensors
spread over the file, copied device -> host by the loader and compared with the
tensors safetensors put on the GPU. Prints "RESULT <name> <GB/s>" lines."""
import ctypes
import gc
import os
import sys
import time

import torch
from safetensors import safe_open
from safetensors.torch import load_file

path, lib_path = sys.argv[1], sys.argv[2]
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 5
threads = int(sys.argv[4]) if len(sys.argv) > 4 else 0
chunk = (int(sys.argv[5]) << 20) if len(sys.argv) > 5 else 0

# tensor table: name -> (absolute offset, nbytes)
with open(path, "rb") as fh:
    n = int.from_bytes(fh.read(8), "little")
    import json
    hdr = json.loads(fh.read(n))
hdr.pop("__metadata__", None)
table = {k: (8 + n + v["data_offsets"][0], v["data_offsets"][1] - v["data_offsets"][0]) for k, v in hdr.items()}
total = sum(nb for _, nb in table.values())
begin = min(o for o, _ in table.values())
end = max(o + nb for o, nb in table.values())
print(f"file {path}: {len(table)} tensors, {total} bytes")
torch.cuda.init()
torch.zeros(1, device="cuda")  # CUDA context outside the timings


def best_of(name, fn, pre=None):
    best = 0.0
    for r in range(rounds):
        if pre:
            pre()
        gc.collect()
        torch.cuda.empty_cache()
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = fn()
        torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        gbps = total / dt / 1e9
        best = max(best, gbps)
        print(f"{name} round {r + 1}: {dt * 1e3:.1f} ms, {gbps:.2f} GB/s", flush=True)
        del out
    print(f"RESULT {name}_gbps {best:.2f}", flush=True)
    return best


def st_cuda():
    return load_file(path, device="cuda")


def cpu_pin_async():
    cpu = load_file(path)
    pinned = {k: v.pin_memory() for k, v in cpu.items()}
    return {k: v.to("cuda", non_blocking=True) for k, v in pinned.items()}


best_of("safetensors_cuda", st_cuda)
best_of("torch_cpu_pin_async", cpu_pin_async)


# ---- custody through ctypes (struct layouts of src/loader/loader.h) ----
class LoaderFile(ctypes.Structure):
    _fields_ = [("fd", ctypes.c_int), ("size", ctypes.c_uint64), ("begin", ctypes.c_uint64), ("end", ctypes.c_uint64)]


class LoaderOpts(ctypes.Structure):
    _fields_ = [("device", ctypes.c_int), ("method", ctypes.c_int), ("threads", ctypes.c_uint),
                ("chunk", ctypes.c_size_t), ("buffers", ctypes.c_uint), ("streams", ctypes.c_uint)]


class LoaderRegion(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_uint64)]


class LoaderResult(ctypes.Structure):
    _fields_ = [("device", ctypes.c_int), ("method", ctypes.c_int), ("nfiles", ctypes.c_size_t),
                ("regions", ctypes.POINTER(LoaderRegion)), ("bytes", ctypes.c_uint64),
                ("ns", ctypes.c_uint64), ("priv_", ctypes.c_void_p)]


lib = ctypes.CDLL(lib_path)
lib.loader_load.argtypes = [ctypes.POINTER(LoaderFile), ctypes.c_size_t, ctypes.POINTER(LoaderOpts),
                            ctypes.POINTER(ctypes.POINTER(LoaderResult)), ctypes.c_char_p, ctypes.c_size_t]
lib.loader_result_free.argtypes = [ctypes.POINTER(LoaderResult)]
lib.loader_region_read.argtypes = [ctypes.POINTER(LoaderResult), ctypes.c_size_t, ctypes.c_uint64,
                                   ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t]
fd = os.open(path, os.O_RDONLY)
lf = LoaderFile(fd, os.fstat(fd).st_size, begin, end)
lo = LoaderOpts(0, 2, threads, chunk, 0, 0)  # device 0, LOADER_PINNED_RING
err = ctypes.create_string_buffer(1024)
results = []


def custody():
    res = ctypes.POINTER(LoaderResult)()
    rc = lib.loader_load(ctypes.byref(lf), 1, ctypes.byref(lo), ctypes.byref(res), err, len(err))
    if rc:
        raise SystemExit(f"custody load failed: {rc} {err.value.decode()}")
    results.append(res)
    return None


def free_previous():
    while results:
        lib.loader_result_free(results.pop())


best_of("custody_ring_inproc", custody, free_previous)
res = results.pop()

# ---- correctness against torch's copy ----
ref = load_file(path, device="cuda")
names = sorted(table, key=lambda k: table[k][0])
picks = [names[(len(names) - 1) * i // 7] for i in range(8)]
for k in picks:
    off, nb = table[k]
    host = torch.empty(nb, dtype=torch.uint8)
    rc = lib.loader_region_read(res, 0, off - begin, ctypes.c_void_p(host.data_ptr()), nb, err, len(err))
    if rc:
        raise SystemExit(f"loader_region_read failed: {rc} {err.value.decode()}")
    theirs = ref[k].contiguous().view(-1).view(torch.uint8).cpu()
    if not torch.equal(host, theirs):
        raise SystemExit(f"WRONG BYTES in tensor {k}: custody differs from torch's copy")
print(f"verify: {len(picks)} tensors equal to safetensors' GPU copy ({', '.join(picks[:3])}, ...)")
lib.loader_result_free(res)
os.close(fd)

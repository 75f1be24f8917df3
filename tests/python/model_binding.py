"""model_binding.py STATE SHARD_DIR — drives bindings/python/custody (run by
tests/integration/test_model_python.sh with Debian's python3 and numpy).

Checks: custody.load returns DLPack tensors numpy reads zero-copy with the
shard's exact bytes, dtypes and shapes; arrays outlive the dict and the
model (memory freed only when the last consumer is gone); capsules work
through numpy.from_dlpack on a bare-capsule wrapper too; writing to an
array never reaches the cached shard (copy-on-write); an agent the policy
refuses gets CustodyError naming the policy; a bad device is refused."""
import ctypes
import gc
import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.environ["CUSTODY_SRC"], "bindings", "python"))
import custody  # noqa: E402

state, shard_dir = sys.argv[1], sys.argv[2]


def read_safetensors(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__", None)
    return raw, 8 + n, header


NP = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "U8": np.uint8}

tensors = custody.load("tiny@1", device="cpu", state=state)
assert set(tensors) == {"layer.0.weight", "layer.1.weight", "layer.2.weight",
                        "b.layer.0", "b.layer.1"}, sorted(tensors)
raw, base, header = read_safetensors(os.path.join(shard_dir, "a.safetensors"))
arrays = {}
for name, meta in header.items():
    t = tensors[name]
    assert t.__dlpack_device__() == (1, 0)
    arr = np.from_dlpack(t)
    b, e = meta["data_offsets"]
    want = np.frombuffer(raw[base + b:base + e], dtype=NP[meta["dtype"]]).reshape(meta["shape"])
    assert arr.dtype == want.dtype and arr.shape == want.shape, (arr.dtype, arr.shape)
    assert arr.tobytes() == want.tobytes(), name  # bytes: random floats hold NaNs
    arrays[name] = arr
# BF16 has no numpy dtype: numpy refuses it, the raw bytes are still right
bt = tensors["b.layer.0"]
assert bt.dtype == "BF16" and bt.shape == (333,)
try:
    np.from_dlpack(bt)
    print("numpy took BF16?", file=sys.stderr)
except (TypeError, BufferError, RuntimeError):
    pass

# arrays outlive the dict and the Model; memory stays mapped
model = tensors["layer.0.weight"].model
digest = model.digest
del tensors, model, bt
gc.collect()
for name, meta in header.items():
    b, e = meta["data_offsets"]
    assert arrays[name].tobytes() == raw[base + b:base + e], name + " after the model was dropped"

# copy-on-write: writing an array changes neither the cache nor a new load
assert not arrays["layer.0.weight"].flags.writeable  # numpy marks DLPack arrays read-only
ctypes.memset(arrays["layer.0.weight"].ctypes.data, 0, 64)  # a writer in C, then
assert arrays["layer.0.weight"][:16].tobytes() == bytes(64)
again = custody.load("tiny@1", state=state)
fresh = np.from_dlpack(again["layer.0.weight"])
b, e = header["layer.0.weight"]["data_offsets"]
assert fresh.tobytes() == raw[base + b:base + e], "a write to a loaded array reached the cache"
del arrays, again, fresh
gc.collect()


# a bare capsule, as torch.from_dlpack(capsule) takes it
class Holder:
    def __init__(self, t):
        self.t = t

    def __dlpack__(self, stream=None):
        return self.t.capsule()

    def __dlpack_device__(self):
        return self.t.__dlpack_device__()


m = custody.Model("tiny@1", state=state)
cap = m.tensors["layer.2.weight"].capsule()
assert type(cap).__name__ == "PyCapsule"
del cap  # an unconsumed capsule releases itself
arr = np.from_dlpack(Holder(m.tensors["layer.2.weight"]))
assert arr.shape == (1000,)
del m, arr
gc.collect()
held = custody.collect()
assert held == 0, f"{held} DLPack tensors still held"
gc.collect()

# the demo agent may load; the other is refused by policy
t = custody.load("tiny", state=state, agent="demo")
assert "layer.0.weight" in t
del t
try:
    custody.load("tiny@1", state=state, agent="other")
    raise SystemExit("agent other loaded a model")
except custody.CustodyError as e:
    assert "no policy permits" in str(e) and "policy_denied" in str(e), str(e)
try:
    custody.load("tiny@1", state=state, device="tpu:0")
    raise SystemExit("device tpu:0 accepted")
except ValueError:
    pass
try:
    custody.load("nope@1", state=state)
    raise SystemExit("a missing model loaded")
except custody.CustodyError as e:
    assert "not_found" in str(e), str(e)
print(digest)

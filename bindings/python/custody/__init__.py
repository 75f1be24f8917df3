"""custody — Python binding of libcustody's model loader (ctypes, no PyPI dependency).

    import custody, numpy, torch
    tensors = custody.load("llama@1.0", device="cpu")        # or "cuda:0"
    w = numpy.from_dlpack(tensors["lm_head.weight"])           # zero-copy on CPU
    t = torch.from_dlpack(tensors["lm_head.weight"])           # CPU or GPU

`load` asks custodyd (decision by policy, one signed model.load audit event,
manifest and shard identity checks) and then loads every tensor through the
loader core: a populated copy-on-write mmap on CPU, or the pinned-ring /
cuFile paths into GPU memory. The result maps tensor names to `Tensor`
objects, which implement the DLPack protocol (`__dlpack__`,
`__dlpack_device__`); `Tensor.capsule()` gives a bare "dltensor" capsule.
The model's memory stays alive until every tensor from it (and every array a
consumer made from one) is gone.

dtypes with a DLPack equivalent (F16 BF16 F32 F64, signed and unsigned
integers, BOOL) keep it; others (GGUF quantized blocks, 8/6/4-bit floats) are
given as uint8 arrays of their raw bytes, shape [nbytes]. GGUF shapes are
reversed into row-major order.

The library is found through $CUSTODY_LIB, then the build tree
(build/lib/libcustody.so next to this checkout), then the system
(libcustody.so.0). The state directory is $CUSTODY_STATE (else
./var/custody); an agent is $CUSTODY_AGENT with its key in
STATE/agents/NAME.pem unless given.
"""
import ctypes
import os
import sys
import threading

__all__ = ["load", "Model", "Tensor", "CustodyError", "collect"]


class CustodyError(Exception):
    """A libcustody call failed: .code is the CUSTODY_E* value, str() custodyd's message."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


# ---- libcustody ----

class _Tensor(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("dtype", ctypes.c_char_p),
        ("ndim", ctypes.c_uint32),
        ("shape", ctypes.c_int64 * 8),
        ("nbytes", ctypes.c_uint64),
        ("file", ctypes.c_uint32),
        ("offset", ctypes.c_uint64),
        ("data", ctypes.c_void_p),
    ]


class _LoadOpts(ctypes.Structure):
    _fields_ = [
        ("device", ctypes.c_int),
        ("method", ctypes.c_int),
        ("threads", ctypes.c_uint),
        ("chunk", ctypes.c_size_t),
        ("buffers", ctypes.c_uint),
        ("streams", ctypes.c_uint),
    ]


_METHODS = {"auto": 0, "mmap": 1, "pinned": 2, "direct": 3, "cufile": 4}
_lib = None
_lib_lock = threading.Lock()


def _find_library():
    env = os.environ.get("CUSTODY_LIB")
    if env:
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    tree = os.path.normpath(os.path.join(here, "..", "..", "..", "build", "lib", "libcustody.so"))
    if os.path.exists(tree):
        return tree
    return "libcustody.so.0"


def _library():
    global _lib
    with _lib_lock:
        if _lib is not None:
            return _lib
        lib = ctypes.CDLL(_find_library())
        vp, cp, i, sz, u64 = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_size_t, ctypes.c_uint64
        sigs = {
            "custody_client_open": (i, [cp, ctypes.POINTER(vp)]),
            "custody_client_close": (None, [vp]),
            "custody_client_set_agent": (i, [vp, cp, cp]),
            "custody_client_last_error": (cp, [vp]),
            "custody_err_code": (cp, [i]),
            "custody_model_open": (i, [vp, cp, ctypes.POINTER(vp)]),
            "custody_model_load": (i, [vp, ctypes.POINTER(_LoadOpts)]),
            "custody_model_close": (None, [vp]),
            "custody_model_name": (cp, [vp]),
            "custody_model_version": (cp, [vp]),
            "custody_model_digest": (cp, [vp]),
            "custody_model_bytes": (u64, [vp]),
            "custody_model_file_count": (sz, [vp]),
            "custody_model_file_format": (cp, [vp, sz]),
            "custody_model_tensor_count": (sz, [vp]),
            "custody_model_tensor": (ctypes.POINTER(_Tensor), [vp, sz]),
            "custody_model_device": (i, [vp]),
            "custody_model_loaded_bytes": (u64, [vp]),
            "custody_model_load_seconds": (ctypes.c_double, [vp]),
        }
        for name, (res, args) in sigs.items():
            f = getattr(lib, name)
            f.restype = res
            f.argtypes = args
        _lib = lib
        return lib


# ---- DLPack (the stable v0.8 ABI: DLManagedTensor) ----

class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("device", _DLDevice),
        ("ndim", ctypes.c_int32),
        ("dtype", _DLDataType),
        ("shape", ctypes.POINTER(ctypes.c_int64)),
        ("strides", ctypes.POINTER(ctypes.c_int64)),
        ("byte_offset", ctypes.c_uint64),
    ]


class _DLManagedTensor(ctypes.Structure):
    pass


_DELETER = ctypes.CFUNCTYPE(None, ctypes.POINTER(_DLManagedTensor))
_DLManagedTensor._fields_ = [
    ("dl_tensor", _DLTensor),
    ("manager_ctx", ctypes.c_void_p),
    ("deleter", _DELETER),
]

_KDL_CPU, _KDL_CUDA = 1, 2
_KDL_INT, _KDL_UINT, _KDL_FLOAT, _KDL_BFLOAT, _KDL_BOOL = 0, 1, 2, 4, 6
_DTYPES = {
    "F16": (_KDL_FLOAT, 16), "BF16": (_KDL_BFLOAT, 16), "F32": (_KDL_FLOAT, 32),
    "F64": (_KDL_FLOAT, 64), "I8": (_KDL_INT, 8), "I16": (_KDL_INT, 16), "I32": (_KDL_INT, 32),
    "I64": (_KDL_INT, 64), "U8": (_KDL_UINT, 8), "U16": (_KDL_UINT, 16), "U32": (_KDL_UINT, 32),
    "U64": (_KDL_UINT, 64), "BOOL": (_KDL_BOOL, 8),
}

# DLManagedTensors handed out and not yet deleted: address -> (struct, owner).
# The owner (a Tensor) keeps the Model, so the model's memory outlives every
# consumer of every tensor.
_live = {}
_live_lock = threading.Lock()


@_DELETER
def _dl_delete(ptr):
    with _live_lock:
        _live.pop(ctypes.addressof(ptr.contents), None)


_pyapi = ctypes.pythonapi
_pyapi.PyCapsule_New.restype = ctypes.py_object
_pyapi.PyCapsule_New.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
_pyapi.PyCapsule_GetName.restype = ctypes.c_char_p
_pyapi.PyCapsule_GetName.argtypes = [ctypes.py_object]


def _sweep():
    """Releases the capsules consumers dropped without consuming them (a
    consumer that refuses a dtype, say), and lets go of the ones consumed
    (their consumer calls the deleter when done).

    Capsules get no destructor on purpose: a destructor written with ctypes
    runs while the consumer's exception is pending, where no ctypes call is
    safe. The registry keeps each capsule instead and looks at it here, on
    every new capsule and when a Model is collected."""
    with _live_lock:
        for addr, entry in list(_live.items()):
            cap = entry[3]
            if cap is None or sys.getrefcount(cap) > 3:  # the entry, `cap`, the call's argument
                continue
            if _pyapi.PyCapsule_GetName(cap) == b"dltensor":
                del _live[addr]  # abandoned: nobody will call the deleter
            else:
                _live[addr] = entry[:3] + (None,)  # consumed: the deleter ends it


class Tensor:
    """One tensor of a loaded model; a DLPack producer."""

    def __init__(self, model, name, dtype, shape, nbytes, data, device):
        self.model = model
        self.name = name
        self.dtype = dtype  # custody's name: "BF16", "F32", "Q4_K", ...
        self.shape = tuple(shape)
        self.nbytes = nbytes
        self.data_ptr = data
        self.device = device  # -1: CPU, else the CUDA device

    def __repr__(self):
        where = "cpu" if self.device < 0 else f"cuda:{self.device}"
        return f"<custody.Tensor {self.name} {self.dtype} {list(self.shape)} on {where}>"

    def __dlpack_device__(self):
        return (_KDL_CPU, 0) if self.device < 0 else (_KDL_CUDA, self.device)

    def __dlpack__(self, stream=None, **_kwargs):
        # the loader synchronised every copy before returning: nothing to order on `stream`
        return self.capsule()

    def capsule(self):
        """A new "dltensor" PyCapsule of this tensor (each call a new one)."""
        code, bits = _DTYPES.get(self.dtype, (_KDL_UINT, 8))
        shape = self.shape if self.dtype in _DTYPES else (self.nbytes,)
        mt = _DLManagedTensor()
        shape_arr = (ctypes.c_int64 * max(len(shape), 1))(*shape)
        mt.dl_tensor.data = self.data_ptr
        mt.dl_tensor.device = _DLDevice(*self.__dlpack_device__())
        mt.dl_tensor.ndim = len(shape)
        mt.dl_tensor.dtype = _DLDataType(code, bits, 1)
        mt.dl_tensor.shape = shape_arr
        mt.dl_tensor.strides = None  # compact, row-major
        mt.dl_tensor.byte_offset = 0
        mt.manager_ctx = None
        mt.deleter = _dl_delete
        _sweep()
        addr = ctypes.addressof(mt)
        cap = _pyapi.PyCapsule_New(addr, b"dltensor", None)
        with _live_lock:
            _live[addr] = (mt, shape_arr, self, cap)
        return cap


class Model:
    """A model opened (decided and audited) and loaded through libcustody."""

    def __init__(self, ref, device="cpu", state=None, agent=None, key=None, method="auto",
                 threads=0, chunk=0):
        lib = _library()
        self._lib = lib
        self._client = ctypes.c_void_p()
        self._handle = ctypes.c_void_p()
        dev = _parse_device(device)
        state = state if state is not None else os.environ.get("CUSTODY_STATE")
        rc = lib.custody_client_open(state.encode() if state else None, ctypes.byref(self._client))
        if rc:
            raise CustodyError(rc, f"cannot open a client: {lib.custody_err_code(rc).decode()}")
        agent = agent if agent is not None else os.environ.get("CUSTODY_AGENT")
        if agent:
            if key is None:
                base = state or "./var/custody"
                key = os.path.join(base, "agents", agent + ".pem")
            self._check(lib.custody_client_set_agent(self._client, agent.encode(), key.encode()))
        self._check(lib.custody_model_open(self._client, ref.encode(), ctypes.byref(self._handle)))
        if method not in _METHODS:
            raise ValueError(f"method: one of {sorted(_METHODS)}")
        opts = _LoadOpts(device=dev, method=_METHODS[method], threads=threads, chunk=chunk)
        self._check(lib.custody_model_load(self._handle, ctypes.byref(opts)))
        h = self._handle
        self.name = lib.custody_model_name(h).decode()
        self.version = lib.custody_model_version(h).decode()
        self.digest = lib.custody_model_digest(h).decode()
        self.device = lib.custody_model_device(h)
        self.bytes = lib.custody_model_loaded_bytes(h)
        self.seconds = lib.custody_model_load_seconds(h)
        formats = [lib.custody_model_file_format(h, i).decode()
                   for i in range(lib.custody_model_file_count(h))]
        self.tensors = {}
        for i in range(lib.custody_model_tensor_count(h)):
            t = lib.custody_model_tensor(h, i).contents
            shape = [t.shape[d] for d in range(t.ndim)]
            if formats[t.file] == "gguf":
                shape.reverse()
            name = t.name.decode()
            self.tensors[name] = Tensor(self, name, t.dtype.decode(), shape, t.nbytes, t.data,
                                        self.device)

    def _check(self, rc):
        if rc:
            msg = self._lib.custody_client_last_error(self._client)
            code = self._lib.custody_err_code(rc).decode()
            self.close()
            raise CustodyError(rc, f"{msg.decode() if msg else 'failed'} ({code})")

    def close(self):
        """Frees the model's memory now (only when nothing uses its tensors any more)."""
        if getattr(self, "_handle", None):
            self._lib.custody_model_close(self._handle)
            self._handle = None
        if getattr(self, "_client", None):
            self._lib.custody_client_close(self._client)
            self._client = None

    def __del__(self):
        self.close()


def _parse_device(device):
    if device in ("cpu", None, -1):
        return -1
    if isinstance(device, int):
        return device
    if device == "cuda":
        return 0
    if isinstance(device, str) and device.startswith("cuda:") and device[5:].isdigit():
        return int(device[5:])
    raise ValueError(f"device: 'cpu', 'cuda' or 'cuda:N', not {device!r}")


def collect():
    """Releases what consumers dropped (see _sweep); returns how many DLPack
    tensors are still held by consumers."""
    _sweep()
    with _live_lock:
        return len(_live)


def load(ref, device="cpu", **kwargs):
    """Loads model REF ("NAME@VERSION" or "NAME") and returns {tensor name: Tensor}.

    device: "cpu" (default) or "cuda:N". Keyword arguments: state, agent, key,
    method ("auto", "mmap", "pinned", "direct", "cufile"), threads, chunk.
    One model.load audit event per call."""
    return Model(ref, device=device, **kwargs).tensors

"""In-process fakes of CuPy and torch/torch_npu that model the device contract faithfully.

Work is *asynchronous*: a launch only enqueues an op on the device timeline; it runs (and
advances device time) when something synchronises. Events stamp device time when the
stream reaches them, and reading an elapsed time before the end event completed raises,
as CUDA's cudaEventElapsedTime does (cudaErrorNotReady). Host time does not move with
device work, so a harness that read the host clock around launches would measure ~0.
Allocation is counted and limited, so refusing a case must happen before allocating.
"""

from __future__ import annotations

import time
import types

import numpy as np

GEMM_MS = 2.0  # device time of every GEMM launch
COPY_MS = 7.0  # device time of every host-to-device copy (setup: must never be timed)
FIRST_CALL_S = 0.05  # host-side handle creation on the first GEMM


class NotReady(RuntimeError):
    pass


class Timeline:
    def __init__(self, capacity: int = 1 << 30) -> None:
        self.t_ms = 0.0
        self.queue: list = []
        self.capacity = capacity
        self.allocated = 0
        self.allocations = 0
        self.gemms = 0

    def enqueue(self, ms: float, fn=None) -> None:
        self.queue.append((ms, fn))

    def drain(self) -> None:
        for ms, fn in self.queue:
            self.t_ms += ms
            if fn:
                fn()
        self.queue.clear()

    def alloc(self, nbytes: int) -> None:
        if self.allocated + nbytes > self.capacity:
            raise MemoryError(f"out of device memory allocating {nbytes} bytes")
        self.allocated += nbytes
        self.allocations += 1


class Event:
    def __init__(self, timeline: Timeline) -> None:
        self.tl = timeline
        self.time: float | None = None
        self.done = False

    def record(self, stream=None) -> None:
        self.done = False

        def stamp():
            self.time = self.tl.t_ms
            self.done = True

        self.tl.enqueue(0.0, stamp)

    def synchronize(self) -> None:
        self.tl.drain()

    def elapsed_time(self, end: Event) -> float:
        if not (self.done and end.done):
            raise NotReady("event not yet completed (read without synchronising)")
        return end.time - self.time


class Array:
    """A device array: numpy storage that only device ops touch."""

    def __init__(self, tl: Timeline, data: np.ndarray, charge: bool = True) -> None:
        self.tl, self.data = tl, data
        if charge:
            tl.alloc(data.nbytes)

    shape = property(lambda self: self.data.shape)
    dtype = property(lambda self: self.data.dtype)

    @property
    def T(self) -> Array:
        return Array(self.tl, self.data.T, charge=False)

    def swapaxes(self, a1: int, a2: int) -> Array:
        return Array(self.tl, self.data.swapaxes(a1, a2), charge=False)

    def fill(self, value) -> None:
        self.tl.enqueue(0.001, lambda: self.data.fill(value))


def _gemm(tl: Timeline, a, b, out, first_call_state: dict) -> None:
    if not first_call_state.get("done"):
        time.sleep(FIRST_CALL_S)  # handle creation happens on the host, once
        first_call_state["done"] = True
    tl.gemms += 1
    tl.enqueue(GEMM_MS, lambda: np.matmul(a.data, b.data, out=out.data))


def make_cupy(capacity: int = 1 << 30, name: str = "Fake H200") -> types.SimpleNamespace:
    tl = Timeline(capacity)
    first: dict = {}

    def asarray(x):
        arr = Array(tl, np.array(x))
        tl.enqueue(COPY_MS)
        return arr

    def asnumpy(x):
        tl.drain()
        return np.array(x.data)

    stream = types.SimpleNamespace(synchronize=tl.drain)
    props = {
        "name": name.encode(),
        "major": 9,
        "minor": 0,
        "multiProcessorCount": 132,
        "totalGlobalMem": capacity,
        "l2CacheSize": 50 << 20,
        "clockRate": 1980000,
        "memoryClockRate": 2619000,
    }
    runtime = types.SimpleNamespace(
        getDeviceProperties=lambda i: props,
        getDeviceCount=lambda: 1,
        memGetInfo=lambda: (tl.capacity - tl.allocated, tl.capacity),
        driverGetVersion=lambda: 13000,
        runtimeGetVersion=lambda: 12080,
    )
    cuda = types.SimpleNamespace(
        Event=lambda: Event(tl),
        get_current_stream=lambda: stream,
        runtime=runtime,
        get_elapsed_time=lambda a, b: a.elapsed_time(b),
        Device=lambda: types.SimpleNamespace(id=0),
    )
    return types.SimpleNamespace(
        __version__="14.0.0-fake",
        cuda=cuda,
        asarray=asarray,
        asnumpy=asnumpy,
        uint8=np.uint8,
        empty=lambda shape, dtype: Array(tl, np.empty(shape, dtype)),
        ones=lambda n, dtype: Array(tl, np.ones(n, dtype)),
        empty_like=lambda x: Array(tl, np.empty_like(x.data)),
        copyto=lambda dst, src: tl.enqueue(1.0, lambda: np.copyto(dst.data, src.data)),
        matmul=lambda a, b, out: _gemm(tl, a, b, out, first),
        timeline=tl,
    )


class Tensor:
    """torch-like tensor on 'cpu' or 'npu'."""

    def __init__(self, tl: Timeline, data: np.ndarray, device: str, fmt: int = 2) -> None:
        self.tl, self.data, self.device, self.format = tl, data, device, fmt

    dtype = property(lambda self: self.data.dtype)

    def to(self, target):
        if target == "npu":
            self.tl.alloc(self.data.nbytes)
            self.tl.enqueue(COPY_MS)
            return Tensor(self.tl, self.data.copy(), "npu")
        self.tl.drain()  # a device-side cast is ordered after pending work on the stream
        return Tensor(self.tl, self.data.astype(target), self.device)

    def transpose(self, d0, d1):
        return Tensor(self.tl, self.data.swapaxes(d0, d1), self.device, self.format)

    def t(self):
        return Tensor(self.tl, self.data.T, self.device, self.format)

    def float(self):
        self.tl.drain()
        return Tensor(self.tl, self.data.astype(np.float32), self.device)

    def cpu(self):
        self.tl.drain()
        return Tensor(self.tl, self.data.copy(), "cpu")

    def fill_(self, value):
        self.tl.enqueue(0.001, lambda: self.data.fill(value))

    def copy_(self, src):
        self.tl.enqueue(1.0, lambda: np.copyto(self.data, src.data))

    def numpy(self):
        assert self.device == "cpu", "numpy() on an npu tensor"
        return self.data


def make_torch(soc: str = "Ascend910B3", capacity: int = 1 << 30, cuda: str | None = None):
    """(torch, torch_npu) fakes sharing one NPU timeline."""
    import ml_dtypes

    tl = Timeline(capacity)
    first: dict = {}
    npu = types.SimpleNamespace(
        Event=lambda enable_timing=False: Event(tl),
        synchronize=tl.drain,
        mem_get_info=lambda: (tl.capacity - tl.allocated, tl.capacity),
        get_device_name=lambda i: soc,
        device_count=lambda: 1,
        is_available=lambda: True,
        matmul=types.SimpleNamespace(allow_hf32=True),
        config=types.SimpleNamespace(allow_internal_format=False),
    )

    def empty(shape, dtype, device):
        tl.alloc(int(np.prod(shape)) * np.dtype(dtype).itemsize)
        return Tensor(tl, np.empty(shape, dtype), device)

    def matmul(a, b, out):
        _gemm(tl, a, b, out, first)

    torch = types.SimpleNamespace(
        __version__="2.5.1-fake",
        version=types.SimpleNamespace(cuda=cuda),
        npu=npu,
        float16=np.dtype(np.float16),
        float32=np.dtype(np.float32),
        bfloat16=np.dtype(ml_dtypes.bfloat16),
        from_numpy=lambda x: Tensor(tl, x, "cpu"),
        set_num_threads=lambda n: None,
        empty=empty,
        matmul=matmul,
        ones=lambda n, dtype, device: Tensor(tl, np.ones(n, dtype), device),
        uint8=np.dtype(np.uint8),
        empty_like=lambda t: Tensor(tl, np.empty_like(t.data), t.device),
        timeline=tl,
    )
    torch_npu = types.SimpleNamespace(
        __version__="2.5.1.post-fake",
        npu=types.SimpleNamespace(get_soc_version=lambda: soc),
        npu_format_cast=lambda t, fmt: Tensor(tl, t.data, t.device, fmt),
    )
    return torch, torch_npu

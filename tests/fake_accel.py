"""In-process fakes of CuPy and torch/torch_npu that model the device contract faithfully.

Work is *asynchronous*: a launch only enqueues an op on the device timeline. The device
runs ops in order, each starting when the previous one ends or when the host enqueued it,
whichever is later (host time in ms, from ``perf_counter``): an idle stream waits for the
host, as a real one does, so a harness whose blocks start on an idle stream times the
host's dispatch. Events stamp device time when the stream reaches them, and reading an
elapsed time before the end event completed raises, as CUDA's cudaEventElapsedTime does
(cudaErrorNotReady). Launches may cost host time (``launch_host_ms``), and chosen ones
stall the host (``stalls``, as a preemption would). Allocation is counted and limited,
so refusing a case must happen before allocating; the fake CuPy keeps freed blocks in
a memory pool, as CuPy does, until ``free_all_blocks``.

Also here: CuPy's TF32 mode (inputs rounded to 10 mantissa bits when ``CUPY_TF32=1`` at the
first float32 matmul), a spin kernel (``RawKernel``), and a fake NVML (``make_nvml``).
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


def host_ms() -> float:
    return time.perf_counter() * 1e3


class Timeline:
    def __init__(self, capacity: int = 1 << 30, gemm_ms: float = GEMM_MS, launch_host_ms: float = 0.0) -> None:
        self.t_ms = 0.0  # when the device is next free, in host ms
        self.queue: list = []
        self.capacity = capacity
        self.allocated = 0  # bytes the device has handed out (to arrays, or held in the pool)
        self.pool_free = 0  # bytes held by the memory pool, free for reuse
        self.allocations = 0
        self.gemms = 0
        self.gemm_ms, self.launch_host_ms = gemm_ms, launch_host_ms
        self.spins: list[float] = []
        self.stalls: dict[int, float] = {}  # GEMM launch number (from 0) -> host ms stalled before issuing it

    def enqueue(self, ms: float, fn=None) -> None:
        self.queue.append((ms, fn, host_ms()))

    def drain(self) -> None:
        """Run everything enqueued; like a real synchronize, return only once the device would be done."""
        for ms, fn, at in self.queue:
            start = max(self.t_ms, at)  # an idle stream waits for the host
            if fn:
                fn(start)
            self.t_ms = start + ms
        self.queue.clear()
        wait_ms = self.t_ms - host_ms()
        if wait_ms > 0:
            time.sleep(wait_ms * 1e-3)

    def alloc(self, nbytes: int) -> None:
        if nbytes <= self.pool_free:  # reuse a freed block (the pool is simplified to a byte count)
            self.pool_free -= nbytes
        else:
            if self.allocated + nbytes > self.capacity:
                raise MemoryError(f"out of device memory allocating {nbytes} bytes")
            self.allocated += nbytes
        self.allocations += 1

    def free_to_pool(self, nbytes: int) -> None:
        self.pool_free += nbytes

    def free_all_blocks(self) -> None:
        self.allocated -= self.pool_free
        self.pool_free = 0


class Event:
    def __init__(self, timeline: Timeline) -> None:
        self.tl = timeline
        self.time: float | None = None
        self.done = False

    def record(self, stream=None) -> None:
        self.done = False

        def stamp(at):
            self.time = at
            self.done = True

        self.tl.enqueue(0.0, stamp)

    def synchronize(self) -> None:
        self.tl.drain()

    def elapsed_time(self, end: Event) -> float:
        if not (self.done and end.done):
            raise NotReady("event not yet completed (read without synchronising)")
        return end.time - self.time


def _op(fn):
    """A device op body (called with its start time, which most ops ignore)."""
    return lambda _at: fn()


class Array:
    """A device array: numpy storage that only device ops touch; its bytes go back to the pool when dropped."""

    def __init__(self, tl: Timeline, data: np.ndarray, charge: bool = True) -> None:
        self.tl, self.data = tl, data
        self.charged = data.nbytes if charge else 0
        if charge:
            tl.alloc(data.nbytes)

    def __del__(self) -> None:
        if self.charged:
            self.tl.free_to_pool(self.charged)

    shape = property(lambda self: self.data.shape)
    dtype = property(lambda self: self.data.dtype)

    @property
    def T(self) -> Array:
        return Array(self.tl, self.data.T, charge=False)

    def swapaxes(self, a1: int, a2: int) -> Array:
        return Array(self.tl, self.data.swapaxes(a1, a2), charge=False)

    def fill(self, value) -> None:
        self.tl.enqueue(0.001, _op(lambda: self.data.fill(value)))


def round_to_tf32(x: np.ndarray) -> np.ndarray:
    """float32 values rounded to TF32 (10 mantissa bits, to nearest), as tensor cores read them."""
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    return ((bits + np.uint32(0x1000)) & np.uint32(0xFFFFE000)).view(np.float32).reshape(x.shape)


def _gemm(tl: Timeline, a, b, out, first_call_state: dict, tf32: bool = False) -> None:
    if not first_call_state.get("done"):
        time.sleep(FIRST_CALL_S)  # handle creation happens on the host, once
        first_call_state["done"] = True
    if tl.launch_host_ms:
        time.sleep(tl.launch_host_ms * 1e-3)  # the host's dispatch: Python, library, driver
    if tl.gemms in tl.stalls:  # the host preempted mid-block (another process, a page fault)
        time.sleep(tl.stalls[tl.gemms] * 1e-3)
    tl.gemms += 1

    def run():
        x, y = a.data, b.data
        if tf32 and x.dtype == np.float32:
            x, y = round_to_tf32(x), round_to_tf32(y)
        np.matmul(x, y, out=out.data)

    tl.enqueue(tl.gemm_ms, _op(run))


def make_cupy(
    capacity: int = 1 << 30,
    name: str = "Fake H200",
    gemm_ms: float = GEMM_MS,
    launch_host_ms: float = 0.0,
    l2_bytes: int = 50 << 20,
    batched_bfloat16: bool = False,
) -> types.SimpleNamespace:
    """CuPy as 14.2 behaves on an H200 (tests/test_cupy_device.py): CUPY_TF32 read once, at the first 2-D
    float32 matmul; batched (3-D) matmuls at full float32 whatever it says, and without bfloat16 (a
    TypeError) unless ``batched_bfloat16``."""
    import os

    tl = Timeline(capacity, gemm_ms, launch_host_ms)
    first: dict = {}
    mode: dict = {}

    def matmul(a, b, out):
        batched = len(a.shape) > 2
        if batched and a.dtype.name == "bfloat16" and not batched_bfloat16:
            raise TypeError("data type 'E' not understood")
        if "tf32" not in mode and a.dtype == np.float32 and not batched:  # read at the first 2-D float32 matmul
            mode["tf32"] = os.environ.get("CUPY_TF32") == "1"
        _gemm(tl, a, b, out, first, mode.get("tf32", False) and not batched)

    class RawKernel:
        def __init__(self, code: str, name: str) -> None:
            assert "globaltimer" in code and name in code
            self.code, self.name = code, name

        def __call__(self, grid, block, args) -> None:
            ns = float(args[0])
            tl.spins.append(ns)
            tl.enqueue(ns * 1e-6)

    pool = types.SimpleNamespace(
        free_bytes=lambda: tl.pool_free,
        used_bytes=lambda: tl.allocated - tl.pool_free,
        free_all_blocks=tl.free_all_blocks,
    )

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
        "l2CacheSize": l2_bytes,
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
        Device=lambda: types.SimpleNamespace(id=0, pci_bus_id="0000:19:00.0"),
    )
    return types.SimpleNamespace(
        __version__="14.0.0-fake",
        cuda=cuda,
        asarray=asarray,
        asnumpy=asnumpy,
        uint8=np.uint8,
        uint64=np.uint64,
        empty=lambda shape, dtype: Array(tl, np.empty(shape, dtype)),
        ones=lambda n, dtype: Array(tl, np.ones(n, dtype)),
        empty_like=lambda x: Array(tl, np.empty_like(x.data)),
        copyto=lambda dst, src: tl.enqueue(1.0, _op(lambda: np.copyto(dst.data, src.data))),
        matmul=matmul,
        RawKernel=RawKernel,
        get_default_memory_pool=lambda: pool,
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
        self.tl.enqueue(0.001, _op(lambda: self.data.fill(value)))

    def copy_(self, src):
        self.tl.enqueue(1.0, _op(lambda: np.copyto(self.data, src.data)))

    def numpy(self):
        assert self.device == "cpu", "numpy() on an npu tensor"
        return self.data


def make_torch(
    soc: str = "Ascend910B3",
    capacity: int = 1 << 30,
    cuda: str | None = None,
    gemm_ms: float = GEMM_MS,
    launch_host_ms: float = 0.0,
):
    """(torch, torch_npu) fakes sharing one NPU timeline."""
    import ml_dtypes

    tl = Timeline(capacity, gemm_ms, launch_host_ms)
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


# ---------------------------------------------------------------- NVML


#: NVML clock-event (throttle) reason bits, as nvml.h defines them.
SW_POWER_CAP, HW_SLOWDOWN, SW_THERMAL = 0x4, 0x8, 0x20


def make_nvml(reasons=lambda: 0, sm_mhz=lambda: 1980, mem_mhz=lambda: 2619) -> types.SimpleNamespace:
    """A fake ``pynvml``: throttle reasons and clocks come from the callables (called on every query)."""
    state = types.SimpleNamespace(inits=0, handles=[])

    def init():
        state.inits += 1

    def handle(bus_id):
        state.handles.append(bus_id)
        return ("gpu", bus_id)

    return types.SimpleNamespace(
        NVML_CLOCK_SM=1,
        NVML_CLOCK_MEM=2,
        nvmlInit=init,
        nvmlDeviceGetHandleByPciBusId=handle,
        nvmlDeviceGetCurrentClocksEventReasons=lambda h: reasons(),
        nvmlDeviceGetClockInfo=lambda h, which: sm_mhz() if which == 1 else mem_mhz(),
        state=state,
    )

"""Device: how the harness synchronises with, and reads time from, where a GEMM runs.

Backends supply their device; the harness only calls this interface, so it never
branches on CUDA versus NPU versus CPU. Timing is expressed as two *marks* around a
block of launches: on the host a mark is a clock reading; on an accelerator it is
an event recorded on the stream, and ``elapsed_ns`` waits for the end event before
reading it, so a host clock is never read around an unfinished launch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from .hostfacts import cpu_facts, cpu_model, host_memory_available, last_level_cache_bytes

__all__ = ["Device", "EventDevice", "HostDevice", "timer_cost_ns"]


@runtime_checkable
class Device(Protocol):
    """What the timer needs from a device."""

    #: Human-readable name recorded in each row ("cpu: AMD EPYC", "NVIDIA H200").
    name: str
    #: Cost/jitter of one mark pair in ns; the timer sizes blocks to >= 1000x this.
    timer_cost_ns: float
    #: True when operands live in host memory (the host must then hold them and the float64 check).
    shares_host_memory: bool

    def synchronize(self) -> None:
        """Block until all work issued so far has finished."""

    def mark(self) -> Any:
        """Record a point in the device's work stream; cheap and asynchronous."""

    def elapsed_ns(self, start: Any, end: Any) -> float:
        """Time between two marks, waiting for ``end`` to complete first."""

    def memory_available(self) -> int:
        """Bytes a case may allocate on this device."""

    def cache_bytes(self) -> int:
        """Size of the last cache level; cold mode rotates operands larger than this."""

    def describe(self) -> dict[str, str]:
        """Facts recorded with every result (model, memory, clocks, library versions)."""

    # Optional members, read with getattr (a device without them is a synchronous host device):
    #   asynchronous: bool         - launches return before the work is done (GPU, NPU)
    #   hold(seconds) -> bool      - keep the stream busy that long (a spin kernel); False if it cannot
    #   monitor() -> BlockMonitor  - a per-block monitor (clocks, throttling), or None


def timer_cost_ns(clock: Callable[[], int] = time.perf_counter_ns, reps: int = 2000) -> float:
    """Median cost of reading ``clock`` twice back to back, in ns (at least 1)."""
    costs = []
    for _ in range(reps):
        a = clock()
        b = clock()
        costs.append(b - a)
    costs.sort()
    return float(max(costs[len(costs) // 2], 1))


class HostDevice:
    """The CPU: marks are ``perf_counter_ns`` readings; work is synchronous once launched."""

    #: Operands live in host memory, next to the float64 verification copies.
    shares_host_memory = True
    #: A launch returns when the GEMM is done.
    asynchronous = False

    def __init__(self, name: str = "cpu") -> None:
        self.name = self.name_of(name)
        self.timer_cost_ns = timer_cost_ns()

    @staticmethod
    def name_of(name: str = "cpu") -> str:
        """The device name host rows carry (and ceilings are keyed by), without measuring the clock."""
        return f"{name}: {cpu_model()}"

    def synchronize(self) -> None:
        return None

    def mark(self) -> int:
        return time.perf_counter_ns()

    def elapsed_ns(self, start: int, end: int) -> float:
        return float(end - start)

    def memory_available(self) -> int:
        return host_memory_available()

    def cache_bytes(self) -> int:
        return last_level_cache_bytes()

    def describe(self) -> dict[str, str]:
        return cpu_facts()


class EventDevice:
    """Base for accelerators timed with device events recorded on the stream that runs the GEMM.

    ``mark()`` records the next event of a small preallocated ring (no allocation at the
    timing boundaries); ``elapsed_ns`` first waits for the end event, then asks the device
    for the time between the two. Subclasses supply the four event primitives and the facts.
    """

    shares_host_memory = False
    #: Launches return at once; the stream runs them later (see ``timer._Blocks`` for what that asks of timing).
    asynchronous = True
    #: Event timestamps have ~0.5 us resolution and jitter by microseconds: with the timer's
    #: 1000x rule this makes every timed block last at least 1 ms.
    timer_cost_ns = 1000.0
    _RING = 4

    def __init__(self, name: str) -> None:
        self.name = name
        self._ring = [self.new_event() for _ in range(self._RING)]
        self._next = 0

    # -- primitives supplied by the backend
    def new_event(self) -> Any:
        raise NotImplementedError

    def record(self, event: Any) -> None:
        raise NotImplementedError

    def wait(self, event: Any) -> None:
        raise NotImplementedError

    def elapsed_ms(self, start: Any, end: Any) -> float:
        raise NotImplementedError

    def synchronize(self) -> None:
        raise NotImplementedError

    def memory_available(self) -> int:
        raise NotImplementedError

    def cache_bytes(self) -> int:
        raise NotImplementedError

    def describe(self) -> dict[str, str]:
        return {"device": self.name}

    def hold(self, seconds: float) -> bool:
        """Enqueue device work lasting ``seconds`` (a spin kernel) ahead of a block; False when the backend
        has none (the timer then leads with untimed launches of the GEMM itself)."""
        return False

    def monitor(self) -> Any:
        """A per-block monitor of the device's clocks and throttling (``timer.BlockMonitor``), or None."""
        return None

    # -- the Device protocol
    def mark(self) -> Any:
        event = self._ring[self._next % self._RING]
        self._next += 1
        self.record(event)
        return event

    def elapsed_ns(self, start: Any, end: Any) -> float:
        self.wait(end)  # never read a timestamp the device has not reached
        return self.elapsed_ms(start, end) * 1e6

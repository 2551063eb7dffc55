"""What the host taking back freed memory costs: steal on busy vCPUs after a command exits.

Runs COMMAND (say, a one-round ``gemmbench run`` of a large shape), then keeps every usable CPU busy
for 12 s and prints, each half second, the steal ticks (10 ms each) those CPUs lost and the MiB this
guest has reported to its host since the command ended (``gemmbench.reclaim``). On a VM with free
page reporting the two move together: the reclaim's passes, every two seconds, are when the steal
comes. ``bench/reclaim.py`` explains what the harness does about it.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python docs/examples/reclaim_probe.py \\
        .venv/bin/gemmbench run -b numba --shape 16x12288x3584 -d float64 -j 2 --max-time 0.5 \\
        --rounds 1 -o results/probe.csv

With no COMMAND it measures an idle baseline. Run it with nothing else busy.
"""

from __future__ import annotations

import multiprocessing as mp
import subprocess
import sys
import time

from gemmbench.contention import steal_ticks
from gemmbench.hostfacts import affinity
from gemmbench.reclaim import reported_kib

WINDOWS, WINDOW_S = 24, 0.5


def _spin(stop) -> None:
    while not stop.is_set():
        pass


def main() -> None:
    if reported_kib() is None:
        sys.exit("reclaim_probe.py: this kernel does not report freed memory to its host (no page_reporting)")
    if len(sys.argv) > 1:
        subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    cpus = affinity()
    stop = mp.Event()
    spinners = [mp.Process(target=_spin, args=(stop,)) for _ in cpus]
    for p in spinners:
        p.start()
    kib0, steal = reported_kib() or 0, steal_ticks(cpus) or 0
    print(f"steal ticks on CPUs {','.join(map(str, cpus))} per {WINDOW_S} s : MiB reported since the command ended")
    try:
        for _ in range(WINDOWS):
            time.sleep(WINDOW_S)
            now = steal_ticks(cpus) or 0
            print(f"{now - steal}:{((reported_kib() or 0) - kib0) >> 10}", end=" ", flush=True)
            steal = now
    finally:
        stop.set()
        for p in spinners:
            p.join()
    print()


if __name__ == "__main__":
    main()

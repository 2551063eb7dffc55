import gc
import itertools

import pytest

from gemmbench.testing import ScriptedDevice
from gemmbench.timer import PolicyError, TimingPolicy, _Blocks, calibrate, measure


def _run(durations, policy, cost=35.0):
    dev = ScriptedDevice(durations, timer_cost_ns=cost)
    return dev, measure([dev.launch], dev, policy, now=dev.now)


def test_first_call_recorded_separately_and_not_in_samples():
    # first call 1 s (JIT), then 1 ms per call
    policy = TimingPolicy(
        warmup_count=2, warmup_time_s=0, min_block_s=0.0005, min_samples=5, min_time_s=0, max_time_s=1, target=0.01
    )
    dev, s = _run(itertools.chain([1e9], itertools.repeat(1e6)), policy)
    assert s.first_call_s == pytest.approx(1.0)
    assert s.warmup_calls == 2
    assert s.inner == 1
    assert s.per_call_s == (0.001,) * 5
    assert s.converged


def test_calibration_reaches_1000x_timer_cost():
    # 100 ns per call, timer cost 35 ns -> block must last >= 35 us -> inner >= 350
    policy = TimingPolicy(
        warmup_count=1, warmup_time_s=0, min_block_s=0, min_samples=3, min_time_s=0, max_time_s=1, target=0.5
    )
    dev = ScriptedDevice(itertools.repeat(100), timer_cost_ns=35)
    blocks = _Blocks([dev.launch], dev)
    inner = calibrate(blocks, dev, policy)
    assert inner * 100 >= 35_000
    assert inner < 2 * 35_000 / 100 * 1.25  # not wildly past the target


def test_calibration_uses_min_block_when_larger():
    policy = TimingPolicy(min_block_s=1e-3)
    dev = ScriptedDevice(itertools.repeat(1000), timer_cost_ns=1)
    assert calibrate(_Blocks([dev.launch], dev), dev, policy) * 1000 >= 1_000_000


def test_stops_at_max_time_unconverged_when_noisy():
    policy = TimingPolicy(
        warmup_count=1, warmup_time_s=0, min_block_s=0, min_samples=3, min_time_s=0, max_time_s=0.05, target=0.01
    )
    dev, s = _run(itertools.cycle([1e6, 3e6]), policy, cost=0.001)
    assert not s.converged
    assert 0.05 <= s.sampling_s < 0.06
    assert set(s.per_call_s) == {0.001, 0.003}


def test_respects_min_samples_and_min_time():
    policy = TimingPolicy(
        warmup_count=1, warmup_time_s=0, min_block_s=0, min_samples=4, min_time_s=0.01, max_time_s=1, target=0.5
    )
    _, s = _run(itertools.repeat(1e6), policy, cost=0.001)  # 1 ms per sample: needs 10 for min_time
    assert s.converged
    assert len(s.per_call_s) == 10


def test_ci_metric():
    policy = TimingPolicy(
        warmup_count=1,
        warmup_time_s=0,
        min_block_s=0,
        min_samples=5,
        min_time_s=0,
        max_time_s=1,
        metric="ci",
        target=0.001,
    )
    _, s = _run(itertools.repeat(2e6), policy, cost=0.001)
    assert s.converged and len(s.per_call_s) == 5


def test_cold_rotation_cycles_through_copies():
    seen = []
    dev = ScriptedDevice(itertools.repeat(1e6), timer_cost_ns=0.001)
    launches = [lambda i=i: (seen.append(i), dev.launch()) for i in range(3)]
    policy = TimingPolicy(
        warmup_count=1, warmup_time_s=0, min_block_s=0, min_samples=4, min_time_s=0, max_time_s=1, target=0.5
    )
    measure(launches, dev, policy, now=dev.now)
    assert seen[:7] == [0, 0, 1, 2, 0, 1, 2]  # first call, then strict rotation


def test_gc_disabled_only_while_sampling():
    states = []
    dev = ScriptedDevice(itertools.repeat(1e6), timer_cost_ns=0.001)

    def launch():
        states.append(gc.isenabled())
        dev.launch()

    policy = TimingPolicy(
        warmup_count=1, warmup_time_s=0, min_block_s=0, min_samples=3, min_time_s=0, max_time_s=1, target=0.5
    )
    assert gc.isenabled()
    measure([launch], dev, policy, now=dev.now)
    assert states[0] is True and states[-1] is False
    assert gc.isenabled()


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        (dict(metric="mad"), "unknown noise metric 'mad'; valid choices: iqr, ci"),
        (dict(min_samples=2), "min_samples must be >= 3"),
        (dict(max_time_s=0.01, min_time_s=0.1), "max_time_s"),
        (dict(target=-1), "target must be >= 0"),
    ],
)
def test_policy_validation(kwargs, fragment):
    with pytest.raises(PolicyError, match=fragment):
        TimingPolicy(**kwargs)

import gc
import itertools

import numpy as np
import pytest

from gemmbench.stats import median_ci_ranks
from gemmbench.testing import ScriptedDevice
from gemmbench.timer import PolicyError, TimingPolicy, _Blocks, calibrate, measure

#: The test policy most tests start from: one warm-up call, no minimum block or time, a loose target.
BASE = dict(warmup_count=1, warmup_time_s=0, min_block_s=0, min_samples=3, min_time_s=0, max_time_s=1, target=0.5)


def _policy(**changes):
    return TimingPolicy(**{**BASE, **changes})


def _run(durations, policy, cost=35.0):
    dev = ScriptedDevice(durations, timer_cost_ns=cost)
    return dev, measure([dev.launch], dev, policy, now=dev.now)


def test_first_call_recorded_separately_and_not_in_samples():
    # first call 1 s (JIT), then 1 ms per call
    policy = _policy(warmup_count=2, min_block_s=0.0005, min_samples=5, target=0.01, patience=1)
    dev, s = _run(itertools.chain([1e9], itertools.repeat(1e6)), policy)
    assert s.first_call_s == pytest.approx(1.0)
    assert s.warmup_calls == 2
    assert s.inner == 1
    assert s.per_call_s == (0.001,) * 5
    assert s.converged


def test_calibration_reaches_1000x_timer_cost():
    # 100 ns per call, timer cost 35 ns -> block must last >= 35 us -> inner >= 350
    policy = _policy()
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
    policy = _policy(max_time_s=0.05, target=0.01)
    dev, s = _run(itertools.cycle([1e6, 3e6]), policy, cost=0.001)
    assert not s.converged
    assert 0.045 <= dev.now() * 1e-9 - s.first_call_s <= 0.05  # warm-up, calibration and sampling: within the cap
    assert set(s.per_call_s) == {0.001, 0.003}


def test_respects_min_samples_and_min_time():
    policy = _policy(min_samples=4, min_time_s=0.01, patience=1)
    _, s = _run(itertools.repeat(1e6), policy, cost=0.001)  # 1 ms per sample: needs 10 for min_time
    assert s.converged
    assert len(s.per_call_s) == 10


def test_ci_metric():
    policy = _policy(min_samples=5, metric="ci", target=0.001, patience=1)
    _, s = _run(itertools.repeat(2e6), policy, cost=0.001)
    assert s.converged and len(s.per_call_s) == 12  # the exact median CI needs 6 samples, in the recent half too


def test_cold_rotation_cycles_through_copies():
    seen = []
    dev = ScriptedDevice(itertools.repeat(1e6), timer_cost_ns=0.001)
    launches = [lambda i=i: (seen.append(i), dev.launch()) for i in range(3)]
    policy = _policy(min_samples=4)
    measure(launches, dev, policy, now=dev.now)
    assert seen[:7] == [0, 0, 1, 2, 0, 1, 2]  # first call, then strict rotation


def test_gc_disabled_only_while_sampling():
    states = []
    dev = ScriptedDevice(itertools.repeat(1e6), timer_cost_ns=0.001)

    def launch():
        states.append(gc.isenabled())
        dev.launch()

    policy = _policy()
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
        (dict(patience=0), "patience must be >= 1"),
    ],
)
def test_policy_validation(kwargs, fragment):
    with pytest.raises(PolicyError, match=fragment):
        TimingPolicy(**kwargs)


def test_converged_is_not_a_lucky_streak():
    """True relative IQR 3 % against a 2 % target: stopping at the first sample that meets the target
    called 46 % of such cases converged; the trailing-window rule calls about 5 %."""
    rng = np.random.default_rng(11)
    policy = _policy(min_samples=10, max_time_s=0.2, target=0.02)
    early = 0
    for _ in range(150):
        durations = 1e6 * (1 + (0.03 / 1.349) * rng.standard_normal(400))
        _, s = _run(iter(durations), policy, cost=0.001)
        early += s.converged
    assert early <= 0.1 * 150
    _, s = _run(iter(1e6 * (1 + (0.01 / 1.349) * rng.standard_normal(400))), policy, cost=0.001)
    assert s.converged  # a quiet case still converges


def test_median_ci_coverage_is_at_least_nominal():
    """Ranks rounded inward covered 92 % at n = 21; the exact ranks cover >= 95 % for every n."""
    rng = np.random.default_rng(5)
    for n in (10, 11, 21, 50, 101, 400):
        x = np.sort(rng.lognormal(0.0, 0.3, size=(4000, n)), axis=1)
        lo, hi = median_ci_ranks(n)
        covered = np.mean((x[:, lo] <= 1.0) & (1.0 <= x[:, hi]))  # the true median of lognormal(0, s) is 1
        assert covered >= 0.945, (n, covered)
    assert median_ci_ranks(5) is None


class _Hog:
    """A monitor reporting that every block lost half its time to another process."""

    def start(self):
        pass

    def stop(self, wall_s):
        return 0.5

    def describe(self, share):
        return f"contended ({100 * share:.0f}% of thread time waiting for a CPU)"


class _Sometimes:
    def __init__(self):
        self.n = 0

    def start(self):
        pass

    def stop(self, wall_s):
        self.n += 1
        return 0.3 if self.n % 10 == 0 else 0.0


def test_disturbed_blocks_are_set_aside_and_counted():
    policy = _policy(min_samples=5, min_time_s=0.05, max_time_s=0.5, patience=1)
    dev = ScriptedDevice(itertools.repeat(1e6), timer_cost_ns=0.001)
    s = measure([dev.launch], dev, policy, now=dev.now, monitor=_Sometimes())
    assert s.converged and not s.contended  # one block in ten set aside: 3 % waiting overall
    assert len(s.disturbed_s) >= 1 and s.contention == pytest.approx(0.03, abs=0.01)
    dev = ScriptedDevice(itertools.repeat(1e6), timer_cost_ns=0.001)
    s = measure([dev.launch], dev, policy, now=dev.now, monitor=_Hog())
    assert s.contended and not s.converged and s.contention == pytest.approx(0.5)
    assert len(s.per_call_s) >= 3  # the row still has figures, flagged


def test_warm_up_covers_every_cold_copy_before_calibration():
    """Warm-up used to end after 2 calls: with 20 rotated copies the first samples (and the calibration)
    ran on copies never touched before (64^3 cold: the first 12-17 samples 2.2x slower)."""
    dev = ScriptedDevice(itertools.repeat(1e6), timer_cost_ns=0.001)
    launches = [dev.launch] * 20
    s = measure(launches, dev, _policy(warmup_count=2, min_samples=3), now=dev.now)
    assert s.warmup_calls >= 20


class _Waits:
    """Turns whose every hand-over keeps the machine away for 10 s of the (virtual) clock."""

    def __init__(self, dev):
        self.dev, self.calls, self.launches_at = dev, 0, []

    def hand_over(self):
        self.calls += 1
        self.launches_at.append(self.dev.launches)
        self.dev.t += int(10e9)
        return 10.0

    def describe(self):
        return ""


def test_turns_hand_over_between_blocks_and_waiting_is_not_measuring_time():
    """--paired: the machine goes to the other worker after each TURN_S of blocks; the 10 s it is away must not
    eat into max_time_s (which would end the measurement after one turn), nor be a sample."""
    policy = _policy(min_block_s=1e-3, min_time_s=1.0, max_time_s=1.0, target=0.0)
    dev = ScriptedDevice(itertools.repeat(1e6), timer_cost_ns=0.001)  # every call 1 ms
    turns = _Waits(dev)
    s = measure([dev.launch], dev, policy, now=dev.now, turns=turns)
    assert set(s.per_call_s) == {1e-3} and s.inner == 1
    assert len(s.per_call_s) >= 900 and s.sampling_s <= 1.0  # a second of its own blocks, not one turn's
    assert turns.calls >= 15  # about every TURN_S = 50 ms of blocks
    gaps = [b - a for a, b in itertools.pairwise(turns.launches_at)]
    assert min(gaps) >= 50  # >= 50 blocks of 1 ms a turn (plus the untimed re-warming call)

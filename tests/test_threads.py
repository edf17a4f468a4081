"""The CPU thread count chosen by timing (`vqstudio.threads`): made-up step times, no real timing,
and one short training run that chooses its count and says so."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from vqstudio.threads import ThreadPolicy, ThreadTuner, candidates, fixed_threads

POLICY = ThreadPolicy(probe_steps=3, settle_steps=1, recheck_s=100.0, recheck_max_s=400.0, window_steps=5)


class Machine:
    """A fake machine: a step takes `times[threads]` seconds; records every count set."""

    def __init__(self, times: dict[int, float], threads: int) -> None:
        self.times, self.threads, self.set = dict(times), threads, []

    def apply(self, n: int) -> None:
        self.threads = n
        self.set.append(n)

    def run(self, tuner: ThreadTuner, steps: int) -> list[str]:
        lines = []
        for _ in range(steps):
            if line := tuner.step_done(self.times[self.threads]):
                lines.append(line)
        return lines


def tuner_on(machine: Machine, cores: int, policy: ThreadPolicy = POLICY) -> ThreadTuner:
    return ThreadTuner(cores, machine.apply, machine.threads, policy, label="tokenizer")


def test_candidates_are_powers_of_two_and_every_core():
    assert candidates(1) == [1]
    assert candidates(2) == [1, 2]
    assert candidates(6) == [1, 2, 4, 6]
    assert candidates(8) == [1, 2, 4, 8]


def test_picks_the_fastest_count_and_says_so():
    machine = Machine({1: 0.30, 2: 0.10, 4: 0.20}, threads=4)
    tuner = tuner_on(machine, 4)
    lines = machine.run(tuner, 20)
    assert tuner.chosen == 2 and machine.threads == 2
    assert lines == [
        "tokenizer: 2 threads of 4 cores, chosen by timing (100 ms a step against 200 ms with 4 threads)"
    ]
    # Fewest threads first, whatever the job started with; each settled one step and timed three.
    assert machine.set == [1, 2, 4, 2]


def test_a_busy_machine_picks_one_thread_and_drops_slow_counts_after_one_step():
    machine = Machine({1: 0.1, 2: 1.4}, threads=2)  # beside a busy process: 14x slower on 2
    tuner = tuner_on(machine, 2)
    lines = machine.run(tuner, 12)
    assert tuner.chosen == 1 and machine.threads == 1
    assert machine.set == [1, 2, 1]  # every core cost one step: 1 thread was timed first
    # One slow step dropped 2 threads: that step is no speed to quote (it read "49.9x faster").
    assert lines == [
        "tokenizer: 1 thread of 2 cores, chosen by timing (100 ms a step; 2 threads took 1.4 s on a "
        "step, over 3x longer, and were not timed further)"
    ]


def test_a_slow_count_costs_one_step_once_a_faster_one_is_known():
    machine = Machine({1: 0.1, 2: 1.0, 4: 2.0}, threads=1)
    tuner = tuner_on(machine, 4)
    # 1 thread: settle + 3 timed; 2 and 4 threads: one step each, clearly slower (give up).
    machine.run(tuner, 6)
    assert tuner.chosen == 1 and machine.set == [2, 4, 1]


def test_ties_go_to_fewer_threads():
    machine = Machine({1: 0.1, 2: 0.1}, threads=2)
    tuner = tuner_on(machine, 2)
    machine.run(tuner, 10)
    assert tuner.chosen == 1


def test_one_hiccup_does_not_decide():
    times = iter([5.0, 0.1, 3.0, 0.1, 0.2, 0.2, 0.2, 0.2])  # 1 thread (settle, hiccup), then 2
    machine = Machine({}, threads=2)
    tuner = tuner_on(machine, 2, ThreadPolicy(give_up_factor=100.0))
    for t in times:
        tuner.step_done(t)
    assert tuner.chosen == 1  # median of 0.1, 3.0, 0.1 is 0.1: faster than 2 threads' 0.2


def test_re_times_when_the_rate_drops_and_says_what_changed():
    machine = Machine({1: 0.20, 2: 0.10}, threads=2)  # idle: two threads are faster
    tuner = tuner_on(machine, 2)
    assert len(machine.run(tuner, 12)) == 1 and tuner.chosen == 2
    machine.times = {1: 0.21, 2: 0.65}  # another process starts: 2 threads 6.5x slower
    lines = machine.run(tuner, 12)
    assert tuner.chosen == 1 and machine.threads == 1
    assert lines == ["tokenizer: 2 threads -> 1 thread: 3.1x faster now"]


def test_re_times_now_and_again_and_goes_back_when_the_machine_is_idle():
    machine = Machine({1: 0.1, 2: 1.0}, threads=2)
    tuner = tuner_on(machine, 2)
    machine.run(tuner, 10)
    assert tuner.chosen == 1
    probes = tuner.probes
    machine.times = {1: 0.1, 2: 0.05}  # the other process ended: 1 thread's rate does not change
    lines = machine.run(tuner, 1100)  # 110 s of steps: past the 100 s re-timing
    assert tuner.probes > probes and tuner.chosen == 2
    assert lines == ["tokenizer: 1 thread -> 2 threads: 2.0x faster now"]


def test_quiet_re_timings_keep_the_count_and_come_less_often():
    machine = Machine({1: 0.1, 2: 0.5}, threads=2)
    tuner = tuner_on(machine, 2)
    lines = machine.run(tuner, 10)
    probes = tuner.probes
    lines += machine.run(tuner, 10_000)  # 1000 s of steps at 0.1 s
    assert len(lines) == 1 and tuner.chosen == 1  # only the first choice is logged
    # The interval doubles (100, 200, 400 s...): re-timings at about 100, 300 and 700 s, not 10.
    assert tuner.probes - probes == 3


def test_small_differences_do_not_switch():
    machine = Machine({1: 0.100, 2: 0.105}, threads=2)
    tuner = tuner_on(machine, 2)
    machine.run(tuner, 10)
    assert tuner.chosen == 1
    machine.times = {1: 0.100, 2: 0.095}  # 2 threads now 5 % faster: noise, not worth a switch
    assert machine.run(tuner, 2000) == [] and tuner.chosen == 1


def test_an_explicit_count_and_omp_num_threads_win():
    assert fixed_threads(3, {"OMP_NUM_THREADS": "1"}) == 3
    assert fixed_threads(None, {"OMP_NUM_THREADS": "2"}) == 2
    assert fixed_threads(None, {"OMP_NUM_THREADS": ""}) is None
    assert fixed_threads(None, {"OMP_NUM_THREADS": "zero"}) is None
    assert fixed_threads(None, {}) is None


def test_the_loop_tunes_only_cpu_jobs_without_a_fixed_count(monkeypatch):
    torch = pytest.importorskip("torch")
    import vqstudio.training.loop as loop

    monkeypatch.setattr(loop, "available_cores", lambda: 2)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)

    class Stage:
        name = "tokenizer"
        device = torch.device("cpu")

    assert isinstance(loop.cpu_thread_tuner(Stage(), None), ThreadTuner)
    assert loop.cpu_thread_tuner(Stage(), 1) is None
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert loop.cpu_thread_tuner(Stage(), None) is None
    monkeypatch.delenv("OMP_NUM_THREADS")
    Stage.device = torch.device("cuda")
    assert loop.cpu_thread_tuner(Stage(), None) is None
    monkeypatch.setattr(loop, "available_cores", lambda: 1)
    Stage.device = torch.device("cpu")
    assert loop.cpu_thread_tuner(Stage(), None) is None


def test_training_with_auto_threads_logs_its_choice(monkeypatch, tmp_path):
    torch = pytest.importorskip("torch")
    import vqstudio.training.loop as loop
    from vqstudio.events import LogLine
    from vqstudio.recording import Recording
    from vqstudio.training import TrainSettings, train

    monkeypatch.setattr(loop, "available_cores", lambda: 2)  # a choice to make on any machine
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    rng = np.random.default_rng(0)
    rec = Recording.from_array(rng.standard_normal((2, 64 * 30)), 64.0, ["A", "B"], "uV")
    settings = TrainSettings(
        device="cpu",
        threads=None,
        window_s=1.0,
        preset="small",
        batch_size=4,
        prior_steps=0,
        tokenizer_steps=14,
    )
    job = train(settings, str(tmp_path / "project"), threading.Event(), recordings=[rec])
    lines = []
    try:
        while True:
            event = next(job)
            if isinstance(event, LogLine):
                lines.append(event.message)
    except StopIteration as done:
        assert done.value.tokenizer_step == 14
    finally:
        torch.set_num_threads(before)
    chosen = [t for t in lines if "chosen by timing" in t]
    assert len(chosen) == 1 and chosen[0].startswith("tokenizer: ")


def test_threads_option_takes_a_count_or_auto():
    import argparse

    from vqstudio.cli.argtypes import thread_count

    assert thread_count("auto") is None and thread_count("AUTO") is None
    assert thread_count("2") == 2
    for bad in ("0", "-1", "two", ""):
        with pytest.raises(argparse.ArgumentTypeError, match="auto"):
            thread_count(bad)

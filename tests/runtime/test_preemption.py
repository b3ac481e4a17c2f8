"""The ranks' agreement on when to stop for SLURM's signal (`runtime.core.preemption.AgreedStop`),
with two real gloo processes: one collective every N steps, N from the slowest rank's
measured step time, and the same stop step on both ranks when only one got the signal."""

from __future__ import annotations

import itertools
import multiprocessing
import os
import signal
import socket
import time
from typing import Any

import pytest

from runtime.core import preemption


def _rank(rank: int, port: int, results: Any) -> None:
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    preemption.CHECK_EVERY_S = 0.2  # agree every ~0.2 s of steps: with rank 1's 20 ms steps, every 10
    agreed = preemption.AgreedStop(None)
    agreed.begin(0, "cpu")
    checked, stopped = [], None
    for step in range(1, 1000):
        time.sleep(0.002 if rank == 0 else 0.02)  # rank 0 alone would agree every 100 steps
        if rank == 1 and step == 25:
            os.kill(os.getpid(), signal.SIGUSR2)
        before = agreed.checks
        if agreed.should_stop(step):
            stopped = step
        if agreed.checks > before:
            checked.append(step)
        if stopped:
            break
    results.put((rank, stopped, checked))
    dist.destroy_process_group()


def test_two_ranks_agree_on_the_stop_step_with_a_collective_every_n_steps():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    procs = [ctx.Process(target=_rank, args=(rank, port, results)) for rank in (0, 1)]
    for p in procs:
        p.start()
    try:
        got = dict((rank, (stopped, checked)) for rank, stopped, checked in (results.get(timeout=120) for _ in procs))
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    assert got[0] == got[1], got  # the same checks and the same stop step on both ranks
    stopped, checked = got[0]
    assert checked[0] == 1 and stopped == checked[-1] and stopped >= 25
    assert len(checked) < stopped / 3  # far fewer collectives than steps
    assert all(b - a >= 5 for a, b in itertools.pairwise(checked[1:]))  # from the slow rank's 20 ms, not 2 ms


def test_a_single_process_reads_its_flag_every_step_without_a_collective():
    agreed = preemption.AgreedStop(None)
    agreed.begin(0, "cpu")
    assert not agreed.should_stop(1)
    os.kill(os.getpid(), signal.SIGUSR2)
    assert agreed.should_stop(2) and agreed.checks == 0
    signal.signal(signal.SIGUSR2, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@pytest.mark.parametrize(("seconds", "steps"), [(0.001, 1000), (0.05, 200), (3.0, 3), (30.0, 1), (0.0, 1000)])
def test_the_automatic_interval_keeps_about_ten_seconds_between_checks(seconds, steps):
    assert preemption.auto_interval(seconds) == steps

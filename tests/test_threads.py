"""The CPU thread policy: argument > OMP_NUM_THREADS > available cores shared among local processes, less workers."""

import os

import pytest
import torch

from mrcfa import threads as threads_module
from mrcfa.threads import available_cpus, configure_threads


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_choice_order_and_message(monkeypatch, restore_threads):
    monkeypatch.setattr(threads_module, "available_cpus", lambda: 8)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)

    choice = configure_threads(workers=2)
    assert (choice.threads, choice.source) == (6, "cores") and torch.get_num_threads() == 6
    assert str(choice) == (
        "torch CPU threads: 6 (8 cores available, 2 kept for DataLoader workers; --threads or OMP_NUM_THREADS to change)"
    )
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")  # two processes on this machine: 4 cores each, less 1 worker
    assert configure_threads(workers=1).threads == 3
    assert configure_threads(workers=7).threads == 1  # never below one

    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    choice = configure_threads(workers=1)
    assert (choice.threads, choice.source) == (2, "OMP_NUM_THREADS") and "OMP_NUM_THREADS=2" in str(choice)
    choice = configure_threads(3, workers=1)
    assert (choice.threads, choice.source) == (3, "argument") and torch.get_num_threads() == 3


def test_bad_values(monkeypatch, restore_threads):
    with pytest.raises(ValueError, match="threads must be >= 1"):
        configure_threads(0)
    with pytest.raises(ValueError, match="workers must be >= 0"):
        configure_threads(workers=-1)
    monkeypatch.setenv("OMP_NUM_THREADS", "four")
    with pytest.raises(ValueError, match="OMP_NUM_THREADS must be a positive integer, got 'four'"):
        configure_threads()


def test_available_cpus_is_this_process_affinity():
    expected = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert available_cpus() == expected >= 1

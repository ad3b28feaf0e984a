"""The batch forms: many answers in one call, equal to one call per item.

``are_processes_alive(pids)`` is ``[is_process_alive(pid) for pid in pids]``
in one call into Go, which splits a large batch across goroutines. Every test
runs on both backends (the ``backend`` fixture); the public API is checked
against the reference.
"""

import os
import subprocess
import sys
import time

import pytest

from tests_py.support import outcome

linux_only = pytest.mark.skipif(not sys.platform.startswith('linux'),
                                reason='reads process states from /proc')


def state_of(pid):
    try:
        with open(f'/proc/{pid}/stat', 'rb') as f:
            stat = f.read()
    except FileNotFoundError:
        return None
    return stat[stat.rfind(b')') + 2:stat.rfind(b')') + 3]


def free_pid():
    """A pid no process has (right now)."""
    for pid in range(4_000_000, 3_000_000, -7):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            pass
    raise AssertionError('no free pid found')


@pytest.fixture(scope='module')
def children():
    """A running child and an exited, unreaped (zombie) child."""
    live = subprocess.Popen(['sleep', '60'])  # pylint: disable=consider-using-with
    exited = subprocess.Popen(['true'])  # pylint: disable=consider-using-with
    deadline = time.monotonic() + 10
    while sys.platform.startswith('linux') and state_of(exited.pid) != b'Z':
        assert time.monotonic() < deadline, 'the child never became a zombie'
        time.sleep(0.01)
    yield live.pid, exited.pid
    live.kill()
    live.wait()
    exited.wait()


def test_empty(backend):
    assert backend.are_processes_alive([]) == []
    assert backend.are_processes_alive(()) == []


def test_impossible_pids(backend):
    pids = [0, -1, -os.getpid(), 2**31, 2**31 - 1, 2**63 - 1, -2**63]
    assert backend.are_processes_alive(pids) == [False] * len(pids)


@linux_only
def test_mixed_batch_in_order(backend, children):
    live, zombie = children
    dead = free_pid()
    pids = [os.getpid(), 1, live, zombie, dead, 0, live, dead, os.getpid()]
    want = [True, True, True, False, False, False, True, False, True]
    assert backend.are_processes_alive(pids) == want
    assert [backend.is_process_alive(pid) for pid in pids] == want


@linux_only
def test_large_batch_split_across_workers(backend, children):
    # Large enough for the Go side to split it across goroutines; every
    # position must still get its own answer.
    live, zombie = children
    dead = free_pid()
    kinds = [os.getpid(), live, zombie, dead, 1, 0, -5]
    pids = [kinds[(i * 7919) % len(kinds)] for i in range(5_000)]
    got = backend.are_processes_alive(pids)
    assert len(got) == len(pids)
    assert all(type(alive) is bool for alive in got)  # pylint: disable=unidiomatic-typecheck
    answers = {pid: backend.is_process_alive(pid) for pid in kinds}
    assert got == [answers[pid] for pid in pids]


def test_any_iterable(backend):
    me = os.getpid()
    assert backend.are_processes_alive(iter([me, 0])) == [True, False]
    assert backend.are_processes_alive(p for p in (me, -1)) == [True, False]
    assert backend.are_processes_alive((me,)) == [True]


@pytest.mark.parametrize('pids', [[1.0], ['1'], [None], [True], [os.getpid(),
                                                                  2**64]])
def test_unusual_elements(backend, pids, api):
    # The native side declines what it cannot carry exactly; the public API
    # then answers as the reference does, result or exception.
    got = outcome(backend.are_processes_alive, pids)
    want = outcome(api._python_are_processes_alive, pids)  # pylint: disable=protected-access
    if backend.declines and got[0] == 'raises' and issubclass(
            got[1], NotImplementedError):
        assert outcome(api.are_processes_alive, pids) == want
        return
    assert got == want


@linux_only
def test_public_api_equals_reference(api, children, monkeypatch):
    live, zombie = children
    pids = [os.getpid(), live, zombie, free_pid(), 0, 2**70]
    want = api._python_are_processes_alive(pids)  # pylint: disable=protected-access
    assert want == [True, True, False, False, False, False]
    assert api.are_processes_alive(pids) == want
    assert api.are_processes_alive(iter(pids)) == want
    monkeypatch.setenv('SKYPILOT_USE_RUST', '0')
    assert api.are_processes_alive(pids) == want

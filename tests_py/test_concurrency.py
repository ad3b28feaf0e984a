"""Concurrency: many threads calling at once get what one thread gets.

16 threads each make 10,000 calls (times SKY_RS_STRESS_SCALE) drawn from a
mix of every function, on good input and on input that raises, and compare
each outcome with that of a serial run. A variant flips SKYPILOT_USE_RUST on
and off all the while: the public API must switch backends between calls
without a wrong answer or a deadlock. The threads run in a sandbox process
(tests_py.reliability), whose watchdog turns a deadlock into a failure.
"""

import os
import random
import shutil
import sys
import tempfile
import threading
import time
from typing import Any, Dict, List, Tuple

import pytest

from tests_py import reliability
from tests_py.reliability import report
from tests_py.reliability import Sandbox
from tests_py.reliability import scaled
from tests_py.reliability import SUBJECTS

THREADS = 16
CALLS_PER_THREAD = 10_000


def mixed_calls(directory: str) -> List[Tuple[str, Tuple[Any, ...]]]:
    """Calls of every function whose outcome does not change between runs."""
    log = os.path.join(directory, 'log.txt')
    bad = os.path.join(directory, 'bad.txt')
    missing = os.path.join(directory, 'missing')
    return [
        ('read_last_n_lines', (log, 0)),
        ('read_last_n_lines', (log, 1)),
        ('read_last_n_lines', (log, 3, 1)),
        ('read_last_n_lines', (log, 1000)),
        ('read_last_n_lines', (bad, 5)),
        ('read_last_n_lines', (bad, 5, 8192, 'utf-8', 'strict')),
        ('read_last_n_lines', (missing, 1)),
        ('read_last_n_lines', (directory, 1)),
        ('read_last_n_lines', (log, -1)),
        ('hash_file', (log, 'md5')),
        ('hash_file', (log, 'SHA256')),
        ('hash_file', (bad, 'sha512')),
        ('hash_file', (log, 'sha3_256')),
        ('hash_file', (missing, 'sha1')),
        ('hash_file', (directory, 'nope')),
        ('hash_file', (log, 'nope')),
        ('find_free_port', (0,)),
        ('find_free_port', (65535,)),
        ('find_free_port', (-1,)),
        ('base36_encode', ('deadbeef',)),
        ('base36_encode', ('0123456789abcdef' * 2,)),
        ('base36_encode', ('f' * 100,)),
        ('base36_encode', ('-ff',)),
        ('base36_encode', ('xyz',)),
        ('base36_encode', ('\u0661',)),
        ('format_float', (2.25,)),
        ('format_float', (1e300,)),
        ('format_float', (0.1, 30)),
        ('format_float', (0.5, -1)),
        ('format_float', (True,)),
        ('truncate_long_string', ('a  b  c  d  e  f', 5)),
        ('truncate_long_string', ('abcdefghijklmnopqrstuvwxyz', 10, True)),
        ('truncate_long_string', ('\u00e9\U0001f600 ' * 40, 21)),
        ('truncate_long_string', ('abc\x00 def', 3)),
        ('get_cpu_count', ()),
        ('get_mem_size_gb', ()),
        ('get_parallel_threads', ()),
        ('get_parallel_threads', ('kubernetes',)),
        ('get_parallel_threads', (5,)),
        ('is_process_alive', (os.getpid(),)),
        ('is_process_alive', (2**31 - 1,)),
        ('is_process_alive', (0,)),
        ('get_max_workers_for_file_mounts', ({
            '/a': directory,
            '/b': missing
        },)),
        ('get_max_workers_for_file_mounts', ({
            '/a': log
        }, 'kubernetes')),
        ('estimate_fd_for_directory', (directory,)),
        ('estimate_fd_for_directory', (missing,)),
        ('estimate_fd_for_directory', (log,)),
    ]


def hammer(directory: str, subject: str, threads: int, calls: int,
           flip_gate: bool) -> Dict[str, Any]:
    """Runs in the sandbox: ``threads`` threads make ``calls`` calls each and
    compare every outcome with the serial one."""
    specs = mixed_calls(directory)
    functions = {
        name: reliability.subject_function(subject, name)
        for name, _ in specs
    }
    expected = [reliability.outcome(functions[n], *a) for n, a in specs]
    mismatches: List[str] = []
    done = [0] * threads
    start = threading.Barrier(threads + 1)
    stop = threading.Event()
    flips = [0] * (threads + 1)  # the flipper's, then each worker's
    saved_gate = os.environ.get('SKYPILOT_USE_RUST')

    def worker(k):
        rng = random.Random(k)
        start.wait()
        for _ in range(calls):
            i = rng.randrange(len(specs))
            name, args = specs[i]
            if flip_gate:  # the other threads' calls see it change too
                os.environ['SKYPILOT_USE_RUST'] = '01'[rng.getrandbits(1)]
                flips[k + 1] += 1
            got = reliability.outcome(functions[name], *args)
            if got != expected[i]:
                mismatches.append(f'{name}{args!r:.200}: got {got!r:.300}, '
                                  f'serially {expected[i]!r:.300}')
            done[k] += 1

    def flipper():
        while not stop.is_set():
            os.environ['SKYPILOT_USE_RUST'] = '0' if flips[0] % 2 else '1'
            flips[0] += 1
            time.sleep(0)

    workers = [
        threading.Thread(target=worker, args=(k,), daemon=True)
        for k in range(threads)
    ]
    gate = threading.Thread(target=flipper, daemon=True)
    # Hand the GIL over often, so that the flips land between the calls of
    # every thread rather than in rare bursts.
    switch_interval = sys.getswitchinterval()
    if flip_gate:
        sys.setswitchinterval(1e-5)
    for thread in workers:
        thread.start()
    began = time.monotonic()
    if flip_gate:
        gate.start()
    start.wait()
    for thread in workers:
        thread.join()
    seconds = time.monotonic() - began
    stop.set()
    if flip_gate:
        gate.join()
    sys.setswitchinterval(switch_interval)
    if saved_gate is None:
        os.environ.pop('SKYPILOT_USE_RUST', None)
    else:
        os.environ['SKYPILOT_USE_RUST'] = saved_gate
    return {
        'mismatches': mismatches[:10],
        'mismatch_count': len(mismatches),
        'calls': sum(done),
        'gate_flips': sum(flips),
        'seconds': round(seconds, 2),
    }


def write_mixed_files(root: str) -> None:
    """The files mixed_calls(root) reads."""
    with open(os.path.join(root, 'log.txt'), 'wb') as f:
        f.write(b''.join(b'line %d\r\n' % i for i in range(2000)))
    with open(os.path.join(root, 'bad.txt'), 'wb') as f:
        f.write(b'ok\n\xff\xfe\n\xed\xa0\x80 tail\n\xe2\x82')
    os.mkdir(os.path.join(root, 'sub'))


@pytest.fixture
def workdir():
    root = tempfile.mkdtemp(prefix='sky-rs-threads-')
    write_mixed_files(root)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope='module')
def sandbox():
    box = Sandbox(timeout=600)
    yield box
    box.close()


@pytest.mark.parametrize('subject,flip_gate', [(s, False) for s in SUBJECTS] +
                         [('api', True)],
                         ids=list(SUBJECTS) + ['api-gate-flipping'])
def test_threads_agree_with_a_serial_run(sandbox, workdir, subject, flip_gate,
                                          request):
    if subject == 'go':
        from tests_py.conftest import require_native  # pylint: disable=import-outside-toplevel
        require_native(request.config)
    calls = scaled(CALLS_PER_THREAD, minimum=100)
    result = sandbox.run(hammer, workdir, subject, THREADS, calls, flip_gate)
    report('threads',
           subject=subject,
           flip_gate=flip_gate,
           threads=THREADS,
           calls_per_thread=calls,
           **result)
    assert result['calls'] == THREADS * calls
    assert result['mismatch_count'] == 0, result['mismatches']
    if flip_gate:
        assert result['gate_flips'] > 1


# Long calls from many threads at once, beside a busy Python thread (issue
# #11): each thread's results must be upstream's. Times are the benchmark's
# business (`make bench`, "Threads" and "Beside a busy Python thread").
LONG_CALL_THREADS = 16


def long_calls(directory: str) -> List[Tuple[str, Tuple[Any, ...]]]:
    """Calls that take milliseconds to seconds: large files hashed, long
    lines and many lines read, batches."""
    big = os.path.join(directory, 'big.bin')
    long_line = os.path.join(directory, 'long_line.log')
    log = os.path.join(directory, 'log.txt')
    small = [os.path.join(directory, f'small{i}') for i in range(200)]
    return [
        ('hash_file', (big, 'sha256')),
        ('hash_file', (big, 'md5')),
        ('read_last_n_lines', (long_line, 1)),
        ('read_last_n_lines', (long_line, 3, 8192, 'utf-8', 'strict')),
        ('read_last_n_lines', (log, 1000)),
        ('hash_files', (small + [big], 'sha1')),
        ('are_processes_alive', ([os.getpid(), 1, 2**31 - 2] * 3000,)),
    ]


def write_long_call_files(root: str) -> None:
    """The files long_calls(root) reads."""
    write_mixed_files(root)
    with open(os.path.join(root, 'big.bin'), 'wb') as f:
        f.write(bytes(range(256)) * (40 * 1024 + 3))  # 10 MiB and a bit
    with open(os.path.join(root, 'long_line.log'), 'wb') as f:
        f.write(b'start\n' + b'\xe2\x82\xac' * (3 << 20) + b'\r\nend\xff\n')
    for i in range(200):
        with open(os.path.join(root, f'small{i}'), 'wb') as f:
            f.write(b'%d' % i * (i + 1))


def run_long_calls(directory: str, subject: str, threads: int,
                   rounds: int) -> Dict[str, Any]:
    """Runs in the sandbox: ``threads`` threads make every long call
    ``rounds`` times, in their own orders, while one more thread keeps the
    interpreter busy; every outcome is compared with upstream's (for the
    batch forms, which SkyPilot lacks, the reference's)."""
    specs = long_calls(directory)
    # SkyPilot has no batch forms: their oracle is the reference's loop.
    expected = [
        reliability.outcome(
            reliability.subject_function(
                'python' if n in ('hash_files', 'are_processes_alive') else
                'upstream', n), *a) for n, a in specs
    ]
    functions = [reliability.subject_function(subject, n) for n, _ in specs]
    mismatches: List[str] = []
    done = [0] * threads
    start = threading.Barrier(threads + 1)
    stop = threading.Event()

    def busy():
        spins = 0
        while not stop.is_set():
            spins += 1

    def worker(k):
        order = list(range(len(specs))) * rounds
        random.Random(k).shuffle(order)
        start.wait()
        for i in order:
            got = reliability.outcome(functions[i], *specs[i][1])
            if got != expected[i]:
                mismatches.append(f'{specs[i][0]}: got {got!r:.300}, '
                                  f'upstream {expected[i]!r:.300}')
            done[k] += 1

    spinner = threading.Thread(target=busy, daemon=True)
    spinner.start()
    workers = [
        threading.Thread(target=worker, args=(k,), daemon=True)
        for k in range(threads)
    ]
    for thread in workers:
        thread.start()
    start.wait()
    for thread in workers:
        thread.join()
    stop.set()
    spinner.join()
    return {
        'mismatches': mismatches[:10],
        'mismatch_count': len(mismatches),
        'calls': sum(done),
    }


@pytest.mark.slow
@pytest.mark.parametrize('subject', SUBJECTS)
def test_long_calls_in_threads_give_upstreams_results(sandbox, subject,
                                                      request):
    pytest.importorskip('sky.utils.common_utils',
                        reason='SkyPilot (the oracle) is not installed')
    if subject == 'go':
        from tests_py.conftest import require_native  # pylint: disable=import-outside-toplevel
        require_native(request.config)
    root = tempfile.mkdtemp(prefix='sky-rs-long-calls-')
    try:
        write_long_call_files(root)
        result = sandbox.run(run_long_calls, root, subject,
                             LONG_CALL_THREADS, 1)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    report('long_calls_in_threads', subject=subject,
           threads=LONG_CALL_THREADS, **result)
    assert result['calls'] == LONG_CALL_THREADS * len(long_calls(root))
    assert result['mismatch_count'] == 0, result['mismatches']


def test_hash_gate_lets_in_its_size_at_once_and_the_rest_in_turn():
    import sky_rs  # pylint: disable=import-outside-toplevel
    gate = sky_rs._hashing._Gate(2, patience=30)  # pylint: disable=protected-access
    inside, most, entered = 0, 0, []
    count = threading.Lock()

    def work():
        nonlocal inside, most
        entered.append(gate.enter())
        with count:
            inside += 1
            most = max(most, inside)
        time.sleep(0.01)
        with count:
            inside -= 1
        gate.leave()

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most == 2 and entered == [True] * 8


def test_hash_gate_lets_a_caller_in_once_its_patience_runs_out():
    import sky_rs  # pylint: disable=import-outside-toplevel
    gate = sky_rs._hashing._Gate(1, patience=0.05)  # pylint: disable=protected-access
    assert gate.enter() is True
    started = time.monotonic()
    assert gate.enter() is False  # in without a ticket: nothing to give back
    assert time.monotonic() - started >= 0.05
    gate.leave()
    assert gate.enter() is True


def test_hash_file_goes_on_while_other_calls_hold_every_ticket(
        tmp_path, monkeypatch, request):
    # The calls holding the tickets may be stuck in a read that hangs (a
    # stalled network file system): the others wait, then go in anyway.
    from tests_py.conftest import require_native  # pylint: disable=import-outside-toplevel
    sky_rs = require_native(request.config)
    import hashlib  # pylint: disable=import-outside-toplevel
    path = tmp_path / 'data'
    path.write_bytes(os.urandom(3 << 20))
    gate = sky_rs._hashing._Gate(2, patience=0.05)  # pylint: disable=protected-access
    assert gate.enter() and gate.enter()
    monkeypatch.setattr(sky_rs._hashing, '_hash_gate', gate)
    assert sky_rs.hash_file(str(path), 'sha256').hexdigest() == hashlib.sha256(
        path.read_bytes()).hexdigest()

"""Fork safety: the Go runtime does not survive fork(), callers must not notice.

A child forked after the parent started Go must answer every call in Python
and finish; a spawned child is a fresh process and may use Go again. Every
wait has a timeout, so a hang fails the test instead of hanging the suite.
Each kind of child (fork pool, spawn pool, forkserver pool, bare fork) also
answers 1,000 mixed calls, each compared with the parent's answer.
"""

import multiprocessing
import os
import pickle
import signal
import sys
import time

import pytest

from sky_fallback import rust_fallback
from tests_py.reliability import outcome
from tests_py.test_concurrency import mixed_calls
from tests_py.test_concurrency import write_mixed_files

TIMEOUT = 60

pytestmark = pytest.mark.skipif(not hasattr(os, 'fork'), reason='needs fork')


def exercise(directory):
    """Call every public function on fixed input; return what it gave.

    Runs in the parent and in children, so it must be a module-level function
    (picklable for multiprocessing).
    """
    log = os.path.join(directory, 'log.txt')
    info = rust_fallback.get_backend_info()
    return {
        'read_last_n_lines': rust_fallback.read_last_n_lines(log, 2),
        'hash_file': rust_fallback.hash_file(log, 'sha256').hexdigest(),
        'find_free_port': rust_fallback.find_free_port(0),
        'base36_encode': rust_fallback.base36_encode('deadbeef'),
        'format_float': rust_fallback.format_float(2.25),
        'truncate_long_string': rust_fallback.truncate_long_string(
            'a  b  c  d  e  f', 5),
        'get_cpu_count': rust_fallback.get_cpu_count(),
        'get_mem_size_gb': rust_fallback.get_mem_size_gb(),
        'get_parallel_threads':
            rust_fallback.get_parallel_threads('kubernetes'),
        'is_process_alive': rust_fallback.is_process_alive(os.getpid()),
        'get_max_workers_for_file_mounts':
            rust_fallback.get_max_workers_for_file_mounts({'/d': directory}),
        'estimate_fd_for_directory':
            rust_fallback.estimate_fd_for_directory(directory),
        'backend': info['backend'],
        'reason': info['reason'],
    }


def answers(results):
    return {k: v for k, v in results.items() if k not in ('backend', 'reason')}


def call_sky_rs_directly(_):
    """In a child: what calling sky_rs itself does (after the parent's Go)."""
    import sky_rs  # pylint: disable=import-outside-toplevel
    try:
        return ('returns', sky_rs.base36_encode('ff'))
    except Exception as error:  # pylint: disable=broad-except
        return ('raises', type(error).__name__,
                isinstance(error, NotImplementedError))


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    (tmp_path / 'log.txt').write_bytes(b'one\ntwo\r\nthree\n')
    (tmp_path / 'sub').mkdir()
    monkeypatch.delenv('SKYPILOT_POD_CPU_CORE_LIMIT', raising=False)
    monkeypatch.delenv('SKYPILOT_POD_MEMORY_GB_LIMIT', raising=False)
    monkeypatch.delenv('SKYPILOT_POD_MEMORY_BYTES_LIMIT', raising=False)
    return str(tmp_path)


def run_pool(method, function, arguments):
    context = multiprocessing.get_context(method)
    with context.Pool(2) as pool:
        pending = pool.map_async(function, arguments)
        try:
            return pending.get(timeout=TIMEOUT)
        except multiprocessing.TimeoutError:
            pytest.fail(f'{method} pool did not finish in {TIMEOUT}s')
    return None  # unreachable; the with block's exit terminates the pool


def run_in_bare_fork(function, argument, result_path):
    """Run function(argument) in an os.fork() child; return its result."""
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        status = 1
        try:
            with open(result_path, 'wb') as f:
                pickle.dump(function(argument), f)
            status = 0
        finally:
            os._exit(status)  # pylint: disable=protected-access
    deadline = time.monotonic() + TIMEOUT
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail(f'forked child did not finish in {TIMEOUT}s')
        time.sleep(0.02)
    assert os.waitstatus_to_exitcode(status) == 0
    with open(result_path, 'rb') as f:
        return pickle.load(f)


def test_fork_pool_finishes_with_the_same_answers(workdir):
    parent = exercise(workdir)
    children = run_pool('fork', exercise, [workdir] * 4)
    for child in children:
        assert answers(child) == answers(parent)


def test_fork_pool_after_the_parent_ran_go(native, workdir, monkeypatch):
    monkeypatch.setenv('SKYPILOT_USE_RUST', '1')
    parent = exercise(workdir)
    assert native.is_loaded()
    assert parent['backend'] == 'go'
    children = run_pool('fork', exercise, [workdir] * 4)
    for child in children:
        assert answers(child) == answers(parent)
        assert child['backend'] == 'python'
        assert 'fork' in child['reason']


def test_sky_rs_itself_refuses_in_a_forked_child(native):
    native.load()
    results = run_pool('fork', call_sky_rs_directly, [None])
    assert results == [('raises', 'ForkedChildError', True)]


def test_bare_fork_child(workdir, tmp_path):
    parent = exercise(workdir)
    child = run_in_bare_fork(exercise, workdir,
                             str(tmp_path / 'sub' / 'result.pkl'))
    assert answers(child) == answers(parent)
    if 'sky_rs' in sys.modules and sys.modules['sky_rs'].is_loaded():
        assert child['backend'] == 'python'


def test_spawn_pool_may_use_go_again(workdir):
    parent = exercise(workdir)
    children = run_pool('spawn', exercise, [workdir] * 2)
    for child in children:
        assert answers(child) == answers(parent)
        # A spawned child is a fresh interpreter: it decides like the parent
        # would before any fork.
        assert child['backend'] == parent['backend']


# --- 1,000 calls in each kind of child --------------------------------------
#
# The mixed calls of test_concurrency (every function, on good input and on
# input that raises), 1,000 of them in each kind of child, each compared with
# the parent's answer to the same call.

CHILD_CALLS = 1000
CALLS_PER_TASK = 100


def answer_calls(task):
    """In a child: calls start .. start+count of the mix, through the public
    API; their outcomes, the backend that answered, the child's pid."""
    directory, start, count = task
    specs = mixed_calls(directory)
    out = []
    for i in range(start, start + count):
        name, args = specs[i % len(specs)]
        out.append(outcome(getattr(rust_fallback, name), *args))
    return out, rust_fallback.get_backend_info()['backend'], os.getpid()


@pytest.fixture
def mixdir(tmp_path, monkeypatch):
    write_mixed_files(str(tmp_path))
    monkeypatch.delenv('SKYPILOT_POD_CPU_CORE_LIMIT', raising=False)
    monkeypatch.delenv('SKYPILOT_POD_MEMORY_GB_LIMIT', raising=False)
    monkeypatch.delenv('SKYPILOT_POD_MEMORY_BYTES_LIMIT', raising=False)
    return str(tmp_path)


def tasks(directory):
    return [(directory, start, CALLS_PER_TASK)
            for start in range(0, CHILD_CALLS, CALLS_PER_TASK)]


def check_children(directory, answers, want_backend):
    parent, _, parent_pid = answer_calls((directory, 0, CHILD_CALLS))
    got = [o for out, _, _ in answers for o in out]
    assert len(got) == CHILD_CALLS
    mismatches = [(i, g, w) for i, (g, w) in enumerate(zip(got, parent))
                  if g != w]
    assert not mismatches, mismatches[:5]
    for _, backend, pid in answers:
        assert pid != parent_pid
        assert backend == want_backend


def native_backend_expected():
    """The backend a fresh process would use: 'go' when sky_rs loads and the
    gate is open."""
    info = rust_fallback.get_backend_info()
    return 'go' if info['native_available'] and info['enabled'] else 'python'


@pytest.mark.parametrize('method', ['fork', 'spawn', 'forkserver'])
def test_pool_children_answer_1000_calls(method, mixdir, request):
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f'no {method} start method here')
    # The parent uses Go first (when it can), so forked children inherit a
    # started runtime and must answer in Python; spawned and forkserver
    # children are fresh processes and use Go again.
    answer_calls((mixdir, 0, 50))
    fresh = native_backend_expected()
    want = 'python' if method == 'fork' else fresh
    if method == 'fork' and fresh == 'go':
        assert sys.modules['sky_rs'].is_loaded()
    answers = run_pool(method, answer_calls, tasks(mixdir))
    check_children(mixdir, answers, want)


def test_bare_fork_child_answers_1000_calls(mixdir, tmp_path):
    answer_calls((mixdir, 0, 50))
    loaded = 'sky_rs' in sys.modules and sys.modules['sky_rs'].is_loaded()
    result = run_in_bare_fork(answer_calls, (mixdir, 0, CHILD_CALLS),
                              str(tmp_path / 'result.pkl'))
    check_children(mixdir, [result],
                   'python' if loaded else native_backend_expected())

"""What the child processes of test_host.py run: every public function, the
process state the tests compare, and the ways to starve a process.

A child prints one JSON object (``report``) as the last line of its output;
the test asserts its exit status, then the values.
"""

import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
from typing import Any, Callable, Dict, List, Tuple

from sky_fallback import _reference
from sky_fallback import rust_fallback
from tests_py.reliability import outcome

PIPE_STATUS = "yes | head -c2 >/dev/null; echo ${PIPESTATUS[0]}"


def report(**values: Any) -> None:
    print(json.dumps(values, default=repr))
    sys.stdout.flush()


def make_files() -> str:
    """A directory with a small file, a 2 MiB file (hashed with a read-ahead
    goroutine) and a subdirectory, made before any limit is set."""
    directory = tempfile.mkdtemp(prefix='sky_rs-host-')
    with open(os.path.join(directory, 'log'), 'w', encoding='utf-8') as f:
        f.write(''.join(f'line {i}\n' for i in range(100)))
    with open(os.path.join(directory, 'big'), 'wb') as f:
        f.write(os.urandom(2 << 20))
    os.mkdir(os.path.join(directory, 'sub'))
    return directory


def calls(directory: str) -> List[Tuple[str, tuple, dict]]:
    """One call of every public function, with arguments worth sending to
    Go, and results that do not change between two calls."""
    log = os.path.join(directory, 'log')
    pid = os.getpid()
    return [
        ('read_last_n_lines', (log, 3), {}),
        ('hash_file', (log, 'md5'), {}),
        ('hash_file', (os.path.join(directory, 'big'), 'sha256'), {}),
        ('hash_files', ([log] * 40, 'sha1'), {}),
        ('find_free_port', (0,), {}),
        ('base36_encode', ('f' * 3000,), {}),
        ('format_float', (2.25,), {}),
        ('truncate_long_string', ('a b c d e f', 5), {}),
        ('get_cpu_count', (), {}),
        ('get_mem_size_gb', (), {}),
        ('get_parallel_threads', ('kubernetes',), {}),
        ('is_process_alive', (pid,), {}),
        ('are_processes_alive', ([pid] * 200 + [0, -1, 2**31 - 1],), {}),
        ('get_max_workers_for_file_mounts', ({
            '/remote': directory
        }, 'aws'), {}),
        ('get_max_workers_for_file_mounts', (), {
            'num_sources': 2,
            'estimated_files_per_source': 7
        }),
        ('estimate_fd_for_directory', (directory,), {}),
    ]


def outcomes(get: Callable[[str], Callable[..., Any]],
             directory: str) -> List[Any]:
    return [
        outcome(get(name), *args, **kwargs)
        for name, args, kwargs in calls(directory)
    ]


def api_outcomes(directory: str) -> List[Any]:
    """Every call through the public API (rust_fallback)."""
    return outcomes(lambda name: getattr(rust_fallback, name), directory)


def reference_outcomes(directory: str) -> List[Any]:
    """Every call answered by the pure-Python reference."""
    return outcomes(lambda name: getattr(_reference, f'_python_{name}'),
                    directory)


def mismatches(directory: str) -> List[Any]:
    """Calls whose public-API outcome is not the reference's."""
    got, want = api_outcomes(directory), reference_outcomes(directory)
    return [(c[0], g, w)
            for c, g, w in zip(calls(directory), got, want)
            if g != w]


def backend() -> Dict[str, Any]:
    info = rust_fallback.get_backend_info()
    return {'backend': info['backend'], 'reason': info['reason']}


def threads() -> int:
    return len(os.listdir('/proc/self/task'))


def open_descriptors() -> int:
    return len(os.listdir('/proc/self/fd')) - 1  # listdir's own


def leave_free_descriptors(free: int) -> List[int]:
    """Lower the soft RLIMIT_NOFILE and open /dev/null until exactly ``free``
    descriptors are left; returns those opened (see release)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE,
                       (open_descriptors() + 40 + free, hard))
    held = []
    try:
        while True:
            held.append(os.open(os.devnull, os.O_RDONLY))
    except OSError:
        pass
    for _ in range(free):
        os.close(held.pop())
    return held


def release(held: List[int], limits: Tuple[int, int]) -> None:
    for fd in held:
        os.close(fd)
    resource.setrlimit(resource.RLIMIT_NOFILE, limits)


def signal_masks() -> Dict[str, int]:
    """SigIgn, SigCgt and SigBlk of /proc/self/status: what the kernel (and
    so a child) sees, whatever Python's own table says."""
    masks = {}
    with open('/proc/self/status', encoding='utf-8') as f:
        for line in f:
            key, _, value = line.partition(':')
            if key in ('SigIgn', 'SigCgt', 'SigBlk'):
                masks[key] = int(value, 16)
    return masks


def python_handlers() -> Dict[int, str]:
    return {
        int(sig): repr(signal.getsignal(sig))
        for sig in signal.valid_signals()
        if sig < signal.SIGRTMIN
    }


def child_pipe_status() -> Dict[str, str]:
    """What a shell child reports for a writer killed by a closed pipe, when
    started each way that passes the parent's ignored signals on."""
    command = ['/bin/bash', '-c', PIPE_STATUS]
    out_r, out_w = os.pipe()
    pid = os.posix_spawn(command[0],
                         command, {**os.environ},
                         file_actions=[(os.POSIX_SPAWN_DUP2, out_w, 1)])
    os.close(out_w)
    os.waitpid(pid, 0)
    with os.fdopen(out_r) as f:
        spawned = f.read().strip()
    status = {'posix_spawn': spawned}
    status['subprocess'] = subprocess.run(command,
                                          restore_signals=False,
                                          capture_output=True,
                                          text=True,
                                          check=True).stdout.strip()
    with tempfile.NamedTemporaryFile('r') as f:
        os.system(f"/bin/bash -c '{PIPE_STATUS}' > {f.name}")
        status['os.system'] = f.read().strip()
    return status


def rss_kib() -> int:
    with open('/proc/self/status', encoding='utf-8') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0

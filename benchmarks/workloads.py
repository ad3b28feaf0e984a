"""The main table's workloads: every public function, four doors each.

- ``upstream``: SkyPilot's own function (the baseline). For the functions
  SkyPilot does not have, the code SkyPilot runs for the same job: a psutil
  check per pid, ``len(os.listdir(path)) * 5``, a loop of ``hash_file``.
- ``python``: the pure-Python reference (``sky_fallback._reference``).
- ``api``: the public function (``sky_fallback.rust_fallback``), routed as
  shipped: what a caller gets.
- ``sky_rs``: the Go extension's function, called directly.

Also the two figures measured beside the table: the public API's gate and
dispatch per call, and ``read_last_n_lines`` flat in the file's size.
"""

import os
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import psutil

from benchmarks import timing
from benchmarks.fixtures import Fixtures
from benchmarks.fixtures import human_size
from benchmarks.fixtures import MiB
from sky_fallback import _bench
from sky_fallback import _reference
from sky_fallback import rust_fallback

# --- baselines for the functions SkyPilot does not have -----------------


def psutil_is_process_alive(pid: int) -> bool:
    """How SkyPilot checks a pid (cloud_vm_ray_backend, subprocess_utils)."""
    try:
        proc = psutil.Process(pid)
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def psutil_are_processes_alive(pids: Sequence[int]) -> List[bool]:
    return [psutil_is_process_alive(pid) for pid in pids]


def _listdir_estimate(path: str) -> int:
    """SkyPilot's own estimate (subprocess_utils): five per entry."""
    return len(os.listdir(path)) * 5


# --- the doors ----------------------------------------------------------


def upstream_modules() -> Tuple[Any, Any]:
    """SkyPilot's common_utils and subprocess_utils (ImportError without
    SkyPilot)."""
    # pylint: disable=import-outside-toplevel
    from sky.utils import common_utils
    from sky.utils import subprocess_utils
    return common_utils, subprocess_utils


def upstream_function(name: str, common: Any) -> Optional[Callable[..., Any]]:
    """Upstream's ``name`` (or the code SkyPilot runs for a batch of pids),
    None without SkyPilot."""
    if name == 'are_processes_alive':
        return psutil_are_processes_alive
    return getattr(common, name, None) if common is not None else None


def native() -> Any:
    """The Go extension, loaded; None where it cannot be."""
    try:
        import sky_rs  # pylint: disable=import-outside-toplevel
        sky_rs.load()
        return sky_rs
    except Exception:  # pylint: disable=broad-except
        return None


def _calls(name: str, upstream: Optional[Callable[..., Any]],
           extension: Any) -> Dict[str, Callable[..., Any]]:
    calls: Dict[str, Callable[..., Any]] = {}
    if upstream is not None:
        calls['upstream'] = upstream
    reference = getattr(_reference, f'_python_{name}', None)
    if reference is not None:
        calls['python'] = reference
    public = getattr(rust_fallback, name, None)
    if public is not None:
        calls['api'] = public
    if extension is not None and hasattr(extension, name):
        calls['sky_rs'] = getattr(extension, name)
    return calls


def build_cases(fx: Fixtures, skypilot: Tuple[Any, Any],
                extension: Any) -> List[timing.Case]:
    """The main table's cases and the picture's. ``skypilot`` is
    :func:`upstream_modules` (or two Nones), ``extension`` :func:`native`."""
    common, subprocess_utils = skypilot
    cases: List[timing.Case] = []

    def add(name: str, workload: str, *args: Any, upstream: Any = None,
            **options: Any) -> None:
        if upstream is None and common is not None:
            upstream = getattr(common, name, None) or getattr(
                subprocess_utils, name, None)
        kwargs = options.pop('kwargs', {})
        cases.append(
            timing.Case(name,
                        workload,
                        args,
                        kwargs,
                        calls=_calls(name, upstream, extension),
                        **options))

    big_label = human_size(fx.big)
    # The table's cases; those of one size series also make the picture's
    # points, with the series-only sizes after them.
    for n in (10, 1000):
        for size in (MiB, fx.big):
            add('read_last_n_lines', f'n={n}, {human_size(size)} log',
                fx.logs[size], n, size=size,
                series=f'read_last_n_lines n={n}')
    for path, words, n in fx.shapes:
        add('read_last_n_lines', words, path, n, rounds=3 if fx.quick else 5,
            shape=True)
    for alg in ('md5', 'sha1', 'sha224', 'sha256', 'sha384', 'sha512'):
        add('hash_file', f'{alg}, {big_label}', fx.logs[fx.big], alg,
            rounds=7, size=fx.big if alg == 'sha256' else None,
            series='hash_file sha256' if alg == 'sha256' else None)
    add('hash_file', 'sha256, 4 KiB', fx.logs[4 << 10], 'sha256',
        size=4 << 10, series='hash_file sha256')
    for n in (10, 1000) if not fx.quick else ():
        for size, path in sorted(fx.logs.items()):
            if size not in (MiB, fx.big):
                add('read_last_n_lines', f'n={n}, {human_size(size)} log', path, n,
                    size=size, series=f'read_last_n_lines n={n}',
                    table=False, rounds=9)
    for size, path in sorted(fx.logs.items()) if not fx.quick else ():
        if size not in (4 << 10, fx.big):
            add('hash_file', f'sha256, {human_size(size)}', path, 'sha256',
                size=size, series='hash_file sha256', table=False,
                rounds=3 if size >= 256 * MiB else 9)
    small = fx.small_files
    hash_loop = None
    if common is not None:
        hash_loop = lambda paths, alg: [common.hash_file(p, alg) for p in paths]
    add('hash_files',
        f'{len(small):,} small files, sha256',
        small,
        'sha256',
        upstream=hash_loop,
        rounds=7)
    add('find_free_port', 'first port free', fx.free_port)
    add('base36_encode', '32 hex digits', 'd41d8cd98f00b204e9800998ecf8427e')
    add('format_float', '3.14159', 3.14159)
    add('format_float', '1024.0, precision=2', 1024.0, 2)
    add('truncate_long_string', '80 chars to 35, end',
        'sky-serve-replica-7 launched on aws us-east-1 with 8 CPUs and 32 GB '
        'of memory', 35)
    add('truncate_long_string', '80 chars to 35, middle',
        'sky-serve-replica-7 launched on aws us-east-1 with 8 CPUs and 32 GB '
        'of memory', 35, True)
    add('get_cpu_count', '')
    add('get_mem_size_gb', '')
    add('get_parallel_threads', "'aws'", 'aws')
    for entries, path in sorted(fx.dirs.items()):
        add('get_max_workers_for_file_mounts', f'1 mount of {entries:,} entries',
            {'~/dst': path}, 'aws')
    for entries, path in sorted(fx.dirs.items()):
        add('estimate_fd_for_directory',
            f'{entries:,} entries',
            path,
            upstream=_listdir_estimate)
    for label, pid in (('live pid', fx.live), ('zombie pid', fx.zombies[0]),
                       ('dead pid', fx.dead[0])):
        add('is_process_alive', label, pid, upstream=psutil_is_process_alive)
    add('are_processes_alive',
        '1,000 pids: live, zombie, dead',
        fx.pid_batch,
        upstream=psutil_are_processes_alive,
        rounds=9)
    return cases


# --- the figures beside the table -----------------------------------------


def dispatch_cost(extension: Any,
                  rounds: int = 25,
                  loops: int = 200_000) -> Optional[Dict[str, float]]:
    """The cost of the public API's gate and dispatch, per call.

    ``is_process_alive(0)`` answers False in sky_rs's facade without a call
    into Go, so the public API minus sky_rs is the gate and dispatch alone.
    """
    if extension is None or rust_fallback.is_process_alive is getattr(
            _reference, '_python_is_process_alive'):
        return None
    timers = {
        'api': _bench.call_timer(rust_fallback.is_process_alive, (0,)),
        'sky_rs': _bench.call_timer(extension.is_process_alive, (0,)),
        'empty': _bench.call_timer(lambda pid: None, (0,)),
    }
    samples = timing.take_turns(
        {name: (lambda t=t: t.timeit(loops) / loops)
         for name, t in timers.items()}, rounds)
    figures, _ = timing.medians('dispatch', samples,
                                {name: loops for name in timers})
    figures['dispatch'] = figures['api'] - figures['sky_rs']
    return figures


def flatness(fx: Fixtures, rounds: int = 31,
             sample_seconds: float = 0.01) -> Dict[int, Dict[str, float]]:
    """read_last_n_lines through the public API on the 1 MiB and the largest
    log, in the same rounds (so that a change of load cannot pass for a
    change of cost): median time per call of each, and their ratio."""
    figures = {}
    for n in (10, 1000):
        timers = {
            size: _bench.call_timer(rust_fallback.read_last_n_lines,
                                    (fx.logs[size], n))
            for size in (MiB, fx.big)
        }
        loops = {
            size: max(1, int(sample_seconds / max(timer.timeit(1), 1e-7)))
            for size, timer in timers.items()
        }
        samples = timing.take_turns(
            {
                str(size): (lambda t=t, k=loops[size]: t.timeit(k) / k)
                for size, t in timers.items()
            }, rounds)
        per_call, _ = timing.medians(f'flat n={n}', samples,
                                     {str(k): v for k, v in loops.items()})
        small, big = per_call[str(MiB)], per_call[str(fx.big)]
        figures[n] = {'small': small, 'big': big, 'ratio': big / small}
    return figures


def route_of(case: timing.Case, routes: Dict[str, str]) -> str:
    """Which backend the public API used for this case."""
    route = routes.get(case.function, '-')
    by_algorithm = getattr(rust_fallback, 'PYTHON_ROUTED_HASH_ALGORITHMS', ())
    if (route == 'go' and case.function in ('hash_file', 'hash_files') and
            len(case.args) > 1 and case.args[1] in by_algorithm):
        return 'python'
    return route

"""The workloads beyond one caller on a quiet machine (issue #11).

- **threads**: the same calls made by 1, 4 and 16 threads;
- **beside a busy Python thread**: calls made while another Python thread
  runs pure Python (it holds the GIL whenever it can, as a busy threaded
  server does), and an asyncio loop's lag while its executor hashes;
- **busy machine**: calls made while a CPU-bound process runs on every core;
- **config hash**: SkyPilot's launch-time hash of a cluster config one of
  whose file mounts is a directory of 20,000 files, upstream's and the one
  ``patch_skypilot()`` installs. In a real launch the mounts hashed are
  SkyPilot's wheel and the cloud credential files and directories (the
  task's workdir and ``file_mounts`` go by rsync, unhashed): this is a
  credentials directory that large, not the common case (one file);
- **noise**: upstream timed against itself in the same rounds (an A/A
  test): how far from 1.0× a ratio strays on this machine, in this run, when
  nothing differs. A ratio counts as "at least 1.0×" when it is at least
  1 minus this band.

Each workload times upstream and the public API (``api``) in interleaved
rounds (``timing.take_turns``), as the main table does; every result is
compared with upstream's.
"""

import asyncio
import concurrent.futures
import contextlib
import os
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from benchmarks import timing
from benchmarks import workloads
from benchmarks.fixtures import Fixtures
from benchmarks.fixtures import human_size
from benchmarks.fixtures import MiB
from sky_fallback import _compare
from sky_fallback import rust_fallback

# A job: (function, workload in words, arguments, calls).
Job = Tuple[str, str, Tuple[Any, ...], int]
Upstream = Callable[[str], Optional[Callable[..., Any]]]


@contextlib.contextmanager
def busy_python_thread() -> Iterator[None]:
    """A thread running pure Python for as long as the block runs."""
    stop = threading.Event()

    def spin() -> None:
        count = 0
        while not stop.is_set():
            count += 1

    thread = threading.Thread(target=spin, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


@contextlib.contextmanager
def busy_machine(processes: Optional[int] = None) -> Iterator[int]:
    """One CPU-bound process per CPU for as long as the block runs."""
    count = processes or os.cpu_count() or 1
    hogs = [
        subprocess.Popen(  # pylint: disable=consider-using-with
            [sys.executable, '-c', 'while True: pass'])
        for _ in range(count)
    ]
    try:
        time.sleep(0.2)  # let them start
        yield count
    finally:
        for hog in hogs:
            hog.kill()
        for hog in hogs:
            hog.wait()


def in_threads(function: Callable[..., Any], args: Tuple[Any, ...],
               calls: int, threads: int) -> List[Any]:
    """``calls`` calls of function(*args), spread over ``threads`` threads;
    their results."""
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        return list(pool.map(lambda _: function(*args), range(calls)))


def _wall(action: Callable[[], Any]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def thread_scaling(jobs: List[Job],
                   upstream: Upstream,
                   rounds: int,
                   thread_counts: Tuple[int, ...] = (1, 4, 16)
                  ) -> List[Dict[str, Any]]:
    """Each job's calls made by 1, 4 and 16 threads, upstream's and the
    public API's: wall time of all the calls (median of ``rounds``). Upstream
    is timed twice in the same rounds: ``noise`` is the ratio of the two."""
    rows = []
    for name, workload, args, calls in jobs:
        theirs = upstream(name)
        ours = getattr(rust_fallback, name)
        if theirs is None:
            continue
        equal = (_compare.value_key(in_threads(ours, args, 2, 2)) ==
                 _compare.value_key(in_threads(theirs, args, 2, 2)))
        first_api = None
        for threads in thread_counts:
            samples = timing.take_turns(
                {
                    door: (lambda f=f, t=threads: _wall(
                        lambda: in_threads(f, args, calls, t)))
                    for door, f in (('upstream', theirs), ('api', ours),
                                    (timing.AGAIN, theirs))
                }, rounds)
            wall, benchmarks = timing.medians(
                f'threads: {name} | {workload}, {calls} calls in {threads} '
                'threads', samples)
            first_api = first_api or wall['api']
            rows.append({
                'function': name,
                'workload': workload,
                'threads': threads,
                'calls': calls,
                'upstream': wall['upstream'],
                'api': wall['api'],
                'ratio': wall['upstream'] / wall['api'],
                'noise': wall['upstream'] / wall[timing.AGAIN],
                'api_scaling': first_api / wall['api'],
                'equal': equal,
                'rounds': rounds,
                'benchmarks': benchmarks,
            })
    return rows


def beside_busy_thread(jobs: List[Job], upstream: Upstream,
                       rounds: int) -> List[Dict[str, Any]]:
    """Each job's calls (``calls`` back to back per sample) while a busy
    Python thread runs: time per call, median of ``rounds``."""
    rows = []
    with busy_python_thread():
        for name, workload, args, calls in jobs:
            theirs = upstream(name)
            ours = getattr(rust_fallback, name)
            if theirs is None:
                continue
            equal = (_compare.value_key(ours(*args)) ==
                     _compare.value_key(theirs(*args)))
            samples = timing.take_turns(
                {
                    door: (lambda f=f: _wall(lambda: [
                        f(*args) for _ in range(calls)
                    ]) / calls) for door, f in (('upstream', theirs),
                                                ('api', ours))
                }, rounds)
            per_call, benchmarks = timing.medians(
                f'beside a busy thread: {name} | {workload}', samples,
                {'upstream': calls, 'api': calls})
            rows.append({
                'function': name,
                'workload': workload,
                'upstream': per_call['upstream'],
                'api': per_call['api'],
                'ratio': per_call['upstream'] / per_call['api'],
                'equal': equal,
                'rounds': rounds,
                'unit': 'per call',
                'benchmarks': benchmarks,
            })
    return rows


def asyncio_lag(path: str, calls: int, workers: int, upstream: Upstream,
                rounds: int) -> Optional[Dict[str, Any]]:
    """The 99th percentile of an asyncio loop's lag (how late a 1 ms sleep
    wakes up) while its executor of ``workers`` threads hashes ``path``
    ``calls`` times, upstream's hash_file and the public API's."""
    theirs = upstream('hash_file')
    if theirs is None:
        return None
    workload = (f'asyncio loop lag, 99th percentile, while {workers} '
                f'executor threads hash {human_size(os.path.getsize(path))} '
                f'{calls} times')
    samples = timing.take_turns(
        {
            door: (lambda f=f: asyncio.run(_lag(f, path, calls, workers)))
            for door, f in (('upstream', theirs),
                            ('api', rust_fallback.hash_file))
        }, rounds)
    lag, benchmarks = timing.medians(f'beside a busy thread: hash_file | '
                                     f'{workload}', samples)
    return {
        'function': 'hash_file',
        'workload': workload,
        'upstream': lag['upstream'],
        'api': lag['api'],
        'ratio': lag['upstream'] / lag['api'],
        'equal': True,
        'rounds': rounds,
        'unit': 'p99 lag',
        'benchmarks': benchmarks,
    }


async def _lag(function: Callable[..., Any], path: str, calls: int,
               workers: int) -> float:
    loop = asyncio.get_running_loop()
    lags: List[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            start = time.perf_counter()
            await asyncio.sleep(0.001)
            lags.append(time.perf_counter() - start - 0.001)

    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        tick = asyncio.create_task(ticker())
        digest = lambda: function(path, 'sha256').digest()
        await asyncio.gather(
            *[loop.run_in_executor(pool, digest) for _ in range(calls)])
        done.set()
        await tick
    lags.sort()
    # A sleep wakes early by at most the clock's resolution; pyperf takes
    # only values above zero.
    return max(lags[min(len(lags) - 1, int(len(lags) * 0.99))], 1e-9)


def noise_band(jobs: List[Tuple[str, Callable[[], Any], int]],
               rounds: int) -> Dict[str, Any]:
    """Upstream timed against itself: for each workload, two identical
    doors in interleaved rounds (``loops`` calls a sample); the band is the
    largest distance of their median ratio from 1."""
    rows = []
    for label, call, loops in jobs:

        def sample(call=call, loops=loops) -> float:
            return _wall(lambda: [call() for _ in range(loops)]) / loops

        samples = timing.take_turns({'a': sample, 'b': sample}, rounds)
        per_call, benchmarks = timing.medians(f'noise: {label}', samples, {
            'a': loops,
            'b': loops
        })
        rows.append({
            'workload': label,
            'ratio': per_call['a'] / per_call['b'],
            'rounds': rounds,
            'benchmarks': benchmarks,
        })
    return noise_with({'rows': []}, rows)


def noise_with(noise: Dict[str, Any],
               rows: List[Dict[str, Any]]) -> Dict[str, Any]:
    """``noise`` with more A/A rows, and its band recomputed."""
    rows = noise['rows'] + rows
    band = max(abs(1 - r['ratio']) for r in rows) if rows else 0.0
    return {'band': band, 'rows': rows}


# A call at least this long routed to the reference by the public API is, for
# timing, the reference itself: the dispatch (well under 1 µs) is lost in it.
SAME_CODE_MIN_SECONDS = 1e-3


def same_function_pairs(results: List[timing.Result]) -> List[Dict[str, Any]]:
    """The A/A pairs the main table measured anyway: where the public API
    *is* the reference (routed to Python), its api and python doors time one
    function, so their ratio is noise; so do they where it routes a long call
    (a 1 GiB sha512) to the reference."""
    routes = rust_fallback.routes()
    rows = []
    for r in results:
        api, python = r.per_call.get('api'), r.per_call.get('python')
        function = r.case.calls.get('api')
        if not api or not python:
            continue
        if function is not None and function is r.case.calls.get('python'):
            how = 'the python and api doors: one function'
        elif (workloads.route_of(r.case, routes) == 'python' and
              api >= SAME_CODE_MIN_SECONDS):
            how = 'the api door routed to the python one'
        else:
            continue
        rows.append({
            'workload': f'{r.case.function}, {r.case.workload} ({how})',
            'ratio': python / api,
            'rounds': r.case.rounds
        })
    return rows


# --- the config hash -------------------------------------------------------


def make_mounted_directory(root: str, files: int) -> str:
    """A directory of ``files`` small files in 40 x 7 directories (as a
    large credentials directory would be), and a cluster YAML that mounts it
    (and itself); returns the YAML's path."""
    # pylint: disable=import-outside-toplevel
    from sky.utils import yaml_utils
    workdir = os.path.join(root, 'mounted')
    block = bytes(range(256)) * 64
    for i in range(files):
        directory = os.path.join(workdir, f'pkg{i % 40}', f'sub{i % 7}')
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, f'module_{i}.py'), 'wb') as f:
            f.write(block[i % 997:][:200 + (i * 131) % 7800])
    config = os.path.join(root, 'cluster.yaml')
    with open(config, 'w', encoding='utf-8') as f:
        f.write(
            yaml_utils.dump_yaml_str({
                'cluster_name': 'bench',
                'file_mounts': {
                    '~/.config/mounted': workdir,
                    '/cluster.yaml': config
                },
            }))
    return config


def config_hash_doors() -> Optional[Dict[str, Callable[..., Any]]]:
    """SkyPilot's config hash and the one patch_skypilot() installs (None
    when SkyPilot is not installed or the installed one is not verified)."""
    # pylint: disable=import-outside-toplevel
    from sky_fallback import skypilot
    from sky_fallback.skypilot import config_hash
    entry = skypilot.registry.BY_NAME[config_hash.NAME]
    try:
        installed = skypilot.skypilot_original(config_hash.NAME)
    except ImportError:
        return None
    if entry.unverified_reason(installed) is not None:
        return None
    return {
        'upstream': installed,
        'api': config_hash.replacement(installed),
    }


# --- all of them -----------------------------------------------------------


def load_figures(fx: Fixtures, skypilot: Tuple[Any, Any],
                 sample_seconds: float,
                 progress: Callable[[str], None]) -> Dict[str, Any]:
    """Threads, a busy Python thread beside the calls, a busy machine, the
    config hash, and the noise band of this run. ``skypilot`` is
    ``workloads.upstream_modules()`` (or two Nones)."""
    common, _ = skypilot
    quick = fx.quick
    upstream = lambda name: workloads.upstream_function(name, common)
    big = fx.logs[256 * MiB] if 256 * MiB in fx.logs else fx.logs[fx.big]
    log = fx.logs[MiB]
    figures: Dict[str, Any] = {}
    progress('bench: threads ...')
    figures['threads'] = thread_scaling(
        [('hash_file', 'sha256, 10 MiB', (fx.file_10m, 'sha256'),
          16 if quick else 64),
         ('read_last_n_lines', 'n=1000, 1 MiB log', (log, 1000),
          100 if quick else 800)],
        upstream, rounds=3 if quick else 5)
    progress('bench: beside a busy Python thread ...')
    busy = beside_busy_thread(
        [('hash_file', f'sha256, {human_size(os.path.getsize(big))}',
          (big, 'sha256'), 1),
         ('read_last_n_lines', 'n=1000, 1 MiB log', (log, 1000), 10),
         ('read_last_n_lines', 'n=10, 1 MiB log', (log, 10), 20)],
        upstream, rounds=3 if quick else 5)
    lag = asyncio_lag(fx.file_10m, 64, 16, upstream, rounds=1 if quick else 3)
    figures['busy_thread'] = busy + ([lag] if lag else [])
    progress('bench: busy machine ...')
    cases = []
    medium = fx.logs[16 * MiB] if 16 * MiB in fx.logs else fx.logs[fx.big]
    for name, workload, args in [
        ('hash_file', 'sha256, 16 MiB', (medium, 'sha256')),
        ('hash_file', 'md5, 16 MiB', (medium, 'md5')),
        ('hash_file', f'sha256, {human_size(os.path.getsize(big))}',
         (big, 'sha256')),
        ('read_last_n_lines', 'n=10, 1 MiB log', (log, 10)),
        ('read_last_n_lines', 'n=1000, 1 MiB log', (log, 1000)),
        ('read_last_n_lines', fx.shapes[0][1], fx.shapes[0][::2]),
    ][:2 if quick else None]:
        theirs = upstream(name)
        if theirs is not None:
            cases.append(
                timing.Case(name,
                            workload,
                            args,
                            rounds=3 if quick else 9,
                            calls={
                                'upstream': theirs,
                                'api': getattr(rust_fallback, name),
                                timing.AGAIN: theirs
                            }))
    with busy_machine() as hogs:
        figures['busy_machine'] = [
            timing.run_case(case, sample_seconds, progress,
                            section='busy machine: ') for case in cases
        ]
    figures['busy_machine_processes'] = hogs
    doors = config_hash_doors()
    figures['config_hash'] = None
    if doors is not None:  # SkyPilot is installed (it writes the YAML)
        files = 2_000 if quick else 20_000
        config_yaml = make_mounted_directory(os.path.join(fx.root, 'config'),
                                             files)
        figures['config_hash'] = timing.run_case(
            timing.Case('_deterministic_cluster_yaml_hash',
                        f'a mounted directory of {files:,} files',
                        (config_yaml,),
                        rounds=3 if quick else 7,
                        calls=doors), sample_seconds, progress)
    progress('bench: noise (upstream against itself) ...')
    noise_workloads = []
    if common is not None:
        noise_workloads = [
            ('read_last_n_lines, n=1000, 1 MiB log',
             lambda: common.read_last_n_lines(log, 1000), 10),
            ('hash_file, sha256, 4 KiB',
             lambda: common.hash_file(fx.logs[4 << 10], 'sha256'), 500),
            ('hash_file, sha256, 10 MiB',
             lambda: common.hash_file(fx.file_10m, 'sha256'), 1),
        ][:2 if quick else None] + [
            ('base36_encode, 32 hex digits',
             lambda: common.base36_encode('d41d8cd98f00b204e9800998ecf8427e'),
             2000),
        ]
    figures['noise'] = noise_band(noise_workloads, rounds=7 if quick else 21)
    return figures

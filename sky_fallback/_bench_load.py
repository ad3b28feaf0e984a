"""The benchmark's workloads beyond one caller on a quiet machine (issue #11).

- **threads**: the same calls made by 1, 4 and 16 threads;
- **beside a busy Python thread**: calls made while another Python thread
  runs pure Python (it holds the GIL whenever it can, as a busy threaded
  server does), and an asyncio loop's lag while its executor hashes;
- **busy machine**: calls made while a CPU-bound process runs on every core;
- **config hash**: SkyPilot's launch-time hash of a cluster config whose
  workdir has 20,000 files, upstream's and the one ``patch_skypilot()``
  installs;
- **noise**: upstream timed against itself in the same rounds (an A/A
  test): how far from 1.0× a ratio strays on this machine, in this run, when
  nothing differs. A ratio counts as "at least 1.0×" when it is at least
  1 minus this band.

Each workload times upstream and the public API (``api``) in alternating
rounds, as the main table does; every result is compared with upstream's.
"""

import asyncio
import concurrent.futures
import contextlib
import os
import statistics
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from sky_fallback import rust_fallback

MiB = 1 << 20


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


def alternate(doors: Dict[str, Callable[[], float]],
              rounds: int) -> Dict[str, List[float]]:
    """Each door's samples (whatever each returns, a time), the doors in
    turn each round, starting with a different one each round."""
    names = list(doors)
    samples: Dict[str, List[float]] = {name: [] for name in names}
    for number in range(rounds):
        shift = number % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(doors[name]())
    return samples


def _wall(action: Callable[[], Any]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def _same(results: List[Any], normalise: Callable[[Any], Any]) -> Any:
    return [normalise(r) for r in results]


def thread_scaling(jobs: List[Tuple[str, str, Tuple[Any, ...], int]],
                   upstream: Callable[[str], Optional[Callable[..., Any]]],
                   normalise: Callable[[Any], Any], rounds: int,
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
        equal = (_same(in_threads(ours, args, 2, 2), normalise) == _same(
            in_threads(theirs, args, 2, 2), normalise))
        first_api = None
        for threads in thread_counts:
            samples = alternate(
                {
                    'upstream': lambda f=theirs, t=threads: _wall(
                        lambda: in_threads(f, args, calls, t)),
                    'api': lambda f=ours, t=threads: _wall(
                        lambda: in_threads(f, args, calls, t)),
                    'again': lambda f=theirs, t=threads: _wall(
                        lambda: in_threads(f, args, calls, t)),
                }, rounds)
            up = statistics.median(samples['upstream'])
            api = statistics.median(samples['api'])
            first_api = first_api or api
            rows.append({
                'function': name,
                'workload': workload,
                'threads': threads,
                'calls': calls,
                'upstream': up,
                'api': api,
                'ratio': up / api,
                'noise': up / statistics.median(samples['again']),
                'api_scaling': first_api / api,
                'equal': equal,
                'rounds': rounds,
            })
    return rows


def beside_busy_thread(jobs: List[Tuple[str, str, Tuple[Any, ...], int]],
                       upstream: Callable[[str], Optional[Callable[..., Any]]],
                       normalise: Callable[[Any], Any],
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
            equal = normalise(ours(*args)) == normalise(theirs(*args))

            def sample(function, args=args, calls=calls):
                return _wall(lambda: [function(*args) for _ in range(calls)
                                      ]) / calls

            samples = alternate({
                'upstream': lambda f=theirs: sample(f),
                'api': lambda f=ours: sample(f)
            }, rounds)
            up = statistics.median(samples['upstream'])
            api = statistics.median(samples['api'])
            rows.append({
                'function': name,
                'workload': workload,
                'upstream': up,
                'api': api,
                'ratio': up / api,
                'equal': equal,
                'rounds': rounds,
                'unit': 'per call',
            })
    return rows


def asyncio_lag(path: str, calls: int, workers: int,
                upstream: Callable[[str], Optional[Callable[..., Any]]],
                rounds: int) -> Optional[Dict[str, Any]]:
    """The 99th percentile of an asyncio loop's lag (how late a 1 ms sleep
    wakes up) while its executor of ``workers`` threads hashes ``path``
    ``calls`` times, upstream's hash_file and the public API's."""
    theirs = upstream('hash_file')
    if theirs is None:
        return None

    def p99(function: Callable[..., Any]) -> float:
        return asyncio.run(_lag(function, path, calls, workers))

    samples = alternate({
        'upstream': lambda: p99(theirs),
        'api': lambda: p99(rust_fallback.hash_file)
    }, rounds)
    up = statistics.median(samples['upstream'])
    api = statistics.median(samples['api'])
    return {
        'function': 'hash_file',
        'workload': (f'asyncio loop lag, 99th percentile, while {workers} '
                     f'executor threads hash {_size(path)} {calls} times'),
        'upstream': up,
        'api': api,
        'ratio': up / api,
        'equal': True,
        'rounds': rounds,
        'unit': 'p99 lag',
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
        await asyncio.gather(*[
            loop.run_in_executor(pool, lambda: function(path, 'sha256').digest())
            for _ in range(calls)
        ])
        done.set()
        await tick
    lags.sort()
    return lags[min(len(lags) - 1, int(len(lags) * 0.99))]


def _size(path: str) -> str:
    size = os.path.getsize(path)
    return f'{size // MiB} MiB' if size >= MiB else f'{size} B'


def noise_band(workloads: List[Tuple[str, Callable[[], Any], int]],
               rounds: int) -> Dict[str, Any]:
    """Upstream timed against itself: for each workload, two identical
    doors in alternating rounds (``loops`` calls a sample); the band is the
    largest distance of their median ratio from 1."""
    rows = []
    for label, call, loops in workloads:

        def sample(call=call, loops=loops) -> float:
            return _wall(lambda: [call() for _ in range(loops)]) / loops

        samples = alternate({'a': sample, 'b': sample}, rounds)
        ratio = statistics.median(samples['a']) / statistics.median(
            samples['b'])
        rows.append({'workload': label, 'ratio': ratio, 'rounds': rounds})
    band = max(abs(1 - r['ratio']) for r in rows) if rows else 0.0
    return {'band': band, 'rows': rows}


def noise_with(noise: Dict[str, Any],
               rows: List[Dict[str, Any]]) -> Dict[str, Any]:
    """``noise`` with more A/A rows, and its band recomputed."""
    rows = noise['rows'] + rows
    band = max(abs(1 - r['ratio']) for r in rows) if rows else 0.0
    return {'band': band, 'rows': rows}


# --- the config hash -------------------------------------------------------


def make_workdir(root: str, files: int) -> str:
    """A workdir of ``files`` small source files in 40 x 7 directories, and
    a cluster YAML that mounts it (and itself); returns the YAML's path."""
    # pylint: disable=import-outside-toplevel
    from sky.utils import yaml_utils
    workdir = os.path.join(root, 'workdir')
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
                    '~/sky_workdir': workdir,
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

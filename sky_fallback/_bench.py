"""``python -m sky_fallback bench``: measured speed of every function.

Every function is timed four ways on the same workload, in one run:

- ``upstream``: SkyPilot's own function (the baseline). For the two functions
  SkyPilot does not have, the code SkyPilot runs for the same job: a psutil
  check per pid, ``len(os.listdir(path)) * 5``, a loop of ``hash_file``.
- ``python``: the pure-Python reference (``sky_fallback._reference``).
- ``api``: the public function (``sky_fallback.rust_fallback``), routed as
  shipped: what a caller gets.
- ``sky_rs``: the Go extension's function, called directly.

Each variant of a workload is run in samples of many calls (enough for about
``--sample-ms``); the samples of the four variants alternate, round after
round, starting with a different variant each round, so that a change in the
machine's load falls on all of them alike. The figure reported is the median
over the rounds of the time per call. Every variant's result is compared with
upstream's (the ``equal`` column).

``--write`` writes docs/BENCHMARKS.md and docs/benchmarks.png (cost against
input size, which needs matplotlib: ``make bench`` installs it).
"""

import argparse
import dataclasses
import datetime
import gc
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from sky_fallback import _bench_load
from sky_fallback import _reference
from sky_fallback import rust_fallback

try:
    import psutil
except ImportError:  # the reference needs it too; only a baseline is lost
    psutil = None

VARIANTS = ('upstream', 'python', 'api', 'sky_rs')
# Upstream timed a second time in the same rounds, where the machine's noise
# is not that of an idle one (threads, a busy machine): upstream / again is
# how far one function strays from itself there.
AGAIN = 'again'

MiB = 1 << 20
GiB = 1 << 30


# --- the workloads ------------------------------------------------------


@dataclasses.dataclass
class Case:
    """One workload of one function."""
    function: str  # the public name
    workload: str  # what the arguments are, in words
    args: Tuple[Any, ...] = ()
    kwargs: Dict[str, Any] = dataclasses.field(default_factory=dict)
    rounds: int = 31
    # Variants that do not apply (a function upstream lacks entirely).
    calls: Dict[str, Callable[..., Any]] = dataclasses.field(
        default_factory=dict)
    size: Optional[int] = None  # input size in bytes, for the picture
    series: Optional[str] = None  # the picture's line this case belongs to
    table: bool = True  # shown in the main table
    shape: bool = False  # a log shape of issue #11, not a target of issue #5


@dataclasses.dataclass
class Result:
    case: Case
    per_call: Dict[str, Optional[float]]  # median seconds per call
    spread: Dict[str, Tuple[float, float]]  # (min, max) of the samples
    loops: Dict[str, int]
    equal: Dict[str, Optional[bool]]  # result equal to upstream's
    note: Dict[str, str]

    def ratio(self, variant: str) -> Optional[float]:
        base = self.per_call.get('upstream')
        mine = self.per_call.get(variant)
        if not base or not mine:
            return None
        return base / mine


def _normalise(value: Any) -> Any:
    if hasattr(value, 'hexdigest'):
        return ('digest', value.name, value.hexdigest())
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    if isinstance(value, float):
        return ('float', repr(value))
    return value


# --- baselines for the functions SkyPilot does not have -----------------


def _psutil_is_process_alive(pid: int) -> bool:
    """How SkyPilot checks a pid (cloud_vm_ray_backend, subprocess_utils)."""
    try:
        proc = psutil.Process(pid)
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _psutil_are_processes_alive(pids: Sequence[int]) -> List[bool]:
    return [_psutil_is_process_alive(pid) for pid in pids]


def _listdir_estimate(path: str) -> int:
    """SkyPilot's own estimate (subprocess_utils): five per entry."""
    return len(os.listdir(path)) * 5


# --- fixtures -----------------------------------------------------------

_LOG_WORDS = ('INFO WARNING ERROR replica request latency_ms user job cluster '
              'sky launch token GET POST 200 404 /api/v1/status').split()


def _log_block(size: int) -> bytes:
    """size bytes of log lines (about 100 bytes each), ending in '\\n'."""
    lines = []
    total = 0
    i = 0
    while total < size:
        words = ' '.join(_LOG_WORDS[(i * 7 + k * 3) % len(_LOG_WORDS)]
                         for k in range(12))
        line = (f'2024-05-{i % 28 + 1:02d} 12:{i % 60:02d}:{(i * 7) % 60:02d} '
                f'{words} id={i}\n')
        lines.append(line)
        total += len(line)
        i += 1
    data = ''.join(lines).encode()
    cut = data.rfind(b'\n', 0, size) + 1
    return data[:cut] + b'x' * (size - cut - 1) + b'\n' if cut < size else data[:size]


def _write_log(path: str, size: int, block: bytes) -> None:
    """A log of exactly size bytes, ending in '\\n', written in block pieces."""
    with open(path, 'wb') as f:
        left = size
        while left >= len(block):
            f.write(block)
            left -= len(block)
        if left:
            f.write(block[len(block) - left:])


class Fixtures:
    """The files, directories and processes the workloads use."""

    def __init__(self, root: str, quick: bool):
        self.root = root
        self.quick = quick
        self.children: List[subprocess.Popen] = []
        block = _log_block(MiB)
        self.big = 16 * MiB if quick else GiB
        self.logs: Dict[int, str] = {}
        sizes = ([4 << 10, MiB, self.big] if quick else
                 [4 << 10, 64 << 10, MiB, 16 * MiB, 256 * MiB, self.big])
        for size in sorted(set(s for s in sizes if s <= self.big)):
            path = os.path.join(root, f'log_{size}')
            if size >= MiB and size % MiB == 0 and size > MiB:
                _write_log(path, size, block)
            else:
                with open(path, 'wb') as f:
                    f.write(block[len(block) - size:])
            self.logs[size] = path
        self.dirs: Dict[int, str] = {}
        for entries in (100, 10_000 if quick else 100_000):
            path = os.path.join(root, f'dir_{entries}')
            os.mkdir(path)
            for i in range(entries):
                os.close(
                    os.open(os.path.join(path, f'file_{i:06d}.txt'),
                            os.O_CREAT | os.O_WRONLY, 0o644))
            self.dirs[entries] = path
        # Small files, as the config hash of a file mount meets them.
        self.small_files: List[str] = []
        small_dir = os.path.join(root, 'mount')
        os.mkdir(small_dir)
        for i in range(1_000 if quick else 10_000):
            path = os.path.join(small_dir, f'src_{i:05d}.py')
            with open(path, 'wb') as f:
                f.write(block[(i * 997) % 4096:][:512 + (i * 131) % 3584])
            self.small_files.append(path)
        # Logs of the shapes issue #11 lists: (name, content, n, words).
        # The long lines are longer than Go carries (8 MiB) even in --quick.
        one, crlf, nul = ((9, 9, 9) if quick else (64, 48, 32))
        self.shapes: List[Tuple[str, str, int]] = []
        for name, content, n, words in [
            ('one_line', [b'x' * MiB] * one, 1, f'one line of {one} MiB, n=1'),
            ('crlf_line', [b'y' * MiB] * crlf + [b'\r\nshort line\n'], 2,
             f'a {crlf} MiB line ending in \\r\\n, then a short one, n=2'),
            ('nul_run', [b'\0' * MiB] * nul +
             [b'line one\nline two\nline three\n'], 3,
             f'{nul} MiB of NUL bytes, then 3 lines, n=3'),
            ('invalid_utf8', [(b'abc \xff\xfe ' + b'q' * 1000 + b'\n') * 5000],
             1000, '5,000 lines of 1 KB with \\xff\\xfe, n=1000'),
            ('progress', [(b'progress 42%\r' * 80 + b'\n') * 2000], 1000,
             'progress bars, 80 \\r-parts a line, n=1000'),
            ('short_lines', [b''.join(b'%039d\n' % i for i in range(250_000))],
             250_000, '250,000 lines of 40 bytes, n=250,000'),
        ]:
            path = os.path.join(root, f'shape_{name}')
            with open(path, 'wb') as f:
                for piece in content:
                    f.write(piece)
            self.shapes.append((path, words, n))
        self.file_10m = os.path.join(root, 'file_10m')
        _write_log(self.file_10m, 10 * MiB, block)
        # Processes: one running, zombies (exited, not reaped) and dead pids.
        self.live = self._spawn(['sleep', '3600'])
        self.zombies = [self._spawn(['true']) for _ in range(8)]
        self.dead = _free_pids(8)
        self._wait_for_zombies()
        live_pids = _live_pids()
        mix = []
        for i in range(1000):
            kind = i % 3
            if kind == 0:
                mix.append(live_pids[i % len(live_pids)])
            elif kind == 1:
                mix.append(self.zombies[i % len(self.zombies)])
            else:
                mix.append(self.dead[i % len(self.dead)])
        self.pid_batch = mix
        self.free_port = _reference._python_find_free_port(23456)

    def _spawn(self, argv: List[str]) -> int:
        child = subprocess.Popen(argv)  # pylint: disable=consider-using-with
        self.children.append(child)
        return child.pid

    def _wait_for_zombies(self) -> None:
        deadline = time.monotonic() + 10
        for pid in self.zombies:
            while _proc_state(pid) != b'Z' and time.monotonic() < deadline:
                time.sleep(0.01)

    def close(self) -> None:
        for child in self.children:
            if child.poll() is None:
                child.kill()
            child.wait()


def _proc_state(pid: int) -> Optional[bytes]:
    try:
        with open(f'/proc/{pid}/stat', 'rb') as f:
            stat = f.read()
    except OSError:
        return None
    return stat[stat.rfind(b')') + 2:stat.rfind(b')') + 3]


def _free_pids(count: int) -> List[int]:
    found = []
    for pid in range(4_000_000, 1_000_000, -7919):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            found.append(pid)
            if len(found) == count:
                return found
        except PermissionError:
            pass
    return found or [2**31 - 2]


def _live_pids() -> List[int]:
    try:
        pids = sorted(int(name) for name in os.listdir('/proc') if name.isdigit())
    except OSError:
        pids = []
    return pids or [os.getpid(), 1]


# --- the cases ----------------------------------------------------------


def _upstream() -> Tuple[Any, Any]:
    # pylint: disable=import-outside-toplevel
    from sky.utils import common_utils
    from sky.utils import subprocess_utils
    return common_utils, subprocess_utils


def _native() -> Any:
    try:
        import sky_rs  # pylint: disable=import-outside-toplevel
        sky_rs.load()
        return sky_rs
    except Exception:  # pylint: disable=broad-except
        return None


def _calls(name: str, upstream: Optional[Callable[..., Any]],
           native: Any) -> Dict[str, Callable[..., Any]]:
    calls: Dict[str, Callable[..., Any]] = {}
    if upstream is not None:
        calls['upstream'] = upstream
    reference = getattr(_reference, f'_python_{name}', None)
    if reference is not None:
        calls['python'] = reference
    public = getattr(rust_fallback, name, None)
    if public is not None:
        calls['api'] = public
    if native is not None and hasattr(native, name):
        calls['sky_rs'] = getattr(native, name)
    return calls


def build_cases(fx: Fixtures, upstream_modules: Tuple[Any, Any],
                native: Any) -> List[Case]:
    common, subprocess_utils = upstream_modules
    cases: List[Case] = []

    def add(name: str, workload: str, *args: Any, upstream: Any = None,
            **options: Any) -> None:
        if upstream is None and common is not None:
            upstream = getattr(common, name, None) or getattr(
                subprocess_utils, name, None)
        kwargs = options.pop('kwargs', {})
        cases.append(
            Case(name,
                 workload,
                 args,
                 kwargs,
                 calls=_calls(name, upstream, native),
                 **options))

    big_label = _human(fx.big)
    # The table's cases; those of one size series also make the picture's
    # points, with the series-only sizes after them.
    for n in (10, 1000):
        for size in (MiB, fx.big):
            add('read_last_n_lines', f'n={n}, {_human(size)} log',
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
                add('read_last_n_lines', f'n={n}, {_human(size)} log', path, n,
                    size=size, series=f'read_last_n_lines n={n}',
                    table=False, rounds=9)
    for size, path in sorted(fx.logs.items()) if not fx.quick else ():
        if size not in (4 << 10, fx.big):
            add('hash_file', f'sha256, {_human(size)}', path, 'sha256',
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
        add('is_process_alive', label, pid, upstream=_psutil_is_process_alive)
    add('are_processes_alive',
        '1,000 pids: live, zombie, dead',
        fx.pid_batch,
        upstream=_psutil_are_processes_alive,
        rounds=9)
    return cases


def _human(size: int) -> str:
    for unit, scale in (('GiB', GiB), ('MiB', MiB), ('KiB', 1 << 10)):
        if size >= scale and size % scale == 0:
            return f'{size // scale} {unit}'
    return f'{size} B'


# --- timing -------------------------------------------------------------


def _timer(function: Callable[..., Any], args: Tuple[Any, ...],
           kwargs: Dict[str, Any]) -> Callable[[int], float]:
    """A function that makes ``loops`` calls and returns the seconds taken.

    The call is spelled out (``f(a0, a1, key=k0)``, the arguments bound as
    locals), so that every door pays the same, least, for the call itself.
    """
    names = [f'a{i}' for i in range(len(args))]
    keys = [f'k{i}' for i in range(len(kwargs))]
    call = names + [f'{key}={k}' for key, k in zip(kwargs, keys)]
    bound = ''.join(f', {name}={name}' for name in names + keys)
    source = (f'def run(loops, _perf=_perf, _f=_f{bound}):\n'
              '    t0 = _perf()\n'
              '    for _ in range(loops):\n'
              f'        _f({", ".join(call)})\n'
              '    return _perf() - t0\n')
    scope: Dict[str, Any] = {'_perf': time.perf_counter, '_f': function}
    scope.update(zip(names, args))
    scope.update(zip(keys, kwargs.values()))
    exec(source, scope)  # pylint: disable=exec-used
    return scope['run']


def run_case(case: Case, sample_seconds: float,
             progress: Callable[[str], None]) -> Result:
    runs: Dict[str, Callable[[int], float]] = {}
    first: Dict[str, float] = {}
    equal: Dict[str, Optional[bool]] = {}
    note: Dict[str, str] = {}
    outcomes: Dict[str, Any] = {}
    for variant in VARIANTS + tuple(v for v in case.calls
                                    if v not in VARIANTS):
        function = case.calls.get(variant)
        if function is None:
            continue
        # The first call gives the result to compare (and warms caches).
        start = time.perf_counter()
        try:
            value = function(*case.args, **case.kwargs)
            outcomes[variant] = ('returns', _normalise(value))
        except NotImplementedError as error:
            note[variant] = f'declined: {error}'
            continue
        except Exception as error:  # pylint: disable=broad-except
            outcomes[variant] = ('raises', type(error).__name__, str(error))
        first[variant] = time.perf_counter() - start
        runs[variant] = _timer(function, case.args, case.kwargs)
    want = outcomes.get('upstream', outcomes.get('python'))
    for variant, got in outcomes.items():
        equal[variant] = got == want
    # Calibrate: loops per sample for about sample_seconds each.
    loops: Dict[str, int] = {}
    for variant, run in runs.items():
        if first[variant] >= sample_seconds:
            loops[variant] = 1
            continue
        # The fastest of three single calls: one slow call (a busy machine)
        # would make every sample a single call.
        one = max(min(run(1) for _ in range(3)), 1e-7)
        n = max(1, int(sample_seconds / one / 10))
        took = run(n)
        loops[variant] = max(
            1, min(int(sample_seconds * n / max(took, 1e-9)), 1_000_000))
    # A single call per sample (a 1 GiB file): the first call is a sample.
    samples: Dict[str, List[float]] = {
        v: [first[v]] if loops[v] == 1 and first[v] >= sample_seconds else []
        for v in runs
    }
    order = list(runs)
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for round_number in range(case.rounds):
            shift = round_number % len(order) if order else 0
            for variant in order[shift:] + order[:shift]:
                if len(samples[variant]) >= case.rounds:
                    continue
                took = runs[variant](loops[variant])
                samples[variant].append(took / loops[variant])
            gc.collect()
    finally:
        if gc_was_enabled:
            gc.enable()
    per_call: Dict[str, Optional[float]] = {v: None for v in VARIANTS}
    spread: Dict[str, Tuple[float, float]] = {}
    for variant, values in samples.items():
        per_call[variant] = statistics.median(values)
        spread[variant] = (min(values), max(values))
    result = Result(case, per_call, spread, loops, equal, note)
    progress(_progress_line(result))
    return result


def _progress_line(result: Result) -> str:
    line = f'bench: {result.case.function} ({result.case.workload})'
    if any(ok is False for ok in result.equal.values()):
        line += ': NOT EQUAL to the baseline'
    return line


def summary_table(results: List[Result], load: Optional[Dict[str, Any]],
                  info: Dict[str, Any]) -> str:
    """The run as an aligned table for the terminal: function, workload,
    baseline time, the public API's time, and the speed-up (baseline / API).
    The baseline is upstream SkyPilot, or, where it is not installed, the
    Python reference (upstream's code)."""
    rows = [(r.case.function, r.case.workload,
             r.per_call.get('upstream') or r.per_call.get('python'),
             r.per_call.get('api'), '' if all(r.equal.values()) else
             ' (NOT EQUAL)')
            for r in results if r.case.table and r.per_call.get('api')]
    if load is not None:
        extra = [(r.case.function, f'busy machine: {r.case.workload}', r)
                 for r in load['busy_machine']]
        if load['config_hash'] is not None:
            r = load['config_hash']
            extra.append((r.case.function, r.case.workload, r))
        rows += [(name, workload, r.per_call.get('upstream'),
                  r.per_call.get('api'), '') for name, workload, r in extra]
        rows += [(t['function'], f'{t["threads"]} threads: {t["workload"]}',
                  t['upstream'], t['api'], '') for t in load['threads']]
        rows += [(t['function'], f'beside a busy thread: {t["workload"]}',
                  t['upstream'], t['api'], '') for t in load['busy_thread']]
    rows = [row for row in rows if row[2] and row[3]]
    baseline = (f'SkyPilot {info["skypilot"]}' if info.get('skypilot') else
                'reference')
    header = ('function', 'workload', baseline, 'sky_rs API', 'speed-up')
    lines = [(name, workload, _fmt_time(base), _fmt_time(api),
              f'{base / api:.2f}×{flag}')
             for name, workload, base, api, flag in rows]
    widths = [max(len(line[i]) for line in [header] + lines)
              for i in range(len(header))]
    text = []
    for line in [header] + lines:
        left = [line[i].ljust(widths[i]) for i in (0, 1)]
        right = [line[i].rjust(widths[i]) for i in (2, 3)]
        text.append('  '.join(left + right + [line[4]]).rstrip())
    text.insert(1, '  '.join('-' * w for w in widths))
    if not info.get('skypilot'):
        text.append('The baseline is sky_fallback\'s reference, upstream\'s '
                    'code (SkyPilot is not installed here).')
    return '\n'.join(text)


def _fmt_time(seconds: Optional[float]) -> str:
    if seconds is None:
        return '-'
    if seconds >= 1:
        return f'{seconds:.2f} s'
    if seconds >= 1e-3:
        return f'{seconds * 1e3:.2f} ms'
    if seconds >= 1e-5:
        return f'{seconds * 1e6:.1f} µs'
    return f'{seconds * 1e6:.2f} µs'


# --- the extra figures --------------------------------------------------


def dispatch_cost(native: Any, rounds: int = 25) -> Optional[Dict[str, float]]:
    """The cost of the public API's gate and dispatch, per call.

    ``is_process_alive(0)`` answers False in sky_rs's facade without a call
    into Go, so the public API minus sky_rs is the gate and dispatch alone.
    """
    if native is None or rust_fallback.is_process_alive is getattr(
            _reference, '_python_is_process_alive'):
        return None
    runs = {
        'api': _timer(rust_fallback.is_process_alive, (0,), {}),
        'sky_rs': _timer(native.is_process_alive, (0,), {}),
        'empty': _timer(lambda pid: None, (0,), {}),
    }
    samples: Dict[str, List[float]] = {k: [] for k in runs}
    loops = 200_000
    for _ in range(rounds):
        for name, run in runs.items():
            samples[name].append(run(loops) / loops)
    medians = {k: statistics.median(v) for k, v in samples.items()}
    medians['dispatch'] = medians['api'] - medians['sky_rs']
    return medians


def flatness(fx: Fixtures, rounds: int = 31,
             sample_seconds: float = 0.01) -> Dict[int, Dict[str, float]]:
    """read_last_n_lines through the public API on the 1 MiB and the largest
    log, in the same rounds (so that a change of load cannot pass for a
    change of cost): median time per call of each, and their ratio."""
    figures = {}
    for n in (10, 1000):
        runs = {
            size: _timer(rust_fallback.read_last_n_lines, (fx.logs[size], n),
                         {}) for size in (MiB, fx.big)
        }
        loops = {}
        for size, run in runs.items():
            one = max(run(1), 1e-7)
            loops[size] = max(1, int(sample_seconds / one))
        samples: Dict[int, List[float]] = {size: [] for size in runs}
        for round_number in range(rounds):
            order = list(runs)[::1 if round_number % 2 else -1]
            for size in order:
                samples[size].append(runs[size](loops[size]) / loops[size])
        small = statistics.median(samples[MiB])
        big = statistics.median(samples[fx.big])
        figures[n] = {'small': small, 'big': big, 'ratio': big / small}
    return figures


def load_figures(fx: Fixtures, upstream_modules: Tuple[Any, Any],
                 sample_seconds: float,
                 progress: Callable[[str], None]) -> Dict[str, Any]:
    """The workloads of issue #11 (see sky_fallback._bench_load): threads,
    a busy Python thread beside the calls, a busy machine, the config hash,
    and the noise band of this run."""
    common, _ = upstream_modules
    quick = fx.quick
    upstream = lambda name: _upstream_function(name, common)
    big = fx.logs[256 * MiB] if 256 * MiB in fx.logs else fx.logs[fx.big]
    log = fx.logs[MiB]
    figures: Dict[str, Any] = {}
    progress('bench: threads ...')
    figures['threads'] = _bench_load.thread_scaling(
        [('hash_file', 'sha256, 10 MiB', (fx.file_10m, 'sha256'),
          16 if quick else 64),
         ('read_last_n_lines', 'n=1000, 1 MiB log', (log, 1000),
          100 if quick else 800)],
        upstream, _normalise, rounds=3 if quick else 5)
    progress('bench: beside a busy Python thread ...')
    busy = _bench_load.beside_busy_thread(
        [('hash_file', f'sha256, {_human(os.path.getsize(big))}',
          (big, 'sha256'), 1),
         ('read_last_n_lines', 'n=1000, 1 MiB log', (log, 1000), 10),
         ('read_last_n_lines', 'n=10, 1 MiB log', (log, 10), 20)],
        upstream, _normalise, rounds=3 if quick else 5)
    lag = _bench_load.asyncio_lag(fx.file_10m, 64, 16,
                                  upstream, rounds=1 if quick else 3)
    figures['busy_thread'] = busy + ([lag] if lag else [])
    progress('bench: busy machine ...')
    cases = []
    for name, workload, args in [
        ('hash_file', 'sha256, 16 MiB', (fx.logs[16 * MiB] if 16 * MiB in
                                         fx.logs else fx.logs[fx.big],
                                         'sha256')),
        ('hash_file', 'md5, 16 MiB', (fx.logs[16 * MiB] if 16 * MiB in
                                      fx.logs else fx.logs[fx.big], 'md5')),
        ('hash_file', f'sha256, {_human(os.path.getsize(big))}',
         (big, 'sha256')),
        ('read_last_n_lines', 'n=10, 1 MiB log', (log, 10)),
        ('read_last_n_lines', 'n=1000, 1 MiB log', (log, 1000)),
        ('read_last_n_lines', fx.shapes[0][1], fx.shapes[0][::2]),
    ][:2 if quick else None]:
        theirs = upstream(name)
        if theirs is not None:
            cases.append(
                Case(name, workload, args, rounds=3 if quick else 9,
                     calls={'upstream': theirs,
                            'api': getattr(rust_fallback, name),
                            AGAIN: theirs}))
    with _bench_load.busy_machine() as hogs:
        figures['busy_machine'] = [
            run_case(case, sample_seconds, progress) for case in cases
        ]
    figures['busy_machine_processes'] = hogs
    doors = _bench_load.config_hash_doors()
    figures['config_hash'] = None
    if doors is not None:  # SkyPilot is installed (it writes the YAML)
        files = 2_000 if quick else 20_000
        config_yaml = _bench_load.make_workdir(
            os.path.join(fx.root, 'config'), files)
        figures['config_hash'] = run_case(
            Case('_deterministic_cluster_yaml_hash',
                 f'cluster config, a workdir of {files:,} files',
                 (config_yaml,), rounds=3 if quick else 7, calls=doors),
            sample_seconds, progress)
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
    figures['noise'] = _bench_load.noise_band(noise_workloads,
                                              rounds=7 if quick else 21)
    return figures


# A call at least this long routed to the reference by the public API is, for
# timing, the reference itself: the dispatch (well under 1 µs) is lost in it.
SAME_CODE_MIN_SECONDS = 1e-3


def same_function_pairs(results: List[Result]) -> List[Dict[str, Any]]:
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
        elif (_route_of(r.case, routes) == 'python' and
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


def _upstream_function(name: str, common: Any) -> Optional[Callable[..., Any]]:
    if name == 'are_processes_alive':
        return _psutil_are_processes_alive
    return getattr(common, name, None) if common is not None else None


# --- machine ------------------------------------------------------------


def machine_info(native: Any) -> Dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as f:
            for line in f:
                if line.startswith('model name'):
                    cpu = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        import sky  # pylint: disable=import-outside-toplevel
        skypilot = getattr(sky, '__version__', '?')
    except ImportError:
        skypilot = None
    try:
        import psutil  # pylint: disable=import-outside-toplevel
        psutil_version = psutil.__version__
    except ImportError:
        psutil_version = None
    try:
        memory = os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES')
    except (ValueError, OSError):
        memory = 0
    return {
        'date': datetime.datetime.now(datetime.timezone.utc).strftime(
            '%Y-%m-%d %H:%M UTC'),
        'cpu': cpu,
        'cpus': os.cpu_count(),
        'memory_gib': round(memory / GiB, 1),
        'kernel': platform.release(),
        'python': f'{platform.python_implementation()} '
                  f'{platform.python_version()}',
        'go': native.go_version() if native is not None else None,
        'skypilot': skypilot,
        'psutil': psutil_version,
        'load_before': _load(),
    }


def _load() -> Optional[str]:
    try:
        return ' '.join(f'{x:.2f}' for x in os.getloadavg())
    except OSError:
        return None


# --- targets ------------------------------------------------------------


def section_bands(load: Optional[Dict[str, Any]]) -> Dict[str, float]:
    """The noise band of each section: the idle machine's (upstream against
    itself, load['noise']), widened where upstream was timed again in the
    section's own conditions (threads, a busy machine) by how far it strayed
    from itself there."""
    load = load or {}
    band = (load.get('noise') or {}).get('band', 0.0)
    again = {
        'Threads': [t['noise'] for t in load.get('threads') or []
                    if t.get('noise')],
        'Busy machine': [r.ratio(AGAIN) for r in load.get('busy_machine') or []
                         if r.ratio(AGAIN)],
    }
    return {
        section: max([band] + [abs(1 - ratio) for ratio in ratios])
        for section, ratios in again.items()
    }


def all_rows(results: List[Result],
             load: Optional[Dict[str, Any]] = None) -> List[Dict[str, Any]]:
    """Every public-API-vs-upstream figure of the run, one dict each:
    section, function, workload, ratio, the section's noise band, and (for a
    main-table case) the Result."""
    rows = [{
        'section': 'Results',
        'function': r.case.function,
        'workload': r.case.workload,
        'ratio': r.ratio('api'),
        'result': r
    } for r in results if r.case.table and r.ratio('api')]
    load = load or {}
    for r in load.get('busy_machine') or []:
        if r.ratio('api'):
            rows.append({'section': 'Busy machine', 'function':
                         r.case.function, 'workload': r.case.workload,
                         'ratio': r.ratio('api'), 'result': r})
    for t in load.get('threads') or []:
        rows.append({'section': 'Threads', 'function': t['function'],
                     'workload': f'{t["workload"]}, {t["calls"]} calls in '
                                 f'{t["threads"]} threads',
                     'ratio': t['ratio']})
    for t in load.get('busy_thread') or []:
        rows.append({'section': 'Beside a busy Python thread',
                     'function': t['function'], 'workload': t['workload'],
                     'ratio': t['ratio']})
    config = load.get('config_hash')
    if config is not None and config.ratio('api'):
        rows.append({'section': 'Config hash', 'function':
                     config.case.function, 'workload': config.case.workload,
                     'ratio': config.ratio('api'), 'result': config})
    band = (load.get('noise') or {}).get('band', 0.0)
    bands = section_bands(load)
    for row in rows:
        row['band'] = bands.get(row['section'], band)
    return rows


def worst_per_function(rows: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The row with the lowest ratio of each function, in the order the
    functions first appear."""
    worst: Dict[str, Dict[str, Any]] = {}
    for row in rows:
        if (row['function'] not in worst or
                row['ratio'] < worst[row['function']]['ratio']):
            worst[row['function']] = row
    return list(worst.values())


def check_targets(results: List[Result],
                  dispatch: Optional[Dict[str, float]],
                  flat: Optional[Dict[int, Dict[str, float]]] = None,
                  big_label: str = '1 GiB',
                  load: Optional[Dict[str, Any]] = None) -> List[Dict[str, Any]]:
    """The issues' targets, each with the figure measured and whether met."""
    checks: List[Dict[str, Any]] = []

    def check(target: str, value: Optional[float], goal: float,
              higher_is_better: bool = True, detail: str = '') -> None:
        if value is None:
            met = None
        else:
            met = value >= goal if higher_is_better else value <= goal
        checks.append({
            'target': target,
            'value': value,
            'goal': goal,
            'higher': higher_is_better,
            'met': met,
            'detail': detail
        })

    rows = all_rows(results, load)
    # The row furthest below 1x less its table's noise band.
    worst = min(rows, key=lambda row: row['ratio'] - (1 - row['band']))
    band = worst['band']
    detail = (f'lowest: {worst["function"]} ({worst["workload"]}, '
              f'{worst["section"]})')
    result = worst.get('result')
    if result is not None and worst['section'] == 'Results':
        if _route_of(result.case, rust_fallback.routes()) == 'python':
            detail += ', answered by the Python reference'
    if result is not None and 'api' in result.spread and (
            'upstream' in result.spread):
        detail += (f'; samples api {_fmt_time(result.spread["api"][0])}–'
                   f'{_fmt_time(result.spread["api"][1])}, upstream '
                   f'{_fmt_time(result.spread["upstream"][0])}–'
                   f'{_fmt_time(result.spread["upstream"][1])}')
    check('every row of every table: public API vs upstream, at least 1× '
          f'within the noise band of its table (here ±{band:.1%})',
          worst['ratio'], round(1.0 - band, 4), detail=detail)
    for t in (load or {}).get('busy_thread') or []:
        check(f'beside a busy Python thread: {t["function"]} '
              f'{t["workload"]}', t['ratio'], 5.0)
    config = (load or {}).get('config_hash')
    if config is not None:
        check(f'config hash, {config.case.workload}', config.ratio('api'),
              3.0)
    table = [r for r in results if r.case.table and not r.case.shape]
    for r in table:
        if r.case.function == 'read_last_n_lines':
            n = r.case.args[1]
            goal = 3.0 if n == 10 else 4.0
            check(f'read_last_n_lines {r.case.workload}', r.ratio('api'), goal)
    for n, figure in sorted((flat or {}).items()):
        check(f'read_last_n_lines n={n}: {big_label} log vs 1 MiB log, '
              'time ratio (flat)', figure['ratio'], 1.2,
              higher_is_better=False)
    for r in results:
        if r.case.function == 'is_process_alive':
            check(f'is_process_alive, {r.case.workload}', r.ratio('api'), 3.0)
    goals = {
        'are_processes_alive': 6.0,
        'get_mem_size_gb': 4.0,
        'get_cpu_count': 1.5,
        'base36_encode': 4.0,
        'hash_files': 2.2,
    }
    for r in table:
        goal = goals.get(r.case.function)
        if goal is not None:
            check(f'{r.case.function} {r.case.workload}'.strip(),
                  r.ratio('api'), goal)
    for r in table:
        if r.case.function == 'hash_file' and r.case.workload.endswith(
                ('GiB', 'MiB')) and not r.case.workload.endswith('4 KiB'):
            check(f'hash_file {r.case.workload} vs hashlib', r.ratio('api'),
                  0.97)
    for r in table:
        if (r.case.function == 'estimate_fd_for_directory' and
                r.case.workload.startswith(('100,000', '10,000'))):
            check(f'estimate_fd_for_directory {r.case.workload}',
                  r.ratio('api'), 1.1)
    if dispatch is not None:
        check('gate and dispatch per call (µs)', dispatch['dispatch'] * 1e6,
              0.15, higher_is_better=False)
    return checks


# --- report -------------------------------------------------------------


def _route_of(case: Case, routes: Dict[str, str]) -> str:
    """Which backend the public API used for this case."""
    route = routes.get(case.function, '-')
    by_algorithm = getattr(rust_fallback, 'PYTHON_ROUTED_HASH_ALGORITHMS', ())
    if (route == 'go' and case.function in ('hash_file', 'hash_files') and
            len(case.args) > 1 and case.args[1] in by_algorithm):
        return 'python'
    return route


def _fmt_ratio(value: Optional[float]) -> str:
    return '-' if value is None else f'{value:.2f}×'


def _equal_mark(result: Result) -> str:
    marks = []
    for variant in ('python', 'api', 'sky_rs'):
        ok = result.equal.get(variant)
        if ok is False:
            marks.append(f'{variant} differs')
        elif variant in result.note and variant == 'sky_rs':
            marks.append('sky_rs declines')
    return 'yes' if not marks else ', '.join(marks)


def headline(results: List[Result], checks: List[Dict[str, Any]]) -> str:
    """One paragraph: the range of speed-ups and the targets met or missed."""
    ratios = sorted((r.ratio('api'), r) for r in results
                    if r.case.table and r.ratio('api'))
    missed = [c for c in checks if c['met'] is False]
    decided = [c for c in checks if c['met'] is not None]
    parts = []
    if ratios:
        low, high = ratios[0], ratios[-1]
        parts.append(
            f'**Headline:** through the public API, from '
            f'{low[0]:.2f}× (`{low[1].case.function}`, {low[1].case.workload or "-"})'
            f' to {high[0]:.1f}× (`{high[1].case.function}`, '
            f'{high[1].case.workload or "-"}) the speed of upstream SkyPilot;')
    parts.append(f'{len(decided) - len(missed)} of {len(decided)} targets met')
    if missed:
        parts[-1] += ('; missed: ' + '; '.join(
            f'{c["target"]} ({_fmt_check(c)} for {_fmt_goal(c)})'
            for c in missed))
    return ' '.join(parts) + '.'


def _fmt_check(c: Dict[str, Any]) -> str:
    if c['value'] is None:
        return '-'
    if 'µs' in c['target']:
        return f'{c["value"]:.3f} µs'
    if not c['higher']:
        return f'{c["value"]:.2f}'
    return f'{c["value"]:.2f}×'


def _fmt_goal(c: Dict[str, Any]) -> str:
    if not c['higher']:
        return f'≤ {c["goal"]:g}'
    return f'≥ {c["goal"]:g}×'


def render_markdown(info: Dict[str, Any], settings: Dict[str, Any],
                    results: List[Result], checks: List[Dict[str, Any]],
                    dispatch: Optional[Dict[str, float]],
                    load: Optional[Dict[str, Any]], routes: Dict[str, str],
                    picture: Optional[str],
                    flat: Optional[Dict[int, Dict[str, float]]] = None,
                    big_label: str = '1 GiB') -> str:
    out: List[str] = []
    w = out.append
    w('# Benchmarks')
    w('')
    w('Made by `make bench` (`python -m sky_fallback bench --write`); '
      'regenerate rather than edit.')
    w('')
    w('Median time per call through four doors, and the public API\'s speed-up '
      'over upstream SkyPilot, measured in one run on one machine:')
    w('')
    w('- **upstream**: SkyPilot\'s own function (SkyPilot '
      f'{info["skypilot"]}), the baseline. `is_process_alive` and '
      '`are_processes_alive` are not SkyPilot functions: their baseline is the '
      'psutil check SkyPilot uses (`Process(pid)`, `is_running()`, '
      '`status() != STATUS_ZOMBIE`); `estimate_fd_for_directory`\'s is '
      'SkyPilot\'s `len(os.listdir(path)) * 5`; `hash_files`\' is a loop of '
      'SkyPilot\'s `hash_file`.')
    w('- **python**: the pure-Python reference, `sky_fallback._reference`.')
    w('- **api**: `sky_fallback.rust_fallback`, the public API, routed as '
      'shipped (the *route* column: `go` calls sky_rs, `python` *is* the '
      'reference).')
    w('- **sky_rs**: the Go extension\'s function, called directly.')
    w('')
    w('*Equal* says whether each result equalled upstream\'s (a digest by its '
      'hex digest). Time is wall-clock time per call, the median over '
      f'{settings["rounds_text"]}; in each round every door runs one '
      f'sample of about {settings["sample_ms"]:g} ms of back-to-back calls '
      '(or one call, when one call takes longer), the doors in turn, starting '
      'with a different one each round. The machine may be busy with other '
      'work (see the load average): the doors of a workload share the rounds, '
      'so their ratio suffers less than their times.')
    w('')
    w(headline(results, checks))
    w('')
    w('## Machine')
    w('')
    w(f'- {info["cpu"]}, {info["cpus"]} CPUs, {info["memory_gib"]} GiB; Linux '
      f'{info["kernel"]}')
    w(f'- {info["python"]}, {info["go"]}, SkyPilot {info["skypilot"]}, psutil '
      f'{info["psutil"]}')
    w(f'- {info["date"]}; load average before / after the run: '
      f'{info["load_before"]} / {info.get("load_after")}')
    w(f'- Command: `{settings["command"]}`, {settings["duration"]:.0f} s '
      'in all.')
    if info.get('warning'):
        w(f'- **{info["warning"]}**')
    w('')
    w('## Results')
    w('')
    w('| function | workload | upstream | python | api | sky_rs | '
      'api vs upstream | route | equal |')
    w('|---|---|---:|---:|---:|---:|---:|---|---|')
    for r in results:
        if not r.case.table:
            continue
        cells = [
            f'`{r.case.function}`', r.case.workload or '-',
            *(_fmt_time(r.per_call.get(v)) for v in VARIANTS),
            f'**{_fmt_ratio(r.ratio("api"))}**',
            _route_of(r.case, routes),
            _equal_mark(r)
        ]
        w('| ' + ' | '.join(cells) + ' |')
    w('')
    if load:
        render_load(w, results, load)
    w('## Targets (issues #5 and #11)')
    w('')
    w('| target | measured | goal | met |')
    w('|---|---:|---:|---|')
    for c in checks:
        value, goal = _fmt_check(c), _fmt_goal(c)
        met = {True: 'yes', False: '**no**', None: 'n/a'}[c['met']]
        detail = f' ({c["detail"]})' if c['detail'] else ''
        w(f'| {c["target"]}{detail} | {value} | {goal} | {met} |')
    w('')
    if dispatch is not None:
        w('## Gate and dispatch')
        w('')
        w('`rust_fallback.is_process_alive(0)` minus `sky_rs.is_process_alive(0)`'
          ' (neither calls into Go: the facade answers a pid <= 0 itself) is '
          'the cost of reading `SKYPILOT_USE_RUST` and dispatching: '
          f'**{dispatch["dispatch"] * 1e6:.3f} µs** per call (api '
          f'{dispatch["api"] * 1e6:.3f} µs, sky_rs {dispatch["sky_rs"] * 1e6:.3f}'
          f' µs, an empty Python call {dispatch["empty"] * 1e6:.3f} µs; medians '
          'of 25 rounds of 200,000 calls). Functions routed to Python pay '
          'nothing: the public name is the reference.')
        w('')
    if flat:
        w('## Flat in file size')
        w('')
        w('`rust_fallback.read_last_n_lines` on the 1 MiB and the '
          f'{big_label} log, measured in the same rounds (so that a change of '
          'load cannot pass for a change of cost; medians):')
        w('')
        w(f'| n | 1 MiB log | {big_label} log | ratio |')
        w('|---:|---:|---:|---:|')
        for n, figure in sorted(flat.items()):
            w(f'| {n} | {_fmt_time(figure["small"])} | '
              f'{_fmt_time(figure["big"])} | {figure["ratio"]:.2f} |')
        w('')
    if picture:
        w('## Cost against input size')
        w('')
        w(f'![cost against input size]({picture})')
        w('')
        w('`read_last_n_lines` reads from the end of the file, so its cost does'
          ' not grow with the file; upstream\'s does not either, but each line '
          'costs it several Python operations. `hash_file` is bound by the '
          'hash itself from a few hundred KiB on.')
        w('')
        rows = [r for r in results if r.case.series]
        w('<details><summary>The figures of the picture</summary>')
        w('')
        w('| series | size | upstream | api | api vs upstream |')
        w('|---|---:|---:|---:|---:|')
        for r in rows:
            w(f'| {r.case.series} | {_human(r.case.size or 0)} | '
              f'{_fmt_time(r.per_call.get("upstream"))} | '
              f'{_fmt_time(r.per_call.get("api"))} | '
              f'{_fmt_ratio(r.ratio("api"))} |')
        w('')
        w('</details>')
        w('')
    w(NOTES)
    return '\n'.join(out)


def render_load(w: Callable[[str], None], results: List[Result],
                load: Dict[str, Any]) -> None:
    """The sections of issue #11: noise, threads, a busy Python thread, a
    busy machine, the config hash, the worst case of each function."""
    noise = load.get('noise') or {'band': 0.0, 'rows': []}
    band = noise['band']
    w('## Threads, a busy interpreter, a busy machine (issue #11)')
    w('')
    w('**Noise band: ±' f'{band:.1%}' '.** One function timed as two doors in '
      'the same rounds (upstream against itself; and the functions the public '
      'API routes to the reference, whose python and api doors are one '
      'function) strays this far from 1.00× on this machine in this run, the '
      'largest of:')
    w('')
    w('| workload (one function timed twice) | ratio | rounds |')
    w('|---|---:|---:|')
    for row in noise['rows']:
        w(f'| {row["workload"]} | {row["ratio"]:.3f} | {row["rounds"]} |')
    w('')
    bands = section_bands(load)
    w('A figure counts as at least 1.0× when it is at least '
      f'{1 - band:.3f}×, or, in the tables of threads and of a busy machine, '
      'where upstream strays further from itself (timed twice there too, '
      'the column *upstream vs itself*), within that table\'s band. The log '
      'shapes of the issue are rows of the main table above (one line of 64 '
      'MiB, NUL runs, invalid UTF-8, progress bars, a quarter million short '
      'lines).')
    w('')
    if load.get('threads'):
        w('### Threads')
        w('')
        w('The same calls spread over 1, 4 and 16 threads (wall time of all '
          'of them, median of the rounds shown; upstream and the public API '
          'in alternating rounds). *API scaling* is the API\'s time on one '
          'thread over its time on this many. Noise band of this table: '
          f'±{bands["Threads"]:.1%}.')
        w('')
        w('| function | workload | calls | threads | upstream | api | '
          'api vs upstream | upstream vs itself | api scaling | equal |')
        w('|---|---|---:|---:|---:|---:|---:|---:|---:|---|')
        for t in load['threads']:
            w(f'| `{t["function"]}` | {t["workload"]} | {t["calls"]} | '
              f'{t["threads"]} | {_fmt_time(t["upstream"])} | '
              f'{_fmt_time(t["api"])} | **{_fmt_ratio(t["ratio"])}** | '
              f'{t.get("noise", 0):.3f} | '
              f'{_fmt_ratio(t["api_scaling"])} | '
              f'{"yes" if t["equal"] else "**no**"} |')
        w('')
    if load.get('busy_thread'):
        w('### Beside a busy Python thread')
        w('')
        w('Another thread of the same process runs pure Python meanwhile, as a '
          'threaded server does. Python hands the GIL to a thread that asks '
          'for it only every 5 ms (`sys.getswitchinterval()`), so each time a '
          'call releases the GIL and takes it back costs up to 5 ms: upstream '
          'releases it around every read (`hash_file` reads 256 KiB at a '
          'time, `read_last_n_lines` 8 KiB), the API once a call into Go, '
          'and not at all for a tail of a local log it has read before. '
          'The last row is the lag of an asyncio loop (how late a 1 ms sleep '
          'wakes, 99th percentile) while its executor hashes. Median of the '
          'rounds.')
        w('')
        w('| function | workload | upstream | api | api vs upstream | '
          'equal |')
        w('|---|---|---:|---:|---:|---|')
        for t in load['busy_thread']:
            unit = ' per call' if t['unit'] == 'per call' else ''
            w(f'| `{t["function"]}` | {t["workload"]} | '
              f'{_fmt_time(t["upstream"])}{unit} | {_fmt_time(t["api"])}'
              f'{unit} | **{_fmt_ratio(t["ratio"])}** | '
              f'{"yes" if t["equal"] else "**no**"} |')
        w('')
    if load.get('busy_machine'):
        w('### On a busy machine')
        w('')
        w(f'{load.get("busy_machine_processes")} processes running '
          '`while True: pass` (one per CPU) meanwhile; the method of the main '
          'table, upstream (timed twice) and the public API only. A sample '
          'runs at full speed or shares a CPU, as the kernel schedules it, so '
          'these medians stray far more than on an idle machine: noise band '
          f'of this table ±{bands["Busy machine"]:.1%}.')
        w('')
        w('| function | workload | upstream | api | api vs upstream | '
          'upstream vs itself | equal |')
        w('|---|---|---:|---:|---:|---:|---|')
        for r in load['busy_machine']:
            w(f'| `{r.case.function}` | {r.case.workload} | '
              f'{_fmt_time(r.per_call.get("upstream"))} | '
              f'{_fmt_time(r.per_call.get("api"))} | '
              f'**{_fmt_ratio(r.ratio("api"))}** | '
              f'{r.ratio(AGAIN) or 0:.3f} | {_equal_mark(r)} |')
        w('')
    config = load.get('config_hash')
    if config is not None:
        w('### The config hash of a launch')
        w('')
        w('`sky.backends.backend_utils._deterministic_cluster_yaml_hash` hashes '
          'the cluster YAML and every file of every file mount on each '
          '`sky launch`; upstream\'s calls `hash_file` once a file, the one '
          '`patch_skypilot()` installs (`sky_fallback.skypilot.config_hash`) has a '
          'mount\'s directory walked and hashed in Go, which gives back the '
          'bytes upstream feeds the hash for it: the same digest.')
        w('')
        w('| workload | upstream | patched | patched vs upstream | equal |')
        w('|---|---:|---:|---:|---|')
        w(f'| {config.case.workload} | '
          f'{_fmt_time(config.per_call.get("upstream"))} | '
          f'{_fmt_time(config.per_call.get("api"))} | '
          f'**{_fmt_ratio(config.ratio("api"))}** | {_equal_mark(config)} |')
        w('')
    w('### The worst case of each function')
    w('')
    w('The lowest public-API-vs-upstream figure of each function over every '
      'table of this page.')
    w('')
    w('| function | workload | table | api vs upstream | noise band | at '
      'least 1× within noise |')
    w('|---|---|---|---:|---:|---|')
    for row in worst_per_function(all_rows(results, load)):
        ok = 'yes' if row['ratio'] >= 1 - row['band'] else '**no**'
        w(f'| `{row["function"]}` | {row["workload"]} | {row["section"]} | '
          f'{_fmt_ratio(row["ratio"])} | ±{row["band"]:.1%} | {ok} |')
    w('')


# What bounds the figures, written once (the figures above it are measured
# afresh by every run). Component costs quoted here were measured on the
# machine of the first published run with the commands named.
NOTES = '''### Where the time goes, and what bounds the targets

**Noise.** Every door of a workload is measured in the same rounds, so a
change of load hits all four alike; still, a function whose public API *is*
upstream's code (or the reference, where that is as fast) has a ratio of 1.0
only up to the noise of the machine (a few per cent on an idle machine, more
on a shared one). `format_float`, `truncate_long_string` and
`get_parallel_threads` are routed to the reference: one call into Go (gopy's
wrapper, argument parsing, the GIL released and taken back, a C string for a
result) costs more than the whole Python answer, so the public name is bound to
the reference itself and pays no dispatch either. The references are
upstream's code with small exact speed-ups (`f'{num:.0f}'` for
`'{:.0f}'.format(num)`, the Kubernetes multiplier inline, one division fewer).
`truncate_long_string`'s end mode is upstream's word walk unchanged: walks
that stop at the word they cut at (`str.find` word by word, or a fixed point
of `str.count`) were tried, and won on this row but lost to upstream's walk
on strings of many short words or long runs of spaces. Its ratio is that of one code timed
twice, which strays from one run of this benchmark to the next (one process
to the next) more than the band measured within one process shows.

**read_last_n_lines, n=1000 (goal 4×).** Go returns the thousand lines in one
`str` with a separator byte after each line that occurs nowhere in them, so
that one `str.split` makes the list (a `str` result is one gopy crossing; a
`bytes` result costs three more: take, copy and release a handle). What is
left is CPython creating a thousand `str` objects: `str.split` is the cheapest
C-level way there is, yet CPython's one-character split scans a character at a
time (its `split_char` loop, no `memchr`); on the machine of the first run it
alone took about 75 µs for 1000 lines of 100 bytes, a fifth of upstream's
whole call (about 350 µs), which leaves some 15 µs for everything else at 4×.
The Go side (stat, open, lseek, one 128 KiB pread, close, a vectorised count of
newlines, one copy inserting the separators; `go test ./tests_go -bench
ReadLastNLinesText`) took 25-40 µs there, gopy's copy and strict UTF-8 decoding
of the result about 5 µs. Tried and measured slower: `str.splitlines(True)`
(about 100 µs), a separator of two to six characters (CPython then runs a
substring search per line: 85-130 µs), `io.StringIO(...).readlines()` and
`io.TextIOWrapper(...).readlines()` (80-140 µs), `io.BytesIO(...).readlines()`
(25 µs, using `memchr`, but decoding a thousand `bytes` afterwards costs more
than the split saves); in Go, a fresh result buffer per call (allocating 100
KiB per call cost more than reading the file: page faults and a collection
every few dozen calls; the result's memory is now reused per calling thread),
and finding the first selected line with `bytes.LastIndexByte` a thousand times
(a byte-at-a-time loop in Go's runtime; blocks are now counted with the
vectorised `bytes.Count`).

**read_last_n_lines, n=10.** Five system calls and one crossing; upstream pays
Python's `open()` (an `io.BufferedReader` and a `FileIO`), `seek`, `read` and
the per-line decoding.

**is_process_alive, are_processes_alive.** `kill(pid, 0)`, then
`/proc/<pid>/stat` read with bare system calls (open, read, read, close; Go's
`os.ReadFile` took twice as long). The batch crosses once with the pids packed
by `array('q', pids).tobytes().hex()` and checks them on goroutines across the
cores; its floor is the two system calls per pid. `pidfd_open` plus `poll`
would be about three times cheaper per live pid, but it reports a process
whose main thread has exited while other threads run as alive, where `/proc`
(and the reference) show a zombie: not the same answer, so not used.

**get_mem_size_gb, get_cpu_count.** `/proc/meminfo` is opened (so that a
process out of descriptors fails as psutil does) and, when it is procfs's own
file, not read: `sysinfo(2)`'s `totalram` is the number the kernel prints as
`MemTotal`. Where LXCFS or similar mount their own meminfo, the file is parsed
as psutil parses it. The cgroup and `/sys` files are read with bare system
calls; the CPU count is bounded by those reads (three files on cgroup v1).

**estimate_fd_for_directory.** Counting `getdents64` records without building
names; the kernel's directory walk is most of the time on both sides.

**Gate and dispatch.** One dict lookup for `SKYPILOT_USE_RUST` (on the raw
mapping behind `os.environ`), one Python frame, one attribute lookup.

**Long lines and odd bytes (issue #11).** Go reads at most 8 MiB from the end
of a log (into recycled buffers that double as they grow), which bounds the
memory and the length of a call. Lines that span more (one huge line, a large
`n`), hold a NUL byte, are invalid UTF-8 under a handler other than
`'replace'`, or are in another encoding are read by the facade in Python
(`sky_rs._read_tail`): a scan back in steps of at most 1 MiB into one reused
buffer, then one read of the lines, checked against the scan, decoded at once
where the codec and handler allow. There the cost is copying bytes into fresh
memory (page faults, on this VM several µs a page): upstream copies a long
line four times (read, join, split, decode), `_read_tail` twice (read,
decode). Go replaces invalid UTF-8 as `'replace'` does, in the one call; a line
holding U+FFFD makes CPython store it in two bytes a character, and building
that costs both sides alike, so those rows stay near 1.3×. Ctrl-C stops a read
of a 512 MiB line in 0.1 s (`tests_py/test_interrupt.py`; it took 5.5-8.3 s).

**Threads and the GIL.** The build releases the GIL in C around the call into
Go (docs/BOUNDARY.md): a thread that waits for one of Go's `GOMAXPROCS` Ps no
longer holds the GIL while it waits, so other Python threads run on (the
asyncio row). A thread waiting for a P sits in the runtime's run queue, and
while one does, the runtime hands the P of every goroutine in a read on to
another thread: 4 and 16 hashing threads lost 3-5% to upstream for that, so
`hash_file`'s calls wait their turn in Python instead, one per CPU
(`sky_rs._hash_gate`). What was left (those rows at 0.93-1.00×) was the
runtime too: a thread that returns from Go to Python keeps its P parked, so
that its next call takes it straight back, and a call from another thread
that finds no idle P waits for the runtime's monitor to take a parked one,
up to 10 ms later. The runtime now has twice as many Ps as the CPUs it
computes on (`guest.GoMaxProcs`): the spare ones let a thread in at once,
and the gate keeps one call per CPU running. Go runs at most one call per
CPU at once, all the cores of an idle machine; on a machine shared with other processes, the kernel shares the
CPU by runnable threads, and upstream's sixteen hashing threads (hashlib
releases the GIL too) take more of it than Go's two: the 16-thread rows gain
nothing on a busy machine and can lose. `hash_file` hashes on the calling
goroutine, in 1 MiB reads: as much CPU per byte as hashlib for sha1/sha2, 6%
less for md5 (Go's assembly); the read-ahead goroutine it had won about 9% on
an idle machine for about 20% more CPU, and lost on a busy one (0.74-0.81×).

**Beside a busy Python thread.** A thread running pure Python takes the GIL
whenever a call releases it for longer than that thread needs to wake up
(tens of µs), and keeps it until the caller has waited a switch interval
(5 ms). Upstream's `hash_file` releases it for every 256 KiB read and update;
the API once per 0.1 s step: hashing a large file gains most. Upstream's
`read_last_n_lines` releases it around each 8 KiB read, microseconds each,
often too short to lose it, sometimes not (the n=10 row's upstream figure
ranged 3.4-8.7 ms over three runs). The API's call into Go, tens of µs, lost
it every time (5.2 ms, 0.65× in one run), so a tail of at most 256 KiB of a
file found on a local file system is now read keeping the GIL
(`ReadLastNLinesTextKeepingGIL`, docs/BOUNDARY.md): it never lets the busy
thread in.

**Busy machine.** Go's scheduler preempts a goroutine that has run 10 ms; a
call from Python runs on a goroutine locked to its thread, and preempting it
costs two thread wake-ups, which on a machine with no idle CPU wait for the
kernel: rare spikes of milliseconds (the tables show medians).

**The config hash.** A mount's directory is walked and hashed in Go
(`skyrs.WalkFeed`, about 8,192 files a call): it lists each directory as
`os.walk` does, in one getdents64 pass (a stat only for a link or an entry
of unknown type), sorts the names as Python sorts UTF-8, and hashes the
files on one goroutine per CPU, a file the listing shows to be regular
opened without a stat first. Four system calls a file (open, fstat, pread,
close) plus the hash are the floor: 95-101 ms for a tree like this one on
two workers, 169-181 ms on one, and 102-106 ms walked too (`go test -run
'^$' -bench 'HashFilesWorkdir|WalkFeedWorkdir' -benchtime 20x ./tests_go`,
three runs). Python is left with the YAML and joining the bytes. Before,
Python walked (`os.walk`) and built the byte sequence while Go hashed the
files on a thread: 2.92× in the previous run of this benchmark (2026-11-30,
commit 560cda4), as the Python took a CPU the hashing needed. Go declines a
walk it cannot give exactly (a name that is not UTF-8, a tree over 100
levels deep), which Python then walks, the files hashed in one batch.
'''


def render_picture(results: List[Result], path: str) -> Optional[str]:
    try:
        import matplotlib  # pylint: disable=import-outside-toplevel
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
    except ImportError:
        return None
    series: Dict[str, List[Result]] = {}
    for r in results:
        if r.case.series:
            series.setdefault(r.case.series, []).append(r)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    panels = (('read_last_n_lines', axes[0]), ('hash_file', axes[1]))
    for prefix, ax in panels:
        for name, rows in sorted(series.items()):
            if not name.startswith(prefix):
                continue
            rows.sort(key=lambda r: r.case.size or 0)
            sizes = [r.case.size for r in rows]
            label = name[len(prefix):].strip()
            for variant, style in (('upstream', '--o'), ('api', '-s')):
                times = [r.per_call.get(variant) for r in rows]
                if any(t is None for t in times):
                    continue
                ax.plot(sizes, [t * 1e6 for t in times],
                        style,
                        label=f'{variant} {label}'.strip())
        ax.set_xscale('log', base=2)
        ax.set_yscale('log')
        ticks = sorted({r.case.size for rows in series.values() for r in rows
                        if r.case.size and
                        r.case.function == prefix})
        ax.set_xticks(ticks)
        ax.set_xticklabels([_human(t) for t in ticks], fontsize=8)
        ax.minorticks_off()
        ax.set_xlabel('file size')
        ax.set_ylabel('µs per call (median)')
        ax.set_title(prefix)
        ax.grid(True, which='both', alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle('Cost against input size: upstream SkyPilot vs '
                 'sky_fallback.rust_fallback')
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# --- main ---------------------------------------------------------------


def add_parser(subcommands: Any) -> None:
    bench = subcommands.add_parser(
        'bench',
        help='time every function: upstream, python, api, sky_rs',
        description='Time every function four ways on this machine '
        '(upstream SkyPilot, the Python reference, the public API, sky_rs '
        'itself), interleaved, and print the speed-up of the public API '
        'over upstream.')
    bench.add_argument('--quick',
                       action='store_true',
                       help='smaller files, fewer rounds, no picture '
                       '(under a minute)')
    bench.add_argument('--write',
                       action='store_true',
                       help='write BENCHMARKS.md and benchmarks.png into the '
                       'directory --docs names')
    bench.add_argument('--docs',
                       default=None,
                       help='where --write writes (default: the docs/ '
                       'directory of the source checkout this runs from; '
                       'required otherwise)')
    bench.add_argument('--sample-ms',
                       type=float,
                       default=None,
                       help='time per sample (default 10, --quick 5)')
    bench.add_argument('--rounds',
                       type=int,
                       default=None,
                       help='rounds for cheap workloads (default 31, --quick 5)')
    bench.add_argument('--only',
                       default=None,
                       help='only functions whose name contains this')
    bench.add_argument('--json',
                       default=None,
                       help='also write the raw figures to this file')
    bench.add_argument('--workdir',
                       default=None,
                       help='where to make the fixtures (default: a temporary '
                       'directory, removed afterwards)')


def checkout_docs() -> Optional[str]:
    """The docs/ directory of the source checkout sky_fallback runs from,
    or None when it runs installed (never site-packages/docs)."""
    checkout = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    docs = os.path.join(checkout, 'docs')
    if os.path.isfile(os.path.join(docs, 'BENCHMARKS.md')) and os.path.isdir(
            os.path.join(checkout, 'skyrs')):
        return docs
    return None


def run(args: argparse.Namespace) -> int:
    if args.write and args.docs is None:
        args.docs = checkout_docs()
        if args.docs is None:
            print('python -m sky_fallback bench: error: --write needs --docs '
                  'DIR: sky_fallback runs installed, not from a checkout',
                  file=sys.stderr)
            return 2
    started = time.perf_counter()
    sample_seconds = (args.sample_ms or (5 if args.quick else 10)) / 1e3
    native = _native()
    info = machine_info(native)
    if os.environ.get(rust_fallback.FORCE_NATIVE_VARIABLE) or os.environ.get(
            rust_fallback.GATE_VARIABLE):
        info['warning'] = (
            f'{rust_fallback.FORCE_NATIVE_VARIABLE} / '
            f'{rust_fallback.GATE_VARIABLE} were set: the api column is not '
            'the shipped routing')
    for name in ('SKYPILOT_POD_CPU_CORE_LIMIT', 'SKYPILOT_POD_MEMORY_GB_LIMIT',
                 'SKYPILOT_POD_MEMORY_BYTES_LIMIT'):
        if name in os.environ:
            print(f'bench: unsetting {name} for the run', file=sys.stderr)
            del os.environ[name]
    try:
        upstream_modules = _upstream()
    except ImportError:
        print('bench: SkyPilot is not installed; the python column is the '
              'baseline', file=sys.stderr)
        upstream_modules = (None, None)
    workdir = args.workdir or tempfile.mkdtemp(prefix='sky_rs_bench_')
    os.makedirs(workdir, exist_ok=True)
    log = lambda line: print(line, file=sys.stderr, flush=True)
    log(f'bench: fixtures in {workdir} ...')
    fx = Fixtures(workdir, args.quick)
    try:
        cases = build_cases(fx, upstream_modules, native)
        if args.only:
            cases = [c for c in cases if args.only in c.function]
        if args.rounds:
            for case in cases:
                if case.rounds > 5:
                    case.rounds = args.rounds
        elif args.quick:
            for case in cases:
                case.rounds = min(case.rounds, 5)
        # Warm the page cache and every code path once before timing.
        results = [run_case(case, sample_seconds, log) for case in cases]
        dispatch = dispatch_cost(native) if not args.only else None
        flat = (flatness(fx, rounds=5 if args.quick else 31)
                if not args.only or 'read_last' in args.only else None)
        big_label = _human(fx.big)
        load = (load_figures(fx, upstream_modules, sample_seconds, log)
                if not args.only else None)
        if load is not None:
            load['noise'] = _bench_load.noise_with(load['noise'],
                                                   same_function_pairs(results))
    finally:
        fx.close()
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    info['load_after'] = _load()
    checks = check_targets(results, dispatch, flat, big_label, load)
    routes = rust_fallback.routes()
    duration = time.perf_counter() - started
    rounds = sorted({c.rounds for c in cases})
    settings = {
        'sample_ms': sample_seconds * 1e3,
        'rounds_text': (f'{rounds[-1]} rounds ({rounds[0]} to {rounds[-2]} '
                        'for the slow workloads: large files, the batches)')
                       if len(rounds) > 1 else f'{rounds[0]} rounds',
        'duration': duration,
        'command': 'python -m sky_fallback bench' +
                   (' --quick' if args.quick else '') +
                   (' --write' if args.write else ''),
    }
    print()
    print(summary_table(results, load, info))
    if dispatch is not None:
        print(f'Gate and dispatch: {dispatch["dispatch"] * 1e6:.3f} µs per '
              'call.')
    print(f'Took {duration:.0f} s. The goals, and every figure of a full '
          'run: docs/BENCHMARKS.md (`make bench`).')
    if args.json:
        with open(args.json, 'w', encoding='utf-8') as f:
            json.dump(
                {
                    'machine': info,
                    'settings': settings,
                    'results': [_result_json(r) for r in results],
                    'targets': checks,
                    'dispatch': dispatch,
                    'flat': flat,
                    'load': _load_json(load),
                },
                f,
                indent=1)
    if args.write:
        os.makedirs(args.docs, exist_ok=True)
        picture = render_picture(results,
                                 os.path.join(args.docs, 'benchmarks.png'))
        text = render_markdown(info, settings, results, checks, dispatch,
                               load, routes,
                               'benchmarks.png' if picture else None, flat,
                               big_label)
        with open(os.path.join(args.docs, 'BENCHMARKS.md'), 'w',
                  encoding='utf-8') as f:
            f.write(text)
        print(f'bench: wrote {os.path.join(args.docs, "BENCHMARKS.md")}' +
              (f' and {picture}' if picture else
               ' (no picture: matplotlib is not installed)'))
    return 0


def _load_json(load: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    if load is None:
        return None
    figures = dict(load)
    figures['busy_machine'] = [_result_json(r) for r in load['busy_machine']]
    if load['config_hash'] is not None:
        figures['config_hash'] = _result_json(load['config_hash'])
    return figures


def _result_json(r: Result) -> Dict[str, Any]:
    return {
        'function': r.case.function,
        'workload': r.case.workload,
        'rounds': r.case.rounds,
        'per_call': r.per_call,
        'spread': r.spread,
        'loops': r.loops,
        'equal': r.equal,
        'note': r.note,
        'ratio_api': r.ratio('api'),
        'ratio_sky_rs': r.ratio('sky_rs'),
    }

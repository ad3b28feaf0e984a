"""What a run says: the terminal's table and docs/BENCHMARKS.md.

The figures come from ``workloads``, ``scenarios`` and ``targets``; the prose
that explains what bounds them (``NOTES``) was written once, from component
costs measured on the machine of the first published run.
"""

import datetime
import os
import platform
from typing import Any, Callable, Dict, List, Optional

from benchmarks import targets
from benchmarks import timing
from benchmarks import workloads
from benchmarks.fixtures import GiB
from benchmarks.fixtures import human_size
from sky_fallback import _bench

_fmt_time = _bench.format_seconds


def summary_table(results: List[timing.Result], load: Optional[Dict[str, Any]],
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


def machine_info(extension: Any) -> Dict[str, Any]:
    """The machine and the versions measured on, for the report's Machine
    section (``extension``: the loaded Go extension, or None)."""
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
        'go': extension.go_version() if extension is not None else None,
        'skypilot': skypilot,
        'psutil': psutil_version,
        'load_before': load_average(),
    }


def load_average() -> Optional[str]:
    """The 1, 5 and 15 minute load averages, as text."""
    try:
        return ' '.join(f'{x:.2f}' for x in os.getloadavg())
    except OSError:
        return None


def _fmt_ratio(value: Optional[float]) -> str:
    return '-' if value is None else f'{value:.2f}×'


def _equal_mark(result: timing.Result) -> str:
    marks = []
    for variant in ('python', 'api', 'sky_rs'):
        ok = result.equal.get(variant)
        if ok is False:
            marks.append(f'{variant} differs')
        elif variant in result.note and variant == 'sky_rs':
            marks.append('sky_rs declines')
    return 'yes' if not marks else ', '.join(marks)


def headline(results: List[timing.Result], checks: List[Dict[str, Any]]) -> str:
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
                    results: List[timing.Result], checks: List[Dict[str, Any]],
                    dispatch: Optional[Dict[str, float]],
                    load: Optional[Dict[str, Any]], routes: Dict[str, str],
                    picture: Optional[str],
                    flat: Optional[Dict[int, Dict[str, float]]] = None,
                    big_label: str = '1 GiB') -> str:
    out: List[str] = []
    w = out.append
    w('# Benchmarks')
    w('')
    w('Made by `make bench` (`python -m benchmarks --write`, run from a '
      'checkout: the suite is `benchmarks/`, not part of the package); '
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
      'so their ratio suffers less than their times. `timeit` times the '
      'samples and pyperf takes the medians (`python -m benchmarks --json '
      'FILE` keeps every sample for `python -m pyperf stats` and '
      '`compare_to`); the interleaved rounds and the equality check are this '
      'project\'s own (`benchmarks/timing.py`).')
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
            *(_fmt_time(r.per_call.get(v)) for v in timing.DOORS),
            f'**{_fmt_ratio(r.ratio("api"))}**',
            workloads.route_of(r.case, routes),
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
            w(f'| {r.case.series} | {human_size(r.case.size or 0)} | '
              f'{_fmt_time(r.per_call.get("upstream"))} | '
              f'{_fmt_time(r.per_call.get("api"))} | '
              f'{_fmt_ratio(r.ratio("api"))} |')
        w('')
        w('</details>')
        w('')
    w(NOTES)
    return '\n'.join(out)


def render_load(w: Callable[[str], None], results: List[timing.Result],
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
    bands = targets.section_bands(load)
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
              f'{r.ratio(timing.AGAIN) or 0:.3f} | {_equal_mark(r)} |')
        w('')
    config = load.get('config_hash')
    if config is not None:
        w('### The config hash of a launch')
        w('')
        w('`sky.backends.backend_utils._deterministic_cluster_yaml_hash` hashes '
          'the generated cluster YAML and every file of its file mounts on '
          'each launch: SkyPilot\'s wheel and the cloud credential files and '
          'directories (not the task\'s workdir or `file_mounts`, which go by '
          'rsync). A plain Kubernetes launch hashes one file; the row below '
          'is a credentials directory of 20,000 files. Upstream calls '
          '`hash_file` once a file, the one '
          '`patch_skypilot()` installs '
          '(`sky_fallback.skypilot.config_hash`) has a '
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
    for row in targets.worst_per_function(targets.all_rows(results, load)):
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



"""Time SkyPilot's server-side ``--tail N`` against sky_rs's rewrite.

Runs SkyPilot 0.14.1's own ``stream_utils._tail_log_file`` and the
replacement from ``sky_fallback/skypilot/log_tail.py`` in this process, on
generated logs of ~1 MB, 1,000,000 lines (~117 MB) and ~2 GB (about 117 bytes a line, a rich-status payload line every 50
lines), with ``tail=N`` and ``follow=False``, and reports per log and
implementation: wall time and CPU time of the process (all threads) per call,
median and range over the runs; the longest the event loop was late on a 5 ms
timer during the call (what a concurrent request such as ``GET /api/health``
waits at worst); and whether both yielded the same chunks. The load average
is printed with each row: the machine may be shared.

The logs are written first and read while in the page cache (warm reads).

    .venv/bin/python benchmarks/log_tail.py                 # 1M lines and ~2 GB
    .venv/bin/python benchmarks/log_tail.py --runs 5 --large-upstream-runs 0

Upstream reads the whole log line by line (about 30 us a line), so a 2 GB
log costs it minutes a run: ``--large-upstream-runs`` (default 1) sets its
runs there separately.
"""

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from typing import Any, Callable, Dict, List, Tuple

import aiofiles
from sky.server import stream_utils
from sky.utils import message_utils

from sky_fallback import rust_fallback
from sky_fallback.skypilot import log_tail

LINE_BYTES = 117
PAYLOAD_EVERY = 50
TICK = 0.005  # seconds between the event loop probe's wake-ups


def make_lines(count: int) -> bytes:
    """count lines of about LINE_BYTES bytes, a payload every PAYLOAD_EVERY."""
    status = message_utils.encode_payload('<rich_update>[dim]Launching'
                                          '[/dim]</rich_update>')
    lines = []
    for i in range(count):
        if i % PAYLOAD_EVERY == PAYLOAD_EVERY - 1:
            lines.append(status)
            continue
        text = (f'I 12-07 13:47:{i % 60:02d}.{i % 1000:03d} provisioner.py:'
                f'{i % 997}] line {i:09d} of the generated log ')
        lines.append(text.ljust(LINE_BYTES - 1, 'x') + '\n')
    return ''.join(lines).encode('utf-8')


def write_log(path: str, block: bytes, size: int) -> int:
    """Write block over and over to path until it holds at least size bytes
    (block[:size] is a prefix of the 1M lines: its last line may be cut);
    return the size."""
    written = 0
    with open(path, 'wb') as f:
        while written < size:
            f.write(block)
            written += len(block)
    return written


async def timed_tail(function: Callable[..., Any], path: str,
                     tail: int) -> Tuple[float, float, float, List[str]]:
    """(wall seconds, CPU seconds, the event loop's worst lateness, the
    chunks) of one call."""
    loop = asyncio.get_running_loop()
    lateness = [0.0]
    running = True

    async def probe():
        while running:
            before = loop.time()
            await asyncio.sleep(TICK)
            lateness.append(loop.time() - before - TICK)

    probing = asyncio.ensure_future(probe())
    await asyncio.sleep(0)
    wall, cpu = time.perf_counter(), time.process_time()
    async with aiofiles.open(path, 'rb') as f:
        chunks = [chunk async for chunk in function(f, None, False, tail, False)]
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    running = False
    await probing
    return wall, cpu, max(lateness), chunks


def summary(values: List[float]) -> str:
    if not values:
        return 'not run'
    median = statistics.median(values)
    return f'{median:10.4f} s  [{min(values):.4f} .. {max(values):.4f}]'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--tail', type=int, default=1000)
    parser.add_argument('--runs', type=int, default=3,
                        help='runs of each implementation per log')
    parser.add_argument('--large-upstream-runs', type=int, default=1,
                        help="upstream's runs on the ~2 GB log")
    parser.add_argument('--large-bytes', type=int, default=2 << 30)
    parser.add_argument('--dir', default=None,
                        help='where to write the logs (default: a temp dir)')
    args = parser.parse_args()

    if not rust_fallback.is_rust_available():
        sys.exit('the Go extension is not available: '
                 f'{rust_fallback.get_backend_info()["reason"]}')
    installed = stream_utils._tail_log_file  # pylint: disable=protected-access
    if log_tail.source_sha256(installed) != log_tail.SOURCE_SHA256:
        sys.exit('the installed SkyPilot is not 0.14.1: nothing to compare')
    replaced = log_tail.replacement(installed)

    print(f'python {sys.version.split()[0]}, {os.cpu_count()} CPUs, '
          f'tail={args.tail}, runs={args.runs}')
    block = make_lines(1_000_000)
    with tempfile.TemporaryDirectory(dir=args.dir) as directory:
        logs = [('~1 MB', os.path.join(directory, 'tiny.log'), 1_000_000,
                 args.runs),
                ('1M lines', os.path.join(directory, 'small.log'), len(block),
                 args.runs),
                ('~2 GB', os.path.join(directory, 'large.log'),
                 args.large_bytes, args.large_upstream_runs)]
        for name, path, size, upstream_runs in logs:
            size = write_log(path, block[:size], size)
            results: Dict[str, Dict[str, List[float]]] = {}
            chunks: Dict[str, List[str]] = {}
            # Interleaved, ours first: a slow upstream run does not shift
            # the page cache under ours.
            for run in range(max(args.runs, upstream_runs)):
                for label, function, runs in (('sky_rs', replaced, args.runs),
                                              ('upstream', installed,
                                               upstream_runs)):
                    if run >= runs:
                        continue
                    wall, cpu, late, got = asyncio.run(
                        timed_tail(function, path, args.tail))
                    row = results.setdefault(label, {
                        'wall': [], 'cpu': [], 'late': [], 'load': []
                    })
                    row['wall'].append(wall)
                    row['cpu'].append(cpu)
                    row['late'].append(late)
                    row['load'].append(os.getloadavg()[0])
                    chunks.setdefault(label, got)
                    if got != chunks[label]:
                        sys.exit(f'{label} yielded different chunks across runs')
            if 'upstream' not in chunks:
                same = 'upstream not run'
            elif chunks['upstream'] == chunks['sky_rs']:
                same = 'same chunks as upstream'
            else:
                same = 'DIFFERENT CHUNKS FROM UPSTREAM'
            print(f'\n{name}: {size / 1e6:,.0f} MB, {len(chunks["sky_rs"])} '
                  f'lines yielded, {same}')
            for label, row in results.items():
                print(f'  {label:8} wall {summary(row["wall"])}   '
                      f'cpu {summary(row["cpu"])}')
                print(f'  {"":8} event loop late at worst '
                      f'{summary(row["late"])}   load average '
                      f'{min(row["load"]):.2f} .. {max(row["load"]):.2f}')
            os.unlink(path)


if __name__ == '__main__':
    main()

"""``python -m benchmarks``: every function timed four ways on this machine.

Upstream SkyPilot, the Python reference, the public API and sky_rs itself,
interleaved (``benchmarks/timing.py``); then threads, a busy Python thread, a
busy machine and the config hash (``benchmarks/scenarios.py``), and the
issues' targets. Prints the speed-up of the public API over upstream;
``--write`` writes docs/BENCHMARKS.md and docs/benchmarks.png (``make
bench``). Without SkyPilot the Python reference is the baseline (``make``
prints ``--quick``'s table so).
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
from typing import Any, List, Optional

import pyperf

from benchmarks import picture
from benchmarks import report
from benchmarks import scenarios
from benchmarks import targets
from benchmarks import timing
from benchmarks import workloads
from benchmarks.fixtures import Fixtures
from benchmarks.fixtures import human_size
from benchmarks.server import report as server_report
from sky_fallback import rust_fallback

CHECKOUT_DOCS = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'docs')


def parser() -> argparse.ArgumentParser:
    """The command line of ``python -m benchmarks``."""
    bench = argparse.ArgumentParser(
        prog='python -m benchmarks',
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
                       default=CHECKOUT_DOCS,
                       help='where --write writes (default: the docs/ '
                       'directory of this checkout)')
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
                       help='also write every sample to this pyperf file '
                       '(python -m pyperf stats FILE; compare_to OLD NEW)')
    bench.add_argument('--workdir',
                       default=None,
                       help='where to make the fixtures (default: a temporary '
                       'directory, removed afterwards)')
    return bench


def every_benchmark(results: List[timing.Result],
                    load: Optional[dict]) -> List[pyperf.Benchmark]:
    """The pyperf benchmarks of every figure the run timed."""
    found = [b for r in results for b in r.benchmarks.values()]
    if load is not None:
        timed = list(load['busy_machine'])
        if load['config_hash'] is not None:
            timed.append(load['config_hash'])
        found += [b for r in timed for b in r.benchmarks.values()]
        rows = (load['threads'] + load['busy_thread'] +
                load['noise']['rows'])
        found += [
            b for row in rows for b in row.get('benchmarks', {}).values()
        ]
    return found


def write_pyperf(path: str, benchmarks: List[pyperf.Benchmark]) -> None:
    """Every benchmark of the run in one pyperf file."""
    suite = pyperf.BenchmarkSuite(benchmarks[:1])
    for benchmark in benchmarks[1:]:
        suite.add_runs(benchmark)
    suite.dump(path, replace=True)


def main(argv: Optional[List[str]] = None) -> int:
    args = parser().parse_args(argv)
    started = time.perf_counter()
    sample_seconds = (args.sample_ms or (5 if args.quick else 10)) / 1e3
    extension = workloads.native()
    info = report.machine_info(extension)
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
    skypilot: Any
    try:
        skypilot = workloads.upstream_modules()
    except ImportError:
        print('bench: SkyPilot is not installed; the python column is the '
              'baseline', file=sys.stderr)
        skypilot = (None, None)
    workdir = args.workdir or tempfile.mkdtemp(prefix='sky_rs_bench_')
    os.makedirs(workdir, exist_ok=True)
    log = lambda line: print(line, file=sys.stderr, flush=True)
    log(f'bench: fixtures in {workdir} ...')
    fx = Fixtures(workdir, args.quick)
    try:
        cases = workloads.build_cases(fx, skypilot, extension)
        if args.only:
            cases = [c for c in cases if args.only in c.function]
        if args.rounds:
            for case in cases:
                if case.rounds > 5:
                    case.rounds = args.rounds
        elif args.quick:
            for case in cases:
                case.rounds = min(case.rounds, 5)
        results = [
            timing.run_case(case, sample_seconds, log) for case in cases
        ]
        dispatch = (workloads.dispatch_cost(extension)
                    if not args.only else None)
        flat = (workloads.flatness(fx, rounds=5 if args.quick else 31)
                if not args.only or 'read_last' in args.only else None)
        big_label = human_size(fx.big)
        load = (scenarios.load_figures(fx, skypilot, sample_seconds, log)
                if not args.only else None)
        if load is not None:
            load['noise'] = scenarios.noise_with(
                load['noise'], scenarios.same_function_pairs(results))
    finally:
        fx.close()
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    info['load_after'] = report.load_average()
    checks = targets.check_targets(results, dispatch, flat, big_label, load)
    routes = rust_fallback.routes()
    duration = time.perf_counter() - started
    rounds = sorted({c.rounds for c in cases})
    settings = {
        'sample_ms': sample_seconds * 1e3,
        'rounds_text': (f'{rounds[-1]} rounds ({rounds[0]} to {rounds[-2]} '
                        'for the slow workloads: large files, the batches)')
                       if len(rounds) > 1 else f'{rounds[0]} rounds',
        'duration': duration,
        'command': 'python -m benchmarks' +
                   (' --quick' if args.quick else '') +
                   (' --write' if args.write else ''),
    }
    print()
    print(report.summary_table(results, load, info))
    if dispatch is not None:
        print(f'Gate and dispatch: {dispatch["dispatch"] * 1e6:.3f} µs per '
              'call.')
    print(f'Took {duration:.0f} s. The goals, and every figure of a full '
          'run: docs/BENCHMARKS.md (`make bench`).')
    timed = every_benchmark(results, load)
    if args.json and timed:
        write_pyperf(args.json, timed)
        print(f'bench: wrote every sample to {args.json} (python -m pyperf '
              f'stats {args.json})')
    if args.write:
        os.makedirs(args.docs, exist_ok=True)
        drawn = picture.render_picture(
            results, os.path.join(args.docs, 'benchmarks.png'))
        text = report.render_markdown(info, settings, results, checks,
                                      dispatch, load, routes,
                                      'benchmarks.png' if drawn else None,
                                      flat, big_label)
        path = os.path.join(args.docs, 'BENCHMARKS.md')
        # The section `make bench-server` writes at the top is kept.
        try:
            with open(path, encoding='utf-8') as f:
                kept = server_report.kept_section(f.read())
        except FileNotFoundError:
            kept = None
        with open(path, 'w', encoding='utf-8') as f:
            f.write(server_report.splice(text, kept))
        print(f'bench: wrote {os.path.join(args.docs, "BENCHMARKS.md")}' +
              (f' and {drawn}' if drawn else
               ' (no picture: matplotlib is not installed)'))
    return 0


if __name__ == '__main__':
    sys.exit(main())

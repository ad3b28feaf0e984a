"""``python -m benchmarks.server``: the three workloads through a stock and
a plugin API server at once (``make bench-server``; see the package's
docstring). ``--write`` rewrites the section "What users wait on, through a
real API server" of docs/BENCHMARKS.md; ``--json FILE`` keeps every figure.
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional

from benchmarks import report as functions_report
from benchmarks import workloads as functions_workloads
from benchmarks.server import pair
from benchmarks.server import report
from benchmarks.server import workloads

REPO_ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHECKOUT_DOCS = os.path.join(REPO_ROOT, 'docs')
# Above this 1-minute load average (on 2 CPUs) the report says the machine
# was busy.
BUSY_LOAD = 1.5

# name -> (full run, --quick)
SETTINGS: Dict[str, Any] = {
    'lines': (1_000_000, 20_000),
    'tail_rounds': (3, 1),
    'plugin_calls': (10, 3),
    'large_copies': (17, 5),
    'large_rounds': (3, 1),
    'status_rounds': (4, 1),
    'serial': (20, 5),
    'per_client': (4, 2),
    'soak_total': (1000, 60),
    'soak_block': (100, 20),
    'launch_rounds': (5, 1),
    'idle_seconds': (10.0, 2.0),
}


def parser() -> argparse.ArgumentParser:
    bench = argparse.ArgumentParser(
        prog='python -m benchmarks.server',
        description='Time the server-side tail, the cluster status request '
        'and the launch dry run through a stock and a plugin SkyPilot API '
        'server at once.')
    bench.add_argument('--quick', action='store_true',
                       help='a 20,000-line log, one round, a short soak '
                       '(a few minutes; what tests_server runs)')
    bench.add_argument('--full', action='store_true',
                       help='also run stock once on the ~2 GB log (17 times '
                       'the 1M-line one: 10-20 minutes more)')
    bench.add_argument('--only', choices=('tail', 'status', 'launch'),
                       action='append',
                       help='only this workload (repeatable)')
    bench.add_argument('--write', action='store_true',
                       help='rewrite the server section of BENCHMARKS.md in '
                       '--docs')
    bench.add_argument('--docs', default=CHECKOUT_DOCS)
    bench.add_argument('--json', default=None,
                       help='write every figure to this file')
    bench.add_argument('--workdir', default=None,
                       help='where to write the logs (default: a temporary '
                       'directory, removed afterwards)')
    return bench


def _commit() -> str:
    try:
        return subprocess.run(['git', 'rev-parse', '--short', 'HEAD'],
                              cwd=REPO_ROOT, capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return '?'


def machine_cpu_seconds() -> float:
    """CPU seconds every CPU of the machine has been busy since boot
    (/proc/stat: all but idle and iowait)."""
    with open('/proc/stat', encoding='ascii') as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    busy = sum(fields) - fields[3] - fields[4]
    return busy / os.sysconf('SC_CLK_TCK')


def own_cpu_seconds() -> float:
    """CPU seconds of this process and of the children it has reaped (the
    `sky` commands)."""
    return sum(getattr(resource.getrusage(who), field)
               for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
               for field in ('ru_utime', 'ru_stime'))


def machine() -> Dict[str, Any]:
    import sky_rs  # pylint: disable=import-outside-toplevel
    info = functions_report.machine_info(functions_workloads.native())
    info['sky_rs'] = sky_rs.__version__
    info['commit'] = _commit()
    return info


def main(argv: Optional[List[str]] = None) -> int:
    args = parser().parse_args(argv)
    pick = 1 if args.quick else 0
    settings = {name: values[pick] for name, values in SETTINGS.items()}
    only = set(args.only or ('tail', 'status', 'launch'))
    started = time.monotonic()
    log = lambda line: print(line, file=sys.stderr, flush=True)
    info = machine()
    log(f'bench-server: load average {info["load_before"]}')
    workdir = args.workdir or tempfile.mkdtemp(prefix='sky_rs_bench_server_')
    os.makedirs(workdir, exist_ok=True)
    command = 'python -m benchmarks.server' + ''.join(
        f' {flag}' for flag, on in (('--quick', args.quick),
                                    ('--full', args.full),
                                    ('--write', args.write)) if on)
    figures: Dict[str, Any] = {'command': command, 'settings': settings}
    machine_busy, own_before = machine_cpu_seconds(), own_cpu_seconds()
    try:
        with pair.ServerPair(workdir) as servers:
            log('bench-server: both servers up: ' + ', '.join(
                f'{s} {servers[s].url}' for s in pair.SIDES))
            served = workloads.warm_up(servers, workdir, log)
            pools = {side: pair.pids_of(servers[side], 'executor')
                     for side in pair.SIDES}
            figures['plugin_patched'] = pair.patched_by_role(servers[pair.PLUGIN])
            figures['mapping_extension'] = {
                side: pair.mapping_extension(servers[side])
                for side in pair.SIDES
            }
            figures['idle_cpu'] = workloads.idle_cpu(servers,
                                                     settings['idle_seconds'])
            if 'tail' in only:
                figures['tail'] = workloads.tail(
                    servers, workdir, lines=settings['lines'],
                    rounds=settings['tail_rounds'],
                    plugin_calls=settings['plugin_calls'],
                    large_copies=settings['large_copies'],
                    large_rounds=settings['large_rounds'],
                    stock_large=args.full, progress=log)
            if 'status' in only:
                figures['status'] = workloads.status_requests(
                    servers, rounds=settings['status_rounds'],
                    serial=settings['serial'],
                    per_client=settings['per_client'],
                    soak_total=settings['soak_total'],
                    soak_block=settings['soak_block'],
                    served_before=served, pools=pools, progress=log)
            if 'launch' in only:
                figures['launch'] = workloads.launch(
                    servers, rounds=settings['launch_rounds'], progress=log)
            figures['unexpected_kubernetes_requests'] = [
                str(r) for r in servers.unexpected_kubernetes_requests()]
        figures['leftovers'] = {
            side: {'survivors': [str(p) for p in
                                 servers[side].stop_report.survivors],
                   'command_leftovers': servers[side].command_leftovers}
            for side in pair.SIDES
        }
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    info['load_after'] = functions_report.load_average()
    figures['duration'] = time.monotonic() - started
    # What other work took of the machine meanwhile: all the CPU it was
    # busy, less the servers' trees and this process with its commands.
    ours = (sum(servers[side].stop_report.cpu_seconds for side in pair.SIDES)
            + own_cpu_seconds() - own_before)
    other = max(0.0, machine_cpu_seconds() - machine_busy - ours)
    info['other_cpu'] = {'seconds': other, 'ours': ours,
                         'share': other / (figures['duration'] *
                                           (os.cpu_count() or 1))}
    load_before = float((info['load_before'] or '0').split()[0])
    if load_before > BUSY_LOAD or info['other_cpu']['share'] > 0.10:
        info['busy'] = (f'The machine was busy (1-minute load '
                        f'{load_before:.2f} before the run; other work took '
                        f'{info["other_cpu"]["share"]:.0%} of its CPU during '
                        'it): ratios suffer less than times, as both servers '
                        'share the rounds.')
    figures['machine'] = info
    print(report.terminal_table(figures))
    print(f'Took {figures["duration"]:.0f} s; load average before / after: '
          f'{info["load_before"]} / {info["load_after"]}.')
    if args.json:
        with open(args.json, 'w', encoding='utf-8') as f:
            json.dump(figures, f, indent=1, default=str)
    if args.write:
        path = os.path.join(args.docs, 'BENCHMARKS.md')
        try:
            with open(path, encoding='utf-8') as f:
                text = f.read()
        except FileNotFoundError:
            text = ''
        os.makedirs(args.docs, exist_ok=True)
        with open(path, 'w', encoding='utf-8') as f:
            f.write(report.splice(text, report.section(figures)))
        print(f'bench-server: wrote the server section of {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())

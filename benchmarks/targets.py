"""The issues' targets (#5 and #11), judged on one run's figures.

Every public-API-vs-upstream figure of the run is a row; each table has its
noise band (upstream against itself, ``scenarios.noise_band``), and a row
counts as at least 1× when it is within that band of 1×.
"""

from typing import Any, Dict, List, Optional

from benchmarks import timing
from benchmarks import workloads
from sky_fallback import _bench
from sky_fallback import rust_fallback


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
        'Busy machine': [r.ratio(timing.AGAIN)
                         for r in load.get('busy_machine') or []
                         if r.ratio(timing.AGAIN)],
    }
    return {
        section: max([band] + [abs(1 - ratio) for ratio in ratios])
        for section, ratios in again.items()
    }


def all_rows(results: List[timing.Result],
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


def check_targets(results: List[timing.Result],
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
        if workloads.route_of(result.case, rust_fallback.routes()) == 'python':
            detail += ', answered by the Python reference'
    if result is not None and 'api' in result.spread and (
            'upstream' in result.spread):
        api, upstream = (
            [_bench.format_seconds(s) for s in result.spread[door]]
            for door in ('api', 'upstream'))
        detail += (f'; samples api {api[0]}–{api[1]}, upstream '
                   f'{upstream[0]}–{upstream[1]}')
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



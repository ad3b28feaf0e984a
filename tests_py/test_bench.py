"""The benchmark harness (sky_fallback._bench): its logic, not its timings.

No test here asserts a duration; they check that every door is called with
the same arguments, that results are compared with upstream's, that targets
are judged as the issue states them, and that the report renders.
"""

from sky_fallback import _bench


def case(name='base36_encode', workload='w', **calls):
    return _bench.Case(name, workload, ('ff',), calls=calls, rounds=3)


def test_timer_calls_with_the_arguments():
    seen = []

    def function(*args, **kwargs):
        seen.append((args, kwargs))

    run = _bench._timer(function, (1, 'two'), {'three': 3})  # pylint: disable=protected-access
    assert run(4) >= 0
    assert seen == [((1, 'two'), {'three': 3})] * 4


def test_run_case_compares_with_upstream_and_notes_declines():

    def declines(_):
        raise NotImplementedError('not here')

    result = _bench.run_case(
        case(upstream=lambda s: int(s, 16),
             python=lambda s: 255,
             api=lambda s: 254,
             sky_rs=declines), 1e-4, lambda line: None)
    assert result.equal == {'upstream': True, 'python': True, 'api': False}
    assert 'sky_rs' in result.note and result.per_call['sky_rs'] is None
    assert all(result.per_call[v] > 0 for v in ('upstream', 'python', 'api'))
    assert result.ratio('api') > 0


def fake(name, workload, api, upstream=1.0, **options):
    result = _bench.Result(_bench.Case(name, workload, **options), {
        'upstream': upstream,
        'python': upstream,
        'api': api,
        'sky_rs': api
    }, {}, {}, {}, {})
    return result


def test_targets():
    results = [
        fake('read_last_n_lines', 'n=10, 1 MiB log', 0.25, args=('p', 10)),
        fake('read_last_n_lines', 'n=10, 1 GiB log', 0.4, args=('p', 10)),
        fake('read_last_n_lines', 'n=1000, 1 MiB log', 0.2, args=('p', 1000)),
        fake('read_last_n_lines', 'n=1000, 1 GiB log', 0.22,
             args=('p', 1000)),
        fake('base36_encode', '32 hex digits', 0.5),
        fake('format_float', '3.14', 1.25),
    ]
    flat = {10: {'ratio': 1.6}, 1000: {'ratio': 1.1}}
    checks = {
        c['target']: c
        for c in _bench.check_targets(results, {'dispatch': 1e-7}, flat)
    }
    assert checks['read_last_n_lines n=10, 1 MiB log']['met'] is True
    assert checks['read_last_n_lines n=1000, 1 MiB log']['met'] is True
    assert checks['read_last_n_lines n=10, 1 GiB log']['met'] is False  # 2.5x
    flat = [c for t, c in checks.items() if 'flat' in t]
    assert [c['met'] for c in flat] == [False, True]  # 1.6 and 1.1
    assert checks['base36_encode 32 hex digits']['met'] is False  # 2x < 4x
    every = checks['every function, every workload: public API vs upstream']
    assert every['met'] is False and 'format_float' in every['detail']
    assert checks['gate and dispatch per call (µs)']['met'] is True
    text = _bench.headline(results, list(checks.values()))
    assert 'targets met' in text and 'missed' in text


def test_report_renders():
    results = [
        fake('base36_encode', '32 hex digits', 0.1),
        fake('read_last_n_lines', 'n=10, 4 KiB log', 0.5, size=4096,
             series='read_last_n_lines n=10', table=False,
             args=('p', 10)),
    ]
    info = {
        'cpu': 'cpu', 'cpus': 2, 'memory_gib': 1, 'kernel': 'k',
        'python': 'CPython 3', 'go': 'go1', 'skypilot': '0', 'psutil': '5',
        'date': 'today', 'load_before': '0', 'load_after': '0'
    }
    settings = {'sample_ms': 25, 'rounds_text': '15', 'duration': 1,
                'command': 'python -m sky_fallback bench --write'}
    flat = {10: {'small': 5e-6, 'big': 6e-6, 'ratio': 1.2}}
    text = _bench.render_markdown(info, settings, results,
                                  _bench.check_targets(results, None, flat),
                                  None, [], {'base36_encode': 'go'},
                                  'benchmarks.png', flat)
    assert '| `base36_encode` | 32 hex digits |' in text
    assert '| 10 | 5.00 µs | 6.00 µs | 1.20 |' in text
    assert '10.00×' in text
    assert 'benchmarks.png' in text and '4 KiB' in text

"""`python -m sky_fallback compare`: reports no difference on the real
backends, and finds one planted in either of them."""

import importlib.util
import json
import os
import re
import subprocess
import sys

import pytest

from sky_fallback import __main__ as cli
from sky_fallback import _compare
from sky_fallback import rust_fallback
from tests_py.support import FUNCTION_NAMES
from tests_py.support import NOT_UPSTREAM


def have_skypilot() -> bool:
    return importlib.util.find_spec('sky') is not None


def native_available() -> bool:
    if os.environ.get('SKY_RS_NO_NATIVE') == '1':
        return False
    try:
        import sky_rs  # pylint: disable=import-outside-toplevel
        sky_rs.load()
    except Exception:  # pylint: disable=broad-except
        return False
    return True


@pytest.fixture(autouse=True)
def no_go_when_left_out(monkeypatch):
    """With the Go backend left out (SKY_RS_NO_NATIVE=1) no Go runs in this
    process: the go row is unavailable, as without the extension."""
    if os.environ.get('SKY_RS_NO_NATIVE') == '1':
        monkeypatch.setattr(
            _compare, '_native_function', lambda name:
            (None, 'left out (SKY_RS_NO_NATIVE=1)'))


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, '-m', 'sky_fallback', *args],
                          capture_output=True,
                          text=True,
                          timeout=120,
                          check=False,
                          env=env)


def cases(tmp_path):
    """(function, args, kwargs) covering every function, results and
    exceptions, inputs Go declines, and both forms of the file-mount one."""
    log = tmp_path / 'app.log'
    log.write_bytes(b'one\r\ntwo\n\xff\xfe\nthree')
    directory = tmp_path / 'dir'
    directory.mkdir()
    for name in ('a', 'b', '.hidden'):
        (directory / name).touch()
    missing = str(tmp_path / 'missing')
    all_cases = [
        ('read_last_n_lines', (str(log), 2), {}),
        ('read_last_n_lines', (str(log), 10, 3), {}),
        ('read_last_n_lines', (str(log), 0), {}),
        ('read_last_n_lines', (str(log), 2), {
            'encoding': 'latin-1'
        }),
        ('read_last_n_lines', (missing, 1), {}),
        ('read_last_n_lines', (str(directory), 1), {}),
        ('hash_file', (str(log), 'sha256'), {}),
        ('hash_file', (str(log), 'MD5'), {}),
        ('hash_file', (str(log), 'sha3_256'), {}),
        ('hash_file', (missing, 'nonsense'), {}),
        ('hash_file', (str(log), 'nonsense'), {}),
        ('find_free_port', (0,), {}),
        ('find_free_port', (70000,), {}),
        ('base36_encode', ('deadbeef',), {}),
        ('base36_encode', (' 0x_ff ',), {}),
        ('base36_encode', ('f' * 100,), {}),
        ('base36_encode', ('xyz',), {}),
        ('base36_encode', ('-ff',), {}),
        ('format_float', (2.675, 2), {}),
        ('format_float', (-0.0,), {}),
        ('format_float', (float('nan'),), {}),
        ('format_float', (True,), {}),
        ('format_float', (1e300,), {}),
        ('format_float', (1.5, -1), {}),
        ('truncate_long_string', ('a  b  c  d  e  f', 5), {}),
        ('truncate_long_string', ('abcdefghijklmnopqrstuvwxyz', 10), {
            'truncate_middle': True
        }),
        ('truncate_long_string', ('é' * 50,), {}),
        ('get_cpu_count', (), {}),
        ('get_mem_size_gb', (), {}),
        ('get_parallel_threads', (), {}),
        ('get_parallel_threads', ('Kubernetes',), {}),
        ('get_parallel_threads', (5,), {}),
        ('is_process_alive', (os.getpid(),), {}),
        ('is_process_alive', (0,), {}),
        ('get_max_workers_for_file_mounts', ({
            '/dst': str(directory)
        },), {}),
        ('get_max_workers_for_file_mounts', ({
            '/u': 's3://b'
        }, 'kubernetes'), {}),
        ('get_max_workers_for_file_mounts', (), {
            'num_sources': 3,
            'estimated_files_per_source': 100,
            'cloud_str': 'aws'
        }),
        ('estimate_fd_for_directory', (str(directory),), {}),
        ('estimate_fd_for_directory', (missing,), {}),
        ('hash_files', ([str(log), str(directory / 'a')], 'sha256'), {}),
        ('hash_files', ([str(log), missing], 'md5'), {}),
        ('are_processes_alive', ([os.getpid(), 0, -1],), {}),
    ]
    # The batch forms, once the public API has them.
    return [case for case in all_cases if case[0] in _compare.FUNCTION_NAMES]


def test_cases_cover_every_function(tmp_path):
    assert set(FUNCTION_NAMES) <= set(_compare.FUNCTION_NAMES)
    assert {name for name, _, _ in cases(tmp_path)
           } == set(_compare.FUNCTION_NAMES)


def test_no_difference_on_the_real_backends(tmp_path):
    skypilot = have_skypilot()
    native = native_available()
    for name, args, kwargs in cases(tmp_path):
        comparison = _compare.compare(name, args, kwargs)
        results = {r.subject: r for r in comparison.results}
        assert comparison.agree, _compare.format_text(comparison)
        assert results['python'].compared and results['api'].compared
        assert (results['go'].status != 'unavailable') == native
        upstream_runs = (
            name in FUNCTION_NAMES and name not in NOT_UPSTREAM and
            comparison.call
            not in ("base36_encode('-ff')",
                    "get_max_workers_for_file_mounts(num_sources=3, "
                    "estimated_files_per_source=100, cloud_str='aws')"))
        assert results['upstream'].compared == (skypilot and
                                                upstream_runs), comparison.call


def test_environment_variables_reach_every_implementation(monkeypatch):
    monkeypatch.setenv('SKYPILOT_POD_CPU_CORE_LIMIT', '2.9')
    comparison = _compare.compare('get_cpu_count')
    assert comparison.agree
    assert {r.shown for r in comparison.results if r.compared} == {'returns 2'}
    monkeypatch.setenv('SKYPILOT_POD_CPU_CORE_LIMIT', 'two')
    comparison = _compare.compare('get_cpu_count')
    assert comparison.agree
    assert comparison.groups()[0][0] == (
        'raises ValueError: Failed to parse the number of CPUs from two')


def test_a_go_decline_is_not_a_difference(tmp_path):
    if not native_available():
        pytest.skip('the Go extension is not available')
    path = tmp_path / 'f.txt'
    path.write_text('x\n')
    comparison = _compare.compare('hash_file', (str(path), 'sha3_256'))
    go = comparison.results[0]
    assert go.subject == 'go' and go.status == 'declined'
    assert comparison.agree


def test_upstream_is_not_run_where_it_would_hang():
    comparison = _compare.compare('base36_encode', ('-ff',))
    upstream = comparison.results[-1]
    assert upstream.subject == 'upstream'
    assert upstream.status == 'unavailable'
    assert 'loops forever' in upstream.shown
    assert comparison.agree


def test_upstreams_tracebacklimit_is_restored(tmp_path):
    sys.__dict__.pop('tracebacklimit', None)
    _compare.compare('read_last_n_lines', (str(tmp_path / 'missing'), 1))
    assert not hasattr(sys, 'tracebacklimit')


# --- planted differences --------------------------------------------------


def test_finds_a_difference_planted_in_the_reference(monkeypatch, capsys):
    if not (native_available() or have_skypilot()):
        pytest.skip('nothing but the reference to compare it with')
    # pylint: disable=protected-access
    real = rust_fallback._python_format_float
    monkeypatch.setattr(rust_fallback,
                        '_python_format_float',
                        lambda num, precision=1: real(num, precision) + '0')
    monkeypatch.setenv('SKYPILOT_USE_RUST', '0')  # the api row uses it too
    status = cli.main(['compare', 'format_float', '2.675', '2'])
    out = capsys.readouterr().out
    assert status == _compare.EXIT_DIFFERENT == 1
    assert 'result: DIFFERENCE' in out
    # The public format_float may be the reference itself (routed to
    # Python), bound before the plant: the python row has it either way.
    assert re.search(r"\n  python(, api)?: returns '2.670'\n", out)
    if native_available():
        assert "returns '2.67'" in out
    assert 'sky_rs_version: ' in out  # the report names the environment


def test_finds_a_difference_planted_in_go(monkeypatch, capsys):
    if not native_available():
        pytest.skip('the Go extension is not available')
    import sky_rs  # pylint: disable=import-outside-toplevel
    monkeypatch.setattr(sky_rs, 'base36_encode', lambda hex_str: 'zz')
    monkeypatch.setenv('SKYPILOT_USE_RUST', '1')  # the api row trusts go
    status = cli.main(['compare', '--json', 'base36_encode', 'ff'])
    report = json.loads(capsys.readouterr().out)
    assert status == 1
    assert report['agree'] is False
    assert report['results']['go']['shown'] == "returns 'zz'"
    groups = {tuple(g['subjects']): g['outcome'] for g in report['groups']}
    assert groups[('go', 'api')] == "returns 'zz'"  # api trusts go's result
    reference = ('python',) + (('upstream',) if have_skypilot() else ())
    assert groups[reference] == "returns '73'"


def test_finds_an_exception_planted_in_go(monkeypatch, capsys):
    if not native_available():
        pytest.skip('the Go extension is not available')
    import sky_rs  # pylint: disable=import-outside-toplevel

    def wrong(hex_str):
        raise ValueError(f'bad: {hex_str}')

    monkeypatch.setattr(sky_rs, 'base36_encode', wrong)
    assert cli.main(['compare', '--no-upstream', 'base36_encode', 'ff']) == 1
    out = capsys.readouterr().out
    assert '  go: raises ValueError: bad: ff' in out
    # The public API fell back to Python, which answered.
    assert "  python, api: returns '73'" in out


# --- the command line -----------------------------------------------------


def test_cli_on_the_real_backends():
    result = run_cli('compare', 'format_float', '2.675', '2')
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith('compare format_float(2.675, 2)\n')
    assert "  python    returns '2.67'\n" in result.stdout
    assert '\nresult: no difference (' in result.stdout
    shown = 'upstream  returns' if have_skypilot() else 'upstream  SkyPilot'
    assert shown in result.stdout


def test_cli_json(tmp_path):
    path = tmp_path / 'x.log'
    path.write_text('a\nb\n')
    result = run_cli('compare', '--json', '--no-upstream', 'read_last_n_lines',
                     str(path), 'n=1')
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report['call'] == f'read_last_n_lines({str(path)!r}, n=1)'
    assert report['agree'] is True
    assert set(report['results']) == {'go', 'python', 'api', 'upstream'}
    assert report['results']['python']['shown'] == "returns ['b']"
    assert report['results']['upstream']['status'] == 'unavailable'
    assert report['environment']['sky_rs_version'] is not None


@pytest.mark.parametrize('args, message', [
    (['compare', 'no_such_function'], 'unknown function'),
    (['compare', 'format_float'], "missing a required argument: 'num'"),
    (['compare', 'format_float', '1.5', '1', '2'], 'at most 2 positional'),
    (['compare', 'format_float', 'one'], 'cannot read num='),
    (['compare', 'format_float', '1.5', 'precision=2', 'precision=3'
     ], 'given twice'),
    (['compare', 'get_cpu_count', '1'], 'at most 0 positional'),
])
def test_usage_errors_exit_2(args, message, capsys):
    assert cli.main(args) == _compare.EXIT_USAGE == 2
    assert message in capsys.readouterr().err


def test_argparse_errors_exit_2():
    result = run_cli('compare')
    assert result.returncode == 2
    assert 'FUNCTION' in result.stderr


@pytest.mark.parametrize(
    'command', [['--help'], ['info', '--help'], ['compare', '--help']])
def test_help(command):
    result = run_cli(*command)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith('usage: python -m sky_fallback')
    if command == ['--help']:
        assert 'compare' in result.stdout and 'info' in result.stdout
    if command[0] == 'compare':
        assert '0 no difference, 1 a difference, 2 usage error' in ' '.join(
            result.stdout.split())


@pytest.mark.parametrize('function, words, want', [
    ('format_float', ['2.5', '2'], ((2.5, 2), {})),
    ('format_float', ['nan'], ((float('nan'),), {})),
    ('format_float', ['precision=3', '1.25'], ((1.25,), {
        'precision': 3
    })),
    ('base36_encode', ['10'], (('10',), {})),
    ('base36_encode', ['a=b'], (('a=b',), {})),
    ('get_parallel_threads', ['None'], ((None,), {})),
    ('get_parallel_threads', ['aws'], (('aws',), {})),
    ('truncate_long_string', ['x', '5', 'True'], (('x', 5, True), {})),
    ('get_max_workers_for_file_mounts', ["{'/a': '/b'}", 'aws'], (({
        '/a': '/b'
    }, 'aws'), {})),
    ('get_max_workers_for_file_mounts', ['num_sources=3', 'cloud_str=aws'],
     ((), {
         'num_sources': 3,
         'cloud_str': 'aws'
     })),
])
def test_parse_arguments(function, words, want):
    got = _compare.parse_arguments(function, words)
    assert repr(got) == repr(want)


def test_literal_reads_str_parameters_as_literals():
    assert _compare.parse_arguments('base36_encode', ['10'],
                                    literal=True) == ((10,), {})
    comparison = _compare.compare('base36_encode', (10,))
    assert comparison.agree  # every implementation raises the same TypeError

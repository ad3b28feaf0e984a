"""The scripts in examples/ run, on both backends, with the same results.

Each example prints its results on stdout and the backend that answered on
stderr (``backend: go`` or ``backend: python``). It is run as a reader runs
it, in a subprocess, once with ``SKYPILOT_USE_RUST=1`` and once with ``0``:
both runs must succeed, print the same stdout, and name the backend the
gate chose.
"""

import os
import pathlib
import subprocess
import sys

import pytest

EXAMPLES_DIR = pathlib.Path(__file__).resolve().parent.parent / 'examples'
EXAMPLES = sorted(EXAMPLES_DIR.glob('*.py')) if EXAMPLES_DIR.is_dir() else []

if not EXAMPLES:  # an installed wheel's test run: tests_py without examples/
    pytest.skip('no examples/ next to tests_py', allow_module_level=True)

# The user's guide's four scenarios, one script each.
SCENARIOS = {
    'log_processing.py', 'resource_allocation.py', 'health_monitoring.py',
    'metrics_formatting.py'
}


def run_example(path: pathlib.Path, gate: str, *args: str):
    env = dict(os.environ)
    env['SKYPILOT_USE_RUST'] = gate
    return subprocess.run([sys.executable, str(path), *args],
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=120,
                          check=False)


def go_expected() -> bool:
    """Whether the gate open means the Go backend answers in a subprocess."""
    if os.environ.get('SKY_RS_NO_NATIVE') == '1':
        return False
    try:
        import sky_rs  # pylint: disable=import-outside-toplevel
        sky_rs.load()
    except Exception:  # pylint: disable=broad-except
        if os.environ.get('SKY_RS_REQUIRE_NATIVE') == '1':
            raise
        return False
    return True


def _gate() -> str:
    """The gate for single runs: the environment's, unless it is unset."""
    return os.environ.get('SKYPILOT_USE_RUST', '1')


def test_every_scenario_has_an_example():
    assert SCENARIOS <= {p.name for p in EXAMPLES}


@pytest.mark.parametrize('path', EXAMPLES, ids=lambda p: p.name)
def test_example_on_both_backends(path):
    # With the Go backend left out (SKY_RS_NO_NATIVE=1), only Python runs.
    gates = ('0',) if os.environ.get('SKY_RS_NO_NATIVE') == '1' else ('1', '0')
    runs = {gate: run_example(path, gate) for gate in gates}
    for gate, result in runs.items():
        assert result.returncode == 0, (
            f'SKYPILOT_USE_RUST={gate}: exit {result.returncode}\n'
            f'{result.stdout}\n{result.stderr}')
        assert result.stdout.strip(), f'SKYPILOT_USE_RUST={gate}: no output'
    assert 'backend: python' in runs['0'].stderr
    if '1' in runs:
        assert runs['1'].stdout == runs['0'].stdout
        want = 'go' if go_expected() else 'python'
        assert f'backend: {want}' in runs['1'].stderr


@pytest.mark.parametrize('path', EXAMPLES, ids=lambda p: p.name)
def test_example_uses_only_the_public_api(path):
    source = path.read_text(encoding='utf-8')
    imports = [
        line.strip()
        for line in source.splitlines()
        if line.startswith(('import ', 'from '))
    ]
    ours = [line for line in imports if 'sky' in line]
    assert ours, 'imports nothing from sky_fallback'
    for line in ours:
        assert line.startswith(
            ('from sky_fallback import rust_fallback',
             'from sky_fallback.rust_fallback import ')), line
        assert '_python_' not in line and ' _' not in line, line


def test_log_processing_reads_a_given_file(tmp_path):
    log = tmp_path / 'given.log'
    log.write_bytes(b'ok\nERROR one\r\nok\nERROR two\n')
    result = run_example(EXAMPLES_DIR / 'log_processing.py', _gate(), str(log),
                         '3')
    assert result.returncode == 0, result.stderr
    import hashlib  # pylint: disable=import-outside-toplevel
    digest = hashlib.sha256(log.read_bytes()).hexdigest()
    assert result.stdout == ('lines checked: 3\n'
                             'errors: 2\n'
                             '  ERROR one\n'
                             '  ERROR two\n'
                             f'sha256: {digest}\n')


def test_health_monitoring_demo_tells_alive_from_zombie():
    result = run_example(EXAMPLES_DIR / 'health_monitoring.py', _gate())
    assert result.returncode == 0, result.stderr
    assert result.stdout == ('this process: alive\n'
                             'running child: alive\n'
                             'exited child, not yet reaped: not alive\n'
                             'pid 0: not alive\n'
                             'pid above the maximum: not alive\n')


def test_metrics_formatting_matches_skypilot():
    """The example's numbers are what SkyPilot's own functions print."""
    common_utils = pytest.importorskip('sky.utils.common_utils',
                                       reason='SkyPilot is not installed')
    result = run_example(EXAMPLES_DIR / 'metrics_formatting.py', _gate())
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        common_utils.truncate_long_string('gpu_utilization_percent', 24),
        common_utils.format_float(87.456, precision=2)
    ]
    assert (f'instance: {common_utils.format_float(0.5)}CPU--'
            f'{common_utils.format_float(1.5)}GB') in lines
    import hashlib  # pylint: disable=import-outside-toplevel
    run_id = common_utils.base36_encode(
        hashlib.md5(b'my-cluster').hexdigest())[:8]
    assert lines[-1] == f'run id: {run_id}'

"""``make bench-server`` keeps running: ``python -m benchmarks.server
--quick`` starts its two servers, runs every workload and finds every output
of the plugin server equal to stock's. Speed is never asserted here (the
benchmark itself reports it)."""

import json
import subprocess
import sys

from benchmarks.server import report
from tests_server.harness import REPO_ROOT


def test_quick_benchmark_runs_and_outputs_are_equal(tmp_path):
    figures_path = tmp_path / 'figures.json'
    docs = tmp_path / 'docs'
    docs.mkdir()
    (docs / 'BENCHMARKS.md').write_text(
        '# Benchmarks\n\nThe functions\' tables.\n', encoding='utf-8')
    result = subprocess.run(
        [sys.executable, '-m', 'benchmarks.server', '--quick', '--write',
         '--docs', str(docs), '--json', str(figures_path)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=1200,
        check=False)
    assert result.returncode == 0, result.stderr[-6000:]
    figures = json.loads(figures_path.read_text(encoding='utf-8'))

    tail = figures['tail']
    assert tail['small']['equal'], 'the tails streamed different bytes'
    assert tail['large']['equal'], 'the large log\'s tail differs from stock\'s'
    assert tail['small']['stock']['bytes'] > 0
    for side in ('stock', 'plugin'):
        assert tail['small'][side]['same_bytes_every_call']
        assert tail['small'][side]['health']['polls'] > 0
    status = figures['status']
    assert status['equal'], 'a status request answered differently'
    assert status['result']['status'] == 'SUCCEEDED'
    assert min(status['soak']['served'].values()) >= 60
    assert figures['launch']['equal'], figures['launch']['output']
    # The plugin server ran sky_rs where it matters, stock nowhere.
    assert figures['mapping_extension']['stock'] == []
    patched = figures['plugin_patched']
    assert 'sky.server.stream_utils._tail_log_file' in patched['main']
    assert any('executor' in role for role in patched)
    for side in ('stock', 'plugin'):
        assert figures['leftovers'][side] == {'survivors': [],
                                              'command_leftovers': []}
    assert figures['unexpected_kubernetes_requests'] == []

    written = (docs / 'BENCHMARKS.md').read_text(encoding='utf-8')
    assert written.startswith('# Benchmarks\n\n' + report.BEGIN)
    assert 'The functions\' tables.' in written
    assert report.kept_section(written) is not None


def test_splice_replaces_only_the_server_section():
    section = f'{report.BEGIN}\nnew\n{report.END}'
    text = f'# Benchmarks\n\n{report.BEGIN}\nold\n{report.END}\n\nrest\n'
    assert report.splice(text, section) == (
        f'# Benchmarks\n\n{section}\n\nrest\n')
    assert report.splice('# Benchmarks\n\nrest\n', section) == (
        f'# Benchmarks\n\n{section}\n\nrest\n')
    assert report.splice('', section) == f'# Benchmarks\n\n{section}\n'
    assert report.splice(text, None) == text
    assert report.kept_section(report.splice(text, section)) == section

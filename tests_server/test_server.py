"""End to end: a real SkyPilot 0.14.1 API server, stock and with sky_rs's
plugin, planning a launch on a fake Kubernetes cluster.

Each test starts one server (tests_server/harness.py), runs
``sky launch --dryrun -y`` of a one-CPU task through it, and checks:

- the config hash the executor computed (recorded by the test-only plugin
  tests_server/hash_probe.py, listed after the plugin under test) equals
  stock SkyPilot's hash of the same YAML, recomputed in a plain process;
- which processes have sky_rs's Go extension mapped: none on a stock server
  or under ``SKYPILOT_USE_RUST=0``, and the executor that ran the request
  under the plugin;
- that ``sky api stop`` leaves no process of the server, and no ``sky``
  command any, and that nothing tried to reach past loopback;

and streams one log through ``/api/stream`` (the server-side tail) for the
last test, which compares the bytes every server sent.

The plugin is sky_rs's own, listed in the plugins file by
``python -m sky_fallback plugin install`` (:func:`plugin_config`); ``python
-m sky_fallback plugin status`` then reports, from the server, what it did in
each process.
"""

import json
import os
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional, Tuple

import pytest

import yaml

from sky_fallback.skypilot import registry
from tests_server import hash_probe
from tests_server.harness import ApiServer
from tests_server.harness import CommandResult
from tests_server.harness import LAUNCH_TASK_YAML
from tests_server.harness import ServerProcess

PROBE_DIR = '~/config-hash-probe'
PROBE = {
    'class': 'tests_server.hash_probe.ConfigHashProbe',
    'parameters': {
        'record_dir': PROBE_DIR
    },
}
STOCK_HASH_FUNCTION = (
    f'sky.backends.backend_utils.{hash_probe.NAME}')
USE_RUST_OFF = {'SKYPILOT_USE_RUST': '0'}


# The tails (in lines; None: the whole log) asked of /api/stream.
STREAM_TAILS = (1, 10, 1000, None)
# name -> {tail: bytes streamed}, filled by the tests that start a server.
STREAMED: Dict[str, Dict[Optional[int], bytes]] = {}


def plugins_config(*plugins: Dict[str, Any]) -> Dict[str, Any]:
    return {'plugins': list(plugins)}


def plugin_config(tmp_path) -> Dict[str, Any]:
    """The plugins file ``python -m sky_fallback plugin install`` writes,
    with the probe listed after the plugin."""
    path = tmp_path / 'plugins.yaml'
    result = plugin_command('install', '--config', str(path))
    assert 'sky api stop; sky api start' in result.stdout
    config = yaml.safe_load(path.read_text(encoding='utf-8'))
    config['plugins'].append(PROBE)
    return config


def plugin_status(server: ApiServer) -> Dict[str, Any]:
    """``python -m sky_fallback plugin status --json``, run as a user of
    the server would."""
    result = plugin_command('status', '--json', env=server.env,
                            cwd=server.home)
    return json.loads(result.stdout)


def plugin_command(*args: str, **run: Any) -> subprocess.CompletedProcess:
    """``python -m sky_fallback plugin ARGS``, which must succeed."""
    result = subprocess.run(
        [sys.executable, '-m', 'sky_fallback', 'plugin', *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        **run)
    assert result.returncode == 0, result.stderr
    return result


def entries(context: str) -> List[str]:
    return [
        entry.qualified_name
        for entry in registry.PATCHES
        if context in entry.contexts
    ]


def launch_dryrun(server: ApiServer,
                  cluster: str = 'e2e') -> Tuple[CommandResult, Dict[str, Any]]:
    """``sky launch --dryrun -y`` of LAUNCH_TASK_YAML; the command and the one
    config hash the probe recorded for it."""
    task = os.path.join(server.home, 'task.yaml')
    with open(task, 'w', encoding='utf-8') as f:
        f.write(LAUNCH_TASK_YAML)
    before = len(probe_records(server))
    result = server.sky('launch', '--dryrun', '-y', '-c', cluster, task).check()
    assert 'Dryrun finished' in result.stdout, result.stdout[-2000:]
    records = probe_records(server)[before:]
    assert len(records) == 1, (
        f'the probe recorded {len(records)} config hashes for one dry run '
        f'(is it loaded in the executors?): {records}\n'
        f'{server.server_log_tail()}')
    record = records[0]
    assert 'error' not in record, record
    return result, record


def probe_dir(server: ApiServer) -> str:
    return os.path.join(server.home, PROBE_DIR[len('~/'):])


def probe_records(server: ApiServer) -> List[Dict[str, Any]]:
    return hash_probe.read_records(probe_dir(server))


def stock_hashes(server: ApiServer) -> Tuple[Dict[str, str], float]:
    """Stock SkyPilot's hash of every YAML the probe copied, by copy path,
    computed in a plain process with the server's HOME; and its seconds."""
    records = os.path.join(probe_dir(server), hash_probe.RECORDS)
    began = time.monotonic()
    result = subprocess.run(
        [sys.executable, '-m', 'tests_server.hash_probe', records],
        env=server.env,
        cwd=server.home,
        capture_output=True,
        text=True,
        timeout=180,
        check=False)
    seconds = time.monotonic() - began
    assert result.returncode == 0, result.stderr[-4000:]
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    return {a['copy_path']: a['stock_hash'] for a in answers}, seconds


def process_of(server: ApiServer, pid: int) -> ServerProcess:
    by_pid = {p.pid: p for p in server.processes()}
    assert pid in by_pid, (f'pid {pid} is not in the server tree: '
                           f'{server.processes()}')
    return by_pid[pid]


def stream_log_file(server: ApiServer) -> Dict[Optional[int], bytes]:
    """Write the same awkward log in the server's ~/sky_logs and stream its
    tails through /api/stream (the server-side tail of
    sky/server/stream_utils.py, which ``sky logs --provision --tail N`` takes
    too; ``sky api logs`` runs ``tail`` on the client when the server is
    local); the bytes per tail."""
    log_dir = os.path.join(server.home, 'sky_logs')
    os.makedirs(log_dir, exist_ok=True)
    path = os.path.join(log_dir, 'stream.log')
    with open(path, 'wb') as f:
        for i in range(3000):
            f.write(b'line %d: %s\n' % (i, b'x' * (i % 97)))
            if i % 500 == 0:
                f.write(b'progress 10%\rprogress 50%\rprogress 100%\r\n')
                f.write(b'not utf-8: \xff\xfe \xed\xa0\x80 \xe2\x82\n')
                f.write(b'\n')
        f.write(b'last line, no newline')
    answers = {}
    for tail in STREAM_TAILS:
        status, body, _ = server.stream_log(path, tail=tail)
        assert status == 200, (tail, body[:500])
        answers[tail] = body
    return answers


def assert_stops_cleanly(server: ApiServer, fake_kubernetes) -> float:
    """Stop the server; assert `sky api stop` alone ended every process of
    it, no `sky` command left one, and nothing went past loopback. Returns
    the seconds `sky api stop` took."""
    seen = server.seen_pids()
    report = server.stop()
    assert report.stop_command is not None
    assert report.stop_command.returncode == 0, report.stop_command
    assert report.survivors == [], (
        f'alive after `sky api stop` (killed by the harness): '
        f'{report.survivors}')
    assert report.unkillable == []
    assert server.leftover_processes() == []
    # The tree was watched, so the check above means something.
    assert len(seen) >= 3, seen
    assert server.command_leftovers == []
    assert report.outside_connections == []
    assert fake_kubernetes.unexpected == []
    return report.stop_command.seconds


class ServerRun:
    """One server's requests: the dry run (the probe's record of it, and
    stock's recomputation of its hash) and the log streamed (kept in
    STREAMED under ``name``), with the figures measured on the way."""

    def __init__(self, server: ApiServer, name: str):
        self.name = name
        self.server = server
        settle_seconds = server.wait_settled()
        cpu_settled = server.cpu_seconds()
        result, self.record = launch_dryrun(server)
        cpu_dryrun = server.cpu_seconds() - cpu_settled
        self.executor = process_of(server, self.record['pid'])
        stock, recompute_seconds = stock_hashes(server)
        self.stock_hash = stock[self.record['copy_path']]
        STREAMED[name] = stream_log_file(server)
        self.figures = {
            'start_s': round(server.start_seconds, 2),
            'settle_s': round(settle_seconds, 2),
            'dryrun_s': round(result.seconds, 2),
            'recompute_s': round(recompute_seconds, 2),
            'tree_cpu_settled_s': round(cpu_settled, 2),
            'tree_cpu_dryrun_s': round(cpu_dryrun, 2),
        }

    def finish(self, fake_kubernetes, server_timings) -> None:
        """Stop the server cleanly, and record the figures."""
        stop_seconds = assert_stops_cleanly(self.server, fake_kubernetes)
        report = self.server.stop_report
        assert report is not None
        server_timings.record(server=self.name,
                              stop_s=round(stop_seconds, 2),
                              tree_cpu_total_s=round(report.cpu_seconds, 2),
                              **self.figures)


def test_stock_server_config_hash(api_server, fake_kubernetes, server_timings):
    """No sky_rs: the executor's hash is stock's, and nothing maps Go."""
    server = api_server(plugins_config=plugins_config(PROBE))
    run = ServerRun(server, 'stock')

    assert run.executor.role == 'executor', run.executor
    assert run.record['function'] == STOCK_HASH_FUNCTION
    assert run.record['hash'] == run.stock_hash
    assert server.processes_mapping_extension() == []
    status = plugin_status(server)
    assert status['server'] is None
    assert 'runs without the sky_rs plugin' in status['server_unavailable']
    run.finish(fake_kubernetes, server_timings)


def test_plugin_server_config_hash(api_server, fake_kubernetes,
                                   server_timings, tmp_path):
    """With the plugin: the executor that ran the dry run computed the hash
    with sky_rs's rewrite, has the Go extension mapped, and got stock's
    hash; the plugin's status says so of every process."""
    server = api_server(plugins_config=plugin_config(tmp_path))
    run = ServerRun(server, 'plugin')

    assert run.executor.role == 'executor', run.executor
    assert run.record['function'] != STOCK_HASH_FUNCTION, (
        'the plugin left SkyPilot\'s own config hash in the executor')
    assert server.maps_extension(run.executor.pid), (
        f'{run.executor} ran the dry run without the Go extension; mapped '
        f'in: {server.processes_mapping_extension()}')
    assert run.record['hash'] == run.stock_hash
    status = plugin_status(server)
    by_pid = {p['pid']: p for p in status['server']['processes']}
    executor = by_pid[run.executor.pid]
    assert executor['contexts'] == ['executor']
    assert executor['go_loaded'] is True and executor['reason'] is None
    assert executor['patched'] == entries('executor')
    assert executor['refused'] == {}
    main = by_pid[server.main_pid]
    assert main['contexts'] == ['main', 'uvicorn'] and main['go_loaded']
    assert set(main['patched']) == set(entries('main')) | set(
        entries('uvicorn'))
    # Every process that loaded the plugin can run Go, and those that have
    # needed it (the main process sizing its workers, the executor of the
    # launch) have it mapped; the others have none of its threads.
    mapped = {p.pid for p in server.processes_mapping_extension()}
    for pid, process in by_pid.items():
        assert process['reason'] is None, process
        assert process['go_loaded'] == (pid in mapped), process
    run.finish(fake_kubernetes, server_timings)


def test_plugin_server_with_rust_off(api_server, fake_kubernetes,
                                     server_timings, tmp_path):
    """With the plugin and SKYPILOT_USE_RUST=0 in the server's environment:
    no process of the server maps the Go extension, the executor that ran
    the dry run included, and the hash is stock's."""
    server = api_server(plugins_config=plugin_config(tmp_path),
                        extra_env=USE_RUST_OFF)
    run = ServerRun(server, 'plugin, SKYPILOT_USE_RUST=0')

    assert run.executor.role == 'executor', run.executor
    assert run.record['hash'] == run.stock_hash
    roles = {p.role for p in server.processes()}
    assert roles >= {'main', 'queue_manager', 'executor'}, roles
    assert server.processes_mapping_extension() == []
    processes = plugin_status(server)['server']['processes']
    assert run.executor.pid in {p['pid'] for p in processes}
    for process in processes:
        assert process['go_loaded'] is False and process['patched'] == []
        assert 'SKYPILOT_USE_RUST' in process['reason']
    run.finish(fake_kubernetes, server_timings)


def test_every_server_streamed_the_same_bytes():
    """The server-side tail (/api/stream?tail=N) sends the same bytes with
    and without the plugin."""
    if len(STREAMED) < 2:
        pytest.skip(f'needs two servers run in this session: {list(STREAMED)}')
    (first, expected), *others = STREAMED.items()
    for name, answers in others:
        for tail in STREAM_TAILS:
            assert answers[tail] == expected[tail], (
                f'tail={tail}: {name} and {first} differ')

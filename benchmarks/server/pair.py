"""Two real SkyPilot API servers at once: stock, and with sky_rs's plugin.

Each is ``tests_server.harness.ApiServer``: its own HOME and loopback port,
a kubeconfig pointing at one shared fake Kubernetes API. The plugin server's
plugins file is the one ``python -m sky_fallback plugin install --config
FILE`` writes, so it carries whatever ``sky_fallback.skypilot.registry``
holds when the benchmark runs.
"""

import json
import os
import subprocess
import sys
from typing import Any, Dict, Iterator, List, Optional, Tuple

import psutil

from tests_server.fake_kubernetes import FakeKubernetes
from tests_server.harness import ApiServer

STOCK = 'stock'
PLUGIN = 'plugin'
SIDES = (STOCK, PLUGIN)


def install_plugin(workdir: str) -> str:
    """The plugins file ``python -m sky_fallback plugin install --config``
    writes in ``workdir``, as text."""
    path = os.path.join(workdir, 'plugins.yaml')
    result = subprocess.run(
        [sys.executable, '-m', 'sky_fallback', 'plugin', 'install',
         '--config', path],
        capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        raise RuntimeError(f'plugin install failed: {result.stderr}')
    with open(path, encoding='utf-8') as f:
        return f.read()


def turns(round_index: int) -> Tuple[str, str]:
    """Which server goes first in a round: stock in even rounds, the
    plugin in odd ones."""
    return SIDES if round_index % 2 == 0 else SIDES[::-1]


class ServerPair:
    """Both servers, started one after the other and settled; stopped (with
    whatever they left) on exit. ``pair[STOCK]``, ``pair[PLUGIN]``."""

    def __init__(self, workdir: str, wheel_cache: Optional[str] = None):
        self.workdir = workdir
        self.wheel_cache = wheel_cache
        self.plugins_file = ''
        self.servers: Dict[str, ApiServer] = {}
        self._fake: Optional[FakeKubernetes] = None

    def __getitem__(self, side: str) -> ApiServer:
        return self.servers[side]

    def __enter__(self) -> 'ServerPair':
        self.plugins_file = install_plugin(self.workdir)
        self._fake = FakeKubernetes().__enter__()
        try:
            for side in SIDES:
                server = ApiServer(
                    self._fake,
                    plugins_config=self.plugins_file if side == PLUGIN else None,
                    wheel_cache=self.wheel_cache,
                    base_dir=None)
                self.servers[side] = server
                server.start()
            for server in self.servers.values():
                server.wait_settled()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info: Any) -> None:
        for server in self.servers.values():
            server.stop()
        if self._fake is not None:
            self._fake.__exit__(None, None, None)
            self._fake = None

    def unexpected_kubernetes_requests(self) -> List[Any]:
        return list(self._fake.unexpected) if self._fake else []


def serving_pid(server: ApiServer) -> int:
    """The process that answers HTTP on the server's port (with one uvicorn
    worker, the main process)."""
    for process in server.processes():
        if process.role == 'uvicorn':
            return process.pid
    assert server.main_pid is not None
    return server.main_pid


def pids_of(server: ApiServer, role: str) -> List[int]:
    """The pids of ``role`` (``executor``, ``main``, ...) in the tree."""
    return [p.pid for p in server.processes() if p.role == role]


def executor_cpu(by_role: Dict[str, float]) -> float:
    """CPU seconds of every executor in a ``cpu_seconds_by_role()``."""
    return sum(v for k, v in by_role.items() if k.startswith('executor'))


def cpu_delta(before: Dict[str, float],
              after: Dict[str, float]) -> Dict[str, float]:
    """``after - before`` by role (roles new in ``after`` count whole)."""
    return {
        role: after[role] - before.get(role, 0.0)
        for role in after
    }


def plugin_status(server: ApiServer) -> Dict[str, Any]:
    """``python -m sky_fallback plugin status --json`` run as a user of the
    server would: what the plugin did in each process."""
    result = subprocess.run(
        [sys.executable, '-m', 'sky_fallback', 'plugin', 'status', '--json'],
        env=server.env, cwd=server.home, capture_output=True, text=True,
        timeout=120, check=False)
    if result.returncode != 0:
        return {'error': result.stderr[-2000:]}
    return json.loads(result.stdout)


def patched_by_role(server: ApiServer) -> Dict[str, List[str]]:
    """What the plugin patched, by role of process (the union over the
    processes of a role), and which processes map the Go extension."""
    status = plugin_status(server)
    roles = {p.pid: (f'{p.role}:{p.group}' if p.group else p.role)
             for p in server.processes()}
    found: Dict[str, set] = {}
    for record in (status.get('server') or {}).get('processes', []):
        role = roles.get(record['pid'], 'other')
        found.setdefault(role, set()).update(record.get('patched') or [])
    return {role: sorted(names) for role, names in sorted(found.items())}


def mapping_extension(server: ApiServer) -> List[str]:
    """The roles of the processes that map the Go extension."""
    return sorted({(f'{p.role}:{p.group}' if p.group else p.role)
                   for p in server.processes_mapping_extension()})


def cpu_count() -> int:
    return psutil.cpu_count() or 1


def iterate_rounds(rounds: int) -> Iterator[Tuple[int, Tuple[str, str]]]:
    for index in range(rounds):
        yield index, turns(index)

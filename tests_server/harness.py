"""A real SkyPilot API server for tests and benchmarks, with no cloud.

:class:`ApiServer` starts ``sky api start`` with its own ``HOME`` (a fresh
temporary directory, so ``~/.sky`` and ``~/sky_logs`` are its own), on a free
loopback port, with a kubeconfig that points at a
:class:`~tests_server.fake_kubernetes.FakeKubernetes`, an optional plugins
config and extra environment (``SKYPILOT_USE_RUST=0``, say)::

    with FakeKubernetes() as fake, ApiServer(fake, extra_env=...) as server:
        server.sky('launch', '--dryrun', '-y', task_path)
        server.processes()             # the server's tree, with roles
        server.maps_extension(pid)     # does pid map sky_rs's _sky_rs?
        server.cpu_seconds()           # user+sys of the whole tree

On exit (also on failure) it runs ``sky api stop``, then kills whatever of its
processes is still alive, and records both in :attr:`ApiServer.stop_report`.
A benchmark can start several servers in turn (``start()``/``stop()``) and
read :meth:`ApiServer.cpu_seconds` around the requests it times.

Only loopback addresses are used: SkyPilot's usage collection is turned off
and its daily PyPI version check finds a fresh cache.
"""

import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

import psutil
import yaml

from tests_server.fake_kubernetes import FakeKubernetes

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVER_MODULE = '-m sky.server.server'  # sky.server.common.API_SERVER_CMD
EXECUTOR_TITLE = 'SkyPilot:executor:'  # sky/server/requests/executor.py
WORKER_TITLE = 'SkyPilot:worker:'
EXTENSION_NAME = '_sky_rs'
AUDIT_DIR = os.path.join(REPO_ROOT, 'tests_server', 'connection_audit')

# Environment that keeps a server and its clients on this machine.
LOOPBACK_ENV = {
    'SKYPILOT_DISABLE_USAGE_COLLECTION': '1',
    'DO_NOT_TRACK': '1',
    # SkyPilot builds its wheel with `pip wheel`, whose build isolation would
    # fetch setuptools from the index: build with the venv's instead.
    'PIP_NO_BUILD_ISOLATION': '0',
    'PIP_NO_INDEX': '1',
    # Every launch collects every cloud's credential files; AWS's runs
    # `aws configure list` where the CLI is installed, and botocore would
    # then ask the EC2 metadata address (169.254.169.254).
    'AWS_EC2_METADATA_DISABLED': 'true',
}
# ~/.sky/config.yaml: only Kubernetes is checked (the check of every other
# cloud costs time and may run its CLI).
SKYPILOT_CONFIG = {'allowed_clouds': ['kubernetes']}
# Left out of the environment: the Kubernetes client sends even loopback
# requests through a proxy named here, whatever NO_PROXY says.
# The task every launch here plans: one CPU on the fake Kubernetes node, a
# Docker image as image_id (without one SkyPilot downloads an image catalog).
LAUNCH_TASK_YAML = """\
resources:
  infra: kubernetes
  cpus: 1
  image_id: docker:ubuntu:22.04
run: echo hello
"""
PROXY_VARIABLES = ('http_proxy', 'https_proxy', 'all_proxy', 'no_proxy')


def free_loopback_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(('127.0.0.1', port))
        except OSError:
            return False
    return True


def queue_manager_port(server_port: int) -> int:
    """The port of the request-queue manager of a server on
    ``server_port``, by SkyPilot's own rule (it moves with the server port,
    modulo 10,000, so two server ports can share one)."""
    # pylint: disable=import-outside-toplevel
    from unittest import mock

    from sky.server.requests.queues import mp_queue
    with mock.patch.dict(os.environ,
                         {'SKYPILOT_API_SERVER_LOCAL_PORT': str(server_port)}):
        return mp_queue.get_queue_manager_port()


def free_server_port(attempts: int = 50) -> int:
    """A loopback port for an API server whose queue-manager port is free
    too (a server does not start when that one is taken)."""
    for _ in range(attempts):
        port = free_loopback_port()
        if _port_is_free(queue_manager_port(port)):
            return port
    raise RuntimeError(f'no free server port in {attempts} tries')


def sky_command() -> List[str]:
    """The ``sky`` CLI of the interpreter running this code."""
    script = os.path.join(os.path.dirname(sys.executable), 'sky')
    if os.path.exists(script):
        return [script]
    return [sys.executable, '-c', 'import sys; from sky.cli import cli; '
            'sys.argv[0] = "sky"; sys.exit(cli())']


@dataclasses.dataclass
class CommandResult:
    """One command run against the server."""
    args: List[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    def check(self) -> 'CommandResult':
        """Self, or AssertionError with the output when it failed."""
        if self.returncode != 0:
            raise AssertionError(
                f'{" ".join(self.args)} exited {self.returncode} after '
                f'{self.seconds:.1f}s\n--- stdout\n{self.stdout[-4000:]}\n'
                f'--- stderr\n{self.stderr[-4000:]}')
        return self


@dataclasses.dataclass(frozen=True)
class ServerProcess:
    """One process of a server's tree.

    ``role`` is ``main`` (``python -m sky.server.server``, which also runs
    uvicorn when there is one worker), ``executor`` (the request executors,
    ``SkyPilot:executor:<group>:<pid>``; ``group`` is ``long`` or ``short``),
    ``worker`` (``SkyPilot:worker:<group>``), ``uvicorn`` (a uvicorn worker
    of its own, with ``--deploy``: it listens on the server port too),
    ``queue_manager`` (the request queues' manager, listening on
    :func:`queue_manager_port`), ``resource_tracker`` (multiprocessing's) or
    ``other`` (an executor that has not run its initializer yet, say).
    """
    pid: int
    role: str
    group: str
    title: str


@dataclasses.dataclass
class StopReport:
    """What stopping a server took and left."""
    stop_command: Optional[CommandResult] = None
    # The tree's CPU seconds just before `sky api stop` (cpu_seconds()).
    cpu_seconds: float = 0.0
    # Processes of the server alive after `sky api stop` had returned (and
    # a short grace period), which the harness then killed.
    survivors: List[ServerProcess] = dataclasses.field(default_factory=list)
    # Processes still alive after the harness's kills (should never be).
    unkillable: List[int] = dataclasses.field(default_factory=list)
    # What :meth:`ApiServer.outside_connections` said last (read before the
    # HOME is removed).
    outside_connections: List[Dict[str, Any]] = dataclasses.field(
        default_factory=list)


def _role_of(cmdline: List[str]) -> Tuple[str, str]:
    joined = ' '.join(cmdline)
    if joined.startswith(EXECUTOR_TITLE):
        return 'executor', joined[len(EXECUTOR_TITLE):].split(':', 1)[0]
    if joined.startswith(WORKER_TITLE):
        return 'worker', joined[len(WORKER_TITLE):].split(':', 1)[0]
    if SERVER_MODULE in joined:
        return 'main', ''
    if 'multiprocessing.resource_tracker' in joined:
        return 'resource_tracker', ''
    return 'other', ''


def _session_id(pid: int) -> Optional[int]:
    """The session of ``pid`` (from /proc/<pid>/stat), or None if gone."""
    try:
        with open(f'/proc/{pid}/stat', 'rb') as f:
            stat = f.read()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces or ')'.
    fields = stat[stat.rindex(b')') + 2:].split()
    return int(fields[3])  # state ppid pgrp session ...


def maps_extension(pid: int) -> bool:
    """Whether process ``pid`` has sky_rs's extension (``_sky_rs*.so``)
    mapped, i.e. whether the Go runtime was loaded there. False when the
    process is gone."""
    try:
        with open(f'/proc/{pid}/maps', encoding='utf-8',
                  errors='replace') as f:
            for line in f:
                path = line.rstrip('\n').split(maxsplit=5)[5:]
                if path and os.path.basename(path[0]).startswith(
                        EXTENSION_NAME + '.'):
                    return True
    except (FileNotFoundError, ProcessLookupError):
        return False
    return False


class ApiServer:
    """A local SkyPilot API server in an isolated HOME (see the module's
    docstring).

    Args:
        fake_kubernetes: the fake the server's kubeconfig points at.
        plugins_config: the plugins config, as a dict (written as YAML) or
            text; None for no plugins.
        plugins_config_path: where to write it; None for the default
            ``~/.sky/plugins.yaml`` of the isolated HOME, otherwise this path
            (made absolute) is named by ``SKYPILOT_SERVER_PLUGINS_CONFIG``.
        extra_env: added to the environment of the server and of the ``sky``
            commands run against it.
        start_timeout: seconds ``sky api start`` and the first health check
            may take together.
        base_dir: where the temporary HOME is made (default: the system's
            temporary directory). Keep it short: SkyPilot puts Unix sockets
            under it.
        wheel_cache: a directory that keeps the SkyPilot wheel SkyPilot
            builds into ``~/.sky/wheels`` on the first launch (about 6 s of
            CPU here): a server whose HOME is made while the cache holds it
            starts with a copy (mtimes kept, so SkyPilot's freshness check
            takes it), and the first server that built it fills the cache
            at stop. None: every server builds its own.
        audit_connections: log every connection off this machine that a
            Python process of the server or of its ``sky`` commands tries
            (tests_server/connection_audit); read them with
            :meth:`outside_connections`.
        keep_home: leave the HOME in place after stop (for debugging).
    """

    def __init__(self,
                 fake_kubernetes: FakeKubernetes,
                 *,
                 plugins_config: Union[None, str, Mapping[str, Any]] = None,
                 plugins_config_path: Optional[str] = None,
                 extra_env: Optional[Mapping[str, str]] = None,
                 start_timeout: float = 120.0,
                 base_dir: Optional[str] = None,
                 wheel_cache: Optional[str] = None,
                 audit_connections: bool = False,
                 keep_home: bool = False):
        self.fake_kubernetes = fake_kubernetes
        self.plugins_config = plugins_config
        self.plugins_config_path = plugins_config_path
        self.extra_env = dict(extra_env or {})
        self.start_timeout = start_timeout
        self.base_dir = base_dir
        self.wheel_cache = wheel_cache
        self.audit_connections = audit_connections
        self.keep_home = keep_home
        self.home = ''
        self.port = 0
        self.queue_manager_port = 0
        self.url = ''
        self.env: Dict[str, str] = {}
        self.main_pid: Optional[int] = None
        self.start_seconds: Optional[float] = None
        self.stop_report: Optional[StopReport] = None
        # Processes a `sky` command left running in its session (killed).
        self.command_leftovers: List[str] = []
        # pid -> create_time of every process seen in the tree, so that a
        # process that left the tree (reparented) is still found at stop and
        # a reused pid is not mistaken for one of ours.
        self._seen: Dict[int, float] = {}

    # -- lifecycle ---------------------------------------------------------

    def __enter__(self) -> 'ApiServer':
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def start(self) -> 'ApiServer':
        """Make the HOME, start the server and wait until it is healthy.

        Raises AssertionError (with the server log's tail) when it does not
        start within ``start_timeout``; the server is stopped then.
        """
        self.home = tempfile.mkdtemp(prefix='skysrv-', dir=self.base_dir)
        self.port = free_server_port()
        self.queue_manager_port = queue_manager_port(self.port)
        self.url = f'http://127.0.0.1:{self.port}'
        self.env = self._environment()
        self._prepare_home()
        began = time.monotonic()
        try:
            self.sky('api', 'start', timeout=self.start_timeout).check()
            self.main_pid = self._find_main_pid()
            self.wait_healthy(self.start_timeout -
                              (time.monotonic() - began))
        except BaseException as error:
            log = self.server_log_tail()
            self.stop()
            if isinstance(error, AssertionError):
                raise AssertionError(
                    f'{error}\n--- server log\n{log}') from None
            raise
        self.start_seconds = time.monotonic() - began
        self.processes()  # remember the tree as started
        return self

    def stop(self, grace_seconds: float = 5.0) -> StopReport:
        """``sky api stop``, then SIGKILL whatever of the server survived it
        (after ``grace_seconds``), waiting at most 10 s more for them to go.
        Idempotent; returns (and keeps in :attr:`stop_report`) what happened.
        """
        if self.stop_report is not None:
            return self.stop_report
        report = StopReport()
        if self.home:
            if self.main_pid is None:  # start failed early, or timed out
                self.main_pid = self._find_main_pid(required=False)
            report.cpu_seconds = self.cpu_seconds()
            try:
                report.stop_command = self.sky('api', 'stop', timeout=60)
            except Exception as error:  # pylint: disable=broad-except
                report.stop_command = CommandResult(['sky', 'api', 'stop'], -1,
                                                    '', repr(error), 0.0)
            deadline = time.monotonic() + grace_seconds
            alive = self._ours_alive()
            while alive and time.monotonic() < deadline:
                time.sleep(0.1)
                alive = self._ours_alive()
            report.survivors = [self._describe(p) for p in alive]
            for process in alive:
                try:
                    process.kill()
                except psutil.NoSuchProcess:
                    pass
            _, still = psutil.wait_procs(alive, timeout=10)
            report.unkillable = [p.pid for p in still]
            self._fill_wheel_cache()
            report.outside_connections = self.outside_connections()
            if not self.keep_home:
                shutil.rmtree(self.home, ignore_errors=True)
        self.stop_report = report
        return report

    # -- requests ----------------------------------------------------------

    def sky(self, *args: str, timeout: float = 180.0) -> CommandResult:
        """Run ``sky <args>`` against this server, bounded by ``timeout``
        seconds (its whole process group is killed then, and
        subprocess.TimeoutExpired raised)."""
        command = sky_command() + list(args)
        began = time.monotonic()
        with subprocess.Popen(command,
                              env=self.env,
                              cwd=self.home,
                              stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE,
                              text=True,
                              start_new_session=True) as process:
            try:
                stdout, stderr = process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.communicate()
                raise
            finally:
                self._kill_session(process.pid, ' '.join(args))
        return CommandResult(command, process.returncode, stdout, stderr,
                             time.monotonic() - began)

    def _kill_session(self, session: int, what: str) -> None:
        """Kill what a `sky` command (session leader ``session``) left
        running, except the server `sky api start` starts (its own
        session), and note it in :attr:`command_leftovers`."""
        left = []
        for pid in psutil.pids():
            if pid != session and _session_id(pid) == session:
                try:
                    process = psutil.Process(pid)
                    if _is_running(process):
                        left.append(process)
                except psutil.NoSuchProcess:
                    continue
        for process in left:
            self.command_leftovers.append(
                f'`sky {what}`: {self._describe(process)}')
            try:
                process.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(left, timeout=10)

    def get(self,
            path: str,
            timeout: float = 60.0,
            **params: Any) -> Tuple[int, bytes, float]:
        """GET ``path`` (with query ``params``) from the server: the status,
        the whole body and the seconds it took."""
        query = urllib.parse.urlencode(
            {k: v for k, v in params.items() if v is not None})
        url = f'{self.url}{path}' + (f'?{query}' if query else '')
        # Never through a proxy: the server is on loopback.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        began = time.monotonic()
        try:
            with opener.open(url, timeout=timeout) as response:
                status, body = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, body = error.code, error.read()
        return status, body, time.monotonic() - began

    def stream_log(self, log_path: str, tail: Optional[int] = None,
                   timeout: float = 60.0) -> Tuple[int, bytes, float]:
        """``/api/stream`` of ``log_path`` (a path under the server's
        ``~/sky_logs``), not followed, as the console gets it."""
        return self.get('/api/stream',
                        timeout=timeout,
                        log_path=log_path,
                        tail=tail,
                        follow='false',
                        format='console')

    def wait_healthy(self, timeout: float) -> Dict[str, Any]:
        """Poll ``/api/health`` until the server says healthy; the health
        record. AssertionError after ``timeout`` seconds."""
        deadline = time.monotonic() + max(timeout, 1.0)
        last: Any = None
        while time.monotonic() < deadline:
            try:
                status, body, _ = self.get('/api/health', timeout=5)
                last = (status, body[:500])
                if status == 200:
                    health = json.loads(body)
                    if health.get('status') == 'healthy':
                        return health
            except (OSError, ValueError) as error:
                last = error
            time.sleep(0.2)
        raise AssertionError(
            f'{self.url} not healthy within {timeout:.0f}s: {last!r}')

    # -- the process tree --------------------------------------------------

    def processes(self) -> List[ServerProcess]:
        """The server's processes now: the main process and its descendants,
        each with its role."""
        return [self._describe(p) for p in self._tree()]

    def wait_settled(self, timeout: float = 120.0) -> float:
        """Wait until every process of the server has its role (the
        executors started with the server have run their initializer, which
        loads the plugins); the seconds waited. AssertionError after
        ``timeout`` seconds."""
        began = time.monotonic()
        while True:
            unsettled = [p for p in self.processes() if p.role == 'other']
            if not unsettled:
                return time.monotonic() - began
            if time.monotonic() - began > timeout:
                raise AssertionError(
                    f'not settled within {timeout:.0f}s: {unsettled}')
            time.sleep(0.2)

    def executors(self, group: Optional[str] = None) -> List[ServerProcess]:
        """The executor processes (of ``group``, ``long`` or ``short``)."""
        return [
            p for p in self.processes()
            if p.role == 'executor' and (group is None or p.group == group)
        ]

    def maps_extension(self, pid: int) -> bool:
        """See :func:`maps_extension`."""
        return maps_extension(pid)

    def processes_mapping_extension(self) -> List[ServerProcess]:
        """The server's processes that have sky_rs's extension mapped."""
        return [p for p in self.processes() if maps_extension(p.pid)]

    def cpu_seconds(self) -> float:
        """User plus system CPU seconds of the server's whole tree so far:
        every live process's own time and that of the children it reaped
        (an executor that exited counts in its parent's)."""
        return sum(self.cpu_seconds_by_role().values())

    def cpu_seconds_by_role(self) -> Dict[str, float]:
        """:meth:`cpu_seconds`, by role of the process (see
        :class:`ServerProcess`; an executor as ``executor:<group>``)."""
        by_role: Dict[str, float] = {}
        for process in self._tree():
            try:
                times = process.cpu_times()
            except psutil.NoSuchProcess:
                continue
            described = self._describe(process)
            role = (f'{described.role}:{described.group}'
                    if described.group else described.role)
            by_role[role] = by_role.get(role, 0.0) + (
                times.user + times.system + times.children_user +
                times.children_system)
        return by_role

    def server_log_tail(self, lines: int = 60) -> str:
        """The last ``lines`` lines of ``~/.sky/api_server/server.log``."""
        path = os.path.join(self.home, '.sky', 'api_server', 'server.log')
        try:
            with open(path, encoding='utf-8', errors='replace') as f:
                return ''.join(f.readlines()[-lines:])
        except OSError as error:
            return f'({path}: {error})'

    def outside_connections(self) -> List[Dict[str, Any]]:
        """The connections off this machine logged so far (only with
        ``audit_connections``): dicts with pid, argv, event, address."""
        try:
            with open(self._connection_log(), encoding='utf-8') as f:
                return [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def _connection_log(self) -> str:
        return os.path.join(self.home, 'outside-connections.jsonl')

    def seen_pids(self) -> List[int]:
        """Every pid seen in the server's tree so far."""
        return list(self._seen)

    def leftover_processes(self) -> List[int]:
        """Processes of this server alive now (empty once stopped)."""
        return [p.pid for p in self._ours_alive()]

    # -- internals ---------------------------------------------------------

    def _environment(self) -> Dict[str, str]:
        env = dict(os.environ)
        # Whatever the calling shell points SkyPilot at must not leak in.
        for name in list(env):
            if (name.startswith(('SKYPILOT_', 'SKY_RS_')) or
                    name in ('KUBECONFIG', 'PYTHONPATH') or
                    name.lower() in PROXY_VARIABLES):
                del env[name]
        tmpdir = os.path.join(self.home, 'tmp')
        env.update(LOOPBACK_ENV)
        env.update({
            'HOME': self.home,
            # SkyPilot copies its wheel to <tmp>/<hash> and hashes that path.
            'TMPDIR': tmpdir,
            'SKYPILOT_API_SERVER_LOCAL_PORT': str(self.port),
            'PYTHONPATH': REPO_ROOT,
        })
        if self.audit_connections:
            env['PYTHONPATH'] = os.pathsep.join([AUDIT_DIR, REPO_ROOT])
            env['SKY_RS_TEST_CONNECTION_LOG'] = self._connection_log()
        if self.plugins_config is not None and self.plugins_config_path:
            env['SKYPILOT_SERVER_PLUGINS_CONFIG'] = os.path.abspath(
                self.plugins_config_path)
        env.update(self.extra_env)
        return env

    def _prepare_home(self) -> None:
        sky_dir = os.path.join(self.home, '.sky')
        os.makedirs(sky_dir)
        os.makedirs(self.env['TMPDIR'])
        self.fake_kubernetes.write_kubeconfig(
            os.path.join(self.home, '.kube', 'config'))
        with open(os.path.join(sky_dir, 'config.yaml'), 'w',
                  encoding='utf-8') as f:
            yaml.safe_dump(SKYPILOT_CONFIG, f)
        # A fresh version cache, so the server does not ask pypi.org
        # (sky/server/version_check.py checks once a day).
        import sky  # pylint: disable=import-outside-toplevel
        with open(os.path.join(sky_dir, 'version_cache.json'),
                  'w',
                  encoding='utf-8') as f:
            json.dump({
                'release_version': sky.__version__,
                'cached_at': time.time()
            }, f)
        if self.wheel_cache and os.path.isdir(self.wheel_cache):
            shutil.copytree(self.wheel_cache, os.path.join(sky_dir, 'wheels'))
        if self.plugins_config is not None:
            path = (os.path.abspath(self.plugins_config_path)
                    if self.plugins_config_path else os.path.join(
                        sky_dir, 'plugins.yaml'))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            text = (self.plugins_config if isinstance(
                self.plugins_config, str) else yaml.safe_dump(
                    dict(self.plugins_config), sort_keys=False))
            with open(path, 'w', encoding='utf-8') as f:
                f.write(text)

    def _fill_wheel_cache(self) -> None:
        wheels = os.path.join(self.home, '.sky', 'wheels')
        if (not self.wheel_cache or os.path.isdir(self.wheel_cache) or
                not any(name.endswith('.whl')
                        for _, _, names in os.walk(wheels)
                        for name in names)):
            return
        partial = f'{self.wheel_cache}.{os.getpid()}.partial'
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(wheels, partial)
        try:
            os.rename(partial, self.wheel_cache)
        except OSError:  # another server filled it first
            shutil.rmtree(partial, ignore_errors=True)

    def _find_main_pid(self, required: bool = True) -> Optional[int]:
        """The server's main process: SkyPilot's own rule (`sky api stop`:
        the command line names the module and this port), checked to be
        ours by its HOME. None if there is none and not ``required``."""
        for process in psutil.process_iter(['pid', 'cmdline']):
            cmdline = process.info['cmdline'] or []
            if (SERVER_MODULE in ' '.join(cmdline) and
                    f'--port={self.port}' in cmdline):
                try:
                    home = process.environ().get('HOME')
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                if home == self.home:
                    return process.pid
        if not required:
            return None
        raise AssertionError(
            f'no `python {SERVER_MODULE} --port={self.port}` with HOME='
            f'{self.home} after `sky api start`')

    def _tree(self) -> List[psutil.Process]:
        if self.main_pid is None:
            return []
        try:
            main = psutil.Process(self.main_pid)
            tree = [main] + main.children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        for process in tree:
            try:
                self._seen.setdefault(process.pid, process.create_time())
            except psutil.NoSuchProcess:
                pass
        return tree

    def _ours_alive(self) -> List[psutil.Process]:
        """Live processes that are ours: seen in the tree (same create
        time), still in the tree, or in the main process's session (a
        process that left the tree when its parent died)."""
        found: Dict[int, psutil.Process] = {}
        for pid, created in self._seen.items():
            try:
                process = psutil.Process(pid)
                if process.create_time() == created and _is_running(process):
                    found[pid] = process
            except psutil.NoSuchProcess:
                continue
        if self.main_pid is not None and self.main_pid in self._seen:
            main_created = self._seen[self.main_pid]
            for pid in psutil.pids():
                if pid in found or _session_id(pid) != self.main_pid:
                    continue
                try:
                    process = psutil.Process(pid)
                    if (process.create_time() >= main_created and
                            _is_running(process)):
                        found[pid] = process
                except psutil.NoSuchProcess:
                    continue
        return list(found.values())

    @staticmethod
    def _listening_ports(process: psutil.Process) -> List[int]:
        try:
            return [
                c.laddr[1]
                for c in process.net_connections(kind='tcp')
                if c.status == psutil.CONN_LISTEN and c.laddr
            ]
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return []

    def _describe(self, process: psutil.Process) -> ServerProcess:
        try:
            cmdline = process.cmdline()
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            cmdline = []
        role, group = _role_of(cmdline)
        if role == 'other':
            listening = self._listening_ports(process)
            if self.queue_manager_port in listening:
                role = 'queue_manager'
            elif self.port in listening:
                role = 'uvicorn'
        return ServerProcess(process.pid, role, group,
                             ' '.join(cmdline).strip()[:200])


def _is_running(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


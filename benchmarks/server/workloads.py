"""The three workloads, timed through both servers in interleaved rounds.

- :func:`tail`: ``GET /api/stream?log_path=P&tail=N&follow=false
  &format=console`` of a million-line log (what ``sky logs --provision
  --tail N`` asks), with a ``GET /api/health`` poller beside it;
- :func:`status_requests`: SkyPilot's cluster status request as the SDK
  sends it (``POST /status``, then ``GET /api/get`` for its result), serial,
  with 8 concurrent clients, and a soak of at least 1,000 a server;
- :func:`launch`: ``sky launch --dryrun -y`` of the harness's Kubernetes
  task, through the ``sky`` CLI.

Every figure is a dict of plain values (the report reads them; ``--json``
writes them).
"""

import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from benchmarks.server import logfile
from benchmarks.server import pair
from benchmarks.server import probes
from benchmarks.server.pair import PLUGIN
from benchmarks.server.pair import STOCK
from tests_server.harness import ApiServer
from tests_server.harness import LAUNCH_TASK_YAML

TAIL_LINES = 1000
CONCURRENT_CLIENTS = 8
# The soak's clients: fewer than the short executors SkyPilot keeps free
# (5 here, some of whose time its daemons take), so that the pool serves
# the soak and no burst worker is spawned for it.
SOAK_CLIENTS = 2
CLUSTER = 'bench'

Progress = Callable[[str], None]


def spread(values: List[float]) -> Dict[str, Optional[float]]:
    """Median, min, max and count of ``values``."""
    if not values:
        return {'median': None, 'min': None, 'max': None, 'n': 0}
    return {
        'median': statistics.median(values),
        'min': min(values),
        'max': max(values),
        'n': len(values)
    }


# --- the server-side tail -----------------------------------------------


def _tail_once(server: ApiServer, path: str, timeout: float) -> Dict[str, Any]:
    serving = pair.serving_pid(server)
    before = server.cpu_seconds_by_role()
    with probes.PeakMemory(serving) as memory:
        status, body, seconds = server.stream_log(path, tail=TAIL_LINES,
                                                  timeout=timeout)
    delta = pair.cpu_delta(before, server.cpu_seconds_by_role())
    if status != 200:
        raise RuntimeError(f'/api/stream answered {status}: {body[:500]!r}')
    return {
        'seconds': seconds,
        'cpu': sum(delta.values()),
        'cpu_serving': delta.get('main', 0.0) + delta.get('uvicorn', 0.0),
        'rss_before': memory.before,
        'rss_growth': memory.growth,
        'body': body,
    }


def _tail_batch(server: ApiServer, path: str, calls: int, timeout: float,
                poll: bool) -> Tuple[List[Dict[str, Any]], List[float],
                                     List[str]]:
    """``calls`` tails back to back, with the health poller running when
    ``poll``; the calls, the poller's latencies, its failures."""
    if not poll:
        return [_tail_once(server, path, timeout) for _ in range(calls)], [], []
    with probes.HealthPoller(server.port) as poller:
        time.sleep(probes.HEALTH_EVERY * 2)  # the poller's first answers
        done = [_tail_once(server, path, timeout) for _ in range(calls)]
    return done, poller.latencies, poller.failures


def _tail_summary(alone: List[Dict[str, Any]], polled: List[Dict[str, Any]],
                  latencies: List[float],
                  failures: List[str]) -> Dict[str, Any]:
    """The calls timed alone (server time, CPU), every call (RSS), and the
    calls made with the health poller running (their time, its
    latencies)."""
    every = alone + polled
    bodies = {c['body'] for c in every}
    return {
        'calls': len(alone),
        'seconds': spread([c['seconds'] for c in alone]),
        'cpu': spread([c['cpu'] for c in alone]),
        'cpu_serving': spread([c['cpu_serving'] for c in alone]),
        'rss_growth': spread([float(c['rss_growth']) for c in every]),
        'rss_before': spread([float(c['rss_before']) for c in every]),
        'polled_calls': len(polled),
        'polled_seconds': spread([c['seconds'] for c in polled]),
        'health': {
            'polls': len(latencies),
            'p50': probes.percentile(latencies, 0.50),
            'p99': probes.percentile(latencies, 0.99),
            'max': max(latencies) if latencies else None,
            'failures': failures[:5],
        },
        'bytes': len(next(iter(bodies))) if bodies else 0,
        'same_bytes_every_call': len(bodies) == 1,
    }


def idle_health(server: ApiServer, seconds: float) -> Dict[str, Any]:
    """The health poller alone for ``seconds``: the floor of its latency."""
    with probes.HealthPoller(server.port) as poller:
        time.sleep(seconds)
    return {
        'polls': len(poller.latencies),
        'p50': probes.percentile(poller.latencies, 0.50),
        'p99': probes.percentile(poller.latencies, 0.99),
        'max': max(poller.latencies) if poller.latencies else None,
    }


def tail(servers: pair.ServerPair, workdir: str, *, lines: int, rounds: int,
         plugin_calls: int, large_copies: int, large_rounds: int,
         stock_large: bool, progress: Progress) -> Dict[str, Any]:
    """The server-side tail on a log of ``lines`` lines: ``rounds`` rounds
    timed alone (stock once a round, the plugin ``plugin_calls`` times),
    then one round with the health poller running (stock once, the plugin
    ``rounds`` x ``plugin_calls`` times). Then on ``large_copies`` copies of
    it: the plugin ``large_rounds`` x ``plugin_calls`` times alone and as
    many polled; stock once, polled, if ``stock_large``."""
    block = logfile.make_lines(lines)
    source = os.path.join(workdir, 'tail.log')
    size = logfile.write_copies(source, block, 1)
    paths = {
        side: logfile.place(source, os.path.join(servers[side].home,
                                                 'sky_logs'), 'tail.log')
        for side in pair.SIDES
    }
    # Stock reads every line; leave it ample time on a busy machine.
    timeout = max(120.0, lines * 1e-3)
    result: Dict[str, Any] = {
        'lines': lines, 'bytes': size, 'tail': TAIL_LINES,
        'payload_lines': block.count(b'<sky-payload'),
        'rounds': rounds, 'plugin_calls_per_round': plugin_calls,
        'idle_health': {side: idle_health(servers[side], 3.0)
                        for side in pair.SIDES},
    }
    alone: Dict[str, List[Dict[str, Any]]] = {STOCK: [], PLUGIN: []}
    polled: Dict[str, List[Dict[str, Any]]] = {STOCK: [], PLUGIN: []}
    latencies: Dict[str, List[float]] = {STOCK: [], PLUGIN: []}
    failures: Dict[str, List[str]] = {STOCK: [], PLUGIN: []}
    for index, order in pair.iterate_rounds(rounds + 1):
        poll = index == rounds  # the last round, with the poller
        for side in order:
            # Polled, the plugin's calls of every round at once: enough
            # polls for a 99th percentile.
            calls = (1 if side == STOCK else
                     plugin_calls * (rounds if poll else 1))
            done, late, failed = _tail_batch(servers[side], paths[side], calls,
                                             timeout, poll)
            (polled if poll else alone)[side] += done
            latencies[side] += late
            failures[side] += failed
            progress(f'bench-server: tail round {index + 1}/{rounds + 1}'
                     f'{" (health poller)" if poll else ""} {side}: '
                     f'{statistics.median(c["seconds"] for c in done):.3f} s')
    result['small'] = {
        side: _tail_summary(alone[side], polled[side], latencies[side],
                            failures[side])
        for side in pair.SIDES
    }
    stock_body = alone[STOCK][0]['body']
    result['small']['equal'] = all(c['body'] == stock_body
                                   for side in pair.SIDES
                                   for c in alone[side] + polled[side])
    os.unlink(source)

    # The large log: copies of the same lines, so its last lines, and so
    # its tail, are the small log's; stock's answer there is the expected.
    large = os.path.join(workdir, 'tail-large.log')
    large_size = logfile.write_copies(large, block, large_copies)
    large_paths = {
        side: logfile.place(large, os.path.join(servers[side].home,
                                                'sky_logs'), 'tail-large.log')
        for side in pair.SIDES
    }
    progress(f'bench-server: wrote the large log, {large_size / 1e9:.2f} GB')
    large_alone: List[Dict[str, Any]] = []
    for index in range(large_rounds):
        done, _, _ = _tail_batch(servers[PLUGIN], large_paths[PLUGIN],
                                 plugin_calls, timeout, False)
        large_alone += done
        progress(f'bench-server: large tail round {index + 1}/{large_rounds} '
                 f'plugin: '
                 f'{statistics.median(c["seconds"] for c in done):.3f} s')
    large_polled, large_latencies, large_failures = _tail_batch(
        servers[PLUGIN], large_paths[PLUGIN], plugin_calls * large_rounds,
        timeout, True)
    stock_seconds = result['small'][STOCK]['seconds']['median']
    stock_cpu = result['small'][STOCK]['cpu']['median']
    result['large'] = {
        'lines': lines * large_copies,
        'bytes': large_size,
        PLUGIN: _tail_summary(large_alone, large_polled, large_latencies,
                              large_failures),
        'equal': all(c['body'] == stock_body
                     for c in large_alone + large_polled),
        # Stock reads every line: its cost grows with the lines.
        'stock_estimate': {
            'seconds': stock_seconds * large_copies,
            'cpu': stock_cpu * large_copies,
        },
    }
    if stock_large:
        done, late, failed = _tail_batch(servers[STOCK], large_paths[STOCK], 1,
                                         timeout * large_copies, True)
        result['large'][STOCK] = _tail_summary(done, [], late, failed)
        result['large']['equal'] = (result['large']['equal'] and
                                    done[0]['body'] == stock_body)
    os.unlink(large)
    for path in list(paths.values()) + list(large_paths.values()):
        os.unlink(path)
    return result


# --- the cluster status request -----------------------------------------

# Run with a server's environment: what sdk.status() sends (method, path,
# JSON body, SkyPilot's headers), captured instead of sent.
_CAPTURE_STATUS_REQUEST = r'''
import json
from sky.client import sdk
from sky.server import common, rest

class Captured(Exception):
    pass

captured = {}
send = common.make_authenticated_request

def capture(method, path, **kwargs):
    if path != '/status':  # the health check before it: sent
        return send(method, path, **kwargs)
    captured.update(method=method, path=path, json=kwargs.get('json'))
    raise Captured()

common.make_authenticated_request = capture
try:
    sdk.status()
except Captured:
    pass
captured['headers'] = {k: v for k, v in rest._session.headers.items()
                       if k.lower().startswith('x-skypilot')}
print(json.dumps(captured))
'''


class StatusClient:
    """SkyPilot's cluster status request as ``sky.client.sdk.status()`` then
    ``sdk.get()`` send it: ``POST /status`` with the SDK's own body and
    headers (captured from the SDK, run with the server's environment), then
    ``GET /api/get?request_id=...``, which waits for the result."""

    def __init__(self, server: ApiServer):
        self.server = server
        result = subprocess.run([sys.executable, '-c', _CAPTURE_STATUS_REQUEST],
                                env=server.env, cwd=server.home,
                                capture_output=True, text=True, timeout=120,
                                check=False)
        if result.returncode != 0:
            raise RuntimeError(f'capturing sdk.status(): {result.stderr}')
        captured = json.loads(result.stdout.strip().splitlines()[-1])
        assert (captured['method'], captured['path']) == ('POST', '/status'), (
            captured)
        self.body = json.dumps(captured['json']).encode()
        self.headers = dict(captured['headers'],
                            **{'Content-Type': 'application/json'})

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection('127.0.0.1', self.server.port,
                                          timeout=120)

    def call(self, connection: http.client.HTTPConnection
            ) -> Tuple[Dict[str, Any], float]:
        """One status request: the result (the request's name, status,
        return value and error, as /api/get answers them) and the seconds
        from sending it to having the result."""
        began = time.monotonic()
        connection.request('POST', '/status', body=self.body,
                           headers=self.headers)
        response = connection.getresponse()
        response.read()
        request_id = response.headers.get('X-Skypilot-Request-ID')
        if response.status != 200 or not request_id:
            raise RuntimeError(f'POST /status answered {response.status}')
        connection.request('GET', f'/api/get?request_id={request_id}',
                           headers=self.headers)
        response = connection.getresponse()
        answer = json.loads(response.read())
        seconds = time.monotonic() - began
        if response.status != 200:
            raise RuntimeError(f'/api/get answered {response.status}: '
                               f'{str(answer)[:500]}')
        return {k: answer.get(k)
                for k in ('name', 'status', 'return_value', 'error')}, seconds


def _quiet(server: ApiServer, rate: float = 0.15, window: float = 1.0,
           timeout: float = 60.0) -> None:
    """Wait (at most ``timeout`` seconds) until the server's tree uses less
    than ``rate`` CPU-seconds a second over ``window``: the burst workers
    the last concurrent clients made SkyPilot start have finished starting
    and serving, and their CPU falls in no later batch. (They stay, idle:
    SkyPilot keeps them.)"""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = server.cpu_seconds()
        time.sleep(window)
        if server.cpu_seconds() - before < rate * window:
            return


def _serial(client: StatusClient, count: int) -> Dict[str, Any]:
    server = client.server
    connection = client.connect()
    results, latencies = [], []
    before = server.cpu_seconds_by_role()
    began = time.monotonic()
    try:
        for _ in range(count):
            result, seconds = client.call(connection)
            results.append(result)
            latencies.append(seconds)
    finally:
        connection.close()
    wall = time.monotonic() - began
    delta = pair.cpu_delta(before, server.cpu_seconds_by_role())
    return {'wall': wall, 'cpu': sum(delta.values()),
            'cpu_executors': pair.executor_cpu(delta),
            'latencies': latencies, 'results': results}


def _concurrent(client: StatusClient, clients: int,
                per_client: int) -> Dict[str, Any]:
    server = client.server
    results: List[Dict[str, Any]] = []
    latencies: List[float] = []
    errors: List[str] = []
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)

    def run() -> None:
        connection = client.connect()
        try:
            start.wait()
            for _ in range(per_client):
                result, seconds = client.call(connection)
                with lock:
                    results.append(result)
                    latencies.append(seconds)
        except Exception as error:  # pylint: disable=broad-except
            with lock:
                errors.append(repr(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, daemon=True)
               for _ in range(clients)]
    for thread in threads:
        thread.start()
    before = server.cpu_seconds_by_role()
    start.wait()
    began = time.monotonic()
    for thread in threads:
        thread.join(600)
    wall = time.monotonic() - began
    delta = pair.cpu_delta(before, server.cpu_seconds_by_role())
    if errors:
        raise RuntimeError(f'status clients failed: {errors[:3]}')
    return {'wall': wall, 'cpu': sum(delta.values()),
            'cpu_executors': pair.executor_cpu(delta),
            'latencies': latencies, 'results': results}


def _footprint(server: ApiServer, pool: List[int]) -> Dict[str, Any]:
    """RSS, threads and open descriptors of the executors of ``pool`` (the
    pool the server started with, summed), of the main process, and how
    many other executors (burst workers, spawned for one request when the
    pool is busy) are alive."""
    executors = pair.pids_of(server, 'executor')
    return {
        'executors': probes.process_figures(pool),
        'main': probes.process_figures(pair.pids_of(server, 'main')),
        'burst_executors': len(set(executors) - set(pool)),
    }


def status_requests(servers: pair.ServerPair, *, rounds: int, serial: int,
                    per_client: int, soak_total: int, soak_block: int,
                    served_before: Dict[str, int], pools: Dict[str, List[int]],
                    progress: Progress) -> Dict[str, Any]:
    """``rounds`` rounds of ``serial`` requests from one client; then the
    soak, in blocks of ``soak_block`` from :data:`SOAK_CLIENTS` clients,
    until each server has served ``soak_total`` status requests
    (``served_before`` counts those served before, the warm-up's); then
    ``rounds`` rounds of ``CONCURRENT_CLIENTS`` x ``per_client``. The soak
    comes before the concurrent clients, whose surplus requests make
    SkyPilot start burst workers (processes it keeps): it runs on the pool
    of executors each server had after the warm-up (``pools``), whose
    processes it follows."""
    clients = {side: StatusClient(servers[side]) for side in pair.SIDES}
    served = dict(served_before)
    every_result: List[Dict[str, Any]] = []

    def sample(side: str) -> Dict[str, Any]:
        return dict(_footprint(servers[side], pools[side]),
                    served=served[side])

    trajectory: Dict[str, List[Dict[str, Any]]] = {
        side: [sample(side)] for side in pair.SIDES
    }
    serial_runs: Dict[str, List[Dict[str, Any]]] = {STOCK: [], PLUGIN: []}
    for index, order in pair.iterate_rounds(rounds):
        for side in order:
            _quiet(servers[side])
            run = _serial(clients[side], serial)
            serial_runs[side].append(run)
            served[side] += serial
            every_result += run['results']
        progress(f'bench-server: status serial round {index + 1}/{rounds}: '
                 + ', '.join(f'{s} {serial_runs[s][-1]["cpu"] / serial:.3f} '
                             'CPU-s/request' for s in pair.SIDES))
    short_pool = min(
        sum(1 for p in servers[side].executors('short') if p.pid in pools[side])
        for side in pair.SIDES)
    soak_clients = max(1, min(SOAK_CLIENTS, short_pool - 1, soak_block))
    for side in pair.SIDES:
        trajectory[side].append(sample(side))
    block_index = 0
    while min(served.values()) < soak_total:
        for side in pair.turns(block_index):
            if served[side] >= soak_total:
                continue
            run = _concurrent(clients[side], soak_clients,
                              max(1, soak_block // soak_clients))
            served[side] += len(run['results'])
            every_result += run['results']
            trajectory[side].append(sample(side))
        block_index += 1
        progress('bench-server: soak ' + ', '.join(
            f'{s} {served[s]}' for s in pair.SIDES))
    concurrent_runs: Dict[str, List[Dict[str, Any]]] = {STOCK: [], PLUGIN: []}
    total = CONCURRENT_CLIENTS * per_client
    for index, order in pair.iterate_rounds(rounds):
        for side in order:
            _quiet(servers[side])
            run = _concurrent(clients[side], CONCURRENT_CLIENTS, per_client)
            concurrent_runs[side].append(run)
            served[side] += total
            every_result += run['results']
        progress(f'bench-server: status round {index + 1}/{rounds} with '
                 f'{CONCURRENT_CLIENTS} clients: ' + ', '.join(
                     f'{s} {total / concurrent_runs[s][-1]["wall"]:.1f}/s'
                     for s in pair.SIDES))
    after_concurrent = {side: sample(side) for side in pair.SIDES}

    def per_request(runs: List[Dict[str, Any]], count: int,
                    key: str) -> List[float]:
        return [r[key] / count for r in runs]

    first = every_result[0] if every_result else None
    return {
        'rounds': rounds,
        'serial_requests': serial,
        'concurrent': {'clients': CONCURRENT_CLIENTS,
                       'per_client': per_client},
        'request': {'method': 'POST', 'path': '/status',
                    'then': 'GET /api/get?request_id=...',
                    'body': json.loads(clients[STOCK].body),
                    'headers': clients[STOCK].headers},
        'serial': {
            side: {
                'cpu_per_request': spread(
                    per_request(serial_runs[side], serial, 'cpu')),
                'executor_cpu_per_request': spread(
                    per_request(serial_runs[side], serial, 'cpu_executors')),
                'latency': spread([x for r in serial_runs[side]
                                   for x in r['latencies']]),
            } for side in pair.SIDES
        },
        'concurrent_runs': {
            side: {
                'throughput': spread([
                    total / r['wall'] for r in concurrent_runs[side]
                ]),
                'cpu_per_request': spread(per_request(
                    concurrent_runs[side], total, 'cpu')),
                'latency': spread([x for r in concurrent_runs[side]
                                   for x in r['latencies']]),
            } for side in pair.SIDES
        },
        'soak': {'served': {side: trajectory[side][-1]['served']
                            for side in pair.SIDES},
                 'clients': soak_clients,
                 'pool': {side: len(pools[side]) for side in pair.SIDES},
                 'trajectory': trajectory,
                 'after_concurrent': after_concurrent},
        'served': served,
        'result': first,
        'equal': all(r == first for r in every_result),
    }


# --- the launch dry run -------------------------------------------------


def normalise_output(text: str, server: ApiServer) -> str:
    """The dry run's output with the server's HOME written as ``<HOME>``
    (the task file is under it)."""
    return text.replace(server.home, '<HOME>')


def launch(servers: pair.ServerPair, *, rounds: int,
           progress: Progress) -> Dict[str, Any]:
    """``sky launch --dryrun -y -c bench task.yaml``, ``rounds`` times on
    each server."""
    tasks = {}
    for side in pair.SIDES:
        tasks[side] = os.path.join(servers[side].home, 'task.yaml')
        with open(tasks[side], 'w', encoding='utf-8') as f:
            f.write(LAUNCH_TASK_YAML)
    runs: Dict[str, List[Dict[str, Any]]] = {STOCK: [], PLUGIN: []}
    outputs: Dict[str, List[str]] = {STOCK: [], PLUGIN: []}
    for index, order in pair.iterate_rounds(rounds):
        for side in order:
            server = servers[side]
            before = server.cpu_seconds_by_role()
            result = server.sky('launch', '--dryrun', '-y', '-c', CLUSTER,
                                tasks[side]).check()
            delta = pair.cpu_delta(before, server.cpu_seconds_by_role())
            runs[side].append({
                'seconds': result.seconds,
                'cpu': sum(delta.values()),
                'cpu_executors': pair.executor_cpu(delta),
                'cpu_long_executor': delta.get('executor:long', 0.0),
            })
            outputs[side].append(
                normalise_output(result.stdout + result.stderr, server))
        progress(f'bench-server: launch round {index + 1}/{rounds}: ' +
                 ', '.join(f'{s} executors {runs[s][-1]["cpu_executors"]:.2f}'
                           ' CPU-s' for s in pair.SIDES))
    expected = outputs[STOCK][0]
    return {
        'rounds': rounds,
        'command': f'sky launch --dryrun -y -c {CLUSTER} task.yaml',
        'task': LAUNCH_TASK_YAML,
        **{
            side: {
                key: spread([r[key] for r in runs[side]])
                for key in ('seconds', 'cpu', 'cpu_executors',
                            'cpu_long_executor')
            } for side in pair.SIDES
        },
        'output': expected,
        'equal': all(o == expected for side in pair.SIDES
                     for o in outputs[side]),
        'normalised': 'the server\'s HOME (in the task file\'s path) as '
                      '<HOME>',
    }


# --- the warm-up --------------------------------------------------------


def warm_up(servers: pair.ServerPair, workdir: str,
            progress: Progress) -> Dict[str, int]:
    """One request of each kind on each server (the first dry run spawns
    the long executor and builds SkyPilot's wheel), then wait until every
    process has its role. The status requests served, by server."""
    small = os.path.join(workdir, 'warm.log')
    logfile.write_copies(small, logfile.make_lines(2000), 1)
    for side in pair.SIDES:
        server = servers[side]
        task = os.path.join(server.home, 'task.yaml')
        with open(task, 'w', encoding='utf-8') as f:
            f.write(LAUNCH_TASK_YAML)
        server.sky('launch', '--dryrun', '-y', '-c', CLUSTER, task).check()
        client = StatusClient(server)
        connection = client.connect()
        try:
            client.call(connection)
        finally:
            connection.close()
        path = logfile.place(small, os.path.join(server.home, 'sky_logs'),
                             'warm.log')
        status, _, _ = server.stream_log(path, tail=TAIL_LINES)
        assert status == 200, status
        server.get('/api/health')
        server.wait_settled()
        progress(f'bench-server: {side} warmed up')
    os.unlink(small)
    return {side: 1 for side in pair.SIDES}


def idle_cpu(servers: pair.ServerPair, seconds: float) -> Dict[str, float]:
    """CPU seconds per second each server's tree spends with no request
    (its daemons), measured over the same ``seconds``."""
    before = {side: servers[side].cpu_seconds() for side in pair.SIDES}
    time.sleep(seconds)
    return {side: (servers[side].cpu_seconds() - before[side]) / seconds
            for side in pair.SIDES}

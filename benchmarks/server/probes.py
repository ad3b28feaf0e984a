"""What the benchmark watches while a request runs: the latency of a
concurrent ``GET /api/health`` poller, and the memory of a process, read
from /proc."""

import http.client
import os
import threading
import time
from typing import Dict, Iterable, List, Optional

HEALTH_EVERY = 0.020  # seconds between the poller's requests
MEMORY_EVERY = 0.010  # seconds between RSS samples


def percentile(values: List[float], fraction: float) -> Optional[float]:
    """The ``fraction`` quantile of ``values`` (nearest rank); None if
    empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1,
                      int(round(fraction * len(ordered) + 0.5)) - 1))
    return ordered[rank]


class HealthPoller:
    """A thread that sends ``GET /api/health`` to ``port`` every
    :data:`HEALTH_EVERY` seconds (or at once when the previous answer came
    later than that), over one keep-alive connection, as a dashboard or a
    second ``sky`` command would, and records how long each answer took.

    ``with HealthPoller(port) as poller: ...``; then ``poller.latencies``.
    """

    def __init__(self, port: int, timeout: float = 120.0):
        self.port = port
        self.timeout = timeout
        self.latencies: List[float] = []
        self.failures: List[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run,
                                        name='health-poller',
                                        daemon=True)

    def __enter__(self) -> 'HealthPoller':
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join(self.timeout + 5)

    def _run(self) -> None:
        connection = http.client.HTTPConnection('127.0.0.1', self.port,
                                                timeout=self.timeout)
        next_at = time.monotonic()
        try:
            while not self._stop.is_set():
                began = time.monotonic()
                try:
                    connection.request('GET', '/api/health')
                    response = connection.getresponse()
                    response.read()
                    if response.status != 200:
                        self.failures.append(f'HTTP {response.status}')
                    self.latencies.append(time.monotonic() - began)
                except (OSError, http.client.HTTPException) as error:
                    self.failures.append(repr(error))
                    connection.close()
                next_at = max(next_at + HEALTH_EVERY, time.monotonic())
                self._stop.wait(next_at - time.monotonic())
        finally:
            connection.close()


def rss_bytes(pid: int) -> Optional[int]:
    """VmRSS of ``pid`` in bytes (None once it has exited)."""
    kib = _status_number(pid, 'VmRSS:')
    return None if kib is None else kib * 1024


def _status_number(pid: int, field: str) -> Optional[int]:
    """The number after ``field`` in /proc/<pid>/status (kB for sizes)."""
    try:
        with open(f'/proc/{pid}/status', 'rb') as f:
            for line in f:
                if line.startswith(field.encode()):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class PeakMemory:
    """A thread that samples the RSS of ``pid`` every
    :data:`MEMORY_EVERY` seconds: ``before`` (at entry), ``peak`` (the
    largest sample, entry and exit included)."""

    def __init__(self, pid: int):
        self.pid = pid
        self.before = rss_bytes(pid) or 0
        self.peak = self.before
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run,
                                        name='rss-sampler',
                                        daemon=True)

    def __enter__(self) -> 'PeakMemory':
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join(5)
        self.peak = max(self.peak, rss_bytes(self.pid) or 0)

    @property
    def growth(self) -> int:
        """Bytes the RSS rose above its value at entry, at most."""
        return self.peak - self.before

    def _run(self) -> None:
        while not self._stop.wait(MEMORY_EVERY):
            self.peak = max(self.peak, rss_bytes(self.pid) or 0)


def process_figures(pids: Iterable[int]) -> Dict[str, int]:
    """Summed over ``pids``: RSS bytes, threads, open descriptors (from
    /proc; a process that has exited counts nothing), and how many
    processes were counted."""
    total = {'rss': 0, 'threads': 0, 'fds': 0, 'processes': 0}
    for pid in pids:
        rss = rss_bytes(pid)
        threads = _status_number(pid, 'Threads:')
        try:
            fds = len(os.listdir(f'/proc/{pid}/fd'))
        except OSError:
            continue
        if rss is None or threads is None:
            continue
        total['rss'] += rss
        total['threads'] += threads
        total['fds'] += fds
        total['processes'] += 1
    return total

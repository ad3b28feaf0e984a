"""Fixtures for the end-to-end tests against a real local SkyPilot API server.

- ``fake_kubernetes``: one fake Kubernetes API for the whole session
  (tests_server/fake_kubernetes.py); every server's kubeconfig points at it.
- ``api_server``: a factory, ``api_server(plugins_config=..., extra_env=...)``,
  that starts a server (tests_server/harness.py) and stops it after the test
  whatever happened, with the SkyPilot wheel its first launch builds kept for
  the next (``wheel_cache``) and outside connections audited.
- ``server_timings``: what a test measured (``server_timings.record(...)``),
  printed at the end of the run as ``SERVER-TIMINGS {json}`` lines and, when
  ``SKY_RS_FIGURES`` names a file, appended there as JSON lines.
"""

import json
import os
from typing import Any, Callable, Dict, List

import pytest

from tests_server.fake_kubernetes import FakeKubernetes
from tests_server.harness import ApiServer

_TIMINGS: List[Dict[str, Any]] = []


@pytest.fixture(scope='session')
def fake_kubernetes():
    with FakeKubernetes() as fake:
        yield fake


@pytest.fixture(scope='session')
def wheel_cache(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp('skypilot-wheel') / 'wheels')


@pytest.fixture
def api_server(fake_kubernetes, wheel_cache) -> Callable[..., ApiServer]:
    started: List[ApiServer] = []

    def start(**kwargs: Any) -> ApiServer:
        server = ApiServer(fake_kubernetes,
                           wheel_cache=wheel_cache,
                           audit_connections=True,
                           **kwargs)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


class ServerTimings:
    """Figures of one test: ``record(server='stock', start_s=...)``."""

    def __init__(self, test: str):
        self.test = test

    def record(self, **figures: Any) -> None:
        line = {'test': self.test, **figures}
        _TIMINGS.append(line)
        path = os.environ.get('SKY_RS_FIGURES')
        if path:
            with open(path, 'a', encoding='utf-8') as f:
                f.write(json.dumps(line) + '\n')


@pytest.fixture
def server_timings(request) -> ServerTimings:
    return ServerTimings(request.node.name)


def pytest_terminal_summary(terminalreporter):
    for line in _TIMINGS:
        terminalreporter.write_line(f'SERVER-TIMINGS {json.dumps(line)}')

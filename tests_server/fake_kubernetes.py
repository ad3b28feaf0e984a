"""A read-only fake Kubernetes API on 127.0.0.1, enough for SkyPilot to plan.

SkyPilot 0.14.1 asks a Kubernetes context four things before it will plan a
launch there (``sky check kubernetes``, ``sky launch --dryrun``): the nodes
(``GET /api/v1/nodes``, for their CPU and memory), the pods running anywhere
(``GET /api/v1/pods?fieldSelector=...``, for what is already allocated),
whether it may list pods (``GET /api/v1/namespaces/default/pods?limit=1``)
and the server's version (``GET /version``). This fake answers those from
one idle node with the capacity given, over plain HTTP, and answers
everything else with a 404 ``Status`` that
it also records in :attr:`FakeKubernetes.unexpected`, so a SkyPilot change
that asks for more is visible in the test rather than hidden by a default.

It runs in a daemon thread of the process that starts it; one instance serves
any number of API servers (each gets its own kubeconfig pointing here).
"""

import http.server
import json
import logging
import os
import threading
from typing import Any, Dict, List, Optional, Tuple

import yaml

logger = logging.getLogger(__name__)

NODE_NAME = 'fake-node-0'
CONTEXT_NAME = 'fake-kubernetes'
NAMESPACE = 'default'
KUBERNETES_VERSION = {
    'major': '1',
    'minor': '30',
    'gitVersion': 'v1.30.0',
    'gitCommit': '0000000000000000000000000000000000000000',
    'gitTreeState': 'clean',
    'buildDate': '2024-04-17T00:00:00Z',
    'goVersion': 'go1.22.2',
    'compiler': 'gc',
    'platform': 'linux/amd64',
}


def node_list(cpus: int, memory_gib: int) -> Dict[str, Any]:
    """A ``v1 NodeList`` of one ready node with ``cpus`` CPUs and
    ``memory_gib`` GiB of memory, all allocatable."""
    resources = {
        'cpu': str(cpus),
        'memory': f'{memory_gib}Gi',
        'pods': '110',
        'ephemeral-storage': '100Gi',
    }
    return {
        'kind': 'NodeList',
        'apiVersion': 'v1',
        'metadata': {
            'resourceVersion': '1'
        },
        'items': [{
            'metadata': {
                'name': NODE_NAME,
                'uid': '00000000-0000-0000-0000-000000000001',
                'resourceVersion': '1',
                'creationTimestamp': '2024-01-01T00:00:00Z',
                'labels': {
                    'kubernetes.io/hostname': NODE_NAME,
                    'kubernetes.io/os': 'linux',
                    'kubernetes.io/arch': 'amd64',
                },
            },
            'spec': {},
            'status': {
                'capacity': resources,
                'allocatable': resources,
                'conditions': [{
                    'type': 'Ready',
                    'status': 'True',
                    'reason': 'KubeletReady',
                    'message': 'kubelet is posting ready status',
                    'lastHeartbeatTime': '2024-01-01T00:00:00Z',
                    'lastTransitionTime': '2024-01-01T00:00:00Z',
                }],
                'addresses': [{
                    'type': 'InternalIP',
                    'address': '127.0.0.1'
                }],
                'nodeInfo': {
                    'architecture': 'amd64',
                    'operatingSystem': 'linux',
                    'kubeletVersion': KUBERNETES_VERSION['gitVersion'],
                    'containerRuntimeVersion': 'containerd://1.7.0',
                    'kernelVersion': '6.1.0',
                    'osImage': 'Debian GNU/Linux 12 (bookworm)',
                    'kubeProxyVersion': KUBERNETES_VERSION['gitVersion'],
                    'machineID': '0',
                    'systemUUID': '0',
                    'bootID': '0',
                },
            },
        }],
    }


def _not_found(path: str) -> Dict[str, Any]:
    return {
        'kind': 'Status',
        'apiVersion': 'v1',
        'metadata': {},
        'status': 'Failure',
        'message': f'the fake Kubernetes API does not serve {path}',
        'reason': 'NotFound',
        'code': 404,
    }


class FakeKubernetes:
    """The fake API server: ``with FakeKubernetes() as fake: ...``.

    Attributes:
        url: ``http://127.0.0.1:<port>``, set once started.
        requests: every request served, as ``(method, path with query)``.
        unexpected: the requests answered 404, as ``(method, path)``.
    """

    def __init__(self, cpus: int = 8, memory_gib: int = 32):
        self._nodes = json.dumps(node_list(cpus, memory_gib)).encode()
        self._server: Optional[http.server.ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None
        self._lock = threading.Lock()
        self.url = ''
        self.requests: List[Tuple[str, str]] = []
        self.unexpected: List[Tuple[str, str]] = []

    def answer(self, method: str, path: str) -> Tuple[int, bytes]:
        """The status and JSON body this fake gives ``method path``."""
        route = path.split('?', 1)[0]
        with self._lock:
            self.requests.append((method, path))
        if method == 'GET' and route == '/api/v1/nodes':
            return 200, self._nodes
        pod_lists = ('/api/v1/pods', f'/api/v1/namespaces/{NAMESPACE}/pods')
        if method == 'GET' and route in pod_lists:
            return 200, json.dumps({
                'kind': 'PodList',
                'apiVersion': 'v1',
                'metadata': {
                    'resourceVersion': '1'
                },
                'items': [],
            }).encode()
        if method == 'GET' and route == '/version':
            return 200, json.dumps(KUBERNETES_VERSION).encode()
        with self._lock:
            self.unexpected.append((method, path))
        logger.warning('fake Kubernetes: unexpected request %s %s', method,
                       path)
        return 404, json.dumps(_not_found(path)).encode()

    def start(self) -> 'FakeKubernetes':
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            """Routes every method through FakeKubernetes.answer."""
            protocol_version = 'HTTP/1.1'

            def _serve(self) -> None:
                length = int(self.headers.get('Content-Length') or 0)
                if length:
                    self.rfile.read(length)
                status, body = fake.answer(self.command, self.path)
                self.send_response(status)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:  # pylint: disable=redefined-builtin
                logger.debug('fake Kubernetes: ' + format, *args)

        self._server = http.server.ThreadingHTTPServer(('127.0.0.1', 0),
                                                       Handler)
        self._server.daemon_threads = True
        self.url = f'http://127.0.0.1:{self._server.server_address[1]}'
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={'poll_interval': 0.2},
                                        name='fake-kubernetes',
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join(timeout=5)
            self._server = None

    def __enter__(self) -> 'FakeKubernetes':
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def kubeconfig(self) -> Dict[str, Any]:
        """A kubeconfig whose one context reaches this fake over plain HTTP
        with a dummy bearer token."""
        return {
            'apiVersion': 'v1',
            'kind': 'Config',
            'clusters': [{
                'name': CONTEXT_NAME,
                'cluster': {
                    'server': self.url
                }
            }],
            'users': [{
                'name': CONTEXT_NAME,
                'user': {
                    'token': 'fake-token'
                }
            }],
            'contexts': [{
                'name': CONTEXT_NAME,
                'context': {
                    'cluster': CONTEXT_NAME,
                    'user': CONTEXT_NAME,
                    'namespace': NAMESPACE,
                },
            }],
            'current-context': CONTEXT_NAME,
            'preferences': {},
        }

    def write_kubeconfig(self, path: str) -> str:
        """Write :meth:`kubeconfig` to ``path`` (mode 0600, directories
        made); returns ``path``."""
        os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, 'w', encoding='utf-8') as f:
            yaml.safe_dump(self.kubeconfig(), f, sort_keys=False)
        return path

"""Running a child process on a hostile host: limits, cgroups, another user.

Each test of this directory starts the Go runtime in a child process of its
own, under the limit it tries (``resource.setrlimit`` before exec), or in a
cgroup it makes under ``/sys/fs/cgroup/<controller>/`` (cgroup v1; as root).
The child prints a JSON report as its last line; a Go
runtime fatal error shows as a non-zero exit status (SIGABRT: -6).
"""

import itertools
import json
import os
import resource
import subprocess
import sys
import textwrap
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CGROUP_ROOT = '/sys/fs/cgroup'
NOBODY = 65534

# Settings of the test process that would steer the child's Go runtime or
# its routing; each test sets what it tries.
_CLEARED = ('SKYPILOT_USE_RUST', 'GODEBUG', 'GOGC', 'GOMEMLIMIT',
            'GOMAXPROCS', 'GOTRACEBACK', 'SKYPILOT_POD_CPU_CORE_LIMIT',
            'SKYPILOT_POD_MEMORY_GB_LIMIT', 'SKYPILOT_POD_MEMORY_BYTES_LIMIT')


class Child:
    """A finished child: exit status, output, and its JSON report."""

    def __init__(self, completed: subprocess.CompletedProcess):
        self.returncode = completed.returncode
        self.stdout = completed.stdout
        self.stderr = completed.stderr
        lines = completed.stdout.strip().splitlines()
        try:
            self.report: Dict[str, Any] = json.loads(lines[-1])
        except (IndexError, ValueError):
            self.report = {}

    def ok(self) -> Dict[str, Any]:
        """The report, once the child exited normally."""
        assert self.returncode == 0, (
            f'child exited with {self.returncode}\n--- stdout\n'
            f'{self.stdout[-3000:]}\n--- stderr\n{self.stderr[-6000:]}')
        assert self.report, f'no report\n{self.stdout}\n{self.stderr}'
        return self.report


def run_child(code: str,
              *,
              env: Optional[Dict[str, str]] = None,
              limits: Optional[Dict[int, Tuple[int, int]]] = None,
              cgroups: Tuple['Cgroup', ...] = (),
              timeout: float = 120) -> Child:
    """Run ``code`` (after ``from tests_host import child``) in a fresh
    interpreter that routes every function through Go
    (SKY_RS_FORCE_NATIVE=1)."""
    environment = {
        k: v for k, v in os.environ.items() if k not in _CLEARED
    }
    paths = [p for p in environment.get('PYTHONPATH', '').split(os.pathsep)
             if p]
    environment['PYTHONPATH'] = os.pathsep.join(paths + [REPO])
    environment['SKY_RS_FORCE_NATIVE'] = '1'
    environment.update(env or {})

    def prepare() -> None:  # in the child, before exec
        for group in cgroups:
            group.write('cgroup.procs', str(os.getpid()))
        for which, value in (limits or {}).items():
            resource.setrlimit(which, value)

    program = 'from tests_host import child\n' + textwrap.dedent(code)
    completed = subprocess.run([sys.executable, '-c', program],
                               cwd='/',  # sys.path[0]: import from PYTHONPATH
                               env=environment,
                               preexec_fn=prepare,
                               capture_output=True,
                               text=True,
                               timeout=timeout,
                               check=False)
    return Child(completed)


class Cgroup:
    """A cgroup v1 group of one controller, made for one test."""

    _numbers = itertools.count()

    def __init__(self, controller: str):
        self.path = os.path.join(
            CGROUP_ROOT, controller,
            f'sky_rs-test-{os.getpid()}-{next(self._numbers)}')
        os.mkdir(self.path)

    def write(self, name: str, value: str) -> None:
        with open(os.path.join(self.path, name), 'w', encoding='ascii') as f:
            f.write(value)

    def read(self, name: str) -> str:
        with open(os.path.join(self.path, name), encoding='ascii') as f:
            return f.read().strip()

    def remove(self) -> None:
        # The tasks of an exited child may take a moment to leave.
        for _ in range(100):
            try:
                os.rmdir(self.path)
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.05)
        os.rmdir(self.path)


def cgroup_unavailable(controller: str) -> Optional[str]:
    if os.geteuid() != 0:
        return 'making cgroups needs root'
    if not os.path.isdir(os.path.join(CGROUP_ROOT, controller, )) or \
            not os.path.exists(os.path.join(CGROUP_ROOT, controller,
                                            'cgroup.procs')):
        return f'no cgroup v1 {controller} hierarchy at {CGROUP_ROOT}'
    return None


@pytest.fixture
def cgroup() -> Iterator[Callable[[str], Cgroup]]:
    """Make cgroups of a controller (skips without root or a v1 hierarchy);
    removes them after the test."""
    made: List[Cgroup] = []

    def make(controller: str) -> Cgroup:
        reason = cgroup_unavailable(controller)
        if reason:
            pytest.skip(reason)
        group = Cgroup(controller)
        made.append(group)
        return group

    yield make
    for group in made:
        group.remove()


@pytest.fixture(scope='session', autouse=True)
def native_extension() -> None:
    """These tests are about the Go runtime: without it, nothing to test."""
    import sky_rs  # pylint: disable=import-outside-toplevel
    if sky_rs.extension_path() is None:
        if os.environ.get('SKY_RS_REQUIRE_NATIVE') == '1':
            pytest.fail('no Go extension (SKY_RS_REQUIRE_NATIVE=1)')
        pytest.skip('sky_rs has no Go extension here')

"""Fixtures: the two backends, the public API, and upstream SkyPilot as oracle.

Every behavioural test is written once and runs against both backends through
the ``backend`` fixture (test ids ``go`` and ``python``), as multidict's suite
runs against its C and pure-Python implementations:

- ``go``: the functions of ``sky_rs`` itself (the Go extension). Skipped when
  the extension cannot load, or when left out with ``--no-native`` or
  ``SKY_RS_NO_NATIVE=1`` (which also set ``SKYPILOT_USE_RUST=0``, so no Go
  runs in the test process); with ``SKY_RS_REQUIRE_NATIVE=1`` a missing
  extension fails instead (CI legs that built it set this).
- ``python``: the pure-Python references ``sky_fallback._reference._python_*``.

``api`` is the public ``sky_fallback.rust_fallback`` as the environment
configures it (run the suite with ``SKYPILOT_USE_RUST=0`` for the pure-Python
leg), and ``upstream`` SkyPilot's own functions, the oracle.

Hypothesis profiles: ``ci`` (default; derandomised, ~150 examples per test)
and ``long`` (10,000), chosen with ``HYPOTHESIS_PROFILE``.
"""

import os
import types
from typing import Any

from hypothesis import HealthCheck
from hypothesis import settings
import pytest

# The public API answers some functions in Python where that is faster
# (sky_fallback.rust_fallback.PYTHON_ROUTED). The suite routes every function
# through the native side instead, so that all Go code is exercised through
# the public API too; tests_py/test_routing.py checks the measured routing in
# a fresh process. Set before rust_fallback is imported, which reads it.
os.environ.setdefault('SKY_RS_FORCE_NATIVE', '1')

from sky_fallback import _reference  # pylint: disable=wrong-import-position
from sky_fallback import rust_fallback  # pylint: disable=wrong-import-position
from tests_py.reliability import upstream_function  # pylint: disable=wrong-import-position
from tests_py.support import BATCH_NAMES  # pylint: disable=wrong-import-position
from tests_py.support import FUNCTION_NAMES  # pylint: disable=wrong-import-position
from tests_py.support import NOT_UPSTREAM  # pylint: disable=wrong-import-position

# Fixtures such as tmp_path and monkeypatch are shared by a test's examples on
# purpose: each example writes its own files and sets its own variables.
_HEALTH_CHECKS = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
settings.register_profile('ci',
                          max_examples=150,
                          derandomize=True,
                          database=None,
                          deadline=None,
                          suppress_health_check=_HEALTH_CHECKS)
settings.register_profile('long',
                          max_examples=10_000,
                          deadline=None,
                          suppress_health_check=_HEALTH_CHECKS)
settings.load_profile(os.environ.get('HYPOTHESIS_PROFILE', 'ci'))

BACKENDS = ['go', 'python']


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption('--no-native',
                     action='store_true',
                     default=False,
                     help='leave the Go backend out (as SKY_RS_NO_NATIVE=1)')


def pytest_configure(config: pytest.Config) -> None:
    if native_left_out(config):
        # Keep Go out of this process entirely: the public API too.
        os.environ['SKYPILOT_USE_RUST'] = '0'
    config.addinivalue_line(
        'markers', 'native: runs the Go extension; skipped when it cannot '
        'load, failed instead under SKY_RS_REQUIRE_NATIVE=1')
    config.addinivalue_line(
        'markers', 'upstream: compares with SkyPilot (sky.utils); skipped '
        'when SkyPilot is not installed')
    config.addinivalue_line(
        'markers', 'slow: takes seconds (subprocesses, signals, gigabytes); '
        'leave out with -m "not slow"')


def pytest_collection_modifyitems(items: list) -> None:
    # Mark every test that runs the Go backend, so `-m "not native"` works.
    for item in items:
        callspec = getattr(item, 'callspec', None)
        if callspec is not None and 'go' in callspec.id.split('-'):
            item.add_marker(pytest.mark.native)
        if 'upstream' in getattr(item, 'fixturenames', ()):
            item.add_marker(pytest.mark.upstream)


def native_left_out(config: pytest.Config) -> bool:
    return (config.getoption('--no-native') or
            os.environ.get('SKY_RS_NO_NATIVE') == '1')


def require_native(config: pytest.Config) -> Any:
    """Return the loaded sky_rs module, or skip the test (fail if required)."""
    if native_left_out(config):
        pytest.skip('native backend left out (--no-native / SKY_RS_NO_NATIVE)')
    try:
        import sky_rs  # pylint: disable=import-outside-toplevel
        sky_rs.load()
    except Exception as error:  # pylint: disable=broad-except
        message = (f'the Go extension cannot load: '
                   f'{type(error).__name__}: {error}')
        if os.environ.get('SKY_RS_REQUIRE_NATIVE') == '1':
            pytest.fail(f'{message} (SKY_RS_REQUIRE_NATIVE=1)', pytrace=False)
        pytest.skip(message)
    return sky_rs


def make_backend(name: str, config: pytest.Config) -> types.SimpleNamespace:
    """A namespace of the twelve functions (and the batch forms) of one backend.

    ``declines`` says whether the backend may raise NotImplementedError for
    input it does not handle; ``module`` is where its state lives.
    """
    if name == 'go':
        module = require_native(config)
        functions = {
            f: getattr(module, f) for f in FUNCTION_NAMES + BATCH_NAMES
        }
        return types.SimpleNamespace(name='go',
                                     declines=True,
                                     module=module,
                                     **functions)
    assert name == 'python', name
    functions = {
        f: getattr(_reference, f'_python_{f}')
        for f in FUNCTION_NAMES + BATCH_NAMES
    }
    return types.SimpleNamespace(name='python',
                                 declines=False,
                                 module=_reference,
                                 **functions)


@pytest.fixture(scope='session', params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> types.SimpleNamespace:
    """The twelve functions of one backend: sky_rs (go) or the references."""
    return make_backend(request.param, request.config)


@pytest.fixture(scope='session')
def native(request: pytest.FixtureRequest) -> Any:
    """The loaded sky_rs module (skips when the extension cannot load)."""
    return require_native(request.config)


@pytest.fixture
def api() -> types.ModuleType:
    """The public API, sky_fallback.rust_fallback, as configured."""
    return rust_fallback


@pytest.fixture(scope='session')
def upstream() -> types.SimpleNamespace:
    """SkyPilot's own functions (the ten that exist upstream), the oracle.

    ``base36_encode`` is upstream's except for a negative number, where
    upstream loops forever and SPEC.md requires a ValueError.
    """
    pytest.importorskip('sky.utils.common_utils',
                        reason='SkyPilot is not installed')
    subprocess_utils = pytest.importorskip('sky.utils.subprocess_utils',
                                           reason='SkyPilot is not installed')
    functions = {
        name: upstream_function(name)
        for name in FUNCTION_NAMES
        if name not in NOT_UPSTREAM
    }
    return types.SimpleNamespace(name='upstream',
                                 subprocess_utils=subprocess_utils,
                                 **functions)

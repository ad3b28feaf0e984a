"""Loading the Go runtime: deferred while the host cannot take it, retried,
permanent failures kept (issue #10; tests_host/ runs the real cases).

These tests put fakes in place of the host checks and of sky_rs, so they
check the decisions themselves, in this process, whichever backend runs.
"""

import errno
import os
import types

import pytest

import sky_rs
from sky_fallback import rust_fallback
from sky_rs import _host


@pytest.fixture
def unloaded(monkeypatch):
    """sky_rs as if no load had been tried in this process."""
    monkeypatch.setattr(sky_rs._loading, 'lib', None)
    monkeypatch.setattr(sky_rs._loading, '_deferred', (0.0, ''))
    monkeypatch.setattr(sky_rs._loading, '_failed', '')
    return sky_rs


@pytest.fixture
def clock(monkeypatch):
    """A time.monotonic() the test moves."""
    now = types.SimpleNamespace(value=1000.0)
    monkeypatch.setattr(sky_rs._loading.time, 'monotonic', lambda: now.value)
    monkeypatch.setattr(rust_fallback.time, 'monotonic', lambda: now.value)
    return now


@pytest.mark.parametrize('message,transient', [
    ('/x/_sky_rs.so: cannot open shared object file: Too many open files',
     True),
    ('/x/_sky_rs.so: failed to map segment from shared object', True),
    ('/x/_sky_rs.so: cannot allocate memory in static TLS block', False),
    ("/lib/libc.so.6: version `GLIBC_2.99' not found", False),
    ("No module named 'sky_rs._sky_rs'", False),
])
def test_which_load_failures_pass(message, transient):
    assert sky_rs._loading._is_transient(ImportError(message)) is transient  # pylint: disable=protected-access


def test_oserrors_that_pass():
    for code in (errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.EINTR):
        assert sky_rs._loading._is_transient(OSError(code, os.strerror(code)))  # pylint: disable=protected-access
    assert not sky_rs._loading._is_transient(OSError(errno.EACCES, 'denied'))  # pylint: disable=protected-access


def test_shortfall_defers_and_is_retried_once_a_second(unloaded, clock,
                                                       monkeypatch):
    checks = []

    def shortfall():
        checks.append(clock.value)
        return 'only 3 file descriptors are free'

    monkeypatch.setattr(_host, 'shortfall', shortfall)
    for _ in range(100):
        with pytest.raises(sky_rs.LoadDeferred, match='only 3 file'):
            unloaded.load()
    assert checks == [1000.0]  # the calls meanwhile cost nothing
    clock.value += sky_rs.RETRY_SECONDS
    with pytest.raises(sky_rs.LoadDeferred):
        unloaded.load()
    assert len(checks) == 2
    assert not unloaded.is_loaded()


def test_environment_conflict_is_permanent(unloaded, clock, monkeypatch):
    monkeypatch.setenv('GODEBUG', 'containermaxprocs=1')
    for _ in range(2):
        with pytest.raises(ImportError, match='containermaxprocs=1') as error:
            unloaded.load()
        assert not isinstance(error.value, sky_rs.LoadDeferred)
        clock.value += 10


@pytest.mark.parametrize('godebug,conflict', [
    ('containermaxprocs=1', 'containermaxprocs=1'),
    ('updatemaxprocs=1,gctrace=1', 'updatemaxprocs=1'),
    ('containermaxprocs=1,containermaxprocs=0', None),  # the last one wins
    ('gctrace=1,madvdontneed=0', None),
    ('containermaxprocs=0', None),
    ('', None),
])
def test_godebug_overrides(godebug, conflict):
    got = [setting for setting, _ in _host._overridden(godebug)]  # pylint: disable=protected-access
    assert got == ([conflict] if conflict else [])


class FakeSkyRs(types.ModuleType):
    """Stands for sky_rs: load() raises what the test says, in turn."""

    class LoadDeferred(ImportError):
        pass

    class NativeFault(SystemError):
        pass

    RETRY_SECONDS = 1.0

    def __init__(self, *outcomes):
        super().__init__('sky_rs')
        self.outcomes = list(outcomes)
        self.loads = 0

    def load(self):
        self.loads += 1
        outcome = self.outcomes.pop(0)
        if outcome is not None:
            raise outcome
        return self

    def base36_encode(self, _):
        return 'native'

    @staticmethod
    def is_loaded():
        return False

    @staticmethod
    def extension_path():
        return '/fake/_sky_rs.so'

    @staticmethod
    def go_version():
        return 'go0.fake'


@pytest.fixture
def fake_sky_rs(monkeypatch, clock):

    def install(*outcomes):
        fake = FakeSkyRs(*outcomes)
        monkeypatch.setitem(__import__('sys').modules, 'sky_rs', fake)
        monkeypatch.setattr(rust_fallback, '_native', rust_fallback._NOT_LOADED)  # pylint: disable=protected-access
        monkeypatch.setattr(rust_fallback, '_retry_at', 0.0)
        monkeypatch.setattr(rust_fallback, '_unavailable_reason', None)
        monkeypatch.delenv('SKYPILOT_USE_RUST', raising=False)
        return fake

    return install


def test_deferred_load_answers_in_python_then_goes_native(fake_sky_rs, clock):
    fake = fake_sky_rs(FakeSkyRs.LoadDeferred('no descriptors'), None)
    assert rust_fallback.base36_encode('ff') == '73'
    info = rust_fallback.get_backend_info()
    assert info['backend'] == 'python' and 'no descriptors' in info['reason']
    for _ in range(50):
        assert rust_fallback.base36_encode('ff') == '73'
    assert fake.loads == 1  # not retried per call
    clock.value += 1.0
    assert rust_fallback.base36_encode('ff') == 'native'
    assert rust_fallback.get_backend_info()['backend'] == 'go'
    assert fake.loads == 2


def test_import_failing_at_the_descriptor_limit_is_retried(
        fake_sky_rs, clock):
    fake = fake_sky_rs(OSError(errno.EMFILE, 'Too many open files'), None)
    assert rust_fallback.base36_encode('ff') == '73'
    assert not rust_fallback.is_rust_available()
    clock.value += 1.0
    assert rust_fallback.is_rust_available()
    assert fake.loads == 2


def test_permanent_failure_stays(fake_sky_rs, clock):
    fake = fake_sky_rs(ImportError("version `GLIBC_2.99' not found"))
    assert rust_fallback.base36_encode('ff') == '73'
    clock.value += 100
    assert rust_fallback.base36_encode('ff') == '73'
    info = rust_fallback.get_backend_info()
    assert info['native_available'] is False and 'GLIBC_2.99' in info['reason']
    assert fake.loads == 1


def test_gate_off_reports_without_loading(fake_sky_rs, monkeypatch):
    fake = fake_sky_rs()  # any load would fail: no outcome left
    monkeypatch.setenv('SKYPILOT_USE_RUST', '0')
    info = rust_fallback.get_backend_info()
    assert (info['backend'], info['loaded'], info['native_available']) == (
        'python', False, True)
    assert info['go_version'] == 'go0.fake'
    assert not rust_fallback.is_rust_available()
    assert set(rust_fallback.routes().values()) == {'python'}
    assert fake.loads == 0


def test_missing_extension_in_a_source_checkout_says_so(tmp_path,
                                                        monkeypatch):
    """Python started in a checkout imports its sky_rs/, not the installed
    one: the reason says that, not that Go was missing at build time."""
    checkout = tmp_path / 'checkout'
    (checkout / 'skyrs' / 'pyexport').mkdir(parents=True)
    monkeypatch.setattr(sky_rs._loading, '__file__',
                        str(checkout / 'sky_rs' / '_loading.py'))
    reason = sky_rs._loading._why_no_extension()  # pylint: disable=protected-access
    assert f'source checkout {checkout}' in reason
    assert 'make install' in reason
    assert 'build' not in reason.split(':')[0]


@pytest.mark.parametrize('recorded', [
    'no Go toolchain on PATH',
    'built as pure Python on purpose: SKY_RS_PURE_PYTHON=1',
])
def test_missing_extension_names_what_the_build_recorded(
        tmp_path, monkeypatch, recorded):
    monkeypatch.setattr(sky_rs._loading, '__file__',
                        str(tmp_path / 'site' / 'sky_rs' / '_loading.py'))
    monkeypatch.setattr(sky_rs,
                        '_build_info',
                        types.SimpleNamespace(NATIVE_MISSING=recorded),
                        raising=False)
    reason = sky_rs._loading._why_no_extension()  # pylint: disable=protected-access
    assert f'({recorded})' in reason
    assert 'toolchain at build time?' not in reason
    # No package index serves sky-rs: the hint names the source.
    assert 'reinstall sky-rs' not in reason
    assert 'from the source' in reason


def test_no_other_build_of_the_extension_would_import_instead():
    # Python imports _sky_rs.cpython-311-x86_64-linux-gnu.so before
    # _sky_rs.abi3.so: a build for one must remove the other (setup.py,
    # remove_shadowing_extensions), or an older build answers every call.
    import importlib.machinery  # pylint: disable=import-outside-toplevel
    package = os.path.dirname(sky_rs.__file__)
    builds = [
        suffix for suffix in importlib.machinery.EXTENSION_SUFFIXES
        if os.path.exists(os.path.join(package, '_sky_rs' + suffix))
    ]
    assert len(builds) <= 1, builds

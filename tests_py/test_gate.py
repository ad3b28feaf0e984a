"""The SKYPILOT_USE_RUST gate and the dispatch in sky_fallback.rust_fallback.

Most tests put a fake native module in place of sky_rs, so they check the
dispatch itself (which path answers, what is logged) whether or not the Go
extension is built; ``test_real_native_*`` repeat the key ones with sky_rs.
"""

import itertools
import logging
import os

import pytest

from sky_fallback import rust_fallback
from tests_py.support import FUNCTION_NAMES

GATE = 'SKYPILOT_USE_RUST'


def spellings(word):
    return [
        ''.join(letters) for letters in itertools.product(
            *[(c.lower(), c.upper()) for c in word])
    ]


OFF_VALUES = sorted(
    {v for w in ('0', 'false', 'no', 'off') for v in spellings(w)})
ON_VALUES = ['1', 'true', 'TRUE', 'yes', 'on']


class FakeFault(SystemError):
    """Stands for sky_rs.NativeFault."""


class FakeNative:
    """Stands for sky_rs: each function records its call and answers with a
    marker, or raises what the test put in ``raises[name]``."""

    NativeFault = FakeFault

    def __init__(self):
        self.calls = []
        self.raises = {}

    def go_version(self):
        return 'go0.fake'

    def extension_path(self):
        return '/fake/_sky_rs.so'

    def __getattr__(self, name):
        if name not in FUNCTION_NAMES:
            raise AttributeError(name)

        def function(*args, **kwargs):
            self.calls.append((name, args, kwargs))
            if name in self.raises:
                raise self.raises[name]
            return f'native:{name}'

        return function


@pytest.fixture
def fake_native(monkeypatch):
    fake = FakeNative()
    monkeypatch.setattr(rust_fallback, '_native', fake)
    monkeypatch.setattr(rust_fallback, '_native_fault', FakeFault)
    monkeypatch.setattr(rust_fallback, '_faults_logged', set())
    monkeypatch.delenv(GATE, raising=False)
    return fake


def test_off_values_cover_every_case_spelling():
    assert len(OFF_VALUES) == 1 + 2**5 + 2**2 + 2**3


@pytest.mark.parametrize('value', OFF_VALUES)
def test_off_spellings_use_python(fake_native, monkeypatch, value):
    monkeypatch.setenv(GATE, value)
    assert rust_fallback.base36_encode('ff') == '73'
    assert fake_native.calls == []
    assert not rust_fallback.is_rust_available()
    info = rust_fallback.get_backend_info()
    assert (info['backend'], info['enabled']) == ('python', False)
    assert GATE in info['reason']


@pytest.mark.parametrize('value', ON_VALUES + [None])
def test_on_values_and_unset_use_native(fake_native, monkeypatch, value):
    if value is not None:
        monkeypatch.setenv(GATE, value)
    assert rust_fallback.base36_encode('ff') == 'native:base36_encode'
    assert rust_fallback.is_rust_available()
    info = rust_fallback.get_backend_info()
    assert (info['backend'], info['enabled'], info['reason']) == ('go', True,
                                                                  None)


def test_flipping_os_environ_switches_the_next_call(fake_native):
    try:
        os.environ[GATE] = '0'
        assert rust_fallback.format_float(2.5) == '2.5'
        assert rust_fallback.get_backend_info()['backend'] == 'python'
        os.environ[GATE] = '1'
        assert rust_fallback.format_float(2.5) == 'native:format_float'
        assert rust_fallback.get_backend_info()['backend'] == 'go'
        os.environ[GATE] = 'OFF'
        assert rust_fallback.format_float(2.5) == '2.5'
        del os.environ[GATE]
        assert rust_fallback.format_float(2.5) == 'native:format_float'
        assert rust_fallback.get_backend_info()['backend'] == 'go'
    finally:
        os.environ.pop(GATE, None)
    assert [c[0] for c in fake_native.calls] == ['format_float'] * 2


def call_every_function(directory):
    """Call each public function once, with arguments worth forwarding."""
    return {
        'read_last_n_lines':
            rust_fallback.read_last_n_lines(directory, 3),
        'hash_file':
            rust_fallback.hash_file(directory, 'md5'),
        'find_free_port':
            rust_fallback.find_free_port(8000),
        'base36_encode':
            rust_fallback.base36_encode('ff'),
        'format_float':
            rust_fallback.format_float(1.25, precision=2),
        'truncate_long_string':
            rust_fallback.truncate_long_string('abc', 2, truncate_middle=True),
        'get_cpu_count':
            rust_fallback.get_cpu_count(),
        'get_mem_size_gb':
            rust_fallback.get_mem_size_gb(),
        'get_parallel_threads':
            rust_fallback.get_parallel_threads('aws'),
        'is_process_alive':
            rust_fallback.is_process_alive(1),
        'get_max_workers_for_file_mounts':
            rust_fallback.get_max_workers_for_file_mounts(
                num_sources=2, estimated_files_per_source=7, cloud_str='gcp'),
        'estimate_fd_for_directory':
            rust_fallback.estimate_fd_for_directory(directory),
    }


def test_every_function_forwards_its_arguments(fake_native):
    results = call_every_function('/some/dir')
    assert results == {name: f'native:{name}' for name in FUNCTION_NAMES}
    assert fake_native.calls == [
        ('read_last_n_lines', ('/some/dir', 3, 8192, 'utf-8', 'replace'), {}),
        ('hash_file', ('/some/dir', 'md5'), {}),
        ('find_free_port', (8000,), {}),
        ('base36_encode', ('ff',), {}),
        ('format_float', (1.25, 2), {}),
        ('truncate_long_string', ('abc', 2, True), {}),
        ('get_cpu_count', (), {}),
        ('get_mem_size_gb', (), {}),
        ('get_parallel_threads', ('aws',), {}),
        ('is_process_alive', (1,), {}),
        ('get_max_workers_for_file_mounts', (None, 'gcp'), {
            'num_sources': 2,
            'estimated_files_per_source': 7
        }),
        ('estimate_fd_for_directory', ('/some/dir',), {}),
    ]


def test_every_function_answers_in_python_when_native_declines(
        fake_native, tmp_path, monkeypatch, caplog):
    (tmp_path / 'sub').mkdir()
    monkeypatch.setenv('SKYPILOT_POD_CPU_CORE_LIMIT', '3')
    monkeypatch.setenv('SKYPILOT_POD_MEMORY_GB_LIMIT', '2.5')
    for name in FUNCTION_NAMES:
        fake_native.raises[name] = NotImplementedError('declined')
    with caplog.at_level(logging.DEBUG, logger='sky_fallback'):
        with pytest.raises(AssertionError):  # python's answer: not a file
            rust_fallback.read_last_n_lines(str(tmp_path / 'none'), 1)
        with pytest.raises(IsADirectoryError):
            rust_fallback.hash_file(str(tmp_path), 'md5')
        assert rust_fallback.find_free_port(0) == 0
        assert rust_fallback.base36_encode('ff') == '73'
        assert rust_fallback.format_float(1.25, 2) == '1.25'
        assert rust_fallback.truncate_long_string('abcdef', 4, True) == 'a...'
        assert rust_fallback.get_cpu_count() == 3
        assert rust_fallback.get_mem_size_gb() == 2.5
        assert rust_fallback.estimate_fd_for_directory(str(tmp_path)) == 5
        assert rust_fallback.is_process_alive(os.getpid()) is True
        threads = rust_fallback.get_parallel_threads()
        assert threads == max(4, (os.cpu_count() or 1) - 1)
        assert rust_fallback.get_max_workers_for_file_mounts(
            num_sources=0, estimated_files_per_source=9) >= 1
    assert sorted(c[0] for c in fake_native.calls) == sorted(FUNCTION_NAMES)
    # Declines are silent (upstream's own records may come, as upstream's).
    assert [r for r in caplog.records if r.name.startswith('sky_fallback')
           ] == []


def test_native_exception_is_answered_by_the_reference(fake_native, caplog):
    # Native results are trusted, native exceptions are not: the reference
    # raises upstream's exception (or returns the right value).
    fake_native.raises['base36_encode'] = ValueError('native says no')
    with caplog.at_level(logging.DEBUG, logger='sky_fallback'):
        assert rust_fallback.base36_encode('ff') == '73'
        with pytest.raises(ValueError) as error:
            rust_fallback.base36_encode('xyz')
    assert str(error.value) == "invalid literal for int() with base 16: 'xyz'"
    assert caplog.records == []


def test_forked_child_error_is_a_silent_decline(fake_native, caplog):

    class ForkedChildError(NotImplementedError):
        pass

    fake_native.raises['format_float'] = ForkedChildError('forked')
    with caplog.at_level(logging.DEBUG, logger='sky_fallback'):
        assert rust_fallback.format_float(0.5) == '0.5'
    assert caplog.records == []


def test_native_fault_is_logged_once_per_function(fake_native, caplog):
    fake_native.raises['format_float'] = FakeFault('Go panic: boom')
    fake_native.raises['base36_encode'] = FakeFault('Go panic: bang')
    with caplog.at_level(logging.WARNING, logger='sky_fallback'):
        for _ in range(3):
            assert rust_fallback.format_float(0.5) == '0.5'
            assert rust_fallback.base36_encode('10') == 'g'
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2, messages
    assert 'format_float' in messages[0] and 'boom' in messages[0]
    assert 'base36_encode' in messages[1] and 'bang' in messages[1]
    assert all(r.name == 'sky_fallback.rust_fallback' for r in caplog.records)
    assert all(r.levelno == logging.WARNING for r in caplog.records)


def test_native_result_is_returned_as_is(fake_native):
    assert rust_fallback.get_cpu_count() == 'native:get_cpu_count'


def test_unavailable_native_uses_python(monkeypatch):
    monkeypatch.setattr(rust_fallback, '_native', None)
    monkeypatch.setattr(rust_fallback, '_unavailable_reason', 'no extension')
    monkeypatch.delenv(GATE, raising=False)
    assert rust_fallback.base36_encode('ff') == '73'
    assert not rust_fallback.is_rust_available()
    info = rust_fallback.get_backend_info()
    assert info['backend'] == 'python'
    assert info['native_available'] is False
    assert info['enabled'] is True
    assert info['reason'] == 'no extension'


def test_real_native_answers_when_enabled(native, monkeypatch):
    seen = []
    original = native.base36_encode

    def spy(hex_str):
        seen.append(hex_str)
        return original(hex_str)

    monkeypatch.setattr(native, 'base36_encode', spy)
    monkeypatch.delenv(GATE, raising=False)
    assert rust_fallback.base36_encode('deadbeef') == '1ps9wxb'
    assert rust_fallback.get_backend_info()['backend'] == 'go'
    monkeypatch.setenv(GATE, 'False')
    assert rust_fallback.base36_encode('deadbeef') == '1ps9wxb'
    assert rust_fallback.get_backend_info()['backend'] == 'python'
    monkeypatch.setenv(GATE, '1')
    assert rust_fallback.base36_encode('deadbeef') == '1ps9wxb'
    assert seen == ['deadbeef', 'deadbeef']


def test_real_native_declines_silently(native, monkeypatch, tmp_path, caplog):
    # Input sky_rs does not handle (another encoding, another hash, input it
    # gets wrong-typed) is answered in Python without a warning.
    monkeypatch.delenv(GATE, raising=False)
    path = tmp_path / 'latin.txt'
    path.write_bytes(b'caf\xe9\n')
    with caplog.at_level(logging.WARNING):
        assert rust_fallback.read_last_n_lines(str(path), 1,
                                               encoding='latin-1') == ['café']
        assert rust_fallback.hash_file(str(path), 'sha3_256').hexdigest()
        assert rust_fallback.base36_encode(b'ff') == '73'
        with pytest.raises(AttributeError):
            rust_fallback.get_max_workers_for_file_mounts(None)
    assert caplog.records == []

"""Which calls keep the GIL, and that those stay bounded and local.

Every call into Go releases the GIL, but for read_last_n_lines on a file it
has found on a local file system: beside a busy Python thread, releasing the
GIL and taking it back costs a switch interval (5 ms), hundreds of times a
tail of a log, so later calls on that file read at most 256 KiB keeping it
(sky_rs.read_last_n_lines, ReadLastNLinesTextKeepingGIL); longer tails, and
files on network or FUSE file systems, whose reads may stall, take the call
that releases it.
"""

import sys
import threading
import time

import pytest

import sky_rs

from sky_fallback import _reference


class Recorder:
    """The loaded extension, with the names of the functions called."""

    def __init__(self, lib, local=None):
        self._lib = lib
        self._local = local
        self.calls = []

    def __getattr__(self, name):
        function = getattr(self._lib, name)

        def call(*args):
            self.calls.append(name.replace('pyexport_', ''))
            if name == 'pyexport_LocalFile' and self._local is not None:
                return self._local
            return function(*args)

        return call


@pytest.fixture
def recorded(native, monkeypatch):
    """A function that installs a Recorder as sky_rs's extension; fresh
    memory of local files."""
    monkeypatch.setattr(sky_rs._tail, '_local_tail_paths', {})

    def install(local=None):
        recorder = Recorder(native.load(), local)
        monkeypatch.setattr(sky_rs._loading, 'lib', recorder)
        return recorder

    return install


def test_a_local_log_is_read_keeping_the_gil_from_its_second_call(
        native, recorded, tmp_path):
    path = tmp_path / 'log'
    path.write_bytes(b''.join(b'line %d\n' % i for i in range(5000)))
    recorder = recorded()
    want = _reference._python_read_last_n_lines(str(path), 100)  # pylint: disable=protected-access
    assert native.read_last_n_lines(str(path), 100) == want
    assert recorder.calls == ['ReadLastNLinesText', 'LocalFile']
    recorder.calls.clear()
    assert native.read_last_n_lines(str(path), 100) == want
    assert recorder.calls == ['ReadLastNLinesTextKeepingGIL']


def test_a_tail_longer_than_the_bound_takes_the_full_call(
        native, recorded, tmp_path):
    path = tmp_path / 'log'
    path.write_bytes(b'short\n' + b'x' * (300 << 10) + b'\nend\n')
    recorder = recorded()
    native.read_last_n_lines(str(path), 1)
    recorder.calls.clear()
    want = _reference._python_read_last_n_lines(str(path), 2)  # pylint: disable=protected-access
    assert native.read_last_n_lines(str(path), 2) == want
    assert recorder.calls == ['ReadLastNLinesTextKeepingGIL',
                              'ReadLastNLinesText']
    # From then on, as many lines or more take the full call alone; fewer
    # still the bounded one.
    recorder.calls.clear()
    assert native.read_last_n_lines(str(path), 3) == (
        _reference._python_read_last_n_lines(str(path), 3))  # pylint: disable=protected-access
    assert native.read_last_n_lines(str(path), 1) == ['end']
    assert recorder.calls == ['ReadLastNLinesText',
                              'ReadLastNLinesTextKeepingGIL']


def test_a_log_on_a_network_file_system_never_keeps_the_gil(
        native, recorded, tmp_path):
    path = tmp_path / 'log'
    path.write_bytes(b'one\ntwo\n')
    recorder = recorded(local=False)  # as LocalFile answers on NFS or FUSE
    want = _reference._python_read_last_n_lines(str(path), 1)  # pylint: disable=protected-access
    for _ in range(3):
        assert native.read_last_n_lines(str(path), 1) == want
    assert 'ReadLastNLinesTextKeepingGIL' not in recorder.calls


def test_local_file_knows_local_from_other_file_systems(native, tmp_path):
    lib = native.load()
    assert lib.pyexport_LocalFile('/proc/self/status') is False  # procfs
    assert lib.pyexport_LocalFile(str(tmp_path / 'missing')) is False


def test_the_bounded_read_keeps_the_gil(native, tmp_path):
    # With a long switch interval a thread waiting for the GIL gets it only
    # when the holder releases it: a busy thread counts while it has it.
    path = tmp_path / 'log'
    path.write_bytes(b''.join(b'line %d\n' % i for i in range(5000)))
    read = native.load().pyexport_ReadLastNLinesTextKeepingGIL
    count, stop = [0], threading.Event()

    def busy():
        while not stop.is_set():
            count[0] += 1

    interval = sys.getswitchinterval()
    sys.setswitchinterval(0.5)
    thread = threading.Thread(target=busy)
    try:
        thread.start()
        time.sleep(0.01)  # the busy thread runs; this one waits to get back
        before = count[0]
        for _ in range(200):
            read(str(path), 100, 8192, True)
            if count[0] != before:
                break
        after = count[0]
    finally:
        stop.set()
        sys.setswitchinterval(interval)
        thread.join()
    assert after == before


def test_the_bounded_read_raises_upstreams_errors(native, recorded, tmp_path):
    path = tmp_path / 'log'
    path.write_bytes(b'a\nb\n')
    recorder = recorded()
    native.read_last_n_lines(str(path), 1)
    for change in (path.unlink, path.mkdir):
        change()
        with pytest.raises(Exception) as ours:
            native.read_last_n_lines(str(path), 1)
        with pytest.raises(Exception) as theirs:
            _reference._python_read_last_n_lines(str(path), 1)  # pylint: disable=protected-access
        assert (type(ours.value), str(ours.value)) == (type(theirs.value),
                                                       str(theirs.value))
    assert recorder.calls.count('ReadLastNLinesTextKeepingGIL') == 2

"""hash_file and hash_files, each backend and the public API, against upstream.

Results must equal upstream's ``common_utils.hash_file`` in ``digest()``,
``hexdigest()``, ``name``, ``digest_size`` and ``block_size``; ``hash_files``
must equal ``[hash_file(p, alg) for p in paths]``, raising that loop's first
error. The Go side keeps large files open between calls (a call returns
every 0.1 s or so, so that Ctrl-C can stop it): no path may leak a file
descriptor, and SIGINT must interrupt a long hash within about a second, as
it interrupts upstream's read loop (the ``slow`` tests, in subprocesses).
"""

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import sky_rs

from tests_py.support import assert_same
from tests_py.support import hashlib_error
from tests_py.support import normalise
from tests_py.support import outcome

ALGORITHMS = [
    'md5', 'sha1', 'sha224', 'sha256', 'sha384', 'sha512', 'SHA256',
    'sha3_256', 'blake2b'
]
# Sizes around upstream's 256 KiB reads and Go's 1 MiB reads of large files.
SIZES = [
    0, 1, 64, 2**18 - 1, 2**18, 2**18 + 1, 2**20 - 1, 2**20, 2**20 + 7,
    3 * 2**20 + 5
]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def data_of(size: int, seed: int = 0) -> bytes:
    # Not random.randbytes: fast for megabytes, and differs per seed.
    block = hashlib.sha512(f'{size}/{seed}'.encode()).digest()
    return (block * (size // len(block) + 1))[:size]


def write(directory, name: str, data: bytes) -> str:
    path = directory / name
    path.write_bytes(data)
    return str(path)


def sparse(directory, name: str, size: int) -> str:
    """A file of ``size`` zero bytes that takes no disk space."""
    path = str(directory / name)
    with open(path, 'wb') as f:
        f.truncate(size)
    return path


def files_open_under(directory) -> list:
    """The files under ``directory`` this process has open, one entry per
    descriptor. Only those: other threads (pytest's, earlier tests') may
    open and close descriptors of their own at any time."""
    prefix = str(directory) + os.sep
    found = []
    for fd in os.listdir('/proc/self/fd'):
        try:
            target = os.readlink(f'/proc/self/fd/{fd}')
        except OSError:  # closed since the listing (the listing's own, say)
            continue
        if target == str(directory) or target.startswith(prefix):
            found.append(target)
    return sorted(found)


def outcomes(function, *args):
    """outcome() of a call that returns a list of hash objects."""
    try:
        values = function(*args)
    except Exception as error:  # pylint: disable=broad-except
        return ('raises', type(error), str(error))
    return ('returns', [normalise(v) for v in values])


def upstream_loop(upstream):
    return lambda paths, alg: [upstream.hash_file(p, alg) for p in paths]


needs_proc = pytest.mark.skipif(not os.path.isdir('/proc/self/fd'),
                                reason='counts open files in /proc/self/fd')

# hash_file


@pytest.mark.parametrize('size', SIZES)
@pytest.mark.parametrize('hash_alg', ALGORITHMS)
def test_hash_file_matches_upstream(backend, upstream, tmp_path, hash_alg,
                                    size):
    path = write(tmp_path, 'data.bin', data_of(size))
    got = outcome(backend.hash_file, path, hash_alg)
    want = outcome(upstream.hash_file, path, hash_alg)
    assert_same(backend, got, want,
                may_decline=hash_alg in ('sha3_256', 'blake2b'))


@pytest.mark.parametrize('hash_alg', ['md5', 'sha256'])
def test_hash_file_large_sparse(native, tmp_path, hash_alg):
    # 150 MiB: Go hashes it over several calls.
    path = sparse(tmp_path, 'zeros', 150 * 2**20)
    want = hashlib.new(hash_alg)
    zeros = bytes(2**20)
    for _ in range(150):
        want.update(zeros)
    got = native.hash_file(path, hash_alg)
    assert (got.name, got.digest()) == (want.name, want.digest())


@pytest.mark.parametrize('case', ['missing', 'directory', 'not-a-directory'])
@pytest.mark.parametrize('hash_alg', ['sha256', 'nope'])
def test_hash_file_errors(backend, upstream, tmp_path, case, hash_alg):
    # The file is opened before the algorithm is looked at.
    path = {
        'missing': str(tmp_path / 'missing'),
        'directory': str(tmp_path),
        'not-a-directory': write(tmp_path, 'file', b'x') + '/below',
    }[case]
    got = outcome(backend.hash_file, path, hash_alg)
    want = outcome(upstream.hash_file, path, hash_alg)
    assert want[0] == 'raises' and issubclass(want[1], OSError)
    assert_same(backend, got, want, may_decline=hash_alg == 'nope')


def test_hash_file_bad_algorithm(backend, upstream, tmp_path):
    path = write(tmp_path, 'file', b'x')
    got = outcome(backend.hash_file, path, 'nope')
    want = outcome(upstream.hash_file, path, 'nope')
    assert want == ('raises', ValueError, hashlib_error('nope'))
    assert_same(backend, got, want, may_decline=True)


# hash_files


def mixed_files(directory, big: bool = True) -> list:
    """Files of many sizes; with ``big``, one above the 32 MiB that Go
    leaves to hash_file (at paths[7])."""
    paths = [
        write(directory, f'f{i}', data_of(i * 997 % 40000, i))
        for i in range(120)
    ]
    if big:
        paths.insert(7, sparse(directory, 'big', 33 * 2**20))
    paths.insert(50, write(directory, 'empty', b''))
    paths.append(paths[3])  # twice
    return paths


@pytest.mark.parametrize('hash_alg', ALGORITHMS)
def test_hash_files_matches_upstream_loop(backend, upstream, tmp_path,
                                          hash_alg):
    paths = mixed_files(tmp_path, big=hash_alg in ('md5', 'sha256', 'sha512'))
    got = outcomes(backend.hash_files, paths, hash_alg)
    want = outcomes(upstream_loop(upstream), paths, hash_alg)
    assert_same(backend, got, want,
                may_decline=hash_alg in ('sha3_256', 'blake2b'))


def test_hash_files_many_batches(backend, upstream, tmp_path):
    # More paths than sky_rs joins into one string.
    one = write(tmp_path, 'one', b'one')
    two = write(tmp_path, 'two', b'two')
    paths = [one, two] * 4500
    got = outcomes(backend.hash_files, paths, 'sha256')
    want = outcomes(upstream_loop(upstream), paths, 'sha256')
    assert got == want


def test_hash_files_accepts_iterables(backend, tmp_path):
    paths = [write(tmp_path, f'f{i}', bytes([i]) * i) for i in range(5)]
    want = [hashlib.md5(bytes([i]) * i).hexdigest() for i in range(5)]
    for form in (tuple(paths), iter(paths), (p for p in paths)):
        assert [d.hexdigest() for d in backend.hash_files(form, 'md5')] == want
    assert backend.hash_files([], 'sha256') == []


@pytest.mark.parametrize('case', [
    'missing-first',
    'missing-middle',
    'directory-then-missing',
    'missing-then-directory',
    'missing-with-bad-alg',
    'bad-alg',
    'empty-with-bad-alg',
])
def test_hash_files_raises_the_loops_first_error(backend, upstream, tmp_path,
                                                 case):
    ok = [write(tmp_path, f'ok{i}', b'x' * i) for i in range(40)]
    missing = str(tmp_path / 'missing')
    directory = str(tmp_path)
    paths, hash_alg = {
        'missing-first': ([missing] + ok, 'sha256'),
        'missing-middle': (ok[:20] + [missing] + ok[20:], 'md5'),
        'directory-then-missing': (ok + [directory, missing], 'sha1'),
        'missing-then-directory': (ok + [missing, directory], 'sha1'),
        'missing-with-bad-alg': ([missing] + ok, 'nope'),
        'bad-alg': (ok, 'nope'),
        'empty-with-bad-alg': ([], 'nope'),
    }[case]
    got = outcomes(backend.hash_files, paths, hash_alg)
    want = outcomes(upstream_loop(upstream), paths, hash_alg)
    assert_same(backend, got, want, may_decline='bad-alg' in case)


@pytest.mark.parametrize('case', ['newline', 'nul', 'bytes', 'surrogate'])
def test_hash_files_unusual_paths(backend, upstream, tmp_path, case):
    # Paths Go cannot carry in its '\n'-joined string are declined as a
    # batch (the public API then answers in Python).
    ok = write(tmp_path, 'ok', b'ok')
    odd = {
        'newline': write(tmp_path, 'new\nline', b'newline'),
        'nul': str(tmp_path / 'nul\x00'),
        'bytes': os.fsencode(ok),
        'surrogate': write(tmp_path, 'x\udcff', b'surrogate'),
    }[case]
    paths = [ok, odd, ok]
    got = outcomes(backend.hash_files, paths, 'sha256')
    want = outcomes(upstream_loop(upstream), paths, 'sha256')
    assert_same(backend, got, want, may_decline=True)


@pytest.mark.parametrize('hash_alg', ['sha256', 'md5', 'SHA256', 'sha512',
                                      'blake2b', 'nope'])
@pytest.mark.parametrize('gate', ['1', '0'])
def test_file_digests_are_the_loops_digests(api, upstream, tmp_path,
                                            monkeypatch, hash_alg, gate):
    # api._file_digests, the config hash's form of hash_files:
    # bytes only, the same digests and the same first error, either backend.
    monkeypatch.setenv('SKYPILOT_USE_RUST', gate)
    paths = mixed_files(tmp_path, big=False)
    want = outcome(lambda: [
        upstream.hash_file(path, hash_alg).digest() for path in paths
    ])
    assert outcome(api._file_digests, paths, hash_alg) == want  # pylint: disable=protected-access
    paths.insert(30, str(tmp_path / 'missing'))
    want = outcome(lambda: [
        upstream.hash_file(path, hash_alg).digest() for path in paths
    ])
    assert outcome(api._file_digests, paths, hash_alg) == want  # pylint: disable=protected-access
    assert api._file_digests([], hash_alg) == []  # pylint: disable=protected-access


def long_path(directory) -> str:
    """A file whose path is 4096 bytes, one more than PATH_MAX takes with the
    NUL, in a directory whose path is shorter: open(path) fails
    (ENAMETOOLONG), though relative to its directory it would open."""
    directory = str(directory)
    while len(directory) < 4096 - 300:
        directory = os.path.join(directory, 'd' * 200)
    os.makedirs(directory)
    name = 'f' * (4096 - len(directory) - 1)
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.close(os.open(name, os.O_WRONLY | os.O_CREAT, 0o644,
                         dir_fd=dir_fd))
    finally:
        os.close(dir_fd)
    return os.path.join(directory, name)


def test_hash_files_of_a_path_longer_than_the_kernel_takes(backend, upstream,
                                                           tmp_path):
    path = long_path(tmp_path)
    short = write(tmp_path, 'short', b'short')
    paths = [short, path, short]
    got = outcomes(backend.hash_files, paths, 'sha256')
    want = outcomes(upstream_loop(upstream), paths, 'sha256')
    assert want[:2] == ('raises', OSError)  # ENAMETOOLONG
    assert_same(backend, got, want)


def test_walk_feed_steps_leave_what_go_does_not_open(native, upstream,
                                                    tmp_path):
    # The config hash's walk in Go: the digests of the files it hashed are
    # in what it feeds; the others (over 32 MiB, a broken link, a FIFO
    # nobody writes to, which it may not open) are holes, in walk order.
    paths = sorted(mixed_files(tmp_path)[:-1])
    (tmp_path / 'broken').symlink_to(tmp_path / 'gone')
    os.mkfifo(tmp_path / 'fifo')
    (feed, holes), = native._walk_feed_steps(str(tmp_path), ['f3'])  # pylint: disable=protected-access
    left = [str(tmp_path / name) for name in ('big', 'broken', 'fifo')]
    assert [path for _, path in holes] == left
    for path in paths:
        name = os.path.basename(path).encode() + b'\0'
        if path in left or name == b'f3\0':
            assert feed.count(name) == 1  # the name, no digest
            continue
        assert name + upstream.hash_file(path, 'sha256').digest() in feed
    try:  # the FIFO was never opened: no reader is waiting
        os.close(os.open(tmp_path / 'fifo', os.O_WRONLY | os.O_NONBLOCK))
        opened = True
    except OSError:
        opened = False
    assert not opened


# The public API


@pytest.mark.parametrize('hash_alg', ALGORITHMS + ['nope'])
def test_public_api_equals_upstream(api, upstream, tmp_path, hash_alg):
    paths = mixed_files(tmp_path, big=hash_alg in ('md5', 'sha256', 'sha512'))
    for path in (paths[7], paths[0], str(tmp_path / 'missing')):
        assert outcome(api.hash_file, path, hash_alg) == outcome(
            upstream.hash_file, path, hash_alg)
    assert outcomes(api.hash_files, paths, hash_alg) == outcomes(
        upstream_loop(upstream), paths, hash_alg)
    paths.insert(30, str(tmp_path / 'missing'))
    assert outcomes(api.hash_files, paths, hash_alg) == outcomes(
        upstream_loop(upstream), paths, hash_alg)


def test_public_api_routes_by_algorithm(tmp_path):
    # Without SKY_RS_FORCE_NATIVE, algorithms hashlib hashes faster than Go
    # go to the reference; the others to Go.
    path = write(tmp_path, 'data', b'data')
    code = textwrap.dedent(f'''
        import sys
        from sky_fallback import rust_fallback as rf
        if not rf.is_rust_available():
            sys.exit(3)
        for alg in ('md5', 'sha256', 'sha512', 'SHA512', 'sha384'):
            one = rf.hash_file({path!r}, alg)
            many = rf.hash_files([{path!r}], alg)[0]
            native = alg.lower() not in ('sha384', 'sha512')
            assert (type(one).__name__ == 'FileDigest') == native, (alg, one)
            assert type(many) is type(one), (alg, many)
        ''')
    env = dict(os.environ)
    env.pop('SKY_RS_FORCE_NATIVE', None)
    result = subprocess.run([sys.executable, '-c', code],
                            cwd=ROOT,
                            env=env,
                            capture_output=True,
                            text=True,
                            timeout=60)
    if result.returncode == 3:
        pytest.skip('the Go backend is not available')
    assert result.returncode == 0, result.stderr


# No file left open


@needs_proc
def test_no_file_left_open(backend, tmp_path):
    paths = mixed_files(tmp_path, big=False)
    big = sparse(tmp_path, 'bigger', 150 * 2**20)  # several calls into Go
    for hash_alg in ('sha256', 'nope'):
        for path in (big, paths[0], str(tmp_path), str(tmp_path / 'x')):
            outcome(backend.hash_file, path, hash_alg)
        outcome(backend.hash_files, paths + [big], hash_alg)
        outcome(backend.hash_files, paths + [str(tmp_path)], hash_alg)
    assert files_open_under(tmp_path) == []


class Interrupt(KeyboardInterrupt):
    """A KeyboardInterrupt raised by the test, not by a signal."""


@needs_proc
@pytest.mark.parametrize('after', ['HashFile', 'HashFileStep', 'HashFiles'])
def test_interrupted_calls_leave_no_file_open(native, tmp_path, monkeypatch,
                                              after):
    # KeyboardInterrupt may come right after any call into Go returned (that
    # is when Python runs signal handlers), before its result is kept.
    # Several 0.1 s steps even where sha256 runs at 2 GB/s (SHA extensions):
    # 150 MiB could be hashed in the first call, and no step would follow.
    big = sparse(tmp_path, 'big', 2**30)
    paths = [write(tmp_path, f'f{i}', b'x' * i) for i in range(10)] + [big]
    real_call = sky_rs._errors.call

    def call(name, *args, **kwargs):
        result = real_call(name, *args, **kwargs)
        if name == 'pyexport_' + after:
            raise Interrupt
        return result

    monkeypatch.setattr(sky_rs._errors, 'call', call)
    with pytest.raises(Interrupt):
        native.hash_files(paths, 'md5')  # big is left to hash_file
    if after != 'HashFiles':
        with pytest.raises(Interrupt):
            native.hash_file(big, 'sha256')
    monkeypatch.undo()
    assert files_open_under(tmp_path) == []
    # The module still works afterwards.
    assert native.hash_file(paths[3], 'md5').hexdigest() == hashlib.md5(
        b'xxx').hexdigest()


# SIGINT, in a subprocess: Python runs the handler only once the call into
# Go returns, so a call that hashed for seconds would not stop.

CHILD = '''
import os, sys
import signal
# Ctrl-C as Python has it at startup: a parent started in the background
# (bash without job control) passes SIGINT on ignored.
signal.signal(signal.SIGINT, signal.default_int_handler)
sys.path.insert(0, {root!r})
which, function_name, alg = sys.argv[1:4]
paths = sys.argv[4:]
if which == 'sky_rs':
    import sky_rs as module
    module.load()
elif which == 'reference':
    from sky_fallback import _reference as module
    function_name = '_python_' + function_name
else:
    from sky_fallback import rust_fallback as module
    module.is_rust_available()  # loads Go, which keeps a few files open
function = getattr(module, function_name)
args = (paths[0], alg) if function_name.endswith('hash_file') else (paths, alg)
fds = len(os.listdir('/proc/self/fd'))
print('started', flush=True)
try:
    function(*args)
except KeyboardInterrupt:
    print('interrupted', len(os.listdir('/proc/self/fd')) - fds, flush=True)
else:
    print('finished', flush=True)
'''


def interrupt_child(which, function_name, alg, paths):
    """Run the hash in a child, SIGINT it 0.5 s in; return its output and
    how long it took to stop."""
    child = subprocess.Popen(
        [sys.executable, '-c',
         CHILD.format(root=ROOT), which, function_name, alg] + paths,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True)
    try:
        assert child.stdout.readline() == 'started\n', child.stderr.read()
        time.sleep(0.5)
        child.send_signal(signal.SIGINT)
        sent = time.monotonic()
        # Hashing everything takes far longer (upstream too): finishing
        # within this generous deadline means the signal stopped it.
        out, err = child.communicate(timeout=8)
        return out, err, time.monotonic() - sent
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


@pytest.mark.slow
@needs_proc
@pytest.mark.parametrize('which', ['sky_rs', 'reference'])
def test_sigint_stops_hash_file(which, tmp_path):
    if which == 'sky_rs':
        pytest.importorskip('sky_rs._sky_rs')
    # 64 GiB of holes: seconds to read even at memory speed.
    path = sparse(tmp_path, 'huge', 64 * 2**30)
    out, err, stopped_after = interrupt_child(which, 'hash_file', 'sha256',
                                              [path])
    assert out == 'interrupted 0\n', (out, err)
    print(f'{which}: stopped {stopped_after:.2f} s after SIGINT')


@pytest.mark.slow
@needs_proc
@pytest.mark.parametrize('which', ['sky_rs', 'reference', 'api'])
def test_sigint_stops_hash_files(which, tmp_path):
    if which == 'sky_rs':
        pytest.importorskip('sky_rs._sky_rs')
    # 400 files of 30 MiB of holes: small enough to be hashed in batches.
    paths = [sparse(tmp_path, f'f{i}', 30 * 2**20) for i in range(400)]
    out, err, stopped_after = interrupt_child(which, 'hash_files', 'md5',
                                              paths)
    assert out == 'interrupted 0\n', (out, err)
    print(f'{which}: stopped {stopped_after:.2f} s after SIGINT')

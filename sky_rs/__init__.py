"""sky_rs: SkyPilot's hot utilities in Go, as a CPython extension.

This module is the hand-written face of the gopy-built extension ``_sky_rs``:
upstream SkyPilot's names, parameters and defaults; the exceptions SPEC.md
requires; environment variables read here (Go only sees the environment the
process started with); results shaped as upstream returns them.

The extension is loaded on the first call, so ``import sky_rs`` starts no Go
runtime. The Go runtime does not survive ``fork()``: in a child forked after it
started every call raises :class:`ForkedChildError`.

Input that the native side deliberately does not handle (an encoding other
than UTF-8, an unusual hash algorithm, a string Go cannot carry) raises
``NotImplementedError``; ``sky_fallback.rust_fallback`` answers such calls in
pure Python. Most callers want that module, not this one.
"""

import array
import builtins
import errno
import functools
import itertools
import os
import resource
import stat
import sys
import time
from typing import Dict, Iterable, List, Optional

from sky_rs import _host

__version__ = '0.1.0'

__all__ = [
    'read_last_n_lines', 'hash_file', 'find_free_port', 'base36_encode',
    'format_float', 'truncate_long_string', 'get_cpu_count', 'get_mem_size_gb',
    'get_parallel_threads', 'is_process_alive',
    'get_max_workers_for_file_mounts', 'estimate_fd_for_directory',
    'hash_files', 'are_processes_alive', 'FileDigest', 'NativeFault',
    'ForkedChildError', 'LoadDeferred', 'load', 'is_loaded', 'go_version',
    'extension_path',
]


class NativeFault(SystemError):
    """An internal fault in the Go code (a recovered panic): a bug in sky_rs."""


class ForkedChildError(NotImplementedError):
    """sky_rs was called in a child forked after the Go runtime had started."""


# --- loading --------------------------------------------------------------


class _ForkedExtension:
    """Stands in for the extension in a forked child: every use refuses."""

    def __getattr__(self, name):
        raise ForkedChildError(
            'the Go runtime does not survive fork(); sky_rs cannot be used in '
            'a child forked after it started (use the spawn start method, or '
            'sky_fallback.rust_fallback, which answers in Python)')


class LoadDeferred(ImportError):
    """The Go runtime cannot start safely in this process right now (too few
    free file descriptors or threads, an address-space limit; see the
    message). :func:`load` tries again once ``RETRY_SECONDS`` have passed."""


# How long a deferred load waits before the next try: a failing load must
# cost the calls meanwhile next to nothing.
RETRY_SECONDS = 1.0

# The thread switch interval while the extension loads: longer than any
# import, so that no other Python thread runs until the runtime has started.
_LOAD_SWITCH_INTERVAL = 10.0

_FORKED = _ForkedExtension()
_lib = None  # the loaded extension, _FORKED in a forked child, or None
_deferred = (0.0, '')  # (time.monotonic() before which not to retry, why)
_failed = ''  # why the extension can never load in this process, once known


def load():
    """Load the Go extension (idempotent) and return it.

    Raises :class:`LoadDeferred` when this process cannot host the Go runtime
    right now (it tries again once RETRY_SECONDS have passed), ImportError
    when the extension is missing, cannot load, or the environment rules Go
    out, and ForkedChildError in a child forked after the Go runtime started.
    """
    global _lib
    if _lib is None:
        _lib = _load_extension()
    elif _lib is _FORKED:
        getattr(_lib, 'load')
    return _lib


# What a failed dlopen says when the cause passes: out of descriptors or
# memory, or interrupted.
_TRANSIENT_ERRNOS = (errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.EAGAIN,
                     errno.EINTR)
_TRANSIENT_TEXT = tuple(os.strerror(code) for code in _TRANSIENT_ERRNOS) + (
    'failed to map segment',)


def _load_extension():
    """Start the Go runtime, unless the host cannot take it now (see _host,
    which the Go runtime's fatal errors make necessary)."""
    global _deferred, _failed
    if _failed:
        raise ImportError(_failed)
    not_before, reason = _deferred
    if time.monotonic() < not_before:
        raise LoadDeferred(reason)
    try:
        conflict = _host.environment_conflict()
        if conflict is not None:
            raise ImportError(conflict)
        return _start_extension()
    except (ImportError, OSError) as error:
        if isinstance(error, LoadDeferred) or _is_transient(error):
            _deferred = (time.monotonic() + RETRY_SECONDS, str(error))
            raise LoadDeferred(str(error)) from error
        _failed = str(error) or type(error).__name__
        raise


def _start_extension():
    shortfall = _host.shortfall()
    if shortfall is not None:
        raise LoadDeferred(shortfall)
    # On Linux the extension itself puts back the RLIMIT_NOFILE that Go's
    # runtime raises when it starts (go.dev/issue/46279; skyrs/hoststate).
    # Where the order of library constructors is not guaranteed (macOS),
    # this does it too.
    limits = resource.getrlimit(resource.RLIMIT_NOFILE)
    # The runtime starts on a thread of its own as the library loads, and
    # the limit is raised for a moment there before it is put back. No other
    # Python thread may run meanwhile: this one keeps the GIL from dlopen
    # (no thread switch in the import's bytecode) until the runtime has
    # started, which the first call waits for; NumHandles is one of gopy's
    # own functions, which keep the GIL (the pyexport_ ones release it).
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(_LOAD_SWITCH_INTERVAL)
    try:
        from sky_rs import _sky_rs  # pylint: disable=import-outside-toplevel
        _sky_rs.NumHandles()
    except ImportError as e:
        if extension_path() is None:
            raise ImportError(_why_no_extension()) from e
        raise
    finally:
        sys.setswitchinterval(switch_interval)
    if resource.getrlimit(resource.RLIMIT_NOFILE) != limits:
        resource.setrlimit(resource.RLIMIT_NOFILE, limits)
    global _hash_gate
    _hash_gate = _Gate(_sky_rs.pyexport_Procs(), _HASH_GATE_PATIENCE)
    return _sky_rs


def _why_no_extension() -> str:
    """Why there is no extension beside this file, as a user can act on it."""
    package = os.path.dirname(os.path.abspath(__file__))
    checkout = os.path.dirname(package)
    if os.path.isdir(os.path.join(checkout, 'skyrs', 'pyexport')):
        return (f'sky_rs is imported from the source checkout {checkout}, '
                'which has no built extension: run `make install` there, or '
                'run Python from another directory to use an installed '
                'sky_rs; meanwhile sky_fallback answers every call in Python')
    try:
        from sky_rs import _build_info  # pylint: disable=import-outside-toplevel
        missing = _build_info.NATIVE_MISSING
    except ImportError:
        missing = 'the build recorded no reason'
    return (f'sky_rs was installed without its Go extension ({missing}); '
            'for the native backend install Go 1.26+ and reinstall from the '
            'source (`pip install --no-cache-dir --force-reinstall .` in a '
            'checkout, or the sdist), or install a wheel for this platform; '
            'meanwhile sky_fallback answers every call in Python')


def _is_transient(error: BaseException) -> bool:
    """Whether a failed load may succeed later (EMFILE, ENOMEM, EINTR...)."""
    if isinstance(error, OSError) and error.errno in _TRANSIENT_ERRNOS:
        return True
    text = str(error)
    return any(part in text for part in _TRANSIENT_TEXT)


def is_loaded() -> bool:
    """Whether the Go runtime has started in this process (or its parent)."""
    return _lib is not None


def _after_fork_in_child():
    global _lib
    if _lib is not None:
        _lib = _FORKED


if hasattr(os, 'register_at_fork'):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def go_version() -> Optional[str]:
    """The Go release the extension was built with, read from the build
    information Go writes into it (what ``go version`` shows), without
    loading it; None when there is no extension or no such record."""
    path = extension_path()
    if path is None:
        return None
    return _go_version_of(path)


_GO_BUILDINFO_MAGIC = b'\xff Go buildinf:'


@functools.lru_cache(maxsize=None)
def _go_version_of(path: str) -> Optional[str]:
    # The format of Go's debug/buildinfo: a 32-byte header, 16-byte aligned,
    # whose flags (byte 15) say the version string follows inline, as a
    # uvarint length and the bytes (Go 1.18 and later).
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except OSError:
        return None
    at = data.find(_GO_BUILDINFO_MAGIC)
    while at >= 0 and at % 16:
        at = data.find(_GO_BUILDINFO_MAGIC, at + 1)
    if at < 0 or not data[at + 15] & 2:
        return None
    length, shift, pos = 0, 0, at + 32
    while pos < len(data):
        byte = data[pos]
        length |= (byte & 0x7f) << shift
        pos += 1
        shift += 7
        if byte < 0x80:
            break
    version = data[pos:pos + length].decode('utf-8', 'replace')
    return version or None


def extension_path() -> Optional[str]:
    """The file of the extension module, or None when it is not installed."""
    import importlib.util  # pylint: disable=import-outside-toplevel
    spec = importlib.util.find_spec('sky_rs._sky_rs')
    return spec.origin if spec is not None else None


# --- crossing the boundary ------------------------------------------------

_SEP = '\x1f'

# What pybindgen raises when an argument cannot be carried: a str with a NUL
# or a lone surrogate (ValueError), an int beyond int64 (OverflowError), a
# wrong type (TypeError). Such input is declined, not failed.
_CANNOT_CARRY = (TypeError, ValueError, OverflowError)


def _error(err: RuntimeError, filename=None) -> BaseException:
    """The exception an encoded Go error ("skyrs␟Kind␟errno␟msg") stands for."""
    parts = str(err).split(_SEP, 3)
    if len(parts) != 4 or parts[0] != 'skyrs':
        return NativeFault(f'unexpected error from the Go extension: {err}')
    _, kind, errno, message = parts
    if kind == 'OSError':
        code = int(errno)
        if code:  # message is the file name Go knew, if any; none (a
            # failed read or seek on an open file) means Python names none.
            return OSError(code, os.strerror(code),
                           (filename or message) if message else None)
        return OSError(message)
    if kind == 'Decline':
        return NotImplementedError(message)
    if kind == 'Panic':
        return NativeFault(f'Go panic: {message}')
    exc_type = getattr(builtins, kind, None)
    if not (isinstance(exc_type, type) and issubclass(exc_type, Exception)):
        return NativeFault(f'unknown error kind {kind!r}: {message}')
    return exc_type(message)


def _decline(err: Exception) -> NotImplementedError:
    return NotImplementedError(f'sky_rs cannot carry this argument: {err}')


def _call(name: str, *args, filename=None):
    """Call the Go function ``name``, turning its errors into the exceptions
    SPEC.md requires and arguments it cannot carry into a decline."""
    function = getattr(_lib or load(), name)  # ForkedChildError in a child
    try:
        return function(*args)
    except RuntimeError as e:
        raise _error(e, filename) from None
    except _CANNOT_CARRY as e:
        raise _decline(e) from None


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_environ_data = getattr(os.environ, '_data', None)


def _environ_key(name: str):
    """``name`` as os.environ stores it, for _getenv."""
    if _environ_data is None:
        return name
    return os.environ.encodekey(name)


def _getenv(key) -> Optional[str]:
    """os.environ.get(name) for key = _environ_key(name), at a fraction of its
    cost (these variables are read on every call)."""
    if _environ_data is None:
        return os.environ.get(key)
    value = _environ_data.get(key)
    return None if value is None else os.environ.decodevalue(value)


# --- files ----------------------------------------------------------------

# Codec names (as callers spell UTF-8) and error handlers with which decoding
# the selected lines at once and splitting on '\n' equals upstream's decoding
# line by line: '\n' is one byte that ends any invalid sequence, and each of
# these handlers replaces (or drops) a maximal invalid subpart on its own.
_UTF8_NAMES = frozenset(('utf-8', 'utf8', 'UTF-8', 'UTF8', 'utf_8', 'U8'))
_CONTEXT_FREE_ERRORS = frozenset(('strict', 'replace', 'ignore',
                                  'backslashreplace', 'surrogateescape',
                                  'surrogatepass'))

# Go's answers that are not lines (skyrs/pyexport/tail.go).
_NO_LINES = '0'
_IN_PYTHON = 'P'
_NEEDS_FULL_CALL = 'F'

# Files read_last_n_lines has found on a local file system, which its later
# calls read keeping the GIL (bounded reads, ReadLastNLinesTextKeepingGIL):
# beside a busy Python thread, releasing the GIL and taking it back costs a
# switch interval (5 ms), hundreds of times what a tail of a log costs. A
# network or FUSE file system can stall a read, which must then stall only
# the calling thread, as upstream's does, so those keep the GIL released.
# Each file read maps to the least n whose lines spanned more than the
# bounded read takes: from that n on, the full call alone (the bounded one
# would be wasted: 5,000 lines of 1 KB, n=1000, went from 1.18 to 1.74 ms);
# a file not on a local file system maps to 0, so that it is looked up once.
_local_tail_paths: Dict[str, float] = {}
_LOCAL_TAIL_PATHS_MAX = 1024


def read_last_n_lines(file_path: str,
                      n: int,
                      chunk_size: int = 8192,
                      encoding: str = 'utf-8',
                      errors: str = 'replace') -> List[str]:
    """The last ``n`` lines of a file, exactly as upstream SkyPilot returns them.

    Go finds the lines (reading backwards from the end, so the cost does not
    grow with the file) and returns them in one str, with a separator after
    each line that occurs nowhere in them; one ``str.split`` (a C-level pass)
    makes the list. Lines Go does not carry (spanning more than 8 MiB, with a
    NUL byte, invalid UTF-8 under a handler other than 'replace', an encoding
    other than UTF-8) are read here in Python (:func:`_read_tail`). From the
    second call on a file on a local file system, a tail of up to 256 KiB is
    read keeping the GIL (docs/BOUNDARY.md, "The GIL").
    """
    if not (type(file_path) is str and type(n) is int and  # pylint: disable=unidiomatic-typecheck
            type(chunk_size) is int):  # pylint: disable=unidiomatic-typecheck
        raise NotImplementedError('sky_rs takes a str path and int sizes')
    if encoding not in _UTF8_NAMES:
        return _read_tail(file_path, n, chunk_size, encoding, errors)
    # Looked up outside the try: in a forked child this raises
    # ForkedChildError, a NotImplementedError and so a RuntimeError too.
    lib = _lib or load()
    text = _NEEDS_FULL_CALL
    too_many = _local_tail_paths.get(file_path, 0)
    if n < too_many:
        text = _tail_text(lib.pyexport_ReadLastNLinesTextKeepingGIL,
                          file_path, n, chunk_size, errors)
        if text == _NEEDS_FULL_CALL:
            _local_tail_paths[file_path] = n
    if text == _NEEDS_FULL_CALL:
        text = _tail_text(lib.pyexport_ReadLastNLinesText, file_path, n,
                          chunk_size, errors)
        if file_path not in _local_tail_paths:
            if len(_local_tail_paths) >= _LOCAL_TAIL_PATHS_MAX:
                _local_tail_paths.clear()
            _local_tail_paths[file_path] = (
                float('inf') if lib.pyexport_LocalFile(file_path) else 0)
    if len(text) == 1:
        if text == _NO_LINES:
            return []
        if text == _IN_PYTHON:
            return _read_tail(file_path, n, chunk_size, encoding, errors)
    lines = text.split(text[-1])
    lines.pop()
    return lines


def _tail_text(function, file_path: str, n: int, chunk_size: int,
               errors: str) -> str:
    """Go's ReadLastNLinesText... answer, with its errors raised as
    upstream's."""
    try:
        # Go replaces invalid UTF-8 as errors='replace' (the default) does;
        # for other handlers it answers _IN_PYTHON.
        return function(file_path, n, chunk_size, errors == 'replace')
    except RuntimeError as e:
        error = _error(e, file_path)
        if isinstance(error, OSError):
            raise RuntimeError(f'Failed to read last {n} lines from '
                               f'{file_path}: {error}') from error
        raise error from None
    except _CANNOT_CARRY as e:
        raise _decline(e) from None


# _read_tail reads its first block as bytes, sized for n lines of a usual
# log, and later ones into one reused buffer, in steps that double up to
# _TAIL_MAX_STEP: a step is a few hundred microseconds, so Ctrl-C stops the
# read at once, as it stops upstream's loop of 8 KiB reads.
_TAIL_BYTES_PER_LINE = 128
_TAIL_MIN_STEP = 8 << 10
_TAIL_MAX_STEP = 1 << 20
# The selected lines are read in pieces of at most this much.
_TAIL_MAX_READ = 64 << 20


def _read_tail(file_path, n: int, chunk_size: int, encoding: str,
               errors: str) -> List[str]:
    """Upstream's read_last_n_lines in Python, for lines Go does not carry.

    Upstream reads backwards in chunk_size steps, keeping every chunk, then
    joins, splits and decodes them: each byte of a long line is copied four
    times, into fresh memory each time. Here the blocks before the first one
    are only scanned for '\n' (into one reused buffer) and the selected lines
    are read once, after: the lines of the file's last state are the same,
    as the selection does not depend on chunk_size (see skyrs/tail.go). A
    file that shrinks under the reads is declined (NotImplementedError), for
    the reference to answer as upstream would.
    """
    assert n >= 0, f'n must be non-negative. Got {n}'
    assert chunk_size > 0, f'chunk_size must be positive. Got {chunk_size}'
    try:  # os.path.exists, keeping what stat found
        mode: Optional[int] = os.stat(file_path).st_mode
    except (OSError, ValueError):
        mode = None
    assert mode is not None, f'File not found: {file_path}'
    if n == 0:
        return []
    # A FIFO, device or socket is declined without being opened, as Go
    # declines it: opening a FIFO blocks (upstream's too) or releases a
    # writer, opening a device may do anything. O_NONBLOCK keeps the open
    # from blocking should path become a FIFO meanwhile.
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise NotImplementedError('read_last_n_lines of a non-regular file')
    try:
        with open(file_path, 'rb', buffering=0, opener=_open_nonblocking) as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise NotImplementedError(
                    'read_last_n_lines of a non-regular file')
            data = _tail_bytes(f, n)
    except OSError as e:
        raise RuntimeError(
            f'Failed to read last {n} lines from {file_path}: {e}') from e
    if data is None:
        return []
    if encoding in _UTF8_NAMES and errors in _CONTEXT_FREE_ERRORS:
        try:
            pieces = str(data, encoding, errors).split('\n')
        except UnicodeDecodeError:
            pass  # decoded line by line below, for upstream's exact error
        else:
            last = pieces.pop().rstrip('\r')
            lines = [piece.rstrip('\r') + '\n' for piece in pieces]
            lines.append(last)
            return lines
    raw = bytes(data).split(b'\n')
    last = raw.pop()
    lines = [line.decode(encoding, errors=errors).rstrip('\r') + '\n'
             for line in raw]
    lines.append(last.decode(encoding, errors=errors).rstrip('\r'))
    return lines


def _open_nonblocking(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_NONBLOCK)


def _tail_bytes(f, n: int):
    """The bytes of the last n lines (n > 0) of the open file f, without the
    final '\n', as a memoryview, or None for an empty file."""
    size = f.seek(0, os.SEEK_END)
    if size == 0:
        return None
    fd = f.fileno()
    step = min(max(n * _TAIL_BYTES_PER_LINE, _TAIL_MIN_STEP), _TAIL_MAX_STEP)
    pos = max(size - step, 0)
    data = os.pread(fd, size - pos, pos)
    if not data or (pos and len(data) != size - pos):
        # The file shrank since the seek. (At pos 0 a short read is a file
        # in /sys or /proc, whose size is larger than its content: upstream
        # keeps what the read gave, as here.)
        raise NotImplementedError('file shrank while being read')
    ends_with_nl = data[-1] == 10  # b'\n'
    need = n + ends_with_nl  # '\n' to find, the one before the lines too
    at, found = _last_newlines(data, len(data), need)
    if at >= 0 or not pos:
        return memoryview(data)[at + 1:len(data) - ends_with_nl]
    # The lines start before the first block: find where, scanning back
    # without keeping what was read, then read them at once.
    del data
    block = bytearray()
    cut = 0
    while pos:
        step = min(step * 2, _TAIL_MAX_STEP, pos)
        pos -= step
        if len(block) < step:
            block = bytearray(step)
        f.seek(pos)
        if f.readinto(memoryview(block)[:step]) != step:
            raise NotImplementedError('file shrank while being read')
        at, more = _last_newlines(block, step, need - found)
        found += more
        if at >= 0:
            cut = pos + at + 1
            break
    del block
    # From the '\n' before the lines, if any, which checks the read: it must
    # hold those lines of the same state of the file (a log truncated and
    # written again between the scan and this read may not).
    start = max(cut - 1, 0)
    data = _read_range(f, start, size - start)
    at, found = _last_newlines(data, len(data), need)
    if (data[-1] == 10) != ends_with_nl or at != (0 if cut else -1):
        raise NotImplementedError('file changed while being read')
    return memoryview(data)[at + 1:len(data) - ends_with_nl]


def _read_range(f, start: int, length: int):
    """length bytes of f from start, read in pieces of _TAIL_MAX_READ."""
    if length <= _TAIL_MAX_READ:
        data = os.pread(f.fileno(), length, start)
    else:
        data = bytearray(length)
        view = memoryview(data)
        f.seek(start)
        done = 0
        while done < length:
            got = f.readinto(view[done:done + _TAIL_MAX_READ])
            if not got:
                break
            done += got
        del view
        data = data[:done] if done < length else data
    if len(data) != length:
        raise NotImplementedError('file shrank while being read')
    return data


# _last_newlines looks for this many newlines one rfind (memrchr) at a time,
# then counts the rest at once: the few '\n' of long lines are found at memory
# speed, the many of short lines with one count instead of a call per line.
_RFIND_NEWLINES = 32


def _last_newlines(data, end: int, count: int):
    """The index of the count-th b'\n' before data[end] (going back) and
    count, or -1 and how many there are when fewer."""
    at = end
    for found in range(min(count, _RFIND_NEWLINES)):
        at = data.rfind(b'\n', 0, at)
        if at < 0:
            return -1, found
    more = count - _RFIND_NEWLINES
    if more <= 0:
        return at, count
    before = data.count(b'\n', 0, at)
    if before < more:
        return -1, _RFIND_NEWLINES + before
    # The more-th of the newlines before at, from the end, is the
    # (before - more + 1)-th from the start: walk from the nearer end.
    if more <= before - more:
        for _ in range(more):
            at = data.rfind(b'\n', 0, at)
    else:
        at = -1
        for _ in range(before - more + 1):
            at = data.find(b'\n', at + 1)
    return at, count


class FileDigest:
    """The digest of a whole file, with the read-only interface of a hashlib
    object (``digest()``, ``hexdigest()``, ``name``, ``digest_size``,
    ``block_size``, ``copy()``). The file is hashed in Go, so there is no hash
    state to feed: ``update()`` raises."""

    __slots__ = ('name', '_hex')

    # name: (digest_size, block_size), as hashlib reports them.
    SIZES = {
        'md5': (16, 64),
        'sha1': (20, 64),
        'sha224': (28, 64),
        'sha256': (32, 64),
        'sha384': (48, 128),
        'sha512': (64, 128),
    }

    def __init__(self, name: str, hexdigest: str):
        # Only two attributes: hash_files makes thousands of these at once.
        self.name = name
        self._hex = hexdigest

    @property
    def digest_size(self) -> int:
        return self.SIZES[self.name][0]

    @property
    def block_size(self) -> int:
        return self.SIZES[self.name][1]

    def hexdigest(self) -> str:
        return self._hex

    def digest(self) -> bytes:
        return bytes.fromhex(self._hex)

    def copy(self) -> 'FileDigest':
        return FileDigest(self.name, self._hex)

    def update(self, data) -> None:
        raise TypeError(
            f'{type(self).__name__} is the finished digest of a file hashed in '
            f'Go and cannot be updated; use hashlib.new({self.name!r}) to hash '
            'more data')

    def __repr__(self) -> str:
        return f'<{self.name} FileDigest {self._hex}>'


def hash_file(path: str, hash_alg: str) -> FileDigest:
    """The digest of a file, as ``hashlib.new(hash_alg)`` fed the whole file."""
    if not (type(path) is str and type(hash_alg) is str):  # pylint: disable=unidiomatic-typecheck
        raise NotImplementedError('sky_rs takes str arguments')
    name = hash_alg.lower()
    if name not in FileDigest.SIZES:
        raise NotImplementedError(f'sky_rs does not hash with {hash_alg!r}')
    return FileDigest(name, _hash_whole_file(path, name))


# Numbers that name a file being hashed over several calls, never reused.
_hash_tokens = itertools.count(1)


class _Gate:
    """Lets at most ``size`` threads at once into a block, in turn; a thread
    that has waited ``patience`` seconds goes in regardless.

    Tickets in a ``queue.SimpleQueue`` cost 0.1 µs when one is free (a
    ``threading.Semaphore`` costs 1 µs, a tenth of hashing a small file).
    """

    def __init__(self, size: int, patience: float):
        # Imported here: importing sky_rs loads no module it does not need.
        import queue  # pylint: disable=import-outside-toplevel
        self._tickets: 'queue.SimpleQueue[bool]' = queue.SimpleQueue()
        for _ in range(max(1, size)):
            self._tickets.put(True)
        self._patience = patience
        self._empty = queue.Empty

    def enter(self) -> bool:
        """Wait for a ticket; whether one was taken (leave() gives it back)."""
        try:
            return self._tickets.get(True, self._patience)
        except self._empty:
            return False

    def leave(self) -> None:
        self._tickets.put(True)


# Hashing calls are let into Go one per CPU (pyexport.Procs). A thread calling
# in beyond that waits for a P in the runtime's run queue, and while one waits
# the runtime hands the P of every goroutine in a read to another thread:
# 4 and 16 threads hashing 10 MiB files were 3-5% slower than upstream's
# hashlib for that (make bench, Threads). The gate is not fair on purpose: a
# thread that has just left takes a place again before a woken waiter can,
# and a thread re-entering Go takes back the P it left parked (see
# guest.GoMaxProcs); handing places over in turn, each call woke another
# thread, and the rows lost more. A call that waits longer than the patience
# goes in anyway, so a read that hangs (a stalled network file system) slows
# the other callers but never stops them.
_HASH_GATE_PATIENCE = 0.2  # seconds
_hash_gate: Optional[_Gate] = None  # made as the extension loads


def _hash_call(name: str, *args, filename=None):
    """_call of a hashing function, through _hash_gate."""
    if _hash_gate is None:
        load()  # raises as _call would
    gate = _hash_gate
    ticket = gate.enter()
    try:
        return _call(name, *args, filename=filename)
    finally:
        if ticket:
            gate.leave()


def _hash_whole_file(path: str, name: str) -> str:
    """The hex digest of the file at ``path``.

    A small file costs one call. Python runs signal handlers only between
    calls, so a large file is hashed in steps of about 0.1 s, one call each,
    and Ctrl-C stops it as soon as it stops upstream's read loop. The token
    is chosen here, before the first call, so that however the loop is left
    (KeyboardInterrupt may come right after a call returned) the file that
    Go may hold open under it is closed.
    """
    token = next(_hash_tokens)
    hexdigest = ''
    try:
        hexdigest = _hash_call('pyexport_HashFile', path, name, token,
                               filename=path)
        while not hexdigest:
            hexdigest = _hash_call('pyexport_HashFileStep', token)
    finally:
        if not hexdigest and _lib is not None and _lib is not _FORKED:
            _lib.pyexport_HashFileClose(token)
    return hexdigest


# Paths per joined string: bounds the memory of a batch and the cost of the
# split Go does on each call of it.
_HASH_FILES_CHUNK = 4096


def hash_files(paths: List[str], hash_alg: str) -> List[FileDigest]:
    """``[hash_file(p, hash_alg) for p in paths]``, with the files hashed on
    all cores, one call per 0.1 s or so (so Ctrl-C works as in that loop).

    Go hashes the files it can and leaves the others (missing, a directory,
    larger than 32 MiB, ...) to ``hash_file``, taken in order: the first
    error is raised where the loop would raise it.
    """
    name, hexdigests = _hash_files_hex(paths, hash_alg)
    return [FileDigest(name, hexdigest) for hexdigest in hexdigests]


def _file_digests(paths: List[str], hash_alg: str) -> List[bytes]:
    """``[d.digest() for d in hash_files(paths, hash_alg)]``, without a
    FileDigest per file: for a caller that wants only the bytes of many
    small files' digests (SkyPilot's config hash)."""
    name, hexdigests = _hash_files_hex(paths, hash_alg)
    if not hexdigests:
        return []
    size = FileDigest.SIZES[name][0]
    joined = bytes.fromhex(''.join(hexdigests))
    return [joined[at:at + size] for at in range(0, len(joined), size)]


def _walk_feed_steps(top: str, skip: List[str]):
    """What the file mount directory ``top`` feeds SkyPilot's config hash
    (sky_fallback._config_hash), walked and hashed in Go: an iterator of
    steps of about 0.1 s, each ``(feed, holes)``: the bytes fed, but for
    the sha256 digests of the files in ``holes``, ``(offset, path)`` in
    order, which the caller hashes and puts at those offsets of feed (an
    error, a file that is not regular or larger than 32 MiB: hashed in
    order, a file's error is raised where upstream raises it). ``skip``:
    the file names whose digests are not fed.

    Raises NotImplementedError, at any step, for a walk Go cannot give
    exactly (a name that is not UTF-8, a path with a newline, a tree more
    than 100 levels deep); the caller then walks in Python."""
    if any('\n' in text or '\0' in text
           for text in itertools.chain((top,), skip)):
        raise NotImplementedError('sky_rs cannot carry a name with a newline '
                                  'or a NUL')
    skip_joined = '\n'.join(skip)
    stack = top
    while stack:
        lines = _call('pyexport_WalkFeed', top, stack, skip_joined).split('\n')
        holes = len(lines[1].split(',')) if lines[1] else 0
        feed = bytes.fromhex(lines[0])
        yield feed, [(int(at), path) for at, path in
                     zip(lines[1].split(','), lines[2:2 + holes])]
        stack = '\n'.join(lines[2 + holes:])


def _hash_files_hex(paths: List[str], hash_alg: str):
    """hash_files' algorithm name and the hex digests of the files."""
    if type(hash_alg) is not str:  # pylint: disable=unidiomatic-typecheck
        raise NotImplementedError('sky_rs takes a str algorithm')
    if type(paths) is not list:  # pylint: disable=unidiomatic-typecheck
        paths = list(paths)
    name = hash_alg.lower()
    hexdigests: List[str] = []
    if not paths:
        return name, hexdigests
    if name not in FileDigest.SIZES:
        raise NotImplementedError(f'sky_rs does not hash with {hash_alg!r}')
    for first in range(0, len(paths), _HASH_FILES_CHUNK):
        chunk = paths[first:first + _HASH_FILES_CHUNK]
        try:
            joined = '\n'.join(chunk)
        except TypeError:
            raise NotImplementedError('sky_rs takes str paths') from None
        if joined.count('\n') != len(chunk) - 1:
            raise NotImplementedError('sky_rs cannot carry a path with a '
                                      'newline')
        done = 0
        while done < len(chunk):
            lines = _call('pyexport_HashFiles', joined, name, done).split('\n')
            if '' in lines:  # files left to hash_file
                for line, path in zip(lines, chunk[done:]):
                    hexdigests.append(line or _hash_whole_file(path, name))
            else:
                hexdigests.extend(lines)
            done += len(lines)
    return name, hexdigests


def find_free_port(start_port: int) -> int:
    """The first port from ``start_port`` to 65534 that an IPv4 TCP socket can
    bind on all interfaces (no SO_REUSEADDR, as upstream)."""
    if type(start_port) is not int:  # pylint: disable=unidiomatic-typecheck
        raise NotImplementedError('sky_rs takes an int port')
    function = (_lib or load()).pyexport_FindFreePort
    try:
        return function(start_port)
    except RuntimeError as e:
        raise _error(e) from None
    except _CANNOT_CARRY as e:
        raise _decline(e) from None


def estimate_fd_for_directory(path: str) -> int:
    """5 file descriptors per entry directly in ``path`` (counted, not listed)."""
    if type(path) is not str:  # pylint: disable=unidiomatic-typecheck
        raise NotImplementedError('sky_rs takes a str path')
    function = (_lib or load()).pyexport_EstimateFDForDirectory
    try:
        return function(path)
    except RuntimeError as e:
        raise _error(e, path) from None
    except _CANNOT_CARRY as e:
        raise _decline(e) from None


# --- strings --------------------------------------------------------------


def base36_encode(hex_str: str) -> str:
    """``int(hex_str, 16)`` written in base 36 (alphabet 0-9a-z)."""
    if type(hex_str) is not str:  # pylint: disable=unidiomatic-typecheck
        raise NotImplementedError('sky_rs takes a str')
    function = (_lib or load()).pyexport_Base36Encode
    try:
        return function(hex_str)
    except RuntimeError as e:
        error = _error(e)
    except _CANNOT_CARRY as e:
        raise _decline(e) from None
    if not isinstance(error, ValueError):
        raise error
    if str(error) == 'negative':
        raise ValueError('base36_encode() requires a non-negative '
                         f'number: {hex_str!r}') from None
    # CPython's message: "%.200R", the repr cut at 200 characters.
    raise ValueError('invalid literal for int() with base 16: '
                     f'{repr(hex_str)[:200]}') from None


def format_float(num, precision: int = 1) -> str:
    """``num`` without a decimal point if whole, else to ``precision`` places."""
    if isinstance(num, int):
        return str(num)
    # Exactly float: a subclass may override __format__ or is_integer(),
    # which upstream calls.
    if not (type(num) is float and _is_int(precision)):  # pylint: disable=unidiomatic-typecheck
        raise NotImplementedError('sky_rs formats a float with int precision')
    return _call('pyexport_FormatFloat', num, precision)


def truncate_long_string(s: str,
                         max_length: int = 35,
                         truncate_middle: bool = False) -> str:
    """``s`` cut to about ``max_length`` code points, as upstream cuts it."""
    if not (type(s) is str and _is_int(max_length)):  # pylint: disable=unidiomatic-typecheck
        raise NotImplementedError('sky_rs takes a str and an int length')
    if len(s) <= max_length:
        return s
    return _call('pyexport_TruncateLongString', s, max_length,
                 bool(truncate_middle))


# --- system ---------------------------------------------------------------


_CPU_LIMIT_KEY = _environ_key('SKYPILOT_POD_CPU_CORE_LIMIT')
_MEMORY_GB_LIMIT_KEY = _environ_key('SKYPILOT_POD_MEMORY_GB_LIMIT')
_MEMORY_BYTES_LIMIT_KEY = _environ_key('SKYPILOT_POD_MEMORY_BYTES_LIMIT')


def get_cpu_count() -> int:
    """CPUs this process may use: min of logical CPUs, affinity and cgroup
    quota, unless SKYPILOT_POD_CPU_CORE_LIMIT says otherwise."""
    value = _getenv(_CPU_LIMIT_KEY)
    if value is not None:
        try:
            return int(float(value))
        except ValueError as e:
            raise ValueError(
                f'Failed to parse the number of CPUs from {value}') from e
    function = (_lib or load()).pyexport_CPUCount
    try:
        return function()
    except RuntimeError as e:
        raise _error(e) from None


def get_mem_size_gb() -> float:
    """Memory in GiB: min of physical memory and cgroup limit, unless
    SKYPILOT_POD_MEMORY_GB_LIMIT / _BYTES_LIMIT say otherwise."""
    value = _getenv(_MEMORY_GB_LIMIT_KEY)
    if value is not None:
        try:
            return float(value)
        except ValueError as e:
            raise ValueError(
                f'Failed to parse the memory size from {value} (GB)') from e
    value = _getenv(_MEMORY_BYTES_LIMIT_KEY)
    if value is not None:
        try:
            return float(value) / (1024**3)
        except ValueError as e:
            raise ValueError(
                f'Failed to parse the memory size from {value} (bytes)') from e
    function = (_lib or load()).pyexport_MemSizeGB
    try:
        return function()
    except RuntimeError as e:
        raise _error(e) from None


def _is_kubernetes(cloud_str) -> bool:
    # Upstream's test, including its AttributeError for a truthy non-str.
    return bool(cloud_str) and cloud_str.lower() == 'kubernetes'


def get_parallel_threads(cloud_str: Optional[str] = None) -> int:
    """max(4, online CPUs - 1), times 4 on Kubernetes."""
    kubernetes = _is_kubernetes(cloud_str)
    return _call('pyexport_ParallelThreads', kubernetes)


def is_process_alive(pid: int) -> bool:
    """Whether ``pid`` names a live process (zombies are not alive)."""
    if type(pid) is not int:  # pylint: disable=unidiomatic-typecheck
        raise NotImplementedError('sky_rs takes an int pid')
    if pid <= 0 or pid > 2147483647:
        return False
    function = (_lib or load()).pyexport_IsProcessAlive
    try:
        return function(pid)
    except RuntimeError as e:
        raise _error(e) from None


_ALIVE = {'1': True, '0': False}
# Pids a call checks: tens of milliseconds at most, so that Ctrl-C stops a
# huge batch between calls, as it stops the reference's loop.
_PIDS_PER_CALL = 16384
_INT_TYPE = frozenset((int,))


def are_processes_alive(pids: Iterable[int]) -> List[bool]:
    """is_process_alive for each pid, in order, in one call into Go per
    16,384 pids, which checks a large batch on all cores."""
    if not isinstance(pids, (list, tuple)):
        pids = list(pids)
    # Plain ints only: array() would take a bool (or an int-like object) as
    # a number, where the reference formats it into a /proc path.
    if not set(map(type, pids)) <= _INT_TYPE:
        raise NotImplementedError('sky_rs takes a list of int pids')
    try:
        # C-level passes; formatting each pid as text costs far more.
        packed = array.array('q', pids).tobytes().hex()
    except OverflowError as e:
        # Beyond int64: the reference answers (no such process).
        raise _decline(e) from None
    if not packed:
        return []
    function = (_lib or load()).pyexport_AreProcessesAlive
    step = 16 * _PIDS_PER_CALL  # 16 hex digits a pid
    try:
        alive = ''.join([
            function(packed[first:first + step])
            for first in range(0, len(packed), step)
        ])
    except RuntimeError as e:
        raise _error(e) from None
    return list(map(_ALIVE.__getitem__, alive))


def _upstream_log():
    """The reference module: it logs upstream's records under upstream's
    logger, and its flag makes the low-limit warning once per process
    whichever backend answers."""
    from sky_fallback import _reference  # pylint: disable=import-outside-toplevel
    return _reference


def get_max_workers_for_file_mounts(
        common_file_mounts: Optional[Dict[str, str]] = None,
        cloud_str: Optional[str] = None,
        *,
        num_sources: Optional[int] = None,
        estimated_files_per_source: Optional[int] = None) -> int:
    """Workers for syncing file mounts within the open-file limit.

    Upstream's form takes ``{destination: source}`` and counts the entries of
    each source directory; the keyword form (``num_sources=``,
    ``estimated_files_per_source=``) estimates without touching the disk.
    """
    keyword_form = (num_sources is not None or
                    estimated_files_per_source is not None)
    if cloud_str is not None and type(cloud_str) is not str:  # pylint: disable=unidiomatic-typecheck
        raise NotImplementedError('sky_rs takes a str cloud')
    kubernetes = _is_kubernetes(cloud_str)
    if keyword_form:
        if common_file_mounts is not None:
            raise NotImplementedError(
                'pass either common_file_mounts or the keyword form')
        num = 1 if num_sources is None else num_sources
        per_source = (1 if estimated_files_per_source is None else
                      estimated_files_per_source)
        if not (_is_int(num) and _is_int(per_source)):
            raise NotImplementedError('sky_rs takes int estimates')
        log = _upstream_log()
        log._fd_limit_with_warning()  # pylint: disable=protected-access
        workers = _call('pyexport_MaxWorkersForEstimate', num, per_source,
                        kubernetes)
        log.logger.debug(f'Using {workers} workers for file mounts.')
        return workers
    if not isinstance(common_file_mounts, dict):
        raise NotImplementedError('sky_rs takes a dict of file mounts')
    sources = list(common_file_mounts.values())
    for src in sources:
        if type(src) is not str or '\n' in src:  # pylint: disable=unidiomatic-typecheck
            raise NotImplementedError('sky_rs takes str sources')
    log = _upstream_log()
    log._fd_limit_with_warning()  # pylint: disable=protected-access
    workers = _call('pyexport_MaxWorkersForFileMounts', '\n'.join(sources),
                    kubernetes)
    log.logger.debug(f'Using {workers} workers for file mounts.')
    return workers

"""``read_last_n_lines``: Go finds the lines; the lines Go does not carry
(very long, NUL bytes, another encoding or error handler) are read here in
Python, in steps that Ctrl-C can stop."""

import os
import stat
from typing import Dict, List, Optional

from sky_rs import _errors
from sky_rs import _loading

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
    lib = _loading.lib or _loading.load()
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
        error = _errors.error(e, file_path)
        if isinstance(error, OSError):
            raise RuntimeError(f'Failed to read last {n} lines from '
                               f'{file_path}: {error}') from error
        raise error from None
    except _errors.CANNOT_CARRY as e:
        raise _errors.decline(e) from None


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


"""Hashing files in Go: ``hash_file``, ``hash_files`` and what SkyPilot's
config hash needs (the digests of many files, a file-mount directory walked
and hashed), let into Go one thread per CPU (the hash gate)."""

import itertools
from typing import List, Optional

from sky_rs import _errors
from sky_rs import _loading

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
_hash_gate: Optional[_Gate] = None  # made on the first hashing call


def _hash_call(name: str, *args, filename=None):
    """_errors.call of a hashing function, through _hash_gate."""
    global _hash_gate
    gate = _hash_gate
    if gate is None:
        # Raises as _errors.call would (ForkedChildError, LoadDeferred...).
        lib = _loading.lib or _loading.load()
        gate = _hash_gate = _Gate(lib.pyexport_Procs(), _HASH_GATE_PATIENCE)
    ticket = gate.enter()
    try:
        return _errors.call(name, *args, filename=filename)
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
        if not hexdigest and _loading.is_loaded() and not _loading.is_forked():
            _loading.lib.pyexport_HashFileClose(token)
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
        lines = _errors.call('pyexport_WalkFeed', top, stack, skip_joined).split('\n')
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
            lines = _errors.call('pyexport_HashFiles', joined, name, done).split('\n')
            if '' in lines:  # files left to hash_file
                for line, path in zip(lines, chunk[done:]):
                    hexdigests.append(line or _hash_whole_file(path, name))
            else:
                hexdigests.extend(lines)
            done += len(lines)
    return name, hexdigests

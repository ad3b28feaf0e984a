"""SkyPilot's ten utilities that sky_rs answers (SPEC.md): each replaced by
``sky_fallback.rust_fallback``'s function of the same name, which gives
upstream's results and exceptions, in Go when it can.

``hash_file`` keeps upstream's whole interface: SkyPilot's callers use only
``digest()``/``hexdigest()`` of its result, which the Go digest answers, and
``update()`` (which a finished Go digest cannot continue) and ``copy()``
re-hash the file in Python on first use and continue from there, refusing if
the file changed since it was hashed.
"""

import hashlib
import sys
from typing import Any, Callable, Tuple

from sky_fallback import rust_fallback

COMMON_UTILS = 'sky.utils.common_utils'
SUBPROCESS_UTILS = 'sky.utils.subprocess_utils'


class _ResumableFileHash:
    """``hash_file``'s result under the patch: the Go digest of the file, with
    the rest of a hashlib object's interface on demand.

    ``digest()``/``hexdigest()`` (all SkyPilot asks of it) come from the Go
    digest. ``update()`` and ``copy()`` need the hash state after the file,
    which only hashing the file in Python gives: the first such call does
    that, checks that it reproduces the Go digest (the file has not changed
    since), and from then on this object is that hashlib object.
    """

    __slots__ = ('_finished', '_path', '_state')

    def __init__(self, finished: Any, path: str):
        self._finished = finished  # sky_rs.FileDigest
        self._path = path
        self._state: Any = None  # the hashlib object, once needed

    @property
    def name(self) -> str:
        return self._finished.name

    @property
    def digest_size(self) -> int:
        return self._finished.digest_size

    @property
    def block_size(self) -> int:
        return self._finished.block_size

    def digest(self) -> bytes:
        if self._state is not None:
            return self._state.digest()
        return self._finished.digest()

    def hexdigest(self) -> str:
        if self._state is not None:
            return self._state.hexdigest()
        return self._finished.hexdigest()

    def update(self, data: Any) -> None:
        self._resume().update(data)

    def copy(self) -> Any:
        return self._resume().copy()

    def _resume(self) -> Any:
        if self._state is None:
            state = hashlib.new(self._finished.name)
            with open(self._path, 'rb') as f:
                for chunk in iter(lambda: f.read(1 << 20), b''):
                    state.update(chunk)
            if state.hexdigest() != self._finished.hexdigest():
                raise RuntimeError(
                    f'{self._path} changed after hash_file() hashed it, so '
                    'its hash cannot be continued with update()/copy()')
            self._state = state
        return self._state

    def __repr__(self) -> str:
        return f'<{self.name} hash of {self._path!r}>'


def _hash_file(path: str, hash_alg: str) -> Any:
    """``common_utils.hash_file`` under the patch (see _ResumableFileHash)."""
    result = rust_fallback.hash_file(path, hash_alg)
    if _is_finished_digest(result):
        return _ResumableFileHash(result, path)
    return result  # a hashlib object: the Python reference answered


def _is_finished_digest(result: Any) -> bool:
    sky_rs = sys.modules.get('sky_rs')
    file_digest = getattr(sky_rs, 'FileDigest', None)
    return file_digest is not None and isinstance(result, file_digest)


_hash_file.__doc__ = rust_fallback.hash_file.__doc__


def _rust_fallbacks(
        name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The replacement builder that installs rust_fallback's ``name``."""
    function = getattr(rust_fallback, name)
    return lambda installed: function


# (module, name, sha256 of SkyPilot 0.14.1's source, replacement builder).
# is_process_alive and estimate_fd_for_directory are not SkyPilot's.
UTILITIES: Tuple[Tuple[str, str, str, Callable[..., Any]], ...] = (
    (COMMON_UTILS, 'read_last_n_lines',
     '21c0442731de2721de9a90225110f096c9556feb97796417d18a4ee6901be6c4',
     _rust_fallbacks('read_last_n_lines')),
    (COMMON_UTILS, 'hash_file',
     '3116e25a19d1fb3ba829b525cff27f848959727e9fec79916a38f98a8b7c0752',
     lambda installed: _hash_file),
    (COMMON_UTILS, 'find_free_port',
     '44df4ae1871722d9490d97bd81e0fc591548a2a132e865436fe32cf908ddda94',
     _rust_fallbacks('find_free_port')),
    (COMMON_UTILS, 'base36_encode',
     'd4011a4c6021165f44ad76aa225767156908cce2ce8e2cbda26d96f6161af830',
     _rust_fallbacks('base36_encode')),
    (COMMON_UTILS, 'format_float',
     '7fdd90642deacdbb2f9145f52d37a80d8886346dd2d042af51bcc3eb866eca88',
     _rust_fallbacks('format_float')),
    (COMMON_UTILS, 'truncate_long_string',
     'bdf7f72054d91e91991fddb098f62a180ad380294118037afcccb8cda4a54582',
     _rust_fallbacks('truncate_long_string')),
    (COMMON_UTILS, 'get_cpu_count',
     '63872ea4d4efd6da4e52c814eddf0bd88786561306b96672ebd361ca79833c64',
     _rust_fallbacks('get_cpu_count')),
    (COMMON_UTILS, 'get_mem_size_gb',
     '825c3b112a26288ac1722a8c17fadd941f6541330273dd50227dd11c5176b780',
     _rust_fallbacks('get_mem_size_gb')),
    (SUBPROCESS_UTILS, 'get_parallel_threads',
     '80c31efecf3151be1e225d7dc2d38bd884b1c4119c1fb3e294b0aad5e4d75df5',
     _rust_fallbacks('get_parallel_threads')),
    (SUBPROCESS_UTILS, 'get_max_workers_for_file_mounts',
     'edd8a8ef1ce7121a13afe4d1475c8c56d13af1f409324f8e51c8fb9494451b5b',
     _rust_fallbacks('get_max_workers_for_file_mounts')),
)

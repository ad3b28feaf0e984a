"""Accelerate an installed SkyPilot without editing it: ``patch_skypilot()``.

SkyPilot's own code calls its utilities through the module, as
``common_utils.read_last_n_lines(...)`` and
``subprocess_utils.get_parallel_threads(...)``, never through names imported
into other modules. Replacing the module attribute therefore reaches every
caller: ``patch_skypilot()`` points the ten functions SkyPilot has at
``sky_fallback.rust_fallback``, which answers with upstream's results (in Go
when it can, in Python otherwise), and replaces
``backend_utils._deterministic_cluster_yaml_hash`` (the cluster-config hash
of every launch) with the same code hashing the files of the file mounts in
batches (``sky_fallback._config_hash``); ``unpatch_skypilot()`` puts
SkyPilot's own functions back.

A function is patched only when that is safe:

- its signature in the installed SkyPilot is one our function accepts in full
  (same parameter names, kinds and defaults), so a SkyPilot release that
  changes a function leaves that function alone, with a warning;
- the config hash, a rewrite of SkyPilot's own code, only when the installed
  function's source is the one it was written from (a hash of it), else it
  is left alone, with a warning that says why;
- ``hash_file`` keeps upstream's whole interface: SkyPilot's callers use only
  ``digest()``/``hexdigest()`` of its result, which the Go digest answers, and
  ``update()``/``copy()`` (which a finished Go digest cannot do) re-hash the
  file in Python on first use and continue from there, refusing if the file
  changed since it was hashed.

Patching is opt-in, process-wide and idempotent. It changes no file.
"""

import hashlib
import importlib
import importlib.util
import logging
import sys
import threading
from typing import Any, Callable, Dict, Iterable, List, Optional

from sky_fallback import _config_hash
from sky_fallback import rust_fallback

__all__ = [
    'patch_skypilot', 'unpatch_skypilot', 'patched_functions',
    'skypilot_original', 'PATCHABLE', 'REWRITTEN'
]

logger = logging.getLogger(__name__)

COMMON_UTILS = 'sky.utils.common_utils'
SUBPROCESS_UTILS = 'sky.utils.subprocess_utils'
BACKEND_UTILS = _config_hash.BACKEND_UTILS

# function name -> the SkyPilot module that defines it. is_process_alive and
# estimate_fd_for_directory are not in SkyPilot, so there is nothing to patch.
PATCHABLE: Dict[str, str] = {
    'read_last_n_lines': COMMON_UTILS,
    'hash_file': COMMON_UTILS,
    'find_free_port': COMMON_UTILS,
    'base36_encode': COMMON_UTILS,
    'format_float': COMMON_UTILS,
    'truncate_long_string': COMMON_UTILS,
    'get_cpu_count': COMMON_UTILS,
    'get_mem_size_gb': COMMON_UTILS,
    'get_parallel_threads': SUBPROCESS_UTILS,
    'get_max_workers_for_file_mounts': SUBPROCESS_UTILS,
}

# function name -> the SkyPilot module that defines it: SkyPilot functions
# rewritten here on the batch calls, patched only over the verified source.
REWRITTEN: Dict[str, str] = {
    _config_hash.NAME: BACKEND_UTILS,
}
_MODULE_OF: Dict[str, str] = {**PATCHABLE, **REWRITTEN}

# The SkyPilot release the behaviour contract (SPEC.md) was verified against.
VERIFIED_SKYPILOT = '0.14'

# The name under which the user's guide imports this package's API.
ALIAS_MODULE = 'sky.utils.rust_fallback'

_lock = threading.Lock()
# name -> SkyPilot's own function, while patched.
_originals: Dict[str, Callable[..., Any]] = {}
_alias_installed = False


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
_hash_file.__wrapped__ = rust_fallback.hash_file  # type: ignore[attr-defined]


_config_hash_replacement: Optional[Callable[..., Any]] = None


def _replacement(name: str) -> Callable[..., Any]:
    global _config_hash_replacement
    if name == 'hash_file':
        return _hash_file
    if name == _config_hash.NAME:
        if _config_hash_replacement is None:
            installed = getattr(sys.modules[BACKEND_UTILS], name)
            _config_hash_replacement = _config_hash.replacement(installed)
        return _config_hash_replacement
    return getattr(rust_fallback, name)


def _unsafe_reason(name: str, current: Callable[..., Any]) -> Optional[str]:
    """None when ``current`` may be replaced by ours; otherwise why not."""
    if name in REWRITTEN:
        return _config_hash.unverified_reason(current)
    problem = _accepts_every_call(current, _replacement(name))
    return None if problem is None else f'its signature differs ({problem})'


def _accepts_every_call(original: Callable[..., Any],
                        replacement: Callable[..., Any]) -> Optional[str]:
    """None when ``replacement`` takes every call ``original`` takes, with the
    same meaning; otherwise why not."""
    import inspect  # pylint: disable=import-outside-toplevel
    try:
        theirs = inspect.signature(original).parameters
        ours = inspect.signature(replacement).parameters
    except (TypeError, ValueError) as error:
        return f'no signature to compare ({error})'
    for parameter in theirs.values():
        mine = ours.get(parameter.name)
        if mine is None:
            return f'parameter {parameter.name!r} is unknown to sky_fallback'
        if mine.kind != parameter.kind:
            return (f'parameter {parameter.name!r} is '
                    f'{parameter.kind.description}')
        # A parameter upstream requires may be optional here, not otherwise.
        if (parameter.default is not inspect.Parameter.empty and
                mine.default != parameter.default):
            return (f'parameter {parameter.name!r} defaults to '
                    f'{parameter.default!r}, sky_fallback to {mine.default!r}')
    if list(ours)[:len(theirs)] != list(theirs):
        return 'parameters are in another order'
    for parameter in list(ours.values())[len(theirs):]:
        if (parameter.kind is not inspect.Parameter.KEYWORD_ONLY or
                parameter.default is inspect.Parameter.empty):
            return f'sky_fallback needs parameter {parameter.name!r}'
    return None


def _import_skypilot(module_name: str) -> Any:
    """SkyPilot's module ``module_name``; a missing SkyPilot is named as such."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if _skypilot_installed():
            raise  # SkyPilot is there, but something it needs is not
        raise ModuleNotFoundError(
            f'patch_skypilot() patches SkyPilot, which is not installed for '
            f'{sys.executable}: install it with `pip install skypilot` '
            f'(sky_fallback is verified against SkyPilot '
            f'{VERIFIED_SKYPILOT}). sky_fallback.rust_fallback works without '
            'it.',
            name='sky') from error


def _skypilot_installed() -> bool:
    try:
        return importlib.util.find_spec('sky') is not None
    except (ImportError, ValueError):  # sys.modules['sky'] is None
        return False


def _skypilot_version() -> Optional[str]:
    sky = sys.modules.get('sky')
    return getattr(sky, '__version__', None)


def patch_skypilot(functions: Optional[Iterable[str]] = None,
                   alias: bool = True) -> List[str]:
    """Make an installed SkyPilot call sky_fallback's functions.

    Replaces ``sky.utils.common_utils.<name>`` and
    ``sky.utils.subprocess_utils.<name>`` for each name in ``functions``
    (default: all of :data:`PATCHABLE` and :data:`REWRITTEN`) with
    ``rust_fallback.<name>``, so every SkyPilot caller gets the Go backend
    when it is available and enabled, and upstream's results either way; and
    ``sky.backends.backend_utils._deterministic_cluster_yaml_hash`` with its
    batched twin (``sky_fallback._config_hash``). A function whose SkyPilot
    signature differs from ours, or for the config hash whose source is not
    the one verified, is left alone (logged as a warning).

    With ``alias`` (the default), also makes ``sky.utils.rust_fallback`` an
    alias of ``sky_fallback.rust_fallback`` (unless SkyPilot has a module of
    that name), so code written for that import runs unchanged.

    Idempotent and thread-safe. Returns the names now patched, as
    ``'sky.utils.common_utils.read_last_n_lines'``. Raises ImportError when
    SkyPilot is not installed and ValueError for a name not in PATCHABLE.
    """
    names = list(_MODULE_OF) if functions is None else list(functions)
    unknown = [name for name in names if name not in _MODULE_OF]
    if unknown:
        raise ValueError(f'cannot patch {unknown}: patch_skypilot() knows '
                         f'{sorted(_MODULE_OF)}')
    modules = {
        module_name: _import_skypilot(module_name)
        for module_name in sorted({_MODULE_OF[name] for name in names})
    }
    version = _skypilot_version()
    if version is not None and not (version == VERIFIED_SKYPILOT or
                                    version.startswith(VERIFIED_SKYPILOT +
                                                       '.')):
        logger.warning(
            'patch_skypilot(): SkyPilot %s is installed; sky_fallback was '
            'verified against SkyPilot %s. Check your workload with '
            '`python -m sky_fallback compare`.', version, VERIFIED_SKYPILOT)
    with _lock:
        for name in names:
            module = modules[_MODULE_OF[name]]
            current = getattr(module, name, None)
            if current is None:
                logger.warning('patch_skypilot(): %s has no %s; not patched',
                               module.__name__, name)
                continue
            if name in _originals and current is _replacement(name):
                continue
            problem = _unsafe_reason(name, current)
            if problem is not None:
                logger.warning('patch_skypilot(): %s.%s not patched: %s',
                               module.__name__, name, problem)
                continue
            _originals[name] = current
            setattr(module, name, _replacement(name))
        if alias and not _alias_installed:
            _install_alias()
        return patched_functions()


def _install_alias() -> None:
    global _alias_installed
    utils = importlib.import_module('sky.utils')
    if (ALIAS_MODULE in sys.modules or hasattr(utils, 'rust_fallback') or
            importlib.util.find_spec(ALIAS_MODULE) is not None):
        return  # SkyPilot has a module of that name: leave it be
    sys.modules[ALIAS_MODULE] = rust_fallback
    utils.rust_fallback = rust_fallback  # type: ignore[attr-defined]
    _alias_installed = True


def _remove_alias() -> None:
    global _alias_installed
    if not _alias_installed:
        return
    if sys.modules.get(ALIAS_MODULE) is rust_fallback:
        del sys.modules[ALIAS_MODULE]
    utils = sys.modules.get('sky.utils')
    if getattr(utils, 'rust_fallback', None) is rust_fallback:
        delattr(utils, 'rust_fallback')
    _alias_installed = False


def unpatch_skypilot() -> List[str]:
    """Undo :func:`patch_skypilot`: SkyPilot's own functions are back (those
    still pointing at ours; one replaced since by someone else is left as it
    is). Idempotent. Returns the names restored."""
    restored = []
    with _lock:
        for name, original in list(_originals.items()):
            module = sys.modules[_MODULE_OF[name]]
            if getattr(module, name, None) is _replacement(name):
                setattr(module, name, original)
                restored.append(f'{module.__name__}.{name}')
            del _originals[name]
        _remove_alias()
    return restored


def patched_functions() -> List[str]:
    """The SkyPilot functions patched right now, as qualified names."""
    return [
        f'{module}.{name}' for name, module in _MODULE_OF.items()
        if name in _originals and
        getattr(sys.modules.get(module), name, None) is _replacement(name)
    ]


def skypilot_original(name: str) -> Callable[..., Any]:
    """SkyPilot's own ``name``, patched or not (imports SkyPilot).

    Raises ValueError for a name SkyPilot does not have.
    """
    if name not in _MODULE_OF:
        raise ValueError(f'SkyPilot has no {name}')
    original = _originals.get(name)
    if original is not None:
        return original
    return getattr(_import_skypilot(_MODULE_OF[name]), name)

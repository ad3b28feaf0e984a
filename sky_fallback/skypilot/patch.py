"""Accelerate an installed SkyPilot without editing it: ``patch_skypilot()``.

SkyPilot's own code calls the functions sky_rs replaces through their module
(``common_utils.read_last_n_lines(...)``, ``stream_utils._tail_log_file``),
never through names imported into other modules. Replacing the module
attribute therefore reaches every caller: ``patch_skypilot()`` sets each
entry of :data:`~sky_fallback.skypilot.registry.PATCHES` (SkyPilot's ten
utilities, answered by ``sky_fallback.rust_fallback``, and the rewrites of
SkyPilot code on its hot paths), and ``unpatch_skypilot()`` puts SkyPilot's
own functions back.

A function is patched only when the installed SkyPilot function is the one
its replacement was written from: the sha256 of its source must be the one
the entry records (SkyPilot 0.14.1). A SkyPilot release that changes a
function leaves that function alone, with a warning that says why.

Patching is opt-in, process-wide, idempotent and thread-safe. It changes no
file. The API-server plugin (``sky_fallback.skypilot.plugin``) calls it in
each of SkyPilot's processes, with the entries of that process's context.
"""

import importlib
import importlib.util
import logging
import sys
import threading
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from sky_fallback import rust_fallback
from sky_fallback.skypilot import registry

__all__ = [
    'patch_skypilot', 'unpatch_skypilot', 'patched_functions',
    'skypilot_original'
]

logger = logging.getLogger(__name__)

# The SkyPilot release the behaviour contract (SPEC.md) was verified against.
VERIFIED_SKYPILOT = '0.14'

# The name under which the user's guide imports this package's API.
ALIAS_MODULE = 'sky.utils.rust_fallback'

_lock = threading.Lock()
# name -> (SkyPilot's own function, what replaced it), while patched.
_patched: Dict[str, Tuple[Callable[..., Any], Callable[..., Any]]] = {}
_alias_installed = False


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


def skypilot_version() -> Optional[str]:
    """The version of the SkyPilot imported in this process, if any."""
    sky = sys.modules.get('sky')
    return getattr(sky, '__version__', None)


def select(functions: Optional[Iterable[str]] = None,
           context: Optional[str] = None) -> List[registry.Patch]:
    """The entries named (default: all) that run in ``context`` (default:
    any). Raises ValueError for an unknown name or context."""
    if functions is None:
        patches = list(registry.PATCHES)
    else:
        names = list(functions)
        unknown = [name for name in names if name not in registry.BY_NAME]
        if unknown:
            raise ValueError(f'cannot patch {unknown}: patch_skypilot() knows '
                             f'{sorted(registry.BY_NAME)}')
        patches = [registry.BY_NAME[name] for name in names]
    if context is not None:
        if context not in registry.ALL_CONTEXTS:
            raise ValueError(f'unknown context {context!r}: one of '
                             f'{sorted(registry.ALL_CONTEXTS)}')
        patches = [patch for patch in patches if context in patch.contexts]
    return patches


def apply(patches: List[registry.Patch],
          alias: bool = True) -> Tuple[List[str], Dict[str, str]]:
    """Install ``patches`` (see :func:`patch_skypilot`) without logging.

    Returns the qualified names patched now or before, and those refused,
    with why. Raises ImportError when SkyPilot is not installed.
    """
    modules = {
        module_name: _import_skypilot(module_name)
        for module_name in sorted({patch.module for patch in patches})
    }
    refused: Dict[str, str] = {}
    with _lock:
        for patch in patches:
            module = modules[patch.module]
            current = getattr(module, patch.name, None)
            if current is None:
                refused[patch.qualified_name] = 'SkyPilot has no such function'
                continue
            if (patch.name in _patched and
                    current is _patched[patch.name][1]):
                continue
            problem = patch.unverified_reason(current)
            if problem is not None:
                refused[patch.qualified_name] = problem
                continue
            replacement = patch.replacement(current)
            _patched[patch.name] = (current, replacement)
            setattr(module, patch.name, replacement)
        if alias and not _alias_installed:
            _install_alias()
        return patched_functions(), refused


def patch_skypilot(functions: Optional[Iterable[str]] = None,
                   alias: bool = True,
                   context: Optional[str] = None) -> List[str]:
    """Make an installed SkyPilot call sky_rs's functions.

    Replaces, for each name in ``functions`` (default: every entry of
    ``sky_fallback.skypilot.registry.PATCHES``; with ``context``, one of
    ``'main'``, ``'uvicorn'``, ``'executor'``, ``'controller'``, only the
    entries that run in that SkyPilot process), the SkyPilot function of that
    name with its replacement: ``sky.utils.common_utils.read_last_n_lines``
    with ``rust_fallback.read_last_n_lines``, and so on. Every replacement
    gives upstream's results and exceptions; with ``SKYPILOT_USE_RUST=0``
    each answers in Python, as SkyPilot's own code does. A function whose
    installed source is not the one its replacement was written from is left
    alone, with a warning that says why.

    With ``alias`` (the default), also makes ``sky.utils.rust_fallback`` an
    alias of ``sky_fallback.rust_fallback`` (unless SkyPilot has a module of
    that name), so code written for that import runs unchanged.

    Idempotent and thread-safe. Returns the names now patched, as
    ``'sky.utils.common_utils.read_last_n_lines'``. Raises ImportError when
    SkyPilot is not installed and ValueError for an unknown name or context.
    """
    patched, refused = apply(select(functions, context), alias)
    version_note = unverified_version()
    if version_note is not None:
        logger.warning(
            'patch_skypilot(): %s. Check your workload with `python -m '
            'sky_fallback compare`.', version_note)
    for name, reason in refused.items():
        logger.warning('patch_skypilot(): %s not patched: %s', name, reason)
    return patched


def unverified_version() -> Optional[str]:
    """None when the installed SkyPilot is the release sky_rs was written
    from (or none is installed); otherwise a sentence that says so. Each
    entry still checks its own function's source."""
    version = skypilot_version()
    if version is None or version == VERIFIED_SKYPILOT or version.startswith(
            VERIFIED_SKYPILOT + '.'):
        return None
    return (f'SkyPilot {version} is installed; sky_rs was written from '
            f'SkyPilot {VERIFIED_SKYPILOT}')


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
        for name, (original, replacement) in list(_patched.items()):
            patch = registry.BY_NAME[name]
            module = sys.modules[patch.module]
            if getattr(module, name, None) is replacement:
                setattr(module, name, original)
                restored.append(patch.qualified_name)
            del _patched[name]
        _remove_alias()
    return restored


def patched_functions() -> List[str]:
    """The SkyPilot functions patched right now, as qualified names."""
    return [
        patch.qualified_name for patch in registry.PATCHES
        if patch.name in _patched and getattr(sys.modules.get(
            patch.module), patch.name, None) is _patched[patch.name][1]
    ]


def skypilot_original(name: str) -> Callable[..., Any]:
    """SkyPilot's own ``name``, patched or not (imports SkyPilot).

    Raises ValueError for a name sky_rs does not patch.
    """
    patch = registry.BY_NAME.get(name)
    if patch is None:
        raise ValueError(f'sky_rs patches no SkyPilot function {name}')
    if name in _patched:
        return _patched[name][0]
    return getattr(_import_skypilot(patch.module), name)

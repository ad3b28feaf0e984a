"""Every SkyPilot function sky_rs replaces, in one place: :data:`PATCHES`.

An entry names the SkyPilot function (module and attribute), the sha256 of
the source it was written from (SkyPilot 0.14.1), the plugin contexts it
runs in, and how to build its replacement from SkyPilot's own function.
``patch_skypilot()`` and the API-server plugin apply these entries and no
others; an entry is applied only over the very source it records.

Adding a rewrite of a SkyPilot function is a module of this package with
``MODULE``, ``NAME``, ``SOURCE_SHA256``, ``CONTEXTS`` and
``replacement(installed)`` (and, when it relies on more of SkyPilot than the
function it replaces, ``unverified_dependency()``: None, or why that is not
the code it was written against), and one line in :data:`PATCHES`.
"""

import dataclasses
import hashlib
import inspect
import types
from typing import Any, Callable, Dict, FrozenSet, Optional, Tuple

from sky_fallback.skypilot import config_hash
from sky_fallback.skypilot import log_tail
from sky_fallback.skypilot import memory
from sky_fallback.skypilot import templates
from sky_fallback.skypilot import utilities
from sky_fallback.skypilot import yaml_dump

# The plugin contexts of SkyPilot's API server (sky.server.plugins
# .PluginContext values): its main process, a uvicorn worker, a request
# executor, a jobs or serve controller.
MAIN = 'main'
UVICORN = 'uvicorn'
EXECUTOR = 'executor'
CONTROLLER = 'controller'
ALL_CONTEXTS: FrozenSet[str] = frozenset((MAIN, UVICORN, EXECUTOR, CONTROLLER))


@dataclasses.dataclass(frozen=True)
class Patch:
    """One SkyPilot function and what replaces it."""
    module: str  # 'sky.utils.common_utils'
    name: str  # 'read_last_n_lines'
    # sha256 of inspect.getsource() of SkyPilot 0.14.1's function, as UTF-8.
    source_sha256: str
    contexts: FrozenSet[str]
    # SkyPilot's own function (source verified) -> the function to install.
    replacement: Callable[[Callable[..., Any]], Callable[..., Any]]
    # None, or why the rest of SkyPilot the replacement relies on is not
    # the code it was written against (called once the module is imported).
    unverified_dependency: Optional[Callable[[], Optional[str]]] = None

    @property
    def qualified_name(self) -> str:
        return f'{self.module}.{self.name}'

    def unverified_reason(self, installed: Callable[..., Any]) -> Optional[str]:
        """None when ``installed`` is the function this entry was written
        from; otherwise why it is not (or cannot be shown to be)."""
        digest = source_sha256(installed)
        if digest is None:
            return 'its source cannot be read'
        if digest != self.source_sha256:
            return (f'its source is not the one sky_rs was written from '
                    f'(sha256 {digest[:12]}..., expected '
                    f'{self.source_sha256[:12]}...)')
        if self.unverified_dependency is not None:
            return self.unverified_dependency()
        return None


def source_sha256(function: Callable[..., Any]) -> Optional[str]:
    """sha256 of ``inspect.getsource(function)`` as UTF-8, or None when the
    source cannot be read."""
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        return None
    return hashlib.sha256(source.encode('utf-8')).hexdigest()


def rewrite(module: types.ModuleType) -> Patch:
    """The entry of a rewrite module (see this module's docstring)."""
    return Patch(module=module.MODULE,
                 name=module.NAME,
                 source_sha256=module.SOURCE_SHA256,
                 contexts=frozenset(module.CONTEXTS),
                 replacement=module.replacement,
                 unverified_dependency=getattr(module,
                                               'unverified_dependency', None))


PATCHES: Tuple[Patch, ...] = tuple(
    Patch(module, name, source_sha256, ALL_CONTEXTS, replacement)
    for module, name, source_sha256, replacement in utilities.UTILITIES) + (
        rewrite(config_hash),
        rewrite(log_tail),
        rewrite(memory),
        rewrite(yaml_dump),
        rewrite(templates),
    )

BY_NAME: Dict[str, Patch] = {patch.name: patch for patch in PATCHES}
assert len(BY_NAME) == len(PATCHES), 'two entries patch the same name'

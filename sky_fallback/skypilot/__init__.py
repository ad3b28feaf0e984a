"""sky_rs inside SkyPilot: every SkyPilot function sky_rs replaces, and the
two ways to install the replacements.

- :func:`patch_skypilot` in the process that calls it (a script, a notebook,
  a test): every entry of :data:`registry.PATCHES`, or those named.
- The API-server plugin (:mod:`sky_fallback.skypilot.plugin`), which SkyPilot
  loads in its own processes (the server, its request executors, jobs and
  serve controllers): ``python -m sky_fallback plugin install`` turns it on.

Each replacement gives upstream's results byte for byte and is installed
only over the SkyPilot source it was written from (docs/MIGRATION.md).
"""

from sky_fallback.skypilot import registry
from sky_fallback.skypilot.patch import patch_skypilot
from sky_fallback.skypilot.patch import patched_functions
from sky_fallback.skypilot.patch import skypilot_original
from sky_fallback.skypilot.patch import unpatch_skypilot

__all__ = [
    'patch_skypilot', 'unpatch_skypilot', 'patched_functions',
    'skypilot_original', 'registry'
]

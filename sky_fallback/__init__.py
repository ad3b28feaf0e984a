"""Pure-Python side of sky_rs: the reference and the backend dispatch.

``from sky_fallback import rust_fallback`` is the drop-in for SkyPilot's
``sky.utils.rust_fallback``: twelve utilities answered by the Go module
``sky_rs`` when it is available and enabled (``SKYPILOT_USE_RUST``), and by
the pure-Python reference otherwise, with upstream's results either way.
"""

import logging

from sky_fallback import rust_fallback
from sky_fallback.rust_fallback import are_processes_alive
from sky_fallback.rust_fallback import base36_encode
from sky_fallback.rust_fallback import estimate_fd_for_directory
from sky_fallback.rust_fallback import find_free_port
from sky_fallback.rust_fallback import format_float
from sky_fallback.rust_fallback import get_backend_info
from sky_fallback.rust_fallback import get_cpu_count
from sky_fallback.rust_fallback import get_max_workers_for_file_mounts
from sky_fallback.rust_fallback import get_mem_size_gb
from sky_fallback.rust_fallback import get_parallel_threads
from sky_fallback.rust_fallback import hash_file
from sky_fallback.rust_fallback import hash_files
from sky_fallback.rust_fallback import is_process_alive
from sky_fallback.rust_fallback import is_rust_available
from sky_fallback.rust_fallback import read_last_n_lines
from sky_fallback.rust_fallback import truncate_long_string

# A library does not configure logging; the application does.
logging.getLogger(__name__).addHandler(logging.NullHandler())


def __getattr__(name):
    # patch_skypilot / unpatch_skypilot (sky_fallback/skypilot/), imported
    # on first use so that `import sky_fallback` does not pay for them.
    if name in ('patch_skypilot', 'unpatch_skypilot'):
        from sky_fallback import skypilot  # pylint: disable=import-outside-toplevel
        return getattr(skypilot, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


# The public names are rust_fallback's, re-exported above.
__all__ = ['rust_fallback'] + rust_fallback.__all__

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

from sky_rs._errors import NativeFault
from sky_rs._hashing import FileDigest
from sky_rs._hashing import hash_file
from sky_rs._hashing import hash_files
from sky_rs._loading import extension_path
from sky_rs._loading import ForkedChildError
from sky_rs._loading import go_version
from sky_rs._loading import is_loaded
from sky_rs._loading import load
from sky_rs._loading import LoadDeferred
from sky_rs._loading import RETRY_SECONDS
from sky_rs._loading import unloadable_reason
from sky_rs._processes import are_processes_alive
from sky_rs._processes import is_process_alive
from sky_rs._strings import base36_encode
from sky_rs._strings import format_float
from sky_rs._strings import truncate_long_string
from sky_rs._system import estimate_fd_for_directory
from sky_rs._system import find_free_port
from sky_rs._system import get_cpu_count
from sky_rs._system import get_max_workers_for_file_mounts
from sky_rs._system import get_mem_size_gb
from sky_rs._system import get_parallel_threads
from sky_rs._tail import read_last_n_lines

# For sky_fallback's rewrite of SkyPilot's config hash, not a public API.
from sky_rs._hashing import _file_digests  # pylint: disable=unused-import
from sky_rs._hashing import _walk_feed_steps  # pylint: disable=unused-import

__version__ = '0.1.0'

# The public classes are named as this module's (reprs, tracebacks, pickles).
for _public in (FileDigest, NativeFault, ForkedChildError, LoadDeferred):
    _public.__module__ = __name__
del _public

__all__ = [
    'read_last_n_lines', 'hash_file', 'find_free_port', 'base36_encode',
    'format_float', 'truncate_long_string', 'get_cpu_count', 'get_mem_size_gb',
    'get_parallel_threads', 'is_process_alive',
    'get_max_workers_for_file_mounts', 'estimate_fd_for_directory',
    'hash_files', 'are_processes_alive', 'FileDigest', 'NativeFault',
    'ForkedChildError', 'LoadDeferred', 'load', 'is_loaded',
    'unloadable_reason', 'go_version', 'extension_path',
]

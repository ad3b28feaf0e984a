"""Loading the Go extension ``_sky_rs``: lazily, only when this process can
host the Go runtime, retried when the cause passes, and refused in a child
forked after the runtime started (the Go runtime does not survive
``fork()``)."""

import errno
import functools
import os
import resource
import sys
import time
from typing import Optional

from sky_rs import _host


class ForkedChildError(NotImplementedError):
    """sky_rs was called in a child forked after the Go runtime had started."""


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
lib = None  # the loaded extension, _FORKED in a forked child, or None
_deferred = (0.0, '')  # (time.monotonic() before which not to retry, why)
_failed = ''  # why the extension can never load in this process, once known


def load():
    """Load the Go extension (idempotent) and return it.

    Raises :class:`LoadDeferred` when this process cannot host the Go runtime
    right now (it tries again once RETRY_SECONDS have passed), ImportError
    when the extension is missing, cannot load, or the environment rules Go
    out, and ForkedChildError in a child forked after the Go runtime started.
    """
    global lib
    if lib is None:
        lib = _load_extension()
    elif lib is _FORKED:
        getattr(lib, 'load')
    return lib


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
    return lib is not None


def unloadable_reason() -> Optional[str]:
    """Why the extension cannot load in this process, as far as is known
    without loading it (which starts the Go runtime): it is not installed,
    the environment rules Go out, a load failed for good, or this is a child
    forked after Go started. None when nothing is known against it."""
    if lib is _FORKED:
        return 'a child forked after the Go runtime started'
    if lib is not None:
        return None
    if _failed:
        return _failed
    if extension_path() is None:
        return _why_no_extension()
    return _host.environment_conflict()


def is_forked() -> bool:
    """Whether this is a child forked after the Go runtime had started."""
    return lib is _FORKED


def _after_fork_in_child():
    global lib
    if lib is not None:
        lib = _FORKED


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


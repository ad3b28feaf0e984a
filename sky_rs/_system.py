"""The host's resources: CPUs, memory, threads and workers, free ports, the
open-file cost of a directory. Environment variables that override them are
read here, on every call (Go sees only the environment the process started
with)."""

import logging
import os
import resource
from typing import Dict, Optional

from sky_rs import _errors
from sky_rs import _loading

_environ_data = getattr(os.environ, '_data', None)


def _environ_key(name: str):
    """``name`` as os.environ stores it, for _getenv."""
    if _environ_data is None:
        return name
    return os.environ.encodekey(name)


def _getenv(key) -> Optional[str]:
    """os.environ.get(name) for key = _environ_key(name), at a fraction of its
    cost (these variables are read on every call)."""
    if _environ_data is None:
        return os.environ.get(key)
    value = _environ_data.get(key)
    return None if value is None else os.environ.decodevalue(value)


def find_free_port(start_port: int) -> int:
    """The first port from ``start_port`` to 65534 that an IPv4 TCP socket can
    bind on all interfaces (no SO_REUSEADDR, as upstream)."""
    if type(start_port) is not int:  # pylint: disable=unidiomatic-typecheck
        raise NotImplementedError('sky_rs takes an int port')
    function = (_loading.lib or _loading.load()).pyexport_FindFreePort
    try:
        return function(start_port)
    except RuntimeError as e:
        raise _errors.error(e) from None
    except _errors.CANNOT_CARRY as e:
        raise _errors.decline(e) from None


def estimate_fd_for_directory(path: str) -> int:
    """5 file descriptors per entry directly in ``path`` (counted, not listed)."""
    if type(path) is not str:  # pylint: disable=unidiomatic-typecheck
        raise NotImplementedError('sky_rs takes a str path')
    function = (_loading.lib or _loading.load()).pyexport_EstimateFDForDirectory
    try:
        return function(path)
    except RuntimeError as e:
        raise _errors.error(e, path) from None
    except _errors.CANNOT_CARRY as e:
        raise _errors.decline(e) from None



_CPU_LIMIT_KEY = _environ_key('SKYPILOT_POD_CPU_CORE_LIMIT')
_MEMORY_GB_LIMIT_KEY = _environ_key('SKYPILOT_POD_MEMORY_GB_LIMIT')
_MEMORY_BYTES_LIMIT_KEY = _environ_key('SKYPILOT_POD_MEMORY_BYTES_LIMIT')


def get_cpu_count() -> int:
    """CPUs this process may use: min of logical CPUs, affinity and cgroup
    quota, unless SKYPILOT_POD_CPU_CORE_LIMIT says otherwise."""
    value = _getenv(_CPU_LIMIT_KEY)
    if value is not None:
        try:
            return int(float(value))
        except ValueError as e:
            raise ValueError(
                f'Failed to parse the number of CPUs from {value}') from e
    function = (_loading.lib or _loading.load()).pyexport_CPUCount
    try:
        return function()
    except RuntimeError as e:
        raise _errors.error(e) from None


def get_mem_size_gb() -> float:
    """Memory in GiB: min of physical memory and cgroup limit, unless
    SKYPILOT_POD_MEMORY_GB_LIMIT / _BYTES_LIMIT say otherwise."""
    value = _getenv(_MEMORY_GB_LIMIT_KEY)
    if value is not None:
        try:
            return float(value)
        except ValueError as e:
            raise ValueError(
                f'Failed to parse the memory size from {value} (GB)') from e
    value = _getenv(_MEMORY_BYTES_LIMIT_KEY)
    if value is not None:
        try:
            return float(value) / (1024**3)
        except ValueError as e:
            raise ValueError(
                f'Failed to parse the memory size from {value} (bytes)') from e
    function = (_loading.lib or _loading.load()).pyexport_MemSizeGB
    try:
        return function()
    except RuntimeError as e:
        raise _errors.error(e) from None


def _is_kubernetes(cloud_str) -> bool:
    # Upstream's test, including its AttributeError for a truthy non-str.
    return bool(cloud_str) and cloud_str.lower() == 'kubernetes'


def get_parallel_threads(cloud_str: Optional[str] = None) -> int:
    """max(4, online CPUs - 1), times 4 on Kubernetes."""
    kubernetes = _is_kubernetes(cloud_str)
    return _errors.call('pyexport_ParallelThreads', kubernetes)


# Upstream's logger (subprocess_utils: sky_logging.init_logger(__name__)):
# records keep its name, so SkyPilot's logging configuration governs them.
logger = logging.getLogger('sky.utils.subprocess_utils')

# Upstream warns about a low open-file limit once per process, whichever
# backend answers (sky_fallback's reference calls this too).
_fd_limit_warning_shown = False


def fd_limit_with_warning() -> int:
    """The soft RLIMIT_NOFILE, warning once per process when it is below
    1024, as upstream's get_max_workers_for_file_mounts does."""
    global _fd_limit_warning_shown
    fd_limit, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if fd_limit < 1024 and not _fd_limit_warning_shown:
        logger.warning(
            f'Open file descriptor limit ({fd_limit}) is low. File sync to '
            'remote clusters may be slow. Consider increasing the limit using '
            '`ulimit -n <number>` or modifying system limits.')
        _fd_limit_warning_shown = True
    return fd_limit


def get_max_workers_for_file_mounts(
        common_file_mounts: Optional[Dict[str, str]] = None,
        cloud_str: Optional[str] = None,
        *,
        num_sources: Optional[int] = None,
        estimated_files_per_source: Optional[int] = None) -> int:
    """Workers for syncing file mounts within the open-file limit.

    Upstream's form takes ``{destination: source}`` and counts the entries of
    each source directory; the keyword form (``num_sources=``,
    ``estimated_files_per_source=``) estimates without touching the disk.
    """
    keyword_form = (num_sources is not None or
                    estimated_files_per_source is not None)
    if cloud_str is not None and type(cloud_str) is not str:  # pylint: disable=unidiomatic-typecheck
        raise NotImplementedError('sky_rs takes a str cloud')
    kubernetes = _is_kubernetes(cloud_str)
    if keyword_form:
        if common_file_mounts is not None:
            raise NotImplementedError(
                'pass either common_file_mounts or the keyword form')
        num = 1 if num_sources is None else num_sources
        per_source = (1 if estimated_files_per_source is None else
                      estimated_files_per_source)
        if not (_errors.is_int(num) and _errors.is_int(per_source)):
            raise NotImplementedError('sky_rs takes int estimates')
        fd_limit_with_warning()
        workers = _errors.call('pyexport_MaxWorkersForEstimate', num, per_source,
                        kubernetes)
        logger.debug(f'Using {workers} workers for file mounts.')
        return workers
    if not isinstance(common_file_mounts, dict):
        raise NotImplementedError('sky_rs takes a dict of file mounts')
    sources = list(common_file_mounts.values())
    for src in sources:
        if type(src) is not str or '\n' in src:  # pylint: disable=unidiomatic-typecheck
            raise NotImplementedError('sky_rs takes str sources')
    fd_limit_with_warning()
    workers = _errors.call('pyexport_MaxWorkersForFileMounts', '\n'.join(sources),
                    kubernetes)
    logger.debug(f'Using {workers} workers for file mounts.')
    return workers

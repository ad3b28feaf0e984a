"""Pure-Python reference implementations of the twelve sky_rs functions.

Each ``_python_<name>`` returns what SkyPilot's own function returns and raises
the same exception type with the same message (see SPEC.md). Ten of them follow
``sky/utils/common_utils.py`` and ``sky/utils/subprocess_utils.py`` line for
line; ``is_process_alive`` and ``estimate_fd_for_directory`` are not upstream
functions and follow SPEC.md. SkyPilot itself is never imported: this module
must work where only ``psutil`` is installed.

The one deliberate difference from upstream: ``base36_encode`` of a negative
number raises ``ValueError`` where upstream loops forever.
"""

import hashlib
import logging
import os
import socket
import sys
from typing import Dict, Iterable, List, Optional, Union

# Upstream's logger (subprocess_utils: sky_logging.init_logger(__name__)).
# Records keep its name, so SkyPilot's logging configuration and
# sky_logging.silent() govern them as they govern upstream's.
logger = logging.getLogger('sky.utils.subprocess_utils')

_BASE36_ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz'

# A pid above this cannot name a process, and os.kill would raise
# OverflowError for it.
_MAX_PID = 2**31 - 1


def _python_read_last_n_lines(file_path: str,
                              n: int,
                              chunk_size: int = 8192,
                              encoding: str = 'utf-8',
                              errors: str = 'replace') -> List[str]:
    """Read the last ``n`` lines of a file, as ``common_utils`` does.

    Every line but the last ends in ``'\\n'``; trailing ``'\\r'`` are stripped.
    """
    assert n >= 0, f'n must be non-negative. Got {n}'
    assert chunk_size > 0, f'chunk_size must be positive. Got {chunk_size}'
    assert os.path.exists(file_path), f'File not found: {file_path}'

    if n == 0:
        return []

    try:
        with open(file_path, 'rb') as f:
            f.seek(0, os.SEEK_END)
            file_size = f.tell()
            if file_size == 0:
                return []

            # Read backwards until more than n newlines have been seen: the
            # extra one marks the start of the first wanted line.
            pos = file_size
            lines_found = 0
            chunks = []
            while pos > 0 and lines_found <= n:
                read_size = min(chunk_size, pos)
                pos -= read_size
                f.seek(pos)
                chunk = f.read(read_size)
                chunks.append(chunk)
                lines_found += chunk.count(b'\n')

            full_bytes = b''.join(reversed(chunks))
            all_lines = full_bytes.split(b'\n')

            # A trailing newline leaves an empty last piece: skip it.
            if all_lines and all_lines[-1] == b'':
                result_bytes = all_lines[-n - 1:-1]
            else:
                result_bytes = all_lines[-n:]

            decoded_lines = [
                line.decode(encoding, errors=errors).rstrip('\r') + '\n'
                for line in result_bytes[:-1]
            ]
            last_line = result_bytes[-1].decode(encoding,
                                                errors=errors).rstrip('\r')
            decoded_lines.append(last_line)
            return decoded_lines

    except OSError as e:
        raise RuntimeError(
            f'Failed to read last {n} lines from {file_path}: {e}') from e


def _python_hash_file(path: str, hash_alg: str) -> 'hashlib._Hash':
    """Return the ``hashlib`` object of ``hash_alg`` fed with the whole file.

    The file is opened before the algorithm is looked up, so a missing file is
    reported even when the algorithm is unknown. The file is streamed, never
    read whole.
    """
    with open(path, 'rb') as f:
        file_hash = hashlib.new(hash_alg)
        buf = bytearray(2**18)
        view = memoryview(buf)
        while True:
            size = f.readinto(buf)
            if size == 0:
                break
            file_hash.update(view[:size])
        return file_hash


def _python_hash_files(paths: List[str],
                       hash_alg: str) -> List['hashlib._Hash']:
    """Return ``[_python_hash_file(path, hash_alg) for path in paths]``.

    Files are hashed in order; the first failure is raised.
    """
    return [_python_hash_file(path, hash_alg) for path in paths]


def _python_find_free_port(start_port: int) -> int:
    """Return the first port from ``start_port`` up to 65534 that binds.

    Each try binds a fresh IPv4 TCP socket to all interfaces, without
    ``SO_REUSEADDR``.
    """
    for port in range(start_port, 65535):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(('', port))
                return port
            except OSError:
                pass
    raise OSError('No free ports available.')


def _python_base36_encode(hex_str: str) -> str:
    """Convert a hex string (as ``int(hex_str, 16)`` reads it) to base 36."""
    num = int(hex_str, 16)
    if num < 0:
        # Upstream's divmod loop never reaches 0 for a negative number.
        raise ValueError(
            f'base36_encode() requires a non-negative number: {hex_str!r}')
    if num == 0:
        return '0'
    digits = []
    while num != 0:
        num, i = divmod(num, 36)
        digits.append(_BASE36_ALPHABET[i])
    return ''.join(reversed(digits))


def _python_format_float(num: Union[float, int], precision: int = 1) -> str:
    """Format a number without a decimal point when it is whole.

    Any ``int`` (``bool`` included) prints as ``str(num)``.
    """
    if isinstance(num, int):
        return str(num)
    # f'{num:.0f}' is upstream's '{:.0f}'.format(num) (both call
    # format(num, '.0f')) without the method call.
    return f'{num:.0f}' if num.is_integer() else f'{num:.{precision}f}'


def _python_truncate_long_string(s: str,
                                 max_length: int = 35,
                                 truncate_middle: bool = False) -> str:
    """Truncate ``s`` to about ``max_length`` code points, adding ``'...'``.

    End mode cuts on a word boundary with upstream's word walk; middle mode
    keeps both ends.
    """
    if len(s) <= max_length:
        return s

    if truncate_middle:
        if max_length <= 3:
            return '...'
        # ceil((max_length - 3) / 2) code points from the start, one more
        # than from the end when max_length - 3 is odd (upstream's half plus
        # remainder, in one step).
        start_length = (max_length - 2) // 2
        end_length = (max_length - 3) // 2
        if end_length == 0:
            return s[:start_length] + '...'
        return s[:start_length] + '...' + s[-end_length:]

    splits = s.split(' ')
    if len(splits[0]) > max_length:
        return splits[0][:max_length] + '...'
    # Word lengths are summed without the spaces between them.
    i = 0
    total = 0
    for i, part in enumerate(splits):
        total += len(part)
        if total >= max_length:
            break
    prefix = ' '.join(splits[:i])
    if len(prefix) < max_length:
        prefix += s[len(prefix):max_length]
    return prefix + '...'


def _python_get_cpu_count() -> int:
    """Return the number of usable CPUs, aware of affinity and cgroups.

    ``SKYPILOT_POD_CPU_CORE_LIMIT``, when set, overrides the detection.
    """
    cpu_count = os.getenv('SKYPILOT_POD_CPU_CORE_LIMIT')
    if cpu_count is not None:
        try:
            return int(float(cpu_count))
        except ValueError as e:
            raise ValueError(
                f'Failed to parse the number of CPUs from {cpu_count}') from e
    return _cpu_count()


def _python_get_mem_size_gb() -> float:
    """Return the usable memory in GiB, aware of cgroups.

    ``SKYPILOT_POD_MEMORY_GB_LIMIT`` or ``SKYPILOT_POD_MEMORY_BYTES_LIMIT``,
    when set, overrides the detection.
    """
    mem_size = os.getenv('SKYPILOT_POD_MEMORY_GB_LIMIT')
    if mem_size is not None:
        try:
            return float(mem_size)
        except ValueError as e:
            raise ValueError(
                f'Failed to parse the memory size from {mem_size} (GB)') from e
    mem_size = os.getenv('SKYPILOT_POD_MEMORY_BYTES_LIMIT')
    if mem_size is not None:
        try:
            return float(mem_size) / (1024**3)
        except ValueError as e:
            raise ValueError(
                f'Failed to parse the memory size from {mem_size} (bytes)'
            ) from e
    return _mem_size_gb()


def _python_get_parallel_threads(cloud_str: Optional[str] = None) -> int:
    """Return ``max(4, cpus - 1)``, four times that on Kubernetes.

    ``cpus`` is ``os.cpu_count()``: online CPUs, not affinity- or
    cgroup-aware, as upstream.
    """
    cpu_count = os.cpu_count()
    if cpu_count is None:
        cpu_count = 1
    # Upstream's multiplier, inline. A truthy non-string raises
    # AttributeError here, as upstream.
    if cloud_str and cloud_str.lower() == 'kubernetes':
        return max(4, cpu_count - 1) * 4
    return max(4, cpu_count - 1)


def _python_get_max_workers_for_file_mounts(
        common_file_mounts: Optional[Dict[str, str]] = None,
        cloud_str: Optional[str] = None,
        *,
        num_sources: Optional[int] = None,
        estimated_files_per_source: Optional[int] = None) -> int:
    """Return how many rsync workers the file descriptor limit allows.

    Upstream form: ``common_file_mounts`` maps destination to source; each
    source directory costs five descriptors per entry directly in it.
    Keyword form (the user's guide): ``num_sources`` and
    ``estimated_files_per_source`` give the same estimate without touching
    the file system.
    """
    keyword_form = (num_sources is not None or
                    estimated_files_per_source is not None)
    if keyword_form and common_file_mounts is not None:
        raise TypeError('get_max_workers_for_file_mounts() takes either '
                        'common_file_mounts or num_sources and '
                        'estimated_files_per_source, not both')

    # Upstream's low-limit warning, once per process whichever backend
    # answers. Imported here: sky_rs is not imported until a call needs it.
    from sky_rs._system import fd_limit_with_warning  # pylint: disable=import-outside-toplevel
    fd_limit = fd_limit_with_warning()

    fd_per_rsync = 5
    if keyword_form:
        # A missing estimate counts as one file per source.
        if num_sources != 0 and estimated_files_per_source is not None:
            fd_per_rsync = max(fd_per_rsync, 5 * estimated_files_per_source)
    else:
        # None raises AttributeError here, as upstream.
        for src in common_file_mounts.values():  # type: ignore[union-attr]
            if os.path.isdir(src):
                # Each file or folder under src takes five descriptors on
                # average.
                fd_per_rsync = max(fd_per_rsync, len(os.listdir(src)) * 5)

    # Keep some descriptors for the system and other processes.
    fd_reserve = 100
    max_workers = (fd_limit - fd_reserve) // fd_per_rsync
    num_threads = _python_get_parallel_threads(cloud_str)
    max_workers = min(max(max_workers, 1), num_threads)
    logger.debug(f'Using {max_workers} workers for file mounts.')
    return max_workers


def _python_is_process_alive(pid: int) -> bool:
    """Return whether ``pid`` names a live process (SPEC.md, not upstream).

    A zombie is not alive; a process of another user is.
    """
    if pid <= 0 or pid > _MAX_PID:
        # 0 and negative pids address process groups in kill(2).
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # It exists; it belongs to someone else.
    return not _has_exited(pid)


def _python_are_processes_alive(pids: Iterable[int]) -> List[bool]:
    """Return ``[_python_is_process_alive(pid) for pid in pids]``: the batch
    form, for health checks over many pids (SPEC.md, not upstream)."""
    return [_python_is_process_alive(pid) for pid in pids]


def _python_estimate_fd_for_directory(path: str) -> int:
    """Return five descriptors per entry directly in ``path`` (SPEC.md)."""
    return 5 * len(os.listdir(path))


# Helpers, as upstream has them.


def _cpu_count() -> int:
    import psutil  # pylint: disable=import-outside-toplevel
    cpu = psutil.cpu_count()
    if hasattr(os, 'sched_getaffinity'):
        cpu = min(cpu, len(os.sched_getaffinity(0)))
    cgroup_cpu = _get_cgroup_cpu_limit()
    if cgroup_cpu is not None:
        cpu = min(cpu, int(cgroup_cpu))
    return cpu


def _mem_size_gb() -> float:
    import psutil  # pylint: disable=import-outside-toplevel
    mem = psutil.virtual_memory().total
    cgroup_mem = _get_cgroup_memory_limit()
    if cgroup_mem is not None:
        mem = min(mem, cgroup_mem)
    return mem / (1024**3)


def _get_cgroup_cpu_limit() -> Optional[float]:
    """Return the cgroup CPU limit in (possibly fractional) cores, or None."""
    try:
        if _is_cgroup_v2():
            with open('/sys/fs/cgroup/cpu.max', 'r', encoding='utf-8') as f:
                quota_str, period_str = f.read().strip().split()
                if quota_str == 'max':
                    return None
                quota = float(quota_str)
                period = float(period_str)
                return quota / period if quota > 0 else None
        with open('/sys/fs/cgroup/cpu/cpu.cfs_quota_us', 'r',
                  encoding='utf-8') as f:
            quota = float(f.read().strip())
        with open('/sys/fs/cgroup/cpu/cpu.cfs_period_us', 'r',
                  encoding='utf-8') as f:
            period = float(f.read().strip())
        return quota / period if (quota > 0 and period > 0) else None
    except (OSError, ValueError):
        return None


def _get_cgroup_memory_limit() -> Optional[int]:
    """Return the cgroup memory limit in bytes, or None."""
    try:
        path = ('/sys/fs/cgroup/memory.max' if _is_cgroup_v2() else
                '/sys/fs/cgroup/memory/memory.limit_in_bytes')
        with open(path, 'r', encoding='utf-8') as f:
            value = f.read().strip()
            if value == 'max' or not value:
                return None
            limit = int(value)
            return limit if limit > 0 else None
    except (OSError, ValueError):
        return None


def _is_cgroup_v2() -> bool:
    return os.path.isfile('/sys/fs/cgroup/cgroup.controllers')


def _has_exited(pid: int) -> bool:
    """Return whether ``pid`` has exited: a zombie, or already reaped."""
    if sys.platform.startswith('linux'):
        try:
            with open(f'/proc/{pid}/stat', 'rb') as f:
                stat = f.read()
        except FileNotFoundError:
            # Reaped since kill(2) saw it, unless /proc is not mounted.
            return os.path.isdir('/proc/self')
        except OSError:
            return False
        # The command name in parentheses may itself contain ')'.
        state = stat[stat.rfind(b')') + 2:stat.rfind(b')') + 3]
        return state in (b'Z', b'X')
    import psutil  # pylint: disable=import-outside-toplevel
    try:
        status = psutil.Process(pid).status()
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False
    return status in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)

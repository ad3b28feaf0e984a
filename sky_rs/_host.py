"""Whether this process can host the Go runtime: checked before loading.

The Go runtime aborts the whole process when it cannot get what it needs as
it starts: threads (``pthread_create``), address space and memory for its
heap and thread stacks, descriptors for its poller. Once started it asks for
nothing more: ``skyrs/guest`` takes all of it when the extension loads (see
docs/RELIABILITY.md, "The Go runtime as a guest"). So the extension is loaded
only when the host can spare all of it, with a margin for the other threads
of the process. Otherwise :func:`shortfall` says why, the load is deferred
(tried again later) and the Python reference answers meanwhile.

:func:`environment_conflict` reports the one thing that does not pass: an
environment that overrides a runtime setting the extension was built with
(go.mod's ``godebug`` block), which the Go runtime reads when it starts.
"""

import errno
import os
import resource
from typing import Iterator, List, Optional, Tuple

MIB = 1 << 20

# The CPUs the extension computes on are at most this (skyrs/guest.MaxProcs).
MAX_PROCS = 4

# Free descriptors the load needs: at most 5 are open at once while it runs
# (`strace -f -e trace=openat,epoll_create1,eventfd2` of a load: the
# extension file, the runtime's poller (2, kept), its cgroup and
# transparent-huge-page files, /proc/self/maps for the main thread's stack
# bounds). The rest is margin for the process's other threads.
DESCRIPTORS = 16

# Address space the runtime reserves as it starts, before any thread: page
# summaries (585 MiB), the scavenger index (512 MiB; the runtime ignores a
# failure to reserve it and then maps it at a wrong address), the heap arena
# map (32 MiB) and the first 64 MiB heap arena, on 64-bit Linux.
GO_ADDRESS_SPACE = 1200 * MIB
# Writable memory (RLIMIT_DATA) besides thread stacks: the heap, its
# metadata, glibc's per-thread malloc arenas (VmData of /proc/self/status
# grows by about 90 MiB more than the stacks as sky_rs.load() runs).
GO_DATA = 128 * MIB
# glibc gives a thread that allocates a malloc arena of its own, up to 8 per
# CPU, and reserves this much address space for each (HEAP_MAX_SIZE on 64-bit
# Linux): most threads the runtime starts get one (a load on 2 CPUs grows
# VmSize by 2.1 GiB, by 1.3 GiB with MALLOC_ARENA_MAX=1).
MALLOC_ARENA = 64 * MIB
# Margin on both, for the Python heap and the other threads meanwhile.
MARGIN = 256 * MIB
# A thread stack when RLIMIT_STACK is unlimited (glibc then uses less).
UNLIMITED_STACK = 32 * MIB

# The runtime settings go.mod pins (its godebug block). A GODEBUG in the
# environment overrides them, and containermaxprocs=1 aborts the process at
# start under a cgroup v1 CPU quota/period of 2**31 or more.
PINNED_GODEBUG = {'containermaxprocs': '0', 'updatemaxprocs': '0'}


def go_procs() -> int:
    """The CPUs the extension will compute on, at most (skyrs/guest.Procs,
    before its cgroup limit, which can only lower it)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(MAX_PROCS, cpus))


def go_maxprocs() -> int:
    """GOMAXPROCS the extension will run with, at most (skyrs/guest.GoMaxProcs:
    twice the CPUs it computes on)."""
    return 2 * go_procs()


def go_threads() -> int:
    """Threads the runtime starts when it loads, at most: skyrs/guest.Threads
    (3n + 3 for GOMAXPROCS n), and the few more that its scheduler starts
    on its own meanwhile (tests_host: test_threads_started_at_load)."""
    maxprocs = go_maxprocs()
    return 3 * maxprocs + 3 + 2 * maxprocs + 4


def environment_conflict() -> Optional[str]:
    """Why the environment keeps the Go runtime out of this process for good,
    or None. Go reads it as the process started (/proc/self/environ), which
    os.environ may since have changed: both are checked."""
    for source, value in _godebug_values():
        for setting, pinned in _overridden(value):
            return (f'GODEBUG={value!r} ({source}) sets {setting}, and '
                    f'sky_rs runs Go only with {pinned}: the Go runtime can '
                    'abort the process otherwise')
    return None


def _godebug_values() -> Iterator[Tuple[str, str]]:
    value = os.environ.get('GODEBUG')
    if value:
        yield 'environment', value
    try:
        with open('/proc/self/environ', 'rb') as f:
            initial = f.read().split(b'\0')
    except OSError:
        return
    for entry in initial:
        if entry.startswith(b'GODEBUG='):
            yield 'environment at start', entry[8:].decode('utf-8', 'replace')


def _overridden(value: str) -> Iterator[Tuple[str, str]]:
    """Each pinned setting ``value`` changes, with the pinned one; the last
    occurrence of a key wins, as in the runtime."""
    last = {}
    for field in value.split(','):
        key, sep, setting = field.partition('=')
        if sep:
            last[key.strip()] = setting.strip()
    for key, pinned in PINNED_GODEBUG.items():
        if key in last and last[key] != pinned:
            yield f'{key}={last[key]}', f'{key}={pinned}'


def shortfall() -> Optional[str]:
    """What this process lacks right now to start the Go runtime safely, or
    None. Costs well under a millisecond (more only under RLIMIT_NPROC as a
    user other than root, where the user's threads are counted)."""
    for check in (_descriptors, _threads, _address_space, _data):
        reason = check()
        if reason is not None:
            return reason
    return None


def _descriptors() -> Optional[str]:
    # Open them: that also finds a system-wide shortage (ENFILE).
    opened: List[int] = []
    try:
        for _ in range(DESCRIPTORS):
            opened.append(os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC))
    except OSError as error:
        if error.errno in (errno.EMFILE, errno.ENFILE):
            soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
            return (f'only {len(opened)} file descriptors are free '
                    f'(RLIMIT_NOFILE {_limit(soft)}: {error.strerror}); the '
                    f'Go runtime needs {DESCRIPTORS} to start')
    finally:
        for fd in opened:
            os.close(fd)
    return None


def _threads() -> Optional[str]:
    needed = go_threads()
    for what, room in _thread_room():
        if room < needed:
            return (f'{what} leaves room for {max(room, 0)} more threads; '
                    f'the Go runtime starts up to {needed}')
    return None


def _thread_room() -> Iterator[Tuple[str, int]]:
    """(limit, threads it still allows) for each limit on this process's
    threads."""
    yield from _pids_cgroup_room()
    soft, _ = resource.getrlimit(resource.RLIMIT_NPROC)
    if soft != resource.RLIM_INFINITY and os.geteuid() != 0:
        yield (f'RLIMIT_NPROC ({soft})', soft - _threads_of_user(os.getuid()))
    total = _total_threads()
    if total is not None:
        for name in ('threads-max', 'pid_max'):
            limit = _read_int(f'/proc/sys/kernel/{name}')
            if limit is not None:
                yield f'kernel.{name} ({limit})', limit - total


def _pids_cgroup_room() -> Iterator[Tuple[str, int]]:
    """Room under pids.max in this process's pids cgroup and each ancestor
    (cgroup v1 and v2)."""
    try:
        with open('/proc/self/cgroup', encoding='utf-8') as f:
            lines = f.read().splitlines()
    except OSError:
        return
    for line in lines:
        fields = line.split(':', 2)
        if len(fields) != 3:
            continue
        _, controllers, path = fields
        if controllers == '' and os.path.isfile(
                '/sys/fs/cgroup/cgroup.controllers'):
            root = '/sys/fs/cgroup'  # v2
        elif 'pids' in controllers.split(','):
            root = '/sys/fs/cgroup/pids'  # v1
        else:
            continue
        directory = os.path.normpath(root + '/' + path)
        while directory.startswith(root):
            maximum = _read_int(os.path.join(directory, 'pids.max'))
            current = _read_int(os.path.join(directory, 'pids.current'))
            if maximum is not None and current is not None:
                yield (f'the pids cgroup {directory} (pids.max {maximum})',
                       maximum - current)
            if directory == root:
                break
            directory = os.path.dirname(directory)


def _threads_of_user(uid: int) -> int:
    """Threads whose real user is ``uid``: what RLIMIT_NPROC counts."""
    count = 0
    try:
        names = os.listdir('/proc')
    except OSError:
        return 0  # no /proc to count with
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f'/proc/{name}/status', encoding='utf-8') as f:
                fields = dict(
                    line.split(':', 1) for line in f if ':' in line)
        except OSError:
            continue  # gone meanwhile
        if int(fields.get('Uid', '-1').split()[0]) == uid:
            count += int(fields.get('Threads', '1'))
    return count


def _total_threads() -> Optional[int]:
    try:
        with open('/proc/loadavg', encoding='utf-8') as f:
            return int(f.read().split()[3].split('/')[1])
    except (OSError, IndexError, ValueError):
        return None


def _address_space() -> Optional[str]:
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    threads = go_threads()
    arenas = min(threads, 8 * (os.cpu_count() or 1))
    needed = (GO_ADDRESS_SPACE + threads * _stack_size() +
              arenas * MALLOC_ARENA + MARGIN)
    free = soft - _status_bytes('VmSize')
    if free < needed:
        return (f'RLIMIT_AS ({soft // MIB} MiB) leaves {max(free, 0) // MIB} '
                f'MiB of address space; the Go runtime reserves up to '
                f'{needed // MIB} MiB as it starts')
    return None


def _data() -> Optional[str]:
    soft, _ = resource.getrlimit(resource.RLIMIT_DATA)
    if soft == resource.RLIM_INFINITY:
        return None
    needed = GO_DATA + go_threads() * _stack_size() + MARGIN
    free = soft - _status_bytes('VmData')
    if free < needed:
        return (f'RLIMIT_DATA ({soft // MIB} MiB) leaves {max(free, 0) // MIB} '
                f'MiB of writable memory; the Go runtime needs up to '
                f'{needed // MIB} MiB as it starts')
    return None


def _stack_size() -> int:
    """The stack of a new thread: glibc takes it from RLIMIT_STACK."""
    soft, _ = resource.getrlimit(resource.RLIMIT_STACK)
    if soft == resource.RLIM_INFINITY:
        return UNLIMITED_STACK
    return soft + 64 * 1024  # and a guard page or few


def _status_bytes(field: str) -> int:
    try:
        with open('/proc/self/status', encoding='utf-8') as f:
            for line in f:
                if line.startswith(field + ':'):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def _read_int(path: str) -> Optional[int]:
    """The number in a /proc or /sys file; None when it is missing, not a
    number ('max'), or unreadable."""
    try:
        with open(path, encoding='utf-8') as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def _limit(value: int) -> str:
    return 'unlimited' if value == resource.RLIM_INFINITY else str(value)

"""Whether processes are alive: one pid, or a batch checked on all cores."""

import array
from typing import Iterable, List

from sky_rs import _errors
from sky_rs import _loading


def is_process_alive(pid: int) -> bool:
    """Whether ``pid`` names a live process (zombies are not alive)."""
    if type(pid) is not int:  # pylint: disable=unidiomatic-typecheck
        raise NotImplementedError('sky_rs takes an int pid')
    if pid <= 0 or pid > 2147483647:
        return False
    function = (_loading.lib or _loading.load()).pyexport_IsProcessAlive
    try:
        return function(pid)
    except RuntimeError as e:
        raise _errors.error(e) from None


_ALIVE = {'1': True, '0': False}
# Pids a call checks: tens of milliseconds at most, so that Ctrl-C stops a
# huge batch between calls, as it stops the reference's loop.
_PIDS_PER_CALL = 16384
_INT_TYPE = frozenset((int,))


def are_processes_alive(pids: Iterable[int]) -> List[bool]:
    """is_process_alive for each pid, in order, in one call into Go per
    16,384 pids, which checks a large batch on all cores."""
    if not isinstance(pids, (list, tuple)):
        pids = list(pids)
    # Plain ints only: array() would take a bool (or an int-like object) as
    # a number, where the reference formats it into a /proc path.
    if not set(map(type, pids)) <= _INT_TYPE:
        raise NotImplementedError('sky_rs takes a list of int pids')
    try:
        # C-level passes; formatting each pid as text costs far more.
        packed = array.array('q', pids).tobytes().hex()
    except OverflowError as e:
        # Beyond int64: the reference answers (no such process).
        raise _errors.decline(e) from None
    if not packed:
        return []
    function = (_loading.lib or _loading.load()).pyexport_AreProcessesAlive
    step = 16 * _PIDS_PER_CALL  # 16 hex digits a pid
    try:
        alive = ''.join([
            function(packed[first:first + step])
            for first in range(0, len(packed), step)
        ])
    except RuntimeError as e:
        raise _errors.error(e) from None
    return list(map(_ALIVE.__getitem__, alive))

"""Scenario 3 of the user's guide: which processes are still alive.

    python examples/health_monitoring.py [PID ...]

Checks the given pids, or a set of cases that shows what "alive" means:
this process and a running child are alive; a child that has exited but was
not yet reaped (a zombie) is not, although ``kill(pid, 0)`` would still
succeed; pid 0 (a process group, not a process) and a pid above the
kernel's maximum are not.
"""

import os
import subprocess
import sys
from typing import Dict, List, Optional

from sky_fallback import rust_fallback
from sky_fallback.rust_fallback import are_processes_alive
from sky_fallback.rust_fallback import is_process_alive


def monitor_processes(pids: List[int]) -> Dict[int, bool]:
    """The user's guide's health check, pid -> alive, in one batch call
    (one crossing into Go for all pids, not one per pid)."""
    return dict(zip(pids, are_processes_alive(pids)))


def monitor_one_by_one(pids: List[int]) -> Dict[int, bool]:
    """The same, as the user's guide writes it: a call per pid."""
    return {pid: is_process_alive(pid) for pid in pids}


def _pid_max() -> int:
    try:
        with open('/proc/sys/kernel/pid_max', encoding='ascii') as f:
            return int(f.read())
    except OSError:
        return 99_999  # macOS: pids stay below 100000


def demo_cases() -> None:
    child = subprocess.Popen(
        [sys.executable, '-c', 'import time; time.sleep(60)'])
    exited = subprocess.Popen([sys.executable, '-c', 'pass'])
    try:
        # Wait until it has exited, without reaping it: it is now a zombie.
        if hasattr(os, 'waitid'):
            os.waitid(os.P_PID, exited.pid,
                      os.WEXITED | os.WNOWAIT)  # type: ignore[attr-defined]
        cases = {
            'this process': os.getpid(),
            'running child': child.pid,
            'exited child, not yet reaped': exited.pid,
            'pid 0': 0,
            'pid above the maximum': _pid_max() + 1,
        }
        status = monitor_processes(list(cases.values()))
        if status != monitor_one_by_one(list(cases.values())):
            raise SystemExit('the batch and the single checks disagree')
        for label, pid in cases.items():
            print(f'{label}: {"alive" if status[pid] else "not alive"}')
    finally:
        child.kill()
        child.wait()
        exited.wait()


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    print(f'backend: {rust_fallback.get_backend_info()["backend"]}',
          file=sys.stderr)
    if not argv:
        demo_cases()
        return 0
    for pid, alive in monitor_processes([int(a) for a in argv]).items():
        print(f'{pid}: {"alive" if alive else "not alive"}')
    return 0


if __name__ == '__main__':
    sys.exit(main())

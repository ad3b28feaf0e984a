"""Where a dry run's executor CPU goes: the long executor's own, and that of
the child processes it starts and reaps, stock against plugin.

``python -m benchmarks.server.launch_split [RUNS]`` starts both servers
(``pair.ServerPair``), warms each up with one ``sky launch --dryrun``, then
times RUNS more on each, alternating, and prints per run the long executor's
own user+system CPU and its reaped children's, and the commands those
children ran (polled every 5 ms, so a very short one may be missed).
``make bench-server``'s "executor CPU per launch" is the sum of the two.
It prints each long executor's pid first, for a profiler to attach to.
"""

import os
import sys
import tempfile
import threading
import time
from typing import Dict, List

import psutil

from benchmarks.server import pair
from benchmarks.server.workloads import CLUSTER
from tests_server.harness import LAUNCH_TASK_YAML


def _watch_children(pid: int, seen: Dict[int, str],
                    stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            children = psutil.Process(pid).children(recursive=True)
        except psutil.Error:
            return
        for child in children:
            try:
                seen.setdefault(child.pid, ' '.join(child.cmdline())[:120])
            except psutil.Error:
                pass
        time.sleep(0.005)


def main(runs: int) -> None:
    with tempfile.TemporaryDirectory(prefix='launch-split-') as work, \
            pair.ServerPair(work) as servers:
        tasks = {}
        for side in pair.SIDES:
            server = servers[side]
            tasks[side] = os.path.join(server.home, 'task.yaml')
            with open(tasks[side], 'w', encoding='utf-8') as f:
                f.write(LAUNCH_TASK_YAML)
            server.sky('launch', '--dryrun', '-y', '-c', CLUSTER,
                       tasks[side]).check()
            server.wait_settled()
            long_executor = next(p.pid for p in server.processes()
                                 if p.role == 'executor' and p.group == 'long')
            # For a profiler to attach to (py-spy record --pid PID).
            print(f'{side}: long executor pid {long_executor}', flush=True)
        commands: Dict[str, List[str]] = {side: [] for side in pair.SIDES}
        for index, order in pair.iterate_rounds(runs):
            for side in order:
                server = servers[side]
                pid = next(p.pid for p in server.processes()
                           if p.role == 'executor' and p.group == 'long')
                process = psutil.Process(pid)
                before = process.cpu_times()
                seen: Dict[int, str] = {}
                stop = threading.Event()
                watcher = threading.Thread(target=_watch_children,
                                           args=(pid, seen, stop))
                watcher.start()
                server.sky('launch', '--dryrun', '-y', '-c', CLUSTER,
                           tasks[side]).check()
                stop.set()
                watcher.join()
                after = process.cpu_times()
                own = (after.user + after.system) - (before.user +
                                                     before.system)
                children = ((after.children_user + after.children_system) -
                            (before.children_user + before.children_system))
                print(f'{side:6} run {index + 1}: long executor own '
                      f'{own * 1000:5.0f} ms, reaped children '
                      f'{children * 1000:5.0f} ms ({len(seen)} processes)',
                      flush=True)
                commands[side] = sorted(set(seen.values()))
        for side in pair.SIDES:
            print(f'{side}: the children of the last run:')
            for command in commands[side]:
                print(f'  {command}')


if __name__ == '__main__':
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)

"""A SkyPilot log of a million lines, as a launch writes one.

The lines are what ``~/sky_logs/.../provision.log`` and a task's run log
hold: SkyPilot's logger lines (``sky_logging``'s format), the task's own
output (pip, a training loop with ``\\r`` progress bars and ANSI colours,
some non-ASCII), payload lines made by SkyPilot's own
``message_utils.encode_payload`` (job ids and the like) and rich status
control lines (``rich_utils.Control`` messages, encoded as payloads, as the
server's executors write them). About 117 bytes a line on average; the same
lines every run (a seeded generator).
"""

import os
import random
import shutil
from typing import List

from sky.utils import message_utils
from sky.utils import rich_utils

LINES = 1_000_000
SEED = 20261207

_SOURCES = ('provisioner.py', 'instance_setup.py', 'cloud_vm_ray_backend.py',
            'backend_utils.py', 'kubernetes_utils.py', 'optimizer.py',
            'execution.py', 'log_lib.py', 'sky_logging.py', 'core.py')
_MESSAGES = (
    'Launching on Kubernetes fake-kubernetes (default namespace) with 1 pod',
    'Waiting for the pod to be scheduled: 0 of 1 scheduled, 1 pending',
    'Running setup on 1 pod; logs at ~/sky_logs/sky-2026-12-07-13-47-05-123456',
    'Syncing the workdir to /home/sky/sky_workdir (rsync, 42 files, 3.1 MiB)',
    'Cluster bench is UP; head IP 10.244.0.17, ssh port 22 forwarded to 32145',
    'Job submitted with Job ID: 3, resources: 1x Kubernetes(cpus=1, mem=1)',
    'Retrying in 5.0s: the API returned 409 Conflict (resource version mismatch)',
)
_TASK_LINES = (
    '(setup pid=2291) Collecting torch==2.1.0 (from -r requirements.txt (line 3))',
    '(setup pid=2291)   Downloading torch-2.1.0-cp310-cp310-manylinux1_x86_64.whl',
    '(task, pid=2340) \x1b[32mINFO\x1b[0m train.py:88 step 1200 loss=0.4127 lr=3e-4',
    '(task, pid=2340) validation: accuracy 0.9134, précision 0.902, rappel 0.887 ✓',
    '(task, pid=2340) 日志: 第 3 轮训练完成, 用时 41.2 秒, 吞吐 18.9 样本/秒',
)


def _logger_line(rng: random.Random, i: int) -> str:
    level = rng.choice('IIIIIIDDW')
    message = rng.choice(_MESSAGES)
    return (f'{level} 12-07 13:{(i // 60000) % 60:02d}:{(i // 1000) % 60:02d}.'
            f'{i % 1000:03d} PID={48000 + i % 97} {rng.choice(_SOURCES)}:'
            f'{rng.randrange(40, 3000)}] {message} [{i % 10000:04d}]\n')


def _progress_line(rng: random.Random, i: int) -> str:
    done = rng.randrange(1, 782)
    parts = [
        f'Epoch {i % 10 + 1}/10: {p:3d}%|{"█" * (p // 10):<10}| '
        f'{done}/782' for p in (10, 50, 100)
    ]
    return '(task, pid=2340) ' + '\r'.join(parts) + '\n'


def _payload_line(rng: random.Random, i: int) -> str:
    if i % 3 == 0:
        return message_utils.encode_payload({
            'job_id': i % 50,
            'status': 'RUNNING',
            'log_dir': f'~/sky_logs/sky-2026-12-07/{i % 1000}'
        })
    control = rng.choice((rich_utils.Control.UPDATE, rich_utils.Control.UPDATE,
                          rich_utils.Control.HEARTBEAT,
                          rich_utils.Control.INIT, rich_utils.Control.STOP))
    return message_utils.encode_payload(
        control.encode('[bold cyan]Launching[/] [dim]View logs: sky api '
                       f'logs -l sky-2026-12-07-{i % 100:02d}.log[/dim]'))


def make_lines(count: int = LINES) -> bytes:
    """``count`` log lines (see the module's docstring), as bytes."""
    rng = random.Random(SEED)
    lines: List[str] = []
    for i in range(count):
        pick = rng.random()
        if pick < 0.03:
            line = _payload_line(rng, i)
        elif pick < 0.06:
            line = _progress_line(rng, i)
        elif pick < 0.35:
            line = rng.choice(_TASK_LINES) + '\n'
        else:
            line = _logger_line(rng, i)
        lines.append(line)
    return ''.join(lines).encode('utf-8')


def write_copies(path: str, block: bytes, copies: int) -> int:
    """``block`` written ``copies`` times to ``path`` (each copy ends with a
    newline, so the last lines of the file are those of ``block``), and
    flushed to disk, so that no writeback of it overlaps what is timed
    next (it stays in the page cache); the size in bytes."""
    with open(path, 'wb') as f:
        for _ in range(copies):
            f.write(block)
        f.flush()
        os.fsync(f.fileno())
    return len(block) * copies


def place(source: str, directory: str, name: str) -> str:
    """``source`` as ``directory/name`` (a hard link where the file system
    allows, else a copy); the path."""
    os.makedirs(directory, exist_ok=True)
    target = os.path.join(directory, name)
    if os.path.exists(target):
        os.unlink(target)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
    return target

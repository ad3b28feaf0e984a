"""The files, directories and processes the workloads use.

Made once per run in a scratch directory (``python -m benchmarks --workdir``
keeps them): logs from 4 KiB to 1 GiB (16 MiB with ``--quick``), the log
shapes of issue #11, directories of 100 and 100,000 entries, 10,000 small
files, and a live, zombie and dead pids.
"""

import os
import subprocess
import time
from typing import Dict, List, Optional, Tuple

from sky_fallback import _reference

MiB = 1 << 20
GiB = 1 << 30


def human_size(size: int) -> str:
    """``4 KiB``, ``16 MiB``, ``1 GiB``, or bytes when not a whole unit."""
    for unit, scale in (('GiB', GiB), ('MiB', MiB), ('KiB', 1 << 10)):
        if size >= scale and size % scale == 0:
            return f'{size // scale} {unit}'
    return f'{size} B'


_LOG_WORDS = ('INFO WARNING ERROR replica request latency_ms user job cluster '
              'sky launch token GET POST 200 404 /api/v1/status').split()


def log_block(size: int) -> bytes:
    """size bytes of log lines (about 100 bytes each), ending in '\\n'."""
    lines = []
    total = 0
    i = 0
    while total < size:
        words = ' '.join(_LOG_WORDS[(i * 7 + k * 3) % len(_LOG_WORDS)]
                         for k in range(12))
        line = (f'2024-05-{i % 28 + 1:02d} 12:{i % 60:02d}:{(i * 7) % 60:02d} '
                f'{words} id={i}\n')
        lines.append(line)
        total += len(line)
        i += 1
    data = ''.join(lines).encode()
    cut = data.rfind(b'\n', 0, size) + 1
    return data[:cut] + b'x' * (size - cut - 1) + b'\n' if cut < size else data[:size]


def write_log(path: str, size: int, block: bytes) -> None:
    """A log of exactly size bytes, ending in '\\n', written in block pieces."""
    with open(path, 'wb') as f:
        left = size
        while left >= len(block):
            f.write(block)
            left -= len(block)
        if left:
            f.write(block[len(block) - left:])


class Fixtures:
    """The files, directories and processes the workloads use."""

    def __init__(self, root: str, quick: bool):
        self.root = root
        self.quick = quick
        self.children: List[subprocess.Popen] = []
        block = log_block(MiB)
        self.big = 16 * MiB if quick else GiB
        self.logs: Dict[int, str] = {}
        sizes = ([4 << 10, MiB, self.big] if quick else
                 [4 << 10, 64 << 10, MiB, 16 * MiB, 256 * MiB, self.big])
        for size in sorted(set(s for s in sizes if s <= self.big)):
            path = os.path.join(root, f'log_{size}')
            if size >= MiB and size % MiB == 0 and size > MiB:
                write_log(path, size, block)
            else:
                with open(path, 'wb') as f:
                    f.write(block[len(block) - size:])
            self.logs[size] = path
        self.dirs: Dict[int, str] = {}
        for entries in (100, 10_000 if quick else 100_000):
            path = os.path.join(root, f'dir_{entries}')
            os.mkdir(path)
            for i in range(entries):
                os.close(
                    os.open(os.path.join(path, f'file_{i:06d}.txt'),
                            os.O_CREAT | os.O_WRONLY, 0o644))
            self.dirs[entries] = path
        # Small files, as the config hash of a file mount meets them.
        self.small_files: List[str] = []
        small_dir = os.path.join(root, 'mount')
        os.mkdir(small_dir)
        for i in range(1_000 if quick else 10_000):
            path = os.path.join(small_dir, f'src_{i:05d}.py')
            with open(path, 'wb') as f:
                f.write(block[(i * 997) % 4096:][:512 + (i * 131) % 3584])
            self.small_files.append(path)
        # Logs of the shapes issue #11 lists: (name, content, n, words).
        # The long lines are longer than Go carries (8 MiB) even in --quick.
        one, crlf, nul = ((9, 9, 9) if quick else (64, 48, 32))
        self.shapes: List[Tuple[str, str, int]] = []
        for name, content, n, words in [
            ('one_line', [b'x' * MiB] * one, 1, f'one line of {one} MiB, n=1'),
            ('crlf_line', [b'y' * MiB] * crlf + [b'\r\nshort line\n'], 2,
             f'a {crlf} MiB line ending in \\r\\n, then a short one, n=2'),
            ('nul_run', [b'\0' * MiB] * nul +
             [b'line one\nline two\nline three\n'], 3,
             f'{nul} MiB of NUL bytes, then 3 lines, n=3'),
            ('invalid_utf8', [(b'abc \xff\xfe ' + b'q' * 1000 + b'\n') * 5000],
             1000, '5,000 lines of 1 KB with \\xff\\xfe, n=1000'),
            ('progress', [(b'progress 42%\r' * 80 + b'\n') * 2000], 1000,
             'progress bars, 80 \\r-parts a line, n=1000'),
            ('short_lines', [b''.join(b'%039d\n' % i for i in range(250_000))],
             250_000, '250,000 lines of 40 bytes, n=250,000'),
        ]:
            path = os.path.join(root, f'shape_{name}')
            with open(path, 'wb') as f:
                for piece in content:
                    f.write(piece)
            self.shapes.append((path, words, n))
        self.file_10m = os.path.join(root, 'file_10m')
        write_log(self.file_10m, 10 * MiB, block)
        # Processes: one running, zombies (exited, not reaped) and dead pids.
        self.live = self._spawn(['sleep', '3600'])
        self.zombies = [self._spawn(['true']) for _ in range(8)]
        self.dead = _free_pids(8)
        self._wait_for_zombies()
        live_pids = _live_pids()
        mix = []
        for i in range(1000):
            kind = i % 3
            if kind == 0:
                mix.append(live_pids[i % len(live_pids)])
            elif kind == 1:
                mix.append(self.zombies[i % len(self.zombies)])
            else:
                mix.append(self.dead[i % len(self.dead)])
        self.pid_batch = mix
        self.free_port = _reference._python_find_free_port(23456)

    def _spawn(self, argv: List[str]) -> int:
        child = subprocess.Popen(argv)  # pylint: disable=consider-using-with
        self.children.append(child)
        return child.pid

    def _wait_for_zombies(self) -> None:
        deadline = time.monotonic() + 10
        for pid in self.zombies:
            while _proc_state(pid) != b'Z' and time.monotonic() < deadline:
                time.sleep(0.01)

    def close(self) -> None:
        for child in self.children:
            if child.poll() is None:
                child.kill()
            child.wait()


def _proc_state(pid: int) -> Optional[bytes]:
    try:
        with open(f'/proc/{pid}/stat', 'rb') as f:
            stat = f.read()
    except OSError:
        return None
    return stat[stat.rfind(b')') + 2:stat.rfind(b')') + 3]


def _free_pids(count: int) -> List[int]:
    found = []
    for pid in range(4_000_000, 1_000_000, -7919):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            found.append(pid)
            if len(found) == count:
                return found
        except PermissionError:
            pass
    return found or [2**31 - 2]


def _live_pids() -> List[int]:
    try:
        pids = sorted(int(name) for name in os.listdir('/proc') if name.isdigit())
    except OSError:
        pids = []
    return pids or [os.getpid(), 1]


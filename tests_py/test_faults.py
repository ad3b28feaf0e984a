"""Faults: files that change under a call, and a process out of descriptors.

- A log appended to, truncated (copytruncate) or rotated (rename, new file)
  while read_last_n_lines reads it: every answer must be the tail of some
  state the file was in (or upstream's own error for a file that vanished
  in between), never a mix, a crash or a hang.
- A file shrunk or deleted while hash_file hashes it: the digest must be
  that of some prefix the reads could have seen, or FileNotFoundError.
- RLIMIT_NOFILE lowered and the descriptors below it used up, so that calls
  fail with EMFILE: each call must give upstream's outcome under the same
  limit, the process must not abort (the Go runtime throws if its poller
  cannot get descriptors), and the number of open descriptors must be back
  to its baseline afterwards: no descriptor leaks on any error path.

Everything runs in sandbox processes (tests_py.reliability) behind a
watchdog; the scale of the loops follows SKY_RS_STRESS_SCALE.
"""

import hashlib
import itertools
import os
import re
import resource
import shutil
import sys
import tempfile
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

import pytest

from tests_py import reliability
from tests_py.reliability import call_subject
from tests_py.reliability import is_decline
from tests_py.reliability import report
from tests_py.reliability import Sandbox
from tests_py.reliability import scaled
from tests_py.reliability import SUBJECTS


@pytest.fixture(params=SUBJECTS)
def subject(request):
    if request.param == 'go':
        from tests_py.conftest import require_native  # pylint: disable=import-outside-toplevel
        require_native(request.config)
    return request.param


@pytest.fixture(scope='module')
def sandbox():
    box = Sandbox()
    yield box
    box.close()


@pytest.fixture
def workdir():
    root = tempfile.mkdtemp(prefix='sky-rs-faults-')
    yield root
    shutil.rmtree(root, ignore_errors=True)


def open_descriptors() -> int:
    return len(os.listdir('/proc/self/fd')) - 1  # the listing's own


# --- read_last_n_lines on a changing log ----------------------------------

LINE = re.compile(r'g(\d+)-(\d{6,})\Z')
# A line, or the start of one (a write seen half done).
PARTIAL_LINE = re.compile(r'g(\d*)(?:-(\d*))?\Z')


def log_line(generation: int, index: int) -> bytes:
    return b'g%d-%06d\n' % (generation, index)


class LogWriter(threading.Thread):
    """Appends numbered lines to a log; in 'truncate' mode empties the file
    every ``lines_per_generation`` lines (copytruncate), in 'rotate' mode
    renames it away and starts a new file. Each line is one write()."""

    def __init__(self, path: str, mode: str, lines_per_generation: int):
        super().__init__(daemon=True)
        self.path = path
        self.mode = mode
        self.lines_per_generation = lines_per_generation
        self.stop = threading.Event()
        self.generations = 1
        self.lines = 0

    def run(self):
        generation = 0
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            while not self.stop.is_set():
                for index in range(self.lines_per_generation):
                    if self.stop.is_set():
                        break
                    os.write(fd, log_line(generation, index))
                    self.lines += 1
                    if index % 64 == 0:
                        time.sleep(0)  # let the readers in
                if self.mode == 'append':
                    continue  # one generation, growing
                generation += 1
                self.generations += 1
                if self.mode == 'truncate':
                    os.ftruncate(fd, 0)
                else:  # rotate
                    os.close(fd)
                    os.replace(self.path, self.path + '.1')
                    fd = os.open(self.path,
                                 os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        finally:
            os.close(fd)


def tail_problem(lines: List[str], n: int) -> Optional[str]:
    """Why ``lines`` cannot be the last ``n`` lines of any state of the log,
    or None. A state is a prefix of one generation's lines; its end may cut
    the last line (a write seen half done)."""
    if not lines:
        return None  # an empty file
    if len(lines) > n:
        return f'{len(lines)} lines for n={n}'
    keys = []
    for line in lines[:-1]:
        match = LINE.match(line[:-1]) if line.endswith('\n') else None
        if match is None:
            return f'not a whole line: {line!r}'
        keys.append((int(match.group(1)), int(match.group(2))))
    for previous, key in zip(keys, keys[1:]):
        if key != (previous[0], previous[1] + 1):
            return f'line {key} after line {previous}'
    last = lines[-1]
    if keys:
        following = f'g{keys[-1][0]}-{keys[-1][1] + 1:06d}'
        if not last or not following.startswith(last):
            return f'{last!r} after line {keys[-1]}'
    elif PARTIAL_LINE.match(last) is None:
        return f'not a line: {last!r}'
    if len(lines) < n:
        # Fewer lines than asked for: the whole file was read, so the
        # first line must be its first (index 000000).
        match = PARTIAL_LINE.match(lines[0].rstrip('\n'))
        if match is None or (match.group(2) or '').strip('0'):
            return (f'{len(lines)} lines for n={n}, but {lines[0]!r} is not '
                    'the first line')
    return None


# What upstream raises when the log vanishes between the calls it makes.
def vanished_errors(path: str, n: int) -> Tuple[Tuple[Any, ...], ...]:
    return (
        ('raises', 'AssertionError', f'File not found: {path}'),
        ('raises', 'RuntimeError', f'Failed to read last {n} lines from '
         f'{path}: [Errno 2] No such file or directory: {path!r}'),
    )


# Upstream's own failure when the log is emptied between its seek to the
# end and its read: it reads b'', finds no line and indexes an empty list.
# The reference keeps it (it is upstream's behaviour); sky_rs declines such
# a read and the reference answers.
UPSTREAM_EMPTIED_ERROR = ('raises', 'IndexError', 'list index out of range')


def tail_while_writing(directory: str, mode: str, subject: str,
                       calls: int) -> Dict[str, Any]:
    """Runs in the sandbox: read the tail of a log a writer keeps changing."""
    path = os.path.join(directory, f'{mode}.log')
    # copytruncate logs stay below the first read of both backends (8 KiB),
    # so each answer is one read of one state; rotated and appended logs
    # grow past it, and reading them takes several reads.
    per_generation = {'append': 10**9, 'truncate': 500, 'rotate': 6000}[mode]
    # Hand the GIL over often, so that the writer's lines land between and
    # during the reads rather than in bursts between them.
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    writer = LogWriter(path, mode, per_generation)
    writer.start()
    # Until the writer has written: on a loaded machine the reads could all
    # be done before its thread first runs, and nothing would change under them.
    while not writer.lines:
        time.sleep(0.001)
    function = reliability.subject_function(subject, 'read_last_n_lines')
    problems, kinds = [], {}

    def faults_seen() -> bool:
        # Fast reads can be done before the writer got going: read on until
        # it wrote, and (but for 'append') started a new generation.
        return writer.lines > 0 and (mode == 'append' or
                                     writer.generations > 1)

    deadline = time.monotonic() + 60
    try:
        for i in itertools.count():
            if i >= calls and (faults_seen() or time.monotonic() > deadline):
                break
            n = (1, 5, 100, 3000)[i % 4]
            result = reliability.outcome(function, path, n)
            if result[0] == 'returns':
                lines = [value for _, value in result[1][1]]
                problem = tail_problem(lines, n)
                kind = 'lines'
            elif subject == 'go' and is_decline(result):
                problem, kind = None, 'declined'
            elif result in vanished_errors(path, n):
                problem, kind = None, result[1]
            elif mode == 'truncate' and result == UPSTREAM_EMPTIED_ERROR:
                problem, kind = None, 'IndexError'
            else:
                problem, kind = f'unexpected {result!r:.300}', 'other'
            kinds[kind] = kinds.get(kind, 0) + 1
            if problem is not None:
                problems.append(f'n={n}: {problem}')
    finally:
        writer.stop.set()
        writer.join(30)
        sys.setswitchinterval(switch_interval)
    return {
        'problems': problems[:10],
        'outcomes': kinds,
        'reads': sum(kinds.values()),
        'lines_written': writer.lines,
        'generations': writer.generations
    }


@pytest.mark.parametrize('mode', ['append', 'truncate', 'rotate'])
def test_tail_of_a_changing_log(sandbox, subject, workdir, mode):
    calls = scaled(20_000, minimum=200)
    result = sandbox.run(tail_while_writing, workdir, mode, subject, calls)
    report('tail_of_a_changing_log',
           mode=mode,
           subject=subject,
           calls=calls,
           **result)
    assert not result['problems'], result
    # The faults were injected: the file changed under the readers.
    assert result['lines_written'] > 0
    if mode != 'append':
        assert result['generations'] > 1


def test_tail_problem_catches_wrong_answers():
    assert tail_problem(['g0-000001\n', 'g0-000002'], 2) is None
    assert tail_problem(['g0-000001\n', 'g0-00'], 2) is None  # half a write
    assert tail_problem(['g0-000000\n', 'g0-000001'], 5) is None
    assert tail_problem(['g0-000001\n', 'g0-000003'], 2)  # a line missing
    assert tail_problem(['g0-000001\n', 'g1-000002'], 2)  # two generations
    assert tail_problem(['g0-000004\n', 'g0-000005'], 5)  # not from the start
    assert tail_problem(['g0-000001', 'g0-000002'], 2)  # no '\n'
    assert tail_problem(['a\n', 'b', 'c'], 2)


# --- hash_file on a file that shrinks or vanishes -------------------------

HASHED_SIZE = 4 << 20
# The cut is page-aligned. Linux zeroes the rest of the page a truncate ends
# in, in place, and a read racing that may copy the page half zeroed: for
# Python as for Go, no prefix then matches. (An unaligned cut gave one such
# digest in 8,000 calls once; none in 12,000 more.)
SHRUNK_SIZE = 1 << 20
GROWTH = 1 << 20
BOUNDARY = 4096  # every read of a regular file ends on one, or at EOF


def digests_of_prefixes(data: bytes, start: int) -> Dict[str, int]:
    """sha256 of data[:k] for k = start, each multiple of BOUNDARY beyond,
    and len(data): every prefix a hash can see when the file is cut to
    ``start`` bytes while it is read."""
    digest = hashlib.sha256(data[:start])
    out = {digest.hexdigest(): start}
    position = start
    for boundary in range((start // BOUNDARY + 1) * BOUNDARY, len(data),
                          BOUNDARY):
        digest.update(data[position:boundary])
        position = boundary
        out[digest.hexdigest()] = boundary
    digest.update(data[position:])
    out[digest.hexdigest()] = len(data)
    return out


def hash_while_changing(directory: str, mode: str, subject: str,
                        calls: int) -> Dict[str, Any]:
    """Runs in the sandbox: hash a file while another thread cuts it to
    SHRUNK_SIZE ('shrink'), appends to it ('grow'), deletes it ('delete') or
    replaces it with another file ('replace')."""
    data = hashlib.shake_256(b'sky_rs').digest(HASHED_SIZE)
    other = hashlib.shake_256(b'other').digest(1000)
    appended = hashlib.shake_256(b'appended').digest(GROWTH)
    whole = hashlib.sha256(data).hexdigest()
    allowed = {
        'shrink': digests_of_prefixes(data, SHRUNK_SIZE),
        'grow': digests_of_prefixes(data + appended, HASHED_SIZE),
        'delete': {
            whole: HASHED_SIZE
        },
        'replace': {
            whole: HASHED_SIZE,
            hashlib.sha256(other).hexdigest(): len(other)
        },
    }[mode]
    function = reliability.subject_function(subject, 'hash_file')
    path = os.path.join(directory, 'hashed.bin')
    problems, kinds = [], {}
    for i in range(calls):
        with open(path, 'wb') as f:
            f.write(data)

        def change(delay=(i % 7) * 0.001):
            time.sleep(delay)
            if mode == 'shrink':
                os.truncate(path, SHRUNK_SIZE)
            elif mode == 'grow':
                with open(path, 'ab') as f:
                    for start in range(0, GROWTH, 64 << 10):
                        f.write(appended[start:start + (64 << 10)])
                        f.flush()
            elif mode == 'delete':
                os.unlink(path)
            else:
                with open(path + '.new', 'wb') as f:
                    f.write(other)
                os.replace(path + '.new', path)

        thread = threading.Thread(target=change)
        thread.start()
        result = reliability.outcome(function, path, 'sha256')
        thread.join()
        if result[0] == 'returns':
            hexdigest = result[1][4][1]
            kind = ('whole' if hexdigest == whole else
                    'changed' if hexdigest in allowed else 'wrong')
        elif result == ('raises', 'FileNotFoundError',
                        f"[Errno 2] No such file or directory: '{path}'"):
            kind = 'vanished' if mode == 'delete' else 'wrong'
        elif subject == 'go' and is_decline(result):
            kind = 'declined'
        else:
            kind = 'wrong'
        kinds[kind] = kinds.get(kind, 0) + 1
        if kind == 'wrong':
            problems.append(f'{result!r:.300}')
        if os.path.exists(path):
            os.unlink(path)
    return {'problems': problems[:10], 'outcomes': kinds}


@pytest.mark.parametrize('mode', ['shrink', 'grow', 'delete', 'replace'])
def test_hash_of_a_changing_file(sandbox, subject, workdir, mode):
    calls = scaled(2_000, minimum=20)
    result = sandbox.run(hash_while_changing, workdir, mode, subject, calls)
    report('hash_of_a_changing_file',
           mode=mode,
           subject=subject,
           calls=calls,
           **result)
    assert not result['problems'], result


def test_prefix_digests():
    data = bytes(range(256)) * 64  # 16 KiB
    allowed = digests_of_prefixes(data, 5000)
    assert allowed[hashlib.sha256(data[:5000]).hexdigest()] == 5000
    assert allowed[hashlib.sha256(data[:8192]).hexdigest()] == 8192
    assert allowed[hashlib.sha256(data).hexdigest()] == len(data)
    assert hashlib.sha256(data[:4096]).hexdigest() not in allowed
    assert hashlib.sha256(data[:5001]).hexdigest() not in allowed


# --- out of file descriptors ----------------------------------------------

# Every function that opens a descriptor, on input that needs one.
DESCRIPTOR_CALLS = [
    ('read_last_n_lines', ('{dir}/log.txt', 2)),
    ('hash_file', ('{dir}/log.txt', 'sha256')),
    ('estimate_fd_for_directory', ('{dir}',)),
    ('get_max_workers_for_file_mounts', ({
        '/a': '{dir}'
    },)),
    ('find_free_port', (0,)),
    ('get_cpu_count', ()),
    ('get_mem_size_gb', ()),
    ('is_process_alive', ('{pid}',)),
]


def fill(value, directory):
    if isinstance(value, str):
        return os.getpid() if value == '{pid}' else value.format(dir=directory)
    if isinstance(value, dict):
        return {k: fill(v, directory) for k, v in value.items()}
    return value


def with_descriptors_left(free: int, subject: str, name: str,
                          args: Tuple[Any, ...]) -> Tuple[Any, ...]:
    """Runs in the sandbox: call with only ``free`` descriptors left below a
    lowered RLIMIT_NOFILE; return the outcome and the descriptors open
    before and after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    before = open_descriptors()
    held = []
    resource.setrlimit(resource.RLIMIT_NOFILE, (before + 64, hard))
    try:
        try:
            while True:
                held.append(os.open(os.devnull, os.O_RDONLY))
        except OSError:
            pass
        for _ in range(free):
            os.close(held.pop())
        result = call_subject(subject, name, *args)
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return result, before, open_descriptors()


def start_go_without_files() -> None:
    """Runs in the sandbox: start the Go runtime for sky_rs and the public
    API without opening any file from Go."""
    # pylint: disable=import-outside-toplevel,protected-access
    import sky_rs
    from sky_fallback import rust_fallback
    try:
        sky_rs.load()
    except ImportError:
        return
    rust_fallback._load_native()


def test_out_of_descriptors(workdir, request):
    # One fresh process for all of them. The Go runtime sets up its poller
    # on the first file the process opens through package os, and that
    # set-up aborted the process when it found no descriptor left. With one
    # descriptor left, every call below opens its file; if any of them went
    # through the poller, the first to do so would abort the process.
    with open(os.path.join(workdir, 'log.txt'), 'wb') as f:
        f.write(b'one\ntwo\n')
    for i in range(3):
        open(os.path.join(workdir, f'entry{i}'), 'wb').close()  # pylint: disable=consider-using-with
    subjects = list(SUBJECTS)
    try:
        from tests_py.conftest import require_native  # pylint: disable=import-outside-toplevel
        require_native(request.config)
    except pytest.skip.Exception:
        subjects.remove('go')
    box = Sandbox(timeout=60)
    problems = []
    calls = 0
    try:
        box.run(start_go_without_files)
        for free in range(4):
            for name, args in DESCRIPTOR_CALLS:
                args = tuple(fill(a, workdir) for a in args)
                outcomes = {}
                for who in subjects + ['upstream']:
                    result, before, after = box.run(with_descriptors_left,
                                                    free, who, name, args)
                    calls += 1
                    if after != before:
                        problems.append(f'{who} {name} with {free} left: '
                                        f'{before} descriptors open before, '
                                        f'{after} after')
                    outcomes[who] = result
                want = outcomes.pop('upstream')
                for who, got in outcomes.items():
                    if got != want and not (who == 'go' and is_decline(got)):
                        problems.append(f'{who} {name} with {free} left: got '
                                        f'{got!r}, upstream {want!r}')
    finally:
        box.close()
    report('out_of_descriptors',
           functions=len(DESCRIPTOR_CALLS),
           free_descriptors=[0, 1, 2, 3],
           subjects=subjects,
           calls=calls,
           problems=problems)
    assert not problems, problems


# --- no descriptor leaks on error paths -----------------------------------


def error_calls(directory: str) -> List[Tuple[str, Tuple[Any, ...]]]:
    missing = os.path.join(directory, 'missing')
    fifo = os.path.join(directory, 'fifo')
    return [
        ('read_last_n_lines', (missing, 1)),
        ('read_last_n_lines', (directory, 1)),
        ('read_last_n_lines', ('/proc/version', 1)),
        ('read_last_n_lines', (fifo, 1)),
        ('read_last_n_lines', (os.path.join(directory, 'log.txt'), -1)),
        ('hash_file', (missing, 'md5')),
        ('hash_file', (directory, 'nope')),
        ('hash_file', (os.path.join(directory, 'log.txt'), 'nope')),
        ('hash_file', (fifo, 'md5')),
        ('estimate_fd_for_directory', (missing,)),
        ('estimate_fd_for_directory', (os.path.join(directory, 'log.txt'),)),
        ('get_max_workers_for_file_mounts', ({
            '/a': missing
        },)),
        ('find_free_port', (65535,)),
        ('find_free_port', (-1,)),
        ('base36_encode', ('-ff',)),
        ('base36_encode', ('xyz',)),
        ('format_float', (0.5, -1)),
        ('is_process_alive', (2**31 - 1,)),
    ]


def loop_error_paths(directory: str, subject: str,
                     rounds: int) -> Dict[str, Any]:
    """Runs in the sandbox: every error path ``rounds`` times; the
    descriptors open before and after (after one warm-up round)."""
    os.mkfifo(os.path.join(directory, 'fifo'))
    with open(os.path.join(directory, 'log.txt'), 'wb') as f:
        f.write(b'x\n')
    calls = error_calls(directory)
    # The FIFO cases run only where nothing opens the FIFO (sky_rs
    # declines it without opening); upstream would block on it.
    if subject != 'go':
        calls = [c for c in calls if 'fifo' not in str(c[1])]

    def one_round():
        for name, args in calls:
            call_subject(subject, name, *args)

    one_round()
    before = open_descriptors()
    for _ in range(rounds):
        one_round()
    return {'before': before, 'after': open_descriptors(),
            'calls': rounds * len(calls)}


def test_no_descriptor_leak_on_error_paths(sandbox, subject, workdir):
    rounds = scaled(5_000, minimum=20)
    result = sandbox.run(loop_error_paths, workdir, subject, rounds)
    report('descriptor_leak_on_error_paths', subject=subject, **result)
    assert result['after'] == result['before'], result

"""Hostile input: every function, fed what a careless or unlucky caller feeds.

Wrong types, integers beyond int64, NUL bytes, lone surrogates, paths too
long for the kernel, symlink loops, directories, FIFOs, sockets, /proc and
/sys files, devices, files the caller may not read (as ``nobody``: CI runs as
root), 100,000-digit hex, n = 10**12, chunk_size = 1 on a 10 MB file,
precision 1000, strings of 10**6 code points.

Each call runs in a sandbox process behind a watchdog (tests_py.reliability),
so an abort or a hang fails its own test. Each case is compared with
upstream SkyPilot run on the same input in the same process: ``python`` (the
reference) and ``api`` (rust_fallback, as the environment configures it)
must give upstream's outcome exactly; ``go`` (sky_rs called directly) must
give it too, or decline with NotImplementedError, never a different answer.
Where upstream itself hangs (a FIFO nobody writes, hashing /dev/zero) only
sky_rs is called, and it must decline at once.
"""

import dataclasses
import fractions
import math
import os
import shutil
import socket
import stat
import tempfile
import threading
import time
from typing import Any, Dict, Optional, Tuple

import pytest

from tests_py import reliability
from tests_py.reliability import call_subject
from tests_py.reliability import is_decline
from tests_py.reliability import report
from tests_py.reliability import Sandbox
from tests_py.reliability import SUBJECTS

INT64_MAX = 2**63 - 1

# --- the tree the cases point into ----------------------------------------


class Tree(str):
    """A path relative to the case tree, resolved just before the call."""

    as_bytes = False


class TreeBytes(Tree):
    """A Tree path passed as bytes."""

    as_bytes = True


def resolve(value: Any, root: str) -> Any:
    if isinstance(value, Tree):
        path = os.path.join(root, str(value))
        return os.fsencode(path) if value.as_bytes else path
    if isinstance(value, tuple):
        return tuple(resolve(v, root) for v in value)
    if isinstance(value, list):
        return [resolve(v, root) for v in value]
    if isinstance(value, dict):
        return {k: resolve(v, root) for k, v in value.items()}
    return value


BIG_FILE_LINES = 100_000  # of 100 bytes: 10 MB
DEEP_COMPONENT = 'd' * 250
DEEP_LEVELS = 15  # ~3,800 characters: long, but below PATH_MAX


def deep_path() -> str:
    return os.path.join(*([DEEP_COMPONENT] * DEEP_LEVELS), 'deep.log')


def build_tree(root: str) -> None:
    """The files the cases name; readable by nobody unless meant not to be."""

    def write(name, data):
        with open(os.path.join(root, name), 'wb') as f:
            f.write(data)

    write('log.txt', b'one\ntwo\r\nthree\n')
    write('bad.txt', b'ok\n\xff\xfe\n\xed\xa0\x80 tail')
    line = ('x' * 60 + ' \u00e9\u00e9 \U0001f600 ' + 'y' * 20).encode()
    line = line[:98] + b'\r\n'
    write('big.log', line * BIG_FILE_LINES)
    write('long-line.txt', ('\u00e9' * 10**6).encode() + b'\nend')
    write(os.fsdecode(b'log\xff'), b'escaped\nname\n')
    os.mkdir(os.path.join(root, 'dir'))
    for i in range(7):
        write(os.path.join('dir', f'f{i}'), b'')
    write(os.path.join('dir', '.hidden'), b'')
    os.symlink('loop', os.path.join(root, 'loop'))
    os.symlink('loop-b', os.path.join(root, 'loop-a'))
    os.symlink('loop-a', os.path.join(root, 'loop-b'))
    os.symlink('missing', os.path.join(root, 'dangling'))
    os.symlink('log.txt', os.path.join(root, 'link.txt'))
    os.symlink('dir', os.path.join(root, 'link-dir'))
    os.mkfifo(os.path.join(root, 'fifo'))
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(os.path.join(root, 'sock'))
    # A path of ~3,800 characters, made one level at a time (relative to a
    # directory descriptor, as the whole path is too long for some calls).
    fd = os.open(root, os.O_RDONLY)
    try:
        for _ in range(DEEP_LEVELS):
            os.mkdir(DEEP_COMPONENT, dir_fd=fd)
            next_fd = os.open(DEEP_COMPONENT, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = next_fd
        out = os.open('deep.log', os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(out, b'deep\npath\n')
        os.close(out)
    finally:
        os.close(fd)
    # For the sandbox that runs as nobody.
    write('secret.txt', b'no\n')
    os.chmod(os.path.join(root, 'secret.txt'), 0)
    os.mkdir(os.path.join(root, 'locked'))
    write(os.path.join('locked', 'inside.txt'), b'x\n')
    os.chmod(os.path.join(root, 'locked'), 0)
    os.mkdir(os.path.join(root, 'listable'))  # r, no x: names, no stat
    write(os.path.join('listable', 'a'), b'x\n')
    write(os.path.join('listable', 'b'), b'x\n')
    os.chmod(os.path.join(root, 'listable'), 0o644)


@pytest.fixture(scope='module')
def tree():
    # Not under pytest's tmp_path: that is private to root, and the
    # permission cases run as nobody.
    root = tempfile.mkdtemp(prefix='sky-rs-hostile-')
    os.chmod(root, 0o755)
    try:
        build_tree(root)
        yield root
    finally:
        for name in ('locked', 'listable'):
            os.chmod(os.path.join(root, name), 0o755)
        shutil.rmtree(root, ignore_errors=True)


# --- calls that need something done around them (run in the sandbox) -----


def with_fifo_writer(fifo: str, data: bytes, subject: str, name: str,
                     *args: Any) -> Tuple[Any, ...]:
    """Call with a writer on the FIFO that writes ``data`` and closes."""

    def writer():
        try:
            with open(fifo, 'wb') as f:  # blocks until a reader opens
                f.write(data)
        except BrokenPipeError:
            pass

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        return call_subject(subject, name, *args)
    finally:
        if thread.is_alive():
            # The call did not open the FIFO (sky_rs declines without
            # opening it): open it here so that the writer finishes.
            fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
            thread.join(10)
            os.close(fd)
        thread.join(10)
        assert not thread.is_alive(), 'FIFO writer stuck'


def with_environment(environment: Dict[str, Optional[str]], subject: str,
                     name: str, *args: Any) -> Tuple[Any, ...]:
    """Call with these variables set (None: unset), then restore them."""
    saved = {k: os.environ.get(k) for k in environment}

    def apply(values):
        for key, value in values.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    apply(environment)
    try:
        return call_subject(subject, name, *args)
    finally:
        apply(saved)


def base36_by_halves(hex_str: str) -> Tuple[Any, ...]:
    """Upstream's answer for a huge number without its quadratic loop.

    ``int(hex_str, 16)`` as upstream, then base 36 by splitting the number
    at a power of 36 (one long division per level instead of one per
    digit); test_base36_by_halves_is_upstream checks it against upstream.
    """

    def digits(num: int, width: int = 0) -> str:
        if num < 36**64:
            out = ''
            while num:
                num, i = divmod(num, 36)
                out = '0123456789abcdefghijklmnopqrstuvwxyz'[i] + out
            return (out or ('0' if width == 0 else '')).rjust(width, '0')
        half = math.ceil(num.bit_length() / math.log2(36) / 2)
        high, low = divmod(num, 36**half)
        return digits(high, max(width - half, 0)) + digits(low, half)

    return ('returns', ('str', digits(int(hex_str, 16))))


class Truthy:
    """A truncate_middle whose truth value is computed (picklable)."""

    def __bool__(self):
        return True


class FloatWithFormat(float):
    """A float subclass that formats itself: upstream uses its __format__."""

    def __format__(self, spec):
        return f'custom<{spec}>'


class FloatWithIsInteger(float):
    """A float subclass whose is_integer() lies."""

    def is_integer(self):
        return True


# --- the cases ------------------------------------------------------------


@dataclasses.dataclass
class Case:
    """One hostile call. ``runner`` wraps it (FIFO writer, environment);
    ``upstream_hangs`` marks input where upstream blocks forever, so only
    sky_rs is called and must decline; ``oracle`` computes upstream's
    outcome another way where upstream is needlessly slow."""

    id: str
    name: str
    args: Tuple[Any, ...]
    runner: Any = None
    runner_args: Tuple[Any, ...] = ()
    upstream_hangs: bool = False
    oracle: Any = None
    as_nobody: bool = False


def case(id_, name, *args, **options):
    return Case(id_, name, args, **options)


LOG = Tree('log.txt')
BIG = Tree('big.log')
FIFO = Tree('fifo')
SYS_FILE = '/sys/kernel/mm/transparent_hugepage/enabled'
LONG_MISSING = '/' + 'a' * 5000
LONG_COMPONENT = Tree('c' * 300)
NAN = float('nan')
INF = float('inf')

FIFO_DATA = b'from\na fifo\n'


def fifo_case(id_, name, *args):
    return Case(id_,
                name,
                args,
                runner=with_fifo_writer,
                runner_args=(FIFO, FIFO_DATA))


def env_case(id_, name, **environment):
    all_vars = {
        'SKYPILOT_POD_CPU_CORE_LIMIT': None,
        'SKYPILOT_POD_MEMORY_GB_LIMIT': None,
        'SKYPILOT_POD_MEMORY_BYTES_LIMIT': None
    }
    all_vars.update(environment)
    return Case(id_, name, (), runner=with_environment, runner_args=(all_vars,))


READ_LAST_N_LINES = [
    case('path-none', 'read_last_n_lines', None, 1),
    case('path-bytes', 'read_last_n_lines', TreeBytes('log.txt'), 2),
    case('path-bad-fd', 'read_last_n_lines', 10**6, 1),
    case('path-float', 'read_last_n_lines', 1.5, 1),
    case('path-nul', 'read_last_n_lines', Tree('log.txt\x00'), 1),
    case('path-nul-inside', 'read_last_n_lines', '/tmp\x00/x', 1),
    case('path-surrogate-escaped', 'read_last_n_lines', Tree('log\udcff'), 2),
    case('path-lone-surrogate', 'read_last_n_lines', Tree('x\ud800'), 1),
    case('path-too-long', 'read_last_n_lines', LONG_MISSING, 1),
    case('path-component-too-long', 'read_last_n_lines', LONG_COMPONENT, 1),
    case('path-deep', 'read_last_n_lines', Tree(deep_path()), 1),
    case('symlink-loop', 'read_last_n_lines', Tree('loop'), 1),
    case('symlink-loop-pair', 'read_last_n_lines', Tree('loop-a'), 1),
    case('symlink-dangling', 'read_last_n_lines', Tree('dangling'), 1),
    case('symlink-to-file', 'read_last_n_lines', Tree('link.txt'), 5),
    case('directory', 'read_last_n_lines', Tree('dir'), 1),
    case('directory-n0', 'read_last_n_lines', Tree('dir'), 0),
    fifo_case('fifo', 'read_last_n_lines', FIFO, 2),
    case('fifo-no-writer',
         'read_last_n_lines',
         FIFO,
         2,
         upstream_hangs=True),
    case('socket', 'read_last_n_lines', Tree('sock'), 1),
    # Another encoding is read by the facade in Python (_read_tail): the
    # same decline of whatever is not a regular file or a directory.
    fifo_case('fifo-latin-1', 'read_last_n_lines', FIFO, 2, 8192, 'latin-1'),
    case('fifo-no-writer-latin-1',
         'read_last_n_lines',
         FIFO,
         2,
         8192,
         'latin-1',
         upstream_hangs=True),
    case('socket-latin-1', 'read_last_n_lines', Tree('sock'), 1, 8192,
         'latin-1'),
    case('directory-latin-1', 'read_last_n_lines', Tree('dir'), 1, 8192,
         'latin-1'),
    case('dev-zero-latin-1', 'read_last_n_lines', '/dev/zero', 1, 8192,
         'latin-1'),
    case('proc-version-latin-1', 'read_last_n_lines', '/proc/version', 1,
         8192, 'latin-1'),
    case('sys-file-latin-1', 'read_last_n_lines', SYS_FILE, 1, 8192,
         'latin-1'),
    case('proc-version', 'read_last_n_lines', '/proc/version', 1),
    case('proc-self-status', 'read_last_n_lines', '/proc/self/status', 3),
    case('sys-file', 'read_last_n_lines', SYS_FILE, 1),
    case('sys-file-chunk-1', 'read_last_n_lines', SYS_FILE, 5, 1),
    case('sys-file-chunk-3', 'read_last_n_lines', SYS_FILE, 5, 3),
    case('dev-null', 'read_last_n_lines', '/dev/null', 1),
    case('dev-zero', 'read_last_n_lines', '/dev/zero', 1),
    case('n-none', 'read_last_n_lines', LOG, None),
    case('n-float', 'read_last_n_lines', LOG, 2.0),
    case('n-bool', 'read_last_n_lines', LOG, True),
    case('n-str', 'read_last_n_lines', LOG, '2'),
    case('n-int64-max', 'read_last_n_lines', LOG, INT64_MAX),
    case('n-beyond-int64', 'read_last_n_lines', LOG, 2**64),
    case('n-negative-beyond-int64', 'read_last_n_lines', LOG, -2**70),
    case('n-10-12', 'read_last_n_lines', LOG, 10**12),
    case('n-10-12-big-file', 'read_last_n_lines', BIG, 10**12),
    case('chunk-0', 'read_last_n_lines', LOG, 1, 0),
    case('chunk-negative-beyond-int64', 'read_last_n_lines', LOG, 1, -2**70),
    case('chunk-float', 'read_last_n_lines', LOG, 1, 1.5),
    case('chunk-bool', 'read_last_n_lines', LOG, 2, True),
    case('chunk-beyond-int64', 'read_last_n_lines', LOG, 2, 2**64),
    case('chunk-1-big-file', 'read_last_n_lines', BIG, 1000, 1),
    case('chunk-1-n-10-12', 'read_last_n_lines', LOG, 10**12, 1),
    case('line-of-10-6-code-points', 'read_last_n_lines',
         Tree('long-line.txt'), 2),
    case('strict-invalid-utf8', 'read_last_n_lines', Tree('bad.txt'), 3,
         8192, 'utf-8', 'strict'),
    case('encoding-none', 'read_last_n_lines', LOG, 1, 8192, None),
    case('encoding-unknown', 'read_last_n_lines', LOG, 1, 8192, 'nope'),
    case('errors-unknown-valid-input', 'read_last_n_lines', LOG, 2, 8192,
         'utf-8', 'nope'),
    case('errors-unknown-invalid-input', 'read_last_n_lines',
         Tree('bad.txt'), 2, 8192, 'utf-8', 'nope'),
    case('encoding-utf16', 'read_last_n_lines', LOG, 2, 8192, 'utf-16'),
]

HASH_FILE = [
    case('path-none', 'hash_file', None, 'sha256'),
    case('alg-none', 'hash_file', LOG, None),
    case('alg-bytes', 'hash_file', LOG, b'sha256'),
    case('path-bytes', 'hash_file', TreeBytes('log.txt'), 'md5'),
    case('path-bad-fd', 'hash_file', 10**6, 'md5'),
    case('path-float', 'hash_file', 1.5, 'md5'),
    case('alg-upper', 'hash_file', LOG, 'SHA256'),
    case('alg-sha3', 'hash_file', LOG, 'sha3_256'),
    case('alg-shake', 'hash_file', LOG, 'shake_128'),
    case('alg-nul', 'hash_file', LOG, 'sha256\x00'),
    case('alg-unknown', 'hash_file', LOG, 'nope'),
    case('alg-empty', 'hash_file', LOG, ''),
    case('alg-surrogate', 'hash_file', LOG, 'sha\ud800'),
    case('path-nul', 'hash_file', Tree('log.txt\x00'), 'md5'),
    case('missing-and-bad-alg', 'hash_file', Tree('missing'), 'nope'),
    case('directory-and-bad-alg', 'hash_file', Tree('dir'), 'nope'),
    case('symlink-loop', 'hash_file', Tree('loop'), 'md5'),
    case('symlink-dangling', 'hash_file', Tree('dangling'), 'md5'),
    case('path-too-long', 'hash_file', LONG_MISSING, 'md5'),
    case('path-component-too-long', 'hash_file', LONG_COMPONENT, 'md5'),
    case('path-deep', 'hash_file', Tree(deep_path()), 'sha1'),
    case('path-surrogate-escaped', 'hash_file', Tree('log\udcff'), 'md5'),
    case('path-lone-surrogate', 'hash_file', Tree('x\ud800'), 'md5'),
    fifo_case('fifo', 'hash_file', FIFO, 'sha256'),
    case('fifo-no-writer', 'hash_file', FIFO, 'sha256', upstream_hangs=True),
    case('socket', 'hash_file', Tree('sock'), 'md5'),
    case('proc-version', 'hash_file', '/proc/version', 'sha256'),
    case('sys-file', 'hash_file', SYS_FILE, 'md5'),
    case('dev-null', 'hash_file', '/dev/null', 'md5'),
    case('dev-zero', 'hash_file', '/dev/zero', 'md5', upstream_hangs=True),
    case('big-file', 'hash_file', BIG, 'sha512'),
]

FIND_FREE_PORT = [
    case('none', 'find_free_port', None),
    case('float', 'find_free_port', 1.5),
    case('str', 'find_free_port', '80'),
    case('bool', 'find_free_port', True),
    case('negative', 'find_free_port', -1),
    case('negative-beyond-int64', 'find_free_port', -2**70),
    case('beyond-int64', 'find_free_port', 2**64),
    case('65535', 'find_free_port', 65535),
    case('10-12', 'find_free_port', 10**12),
    case('int64-max', 'find_free_port', INT64_MAX),
]

HUNDRED_THOUSAND_HEX = ('fedcba9876543210' * 6250)[:100_000]

BASE36_ENCODE = [
    case('none', 'base36_encode', None),
    case('bytes', 'base36_encode', b'ff'),
    case('bytearray', 'base36_encode', bytearray(b'ff')),
    case('int', 'base36_encode', 255),
    case('float', 'base36_encode', 1.5),
    case('empty', 'base36_encode', ''),
    case('not-hex', 'base36_encode', 'g'),
    case('prefix-only', 'base36_encode', '0x'),
    case('negative', 'base36_encode', '-ff'),
    case('negative-zero', 'base36_encode', '-0'),
    case('spaces', 'base36_encode', ' \t ff \n'),
    case('underscores', 'base36_encode', '+0X_f_f'),
    case('double-underscore', 'base36_encode', 'f__f'),
    case('nul', 'base36_encode', 'ff\x00'),
    case('lone-surrogate', 'base36_encode', 'ff\ud800'),
    case('arabic-digits', 'base36_encode', '\u0661\u0660'),
    case('unicode-spaces', 'base36_encode', '\u3000ff\u3000'),
    case('skypilot-hash', 'base36_encode', '0123456789abcdef' * 2),
    case('100000-digits',
         'base36_encode',
         HUNDRED_THOUSAND_HEX,
         oracle=base36_by_halves),
    case('10-6-code-points-not-hex', 'base36_encode', '\u00e9' * 10**6),
    case('10-6-zeros', 'base36_encode', '0' * 10**6 + '1'),
    case('10-6-spaces', 'base36_encode', ' ' * 10**6 + 'ff'),
    case('10-6-underscores', 'base36_encode', 'f_' * 500_000),
]

FORMAT_FLOAT = [
    case('none', 'format_float', None),
    case('str', 'format_float', '1.5'),
    case('complex', 'format_float', 1 + 2j),
    case('fraction', 'format_float', fractions.Fraction(1, 3)),
    case('float-subclass-format', 'format_float', FloatWithFormat(1.5)),
    case('float-subclass-is-integer', 'format_float',
         FloatWithIsInteger(1.5)),
    case('bool', 'format_float', True),
    case('int-beyond-int64', 'format_float', 2**70),
    case('int-10-5000', 'format_float', 10**5000),
    case('precision-none', 'format_float', 1.5, None),
    case('precision-float', 'format_float', 1.5, 1.5),
    case('precision-bool', 'format_float', 1.5, True),
    case('precision-str', 'format_float', 1.5, '2'),
    case('precision-negative', 'format_float', 1.5, -1),
    case('precision-1000', 'format_float', 0.1, 1000),
    case('precision-1000-third', 'format_float', 1 / 3, 1000),
    case('precision-1000-tiny', 'format_float', 5e-324, 1000),
    case('precision-int32-max-plus-1', 'format_float', 1.5, 2**31),
    case('precision-int64-max', 'format_float', 1.5, INT64_MAX),
    case('precision-beyond-int64', 'format_float', 1.5, 2**64),
    case('precision-negative-beyond-int64', 'format_float', 1.5, -2**70),
    case('whole-precision-hostile', 'format_float', 2.0, None),
    case('nan-precision-negative', 'format_float', NAN, -1),
    case('inf-precision-huge', 'format_float', INF, 2**40),
    case('negative-zero', 'format_float', -0.0, 3),
    case('whole-1e300', 'format_float', 1e300),
]

TEN_SIX_WORDS = 'word ' * 200_000

TRUNCATE_LONG_STRING = [
    case('none', 'truncate_long_string', None),
    case('bytes', 'truncate_long_string', b'abc def', 2),
    case('bytes-middle', 'truncate_long_string', b'abcdef', 2, True),
    case('length-none', 'truncate_long_string', 'abc', None),
    case('length-float', 'truncate_long_string', 'abcdef', 1.5),
    case('length-float-middle', 'truncate_long_string', 'abcdef', 1.5, True),
    case('length-bool', 'truncate_long_string', 'abcdef', True),
    case('length-beyond-int64', 'truncate_long_string', 'abcdef', 2**64),
    case('length-negative-beyond-int64', 'truncate_long_string', 'abc def',
         -2**64),
    case('length-int64-min', 'truncate_long_string', 'abc def', -2**63),
    case('length-int64-min-middle', 'truncate_long_string', 'abc def', -2**63,
         True),
    case('length-negative', 'truncate_long_string', 'abc', -1),
    case('nul', 'truncate_long_string', 'a\x00b cd ef', 3),
    case('lone-surrogate', 'truncate_long_string', '\ud800abc def', 2),
    case('middle-truthy-object', 'truncate_long_string', 'abcdef', 4,
         Truthy()),
    case('middle-str', 'truncate_long_string', 'abcdefgh', 6, 'no'),
    case('10-6-code-points', 'truncate_long_string', '\u00e9' * 10**6),
    case('10-6-code-points-middle', 'truncate_long_string', '\u00e9' * 10**6,
         35, True),
    case('10-6-emoji-middle', 'truncate_long_string', '\U0001f600' * 10**6,
         10**6 - 1, True),
    case('10-6-words', 'truncate_long_string', TEN_SIX_WORDS, 999_990),
    case('10-6-spaces', 'truncate_long_string', ' ' * 10**6, 5),
    case('10-6-no-space-short-limit', 'truncate_long_string', 'a' * 10**6,
         -5),
]

SYSTEM = [
    env_case('cpu-empty', 'get_cpu_count', SKYPILOT_POD_CPU_CORE_LIMIT=''),
    env_case('cpu-inf', 'get_cpu_count', SKYPILOT_POD_CPU_CORE_LIMIT='inf'),
    env_case('cpu-nan', 'get_cpu_count', SKYPILOT_POD_CPU_CORE_LIMIT='nan'),
    env_case('cpu-1e400', 'get_cpu_count', SKYPILOT_POD_CPU_CORE_LIMIT='1e400'),
    env_case('cpu-huge',
             'get_cpu_count',
             SKYPILOT_POD_CPU_CORE_LIMIT='9' * 300),
    env_case('cpu-arabic', 'get_cpu_count',
             SKYPILOT_POD_CPU_CORE_LIMIT='\u0663'),
    env_case('cpu-surrogate', 'get_cpu_count',
             SKYPILOT_POD_CPU_CORE_LIMIT='\udcff'),
    env_case('cpu-garbage',
             'get_cpu_count',
             SKYPILOT_POD_CPU_CORE_LIMIT='x' * 10**5),
    env_case('mem-gb-nan', 'get_mem_size_gb',
             SKYPILOT_POD_MEMORY_GB_LIMIT='nan'),
    env_case('mem-gb-empty', 'get_mem_size_gb', SKYPILOT_POD_MEMORY_GB_LIMIT=''),
    env_case('mem-gb-negative', 'get_mem_size_gb',
             SKYPILOT_POD_MEMORY_GB_LIMIT='-1e308'),
    env_case('mem-bytes-huge',
             'get_mem_size_gb',
             SKYPILOT_POD_MEMORY_BYTES_LIMIT='9' * 400),
    env_case('mem-bytes-garbage',
             'get_mem_size_gb',
             SKYPILOT_POD_MEMORY_BYTES_LIMIT='1 GB'),
    case('threads-int', 'get_parallel_threads', 1),
    case('threads-zero', 'get_parallel_threads', 0),
    case('threads-bytes', 'get_parallel_threads', b'kubernetes'),
    case('threads-upper', 'get_parallel_threads', 'KUBERNETES'),
    case('threads-list', 'get_parallel_threads', ['kubernetes']),
    case('threads-nul', 'get_parallel_threads', 'kubernetes\x00'),
    case('alive-none', 'is_process_alive', None),
    case('alive-float', 'is_process_alive', 1.5),
    case('alive-str', 'is_process_alive', '1'),
    case('alive-bool', 'is_process_alive', True),
    case('alive-beyond-int64', 'is_process_alive', 2**64),
    case('alive-negative-beyond-int64', 'is_process_alive', -2**70),
    case('alive-int32-max', 'is_process_alive', 2**31 - 1),
    case('alive-int32-max-plus-1', 'is_process_alive', 2**31),
    case('mounts-none', 'get_max_workers_for_file_mounts', None),
    case('mounts-list', 'get_max_workers_for_file_mounts', [Tree('dir')]),
    case('mounts-source-none', 'get_max_workers_for_file_mounts', {'/a': None}),
    case('mounts-source-int', 'get_max_workers_for_file_mounts', {'/a': 10**6}),
    case('mounts-source-bytes', 'get_max_workers_for_file_mounts',
         {'/a': TreeBytes('dir')}),
    case('mounts-source-nul', 'get_max_workers_for_file_mounts',
         {'/a': Tree('dir\x00')}),
    case('mounts-source-newline', 'get_max_workers_for_file_mounts',
         {'/a': Tree('dir\n')}),
    case('mounts-source-surrogate', 'get_max_workers_for_file_mounts',
         {'/a': Tree('x\udcff')}),
    case('mounts-source-loop', 'get_max_workers_for_file_mounts',
         {'/a': Tree('loop')}),
    case('mounts-source-fifo', 'get_max_workers_for_file_mounts',
         {'/a': FIFO}),
    case('mounts-source-too-long', 'get_max_workers_for_file_mounts',
         {'/a': LONG_MISSING}),
    case('mounts-source-symlink-dir', 'get_max_workers_for_file_mounts',
         {'/a': Tree('link-dir')}, 'kubernetes'),
    case('mounts-cloud-int', 'get_max_workers_for_file_mounts',
         {'/a': Tree('dir')}, 5),
    case('mounts-cloud-bytes', 'get_max_workers_for_file_mounts',
         {'/a': Tree('dir')}, b'kubernetes'),
    case('fd-none', 'estimate_fd_for_directory', None),
    case('fd-bytes', 'estimate_fd_for_directory', TreeBytes('dir')),
    case('fd-bad-fd', 'estimate_fd_for_directory', 10**6),
    case('fd-float', 'estimate_fd_for_directory', 1.5),
    case('fd-nul', 'estimate_fd_for_directory', Tree('dir\x00')),
    case('fd-surrogate-escaped', 'estimate_fd_for_directory',
         Tree('log\udcff')),
    case('fd-lone-surrogate', 'estimate_fd_for_directory', Tree('x\ud800')),
    case('fd-too-long', 'estimate_fd_for_directory', LONG_MISSING),
    case('fd-component-too-long', 'estimate_fd_for_directory', LONG_COMPONENT),
    case('fd-loop', 'estimate_fd_for_directory', Tree('loop')),
    case('fd-fifo', 'estimate_fd_for_directory', FIFO),
    case('fd-socket', 'estimate_fd_for_directory', Tree('sock')),
    case('fd-file', 'estimate_fd_for_directory', LOG),
    case('fd-symlink-dir', 'estimate_fd_for_directory', Tree('link-dir')),
    case('fd-deep-parent', 'estimate_fd_for_directory',
         Tree(os.path.dirname(deep_path()))),
    case('fd-dev', 'estimate_fd_for_directory', '/dev/null'),
]


def keyword_case(id_, **kwargs):
    # The keyword form is not upstream's: the reference is the oracle.
    return Case(id_, 'get_max_workers_for_file_mounts', (),
                runner=call_keywords, runner_args=(kwargs,))


def call_keywords(kwargs: Dict[str, Any], subject: str,
                  name: str) -> Tuple[Any, ...]:
    if subject == 'upstream':
        subject = 'python'
    return reliability.outcome(reliability.subject_function(subject, name),
                               **kwargs)


KEYWORD_FORM = [
    keyword_case('keywords-huge', num_sources=3,
                 estimated_files_per_source=10**30),
    keyword_case('keywords-int64-max', num_sources=3,
                 estimated_files_per_source=INT64_MAX),
    keyword_case('keywords-negative', num_sources=3,
                 estimated_files_per_source=-5),
    keyword_case('keywords-float', num_sources=3,
                 estimated_files_per_source=1.5),
    keyword_case('keywords-bool', num_sources=True,
                 estimated_files_per_source=True),
    keyword_case('keywords-sources-beyond-int64', num_sources=2**64,
                 estimated_files_per_source=2),
    keyword_case('keywords-both-forms', common_file_mounts={},
                 num_sources=1),
    keyword_case('keywords-cloud-int', num_sources=1,
                 estimated_files_per_source=1, cloud_str=7),
]

# Run as nobody: the files root may read and nobody may not.
AS_NOBODY = [
    case('secret-file', 'read_last_n_lines', Tree('secret.txt'), 1),
    case('file-in-locked-dir', 'read_last_n_lines',
         Tree('locked/inside.txt'), 1),
    case('locked-dir', 'read_last_n_lines', Tree('locked'), 1),
    case('file-in-listable-dir', 'read_last_n_lines', Tree('listable/a'), 1),
    case('hash-secret-file', 'hash_file', Tree('secret.txt'), 'sha256'),
    case('hash-file-in-locked-dir', 'hash_file', Tree('locked/inside.txt'),
         'md5'),
    case('fd-locked-dir', 'estimate_fd_for_directory', Tree('locked')),
    case('fd-listable-dir', 'estimate_fd_for_directory', Tree('listable')),
    case('fd-dir-in-locked-dir', 'estimate_fd_for_directory',
         Tree('locked/x')),
    case('mounts-locked-dir', 'get_max_workers_for_file_mounts',
         {'/a': Tree('locked')}),
    case('mounts-listable-dir', 'get_max_workers_for_file_mounts',
         {'/a': Tree('listable')}),
    case('port-privileged', 'find_free_port', 1),
    case('alive-init', 'is_process_alive', 1),
]
for _case in AS_NOBODY:
    _case.as_nobody = True

CASES = (READ_LAST_N_LINES + HASH_FILE + FIND_FREE_PORT + BASE36_ENCODE +
         FORMAT_FLOAT + TRUNCATE_LONG_STRING + SYSTEM + KEYWORD_FORM +
         AS_NOBODY)
assert len({(c.name, c.id) for c in CASES}) == len(CASES), 'duplicate ids'


def case_id(c: Case) -> str:
    return f'{c.name}:{c.id}'


# --- running them ---------------------------------------------------------


@pytest.fixture(scope='module')
def sandboxes(request):
    boxes = {'root': Sandbox(), 'nobody': Sandbox(user=reliability.NOBODY)}
    yield boxes
    report('hostile',
           cases=len(CASES),
           calls=sum(b.calls for b in boxes.values()),
           sandbox_restarts=sum(b.restarts for b in boxes.values()))
    for box in boxes.values():
        box.close()


_upstream_outcomes: Dict[str, Tuple[Any, ...]] = {}


def run_case(box: Sandbox, c: Case, subject: str,
             root: str) -> Tuple[Any, ...]:
    args = resolve(c.args, root)
    if c.runner is None:
        return box.outcome(subject, c.name, *args)
    return box.run(c.runner, *resolve(c.runner_args, root), subject, c.name,
                   *args)


def upstream_outcome(box: Sandbox, c: Case, root: str) -> Tuple[Any, ...]:
    key = case_id(c)
    if key not in _upstream_outcomes:
        if c.oracle is not None:
            _upstream_outcomes[key] = c.oracle(*resolve(c.args, root))
        else:
            _upstream_outcomes[key] = run_case(box, c, 'upstream', root)
    return _upstream_outcomes[key]


@pytest.mark.parametrize('subject', SUBJECTS)
@pytest.mark.parametrize('c', CASES, ids=case_id)
def test_hostile_input(c, subject, sandboxes, tree, request):
    if subject == 'go':
        from tests_py.conftest import require_native  # pylint: disable=import-outside-toplevel
        require_native(request.config)
    pytest.importorskip('sky.utils.common_utils',
                        reason='SkyPilot is not installed')
    box = sandboxes['nobody' if c.as_nobody else 'root']
    if c.upstream_hangs:
        if subject != 'go':
            pytest.skip('upstream blocks forever here; only sky_rs is called')
        got = run_case(box, c, subject, tree)
        assert is_decline(got), f'sky_rs must decline at once, got {got!r}'
        return
    want = upstream_outcome(box, c, tree)
    got = run_case(box, c, subject, tree)
    if subject == 'go' and is_decline(got):
        return
    assert got == want, (f'{subject} {case_id(c)}:\n  got      {got!r:.2000}'
                         f'\n  upstream {want!r:.2000}')


def test_base36_by_halves_is_upstream(upstream):
    for hex_str in ('0', '1', 'f' * 200, 'a' + '0' * 199, '1' + '0' * 3000,
                    HUNDRED_THOUSAND_HEX[:3000]):
        assert base36_by_halves(hex_str) == ('returns', (
            'str', upstream.base36_encode(hex_str)))


def test_the_sandbox_catches_an_abort_and_a_hang():
    # The watchdog itself must work, or every test above proves nothing.
    box = Sandbox(timeout=2)
    try:
        with pytest.raises(reliability.SandboxFailure, match='abort'):
            box.run(os.abort)
        with pytest.raises(reliability.SandboxFailure, match='hang'):
            box.run(time.sleep, 3600)
        assert box.run(stat.S_ISFIFO, stat.S_IFIFO)  # restarted, and usable
    finally:
        box.close()

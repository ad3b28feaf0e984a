"""SPEC.md's examples and edge cases, for each backend, against upstream.

Each test calls the backend and upstream SkyPilot on the same input and asserts
the same outcome: equal result, or the same exception type with the same
message. The examples SPEC.md spells out are also asserted literally, so the
suite states the contract even without upstream at hand. The two functions
SkyPilot does not have (is_process_alive, estimate_fd_for_directory) are
checked against SPEC.md.
"""

import hashlib
import logging
import math
import os
import random
import resource
import socket
import string
import sys
import time

import pytest

import sky_rs._system

from sky_fallback import _reference
from tests_py.support import assert_same
from tests_py.support import declined
from tests_py.support import hashlib_error
from tests_py.support import outcome


def check(backend, upstream, name, *args, may_decline=False, **kwargs):
    """Assert backend and upstream agree on this call; return the outcome."""
    got = outcome(getattr(backend, name), *args, **kwargs)
    want = outcome(getattr(upstream, name), *args, **kwargs)
    assert_same(backend, got, want, may_decline)
    return got


def returns(value):
    """The outcome of a call that returned ``value`` (see support.normalise)."""
    if isinstance(value, float):
        return ('returns', ('float', repr(value)))
    return ('returns', (type(value).__name__, value))


def raises(exc_type, message):
    return ('raises', exc_type, message)


# read_last_n_lines


def write(tmp_path, data, name='log.txt'):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


READ_CONTENTS = [
    b'',
    b'\n',
    b'\n\n',
    b'l1\nl2\nl3\n',
    b'l1\nl2\nl3',
    b'a\r\nb\r\n',
    b'a\rb\rc',
    b'\r\r\n\r\n\r',
    b'x\x0by\xe2\x80\xa8z\x0cw\x1c\n',
    b'caf\xc3\xa9\nna\xc3\xafve\n\xf0\x9f\x98\x80',
    b'\xe2\x82\n\xff\xfe\n\xed\xa0\x80\n\xf0\x9f\x98',
    b'\xc0\xaf\n\xe0\x80\xaf\n\xf4\x90\x80\x80\n\x80',
    b'no newline at all',
    b'  spaces  \n\t\n',
]


@pytest.mark.parametrize('data', READ_CONTENTS)
@pytest.mark.parametrize('n', [0, 1, 2, 3, 7])
@pytest.mark.parametrize('chunk_size', [1, 2, 5, 8192])
def test_read_last_n_lines_matches_upstream(backend, upstream, tmp_path, data,
                                            n, chunk_size):
    path = write(tmp_path, data)
    check(backend, upstream, 'read_last_n_lines', path, n, chunk_size)


@pytest.mark.parametrize('data, n, want', [
    (b'l1\nl2\nl3\n', 2, ['l2\n', 'l3']),
    (b'\n', 1, ['']),
    (b'\n\n', 5, ['\n', '']),
    (b'a\r\nb\r\n', 5, ['a\n', 'b']),
    (b'a\rb\n', 5, ['a\rb']),
    (b'one\ntwo', 1, ['two']),
    (b'', 3, []),
    (b'x\n', 0, []),
    (b'\xe2\x82', 1, ['\ufffd']),
    (b'\xff\xfe', 1, ['\ufffd\ufffd']),
    (b'\xed\xa0\x80', 1, ['\ufffd\ufffd\ufffd']),
])
def test_read_last_n_lines_spec_examples(backend, tmp_path, data, n, want):
    path = write(tmp_path, data)
    assert backend.read_last_n_lines(path, n) == want


@pytest.mark.parametrize('errors', ['replace', 'ignore', 'backslashreplace',
                                    'surrogateescape'])
def test_read_last_n_lines_error_handlers(backend, upstream, tmp_path, errors):
    path = write(tmp_path, b'ok\n\xe2\x82x\xff\n\xed\xa0\x80\r\n\xf0\x9f\x98')
    # sky_rs declines 'ignore' (it strips '\r' before decoding, upstream after).
    check(backend, upstream, 'read_last_n_lines', path, 5, 3, 'utf-8', errors,
          may_decline=errors == 'ignore')


@pytest.mark.parametrize('errors', ['replace', 'ignore'])
def test_read_last_n_lines_strips_cr_after_decoding(backend, upstream,
                                                    tmp_path, errors):
    # Upstream strips '\r' from the decoded line: under 'ignore' an invalid
    # tail vanishes first, and the '\r' before it goes too.
    path = write(tmp_path, b'x\r\xff\ny\r\r\xe2\x82')
    got = check(backend, upstream, 'read_last_n_lines', path, 2, 8192,
                'utf-8', errors, may_decline=errors == 'ignore')
    if errors == 'ignore' and not declined(got):
        assert got == returns(['x\n', 'y'])


def test_read_last_n_lines_strict_on_valid_text(backend, upstream, tmp_path):
    path = write(tmp_path, 'é\n€\n😀\n'.encode())
    got = check(backend, upstream, 'read_last_n_lines', path, 2, 8192,
                'utf-8', 'strict')
    assert got == returns(['€\n', '😀'])


def test_read_last_n_lines_strict_on_invalid_bytes(backend, upstream,
                                                   tmp_path):
    path = write(tmp_path, b'good\nbad \xff here\n')
    got = check(backend,
                upstream,
                'read_last_n_lines',
                path,
                1,
                errors='strict',
                may_decline=True)
    assert got[0] == 'raises'


@pytest.mark.parametrize('encoding', ['latin-1', 'ascii', 'utf-16-le', 'UTF8'])
def test_read_last_n_lines_other_encodings(backend, upstream, tmp_path,
                                           encoding):
    path = write(tmp_path, b'a\xe9\nb\x00\nc\xff\xfe\n')
    check(backend,
          upstream,
          'read_last_n_lines',
          path,
          2,
          encoding=encoding,
          may_decline=True)


@pytest.mark.parametrize('n, chunk_size, want', [
    (-1, 8192, 'n must be non-negative. Got -1'),
    (1, 0, 'chunk_size must be positive. Got 0'),
    (1, -5, 'chunk_size must be positive. Got -5'),
])
def test_read_last_n_lines_bad_arguments(backend, upstream, tmp_path, n,
                                         chunk_size, want):
    path = write(tmp_path, b'x\n')
    got = check(backend, upstream, 'read_last_n_lines', path, n, chunk_size)
    assert got == raises(AssertionError, want)


def test_read_last_n_lines_missing_file(backend, upstream, tmp_path):
    path = str(tmp_path / 'missing.log')
    got = check(backend, upstream, 'read_last_n_lines', path, 3)
    assert got == raises(AssertionError, f'File not found: {path}')


def test_read_last_n_lines_directory(backend, upstream, tmp_path):
    got = check(backend, upstream, 'read_last_n_lines', str(tmp_path), 3)
    assert got == raises(
        RuntimeError, f'Failed to read last 3 lines from {tmp_path}: '
        f"[Errno 21] Is a directory: '{tmp_path}'")


@pytest.mark.skipif(hasattr(os, 'geteuid') and os.geteuid() == 0,
                    reason='root reads any file')
def test_read_last_n_lines_permission_denied(backend, upstream, tmp_path):
    path = write(tmp_path, b'secret\n')
    os.chmod(path, 0)
    got = check(backend, upstream, 'read_last_n_lines', path, 1)
    assert got[:2] == ('raises', RuntimeError)


@pytest.mark.parametrize('n', [1, 999, 1000, 1001, 20000, 25000])
@pytest.mark.parametrize('chunk_size', [1000, 8192])
def test_read_last_n_lines_large_file(backend, upstream, tmp_path, n,
                                      chunk_size):
    lines = [f'line {i} ' + 'x' * (i % 50) for i in range(20000)]
    path = write(tmp_path, ('\n'.join(lines) + '\n').encode())
    got = check(backend, upstream, 'read_last_n_lines', path, n, chunk_size)
    want = [line + '\n' for line in lines[-n:]]
    want[-1] = want[-1][:-1]
    assert got == returns(want)


# hash_file

HASH_CONTENTS = [
    b'',
    b'abc',
    bytes(range(256)) * 3,
    random.Random(0).randbytes(2**18 + 1),  # past upstream's read buffer
    random.Random(1).randbytes(600_000),
]
COMMON_ALGORITHMS = [
    'md5', 'sha1', 'sha224', 'sha256', 'sha384', 'sha512', 'SHA256', 'Md5'
]
OTHER_ALGORITHMS = ['sha3_256', 'blake2b', 'blake2s', 'sha512_256', 'sm3']


@pytest.mark.parametrize('data', HASH_CONTENTS, ids=lambda d: f'{len(d)}B')
@pytest.mark.parametrize('hash_alg', COMMON_ALGORITHMS)
def test_hash_file_matches_upstream(backend, upstream, tmp_path, data,
                                    hash_alg):
    path = write(tmp_path, data, 'data.bin')
    got = check(backend, upstream, 'hash_file', path, hash_alg)
    want = hashlib.new(hash_alg, data)
    assert got[1][-1] == want.hexdigest()


@pytest.mark.parametrize('hash_alg', OTHER_ALGORITHMS)
def test_hash_file_other_algorithms(backend, upstream, tmp_path, hash_alg):
    path = write(tmp_path, b'some content\n' * 100, 'data.bin')
    check(backend, upstream, 'hash_file', path, hash_alg, may_decline=True)


def test_hash_file_result_interface(backend, tmp_path):
    path = write(tmp_path, b'hello world\n', 'data.bin')
    result = backend.hash_file(path, 'sha256')
    want = hashlib.sha256(b'hello world\n')
    assert result.name == 'sha256'
    assert result.digest_size == 32
    assert result.block_size == 64
    assert result.digest() == want.digest()
    assert result.hexdigest() == want.hexdigest()


def test_hash_file_update_is_right_or_refused(backend, tmp_path):
    # Upstream returns the live hashlib object. A result that cannot go on
    # hashing must refuse update(), never give a wrong digest afterwards.
    path = write(tmp_path, b'first part ', 'data.bin')
    result = backend.hash_file(path, 'md5')
    try:
        result.update(b'second part')
    except Exception:  # pylint: disable=broad-except
        assert result.hexdigest() == hashlib.md5(b'first part ').hexdigest()
    else:
        want = hashlib.md5(b'first part second part').hexdigest()
        assert result.hexdigest() == want


@pytest.mark.parametrize('hash_alg', ['sha256', 'nope'])
def test_hash_file_missing_file_wins_over_bad_algorithm(
        backend, upstream, tmp_path, hash_alg):
    # sky_rs may decline an algorithm it does not know before it looks at
    # the file; it must never report the algorithm instead of the file.
    path = str(tmp_path / 'missing.bin')
    got = check(backend,
                upstream,
                'hash_file',
                path,
                hash_alg,
                may_decline=hash_alg == 'nope')
    if got[0] != 'raises' or got[1] is not NotImplementedError:
        assert got == raises(FileNotFoundError,
                             f"[Errno 2] No such file or directory: '{path}'")


@pytest.mark.parametrize('hash_alg', ['sha256', 'nope'])
def test_hash_file_directory(backend, upstream, tmp_path, hash_alg):
    got = check(backend,
                upstream,
                'hash_file',
                str(tmp_path),
                hash_alg,
                may_decline=hash_alg == 'nope')
    if got[0] != 'raises' or got[1] is not NotImplementedError:
        assert got == raises(IsADirectoryError,
                             f"[Errno 21] Is a directory: '{tmp_path}'")


@pytest.mark.parametrize('hash_alg', ['nope', 'sha-256', '', 'MD 5'])
def test_hash_file_unsupported_algorithm(backend, upstream, tmp_path,
                                         hash_alg):
    path = write(tmp_path, b'x', 'data.bin')
    got = check(backend,
                upstream,
                'hash_file',
                path,
                hash_alg,
                may_decline=True)
    if got[0] == 'raises' and got[1] is ValueError:
        assert got == raises(ValueError, hashlib_error(hash_alg))


# find_free_port


def free_port_from_kernel():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('', 0))
        return s.getsockname()[1]


def test_find_free_port_skips_ports_in_use(backend, upstream):
    first = free_port_from_kernel()
    held = []
    try:
        # One port held on all interfaces, the next on loopback only: binding
        # to all interfaces fails for both.
        for port, host in ((first, ''), (first + 1, '127.0.0.1')):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            held.append(s)
            try:
                s.bind((host, port))
            except OSError:
                pytest.skip(f'port {port} got taken meanwhile')
            s.listen()
        got = check(backend, upstream, 'find_free_port', first)
    finally:
        for s in held:
            s.close()
    assert got[0] == 'returns' and got[1][1] >= first + 2


def test_find_free_port_returns_start_when_free(backend):
    port = free_port_from_kernel()
    # Another process may take it meanwhile; then a later port is right too.
    assert backend.find_free_port(port) >= port


def test_find_free_port_zero(backend, upstream):
    assert check(backend, upstream, 'find_free_port', 0) == returns(0)


@pytest.mark.parametrize('start_port', [65535, 65536, 70000, 2**40])
def test_find_free_port_none_to_try(backend, upstream, start_port):
    got = check(backend, upstream, 'find_free_port', start_port)
    assert got == raises(OSError, 'No free ports available.')


def test_find_free_port_last_port_taken(backend, upstream):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(('', 65534))
        except OSError:
            pytest.skip('port 65534 is in use')
        got = check(backend, upstream, 'find_free_port', 65534)
    assert got == raises(OSError, 'No free ports available.')


@pytest.mark.parametrize('start_port', [-1, -70000, 1.5, '80', None])
def test_find_free_port_bad_port(backend, upstream, start_port):
    got = check(backend,
                upstream,
                'find_free_port',
                start_port,
                may_decline=not isinstance(start_port, int))
    assert got[0] == 'raises'


def test_find_free_port_negative_is_overflow(backend, upstream):
    got = check(backend, upstream, 'find_free_port', -1)
    assert got == raises(OverflowError, 'bind(): port must be 0-65535.')


# base36_encode

BASE36_VALID = [
    '0', '00', 'ff', 'FF', 'deadbeef', 'DeadBeef', '0x10', '0X10', '  ff  ',
    '\tff\n', '+ff', '-0', '0x_f', 'f_f', 'd_e_a_d', '1' * 32,
    'f' * 32, 'a1b2c3d4e5f60718293a4b5c6d7e8f90', 'f' * 1000, '0' * 50 + '1',
    '\u2003ff\u3000', '١٠', 'ｆｆ', '\x1cff\x1f'
]
BASE36_INVALID = [
    '', ' ', 'g', '0x', '0xg', 'f__f', '_ff', 'ff_', '0_x1', '--1', '+-1',
    'f f', '0b1', 'ff\x00', 'é', 'x' * 300
]


@pytest.mark.parametrize('hex_str', BASE36_VALID)
def test_base36_encode_valid(backend, upstream, hex_str):
    got = check(backend,
                upstream,
                'base36_encode',
                hex_str,
                may_decline=not hex_str.isascii())
    if got[0] == 'returns':
        assert int(got[1][1], 36) == int(hex_str, 16)


@pytest.mark.parametrize('hex_str, want', [('ff', '73'),
                                           ('deadbeef', '1ps9wxb'),
                                           ('0x10', 'g'), ('0', '0'),
                                           ('24', '10')])
def test_base36_encode_spec_examples(backend, hex_str, want):
    assert backend.base36_encode(hex_str) == want


@pytest.mark.parametrize('hex_str', BASE36_INVALID)
def test_base36_encode_invalid(backend, upstream, hex_str):
    got = check(backend,
                upstream,
                'base36_encode',
                hex_str,
                may_decline='\x00' in hex_str or not hex_str.isascii())
    if got[1] is ValueError:
        assert got[2] == ('invalid literal for int() with base 16: ' +
                          repr(hex_str)[:200])


@pytest.mark.parametrize('hex_str', ['-ff', '-1', ' -0x10 ', '-' + 'f' * 40])
def test_base36_encode_negative_raises(backend, hex_str):
    # Upstream loops forever here; SPEC.md's one deliberate difference.
    got = outcome(backend.base36_encode, hex_str)
    assert got == raises(
        ValueError,
        f'base36_encode() requires a non-negative number: {hex_str!r}')


@pytest.mark.parametrize('hex_str', [255, None, b'ff', bytearray(b'ff')])
def test_base36_encode_non_str(backend, upstream, hex_str):
    check(backend, upstream, 'base36_encode', hex_str, may_decline=True)


# format_float

FLOATS = [
    0.0, -0.0, 1.0, -1.0, 2.25, 2.35, 0.05, 0.5, 1.5, 2.5, -2.5, 1e300, -1e300,
    1.7976931348623157e308, 1e-300, 5e-324, 123456.789, 1e16, 1e22, 0.1 + 0.2,
    math.nan, math.inf, -math.inf, 3.14159, 99.95, 9.995
]


@pytest.mark.parametrize('num', FLOATS, ids=repr)
@pytest.mark.parametrize('precision', [0, 1, 2, 3, 10, 20])
def test_format_float_floats(backend, upstream, num, precision):
    check(backend, upstream, 'format_float', num, precision)


@pytest.mark.parametrize('num', [0, 1, -7, 10**30, True, False], ids=repr)
def test_format_float_ints(backend, upstream, num):
    got = check(backend, upstream, 'format_float', num, 3)
    assert got == returns(str(num))


@pytest.mark.parametrize('num, precision, want', [
    (1.0, 1, '1'),
    (-0.0, 1, '-0'),
    (2.25, 1, '2.2'),
    (1.25, 1, '1.2'),
    (0.125, 2, '0.12'),
    (1.5, 1, '1.5'),
    (True, 1, 'True'),
    (math.nan, 1, 'nan'),
    (math.inf, 1, 'inf'),
    (-math.inf, 1, '-inf'),
    (1e300, 1, str(int(1e300))),
])
def test_format_float_spec_examples(backend, num, precision, want):
    assert backend.format_float(num, precision) == want


def test_format_float_default_precision(backend, upstream):
    got = check(backend, upstream, 'format_float', 3.14159)
    assert got == returns('3.1')


@pytest.mark.parametrize('num', [1.5, 1.0, math.nan, 7])
@pytest.mark.parametrize('precision', [-1, -100])
def test_format_float_negative_precision(backend, upstream, num, precision):
    check(backend, upstream, 'format_float', num, precision)


@pytest.mark.parametrize('num, precision', [(1.5, 1.5), (1.5, None),
                                            ('1.5', 1), (None, 1)])
def test_format_float_bad_types(backend, upstream, num, precision):
    check(backend,
          upstream,
          'format_float',
          num,
          precision,
          may_decline=True)


# truncate_long_string

ALPHABET = string.ascii_lowercase
TRUNCATE_STRINGS = [
    '', 'a', 'abc', 'abcde', ALPHABET, 'hello world', 'a  b  c  d  e  f',
    'The quick brown fox jumps over the lazy dog', '  leading spaces',
    'trailing spaces   ', 'word', 'supercalifragilisticexpialidocious word',
    'é' * 40, 'naïve café résumé', '😀 emoji 😀 text 😀', 'a\tb\nc d',
    'x' * 100, ' ' * 50, 'a ' * 30
]


@pytest.mark.parametrize('s', TRUNCATE_STRINGS)
@pytest.mark.parametrize('max_length', [-5, -1, 0, 1, 2, 3, 4, 5, 10, 11, 35])
@pytest.mark.parametrize('truncate_middle', [False, True])
def test_truncate_long_string_matches_upstream(backend, upstream, s,
                                               max_length, truncate_middle):
    check(backend, upstream, 'truncate_long_string', s, max_length,
          truncate_middle)


@pytest.mark.parametrize('s, max_length, middle, want', [
    ('abcde', 4, True, 'a...'),
    (ALPHABET, 10, True, 'abcd...xyz'),
    (ALPHABET, 11, True, 'abcd...wxyz'),
    (ALPHABET, 3, True, '...'),
    ('abc', -1, False, 'ab...'),
    ('a  b  c  d  e  f', 5, False, 'a  b  c  d ...'),
    ('ééééé', 4, True, 'é...'),
    ('short', 35, False, 'short'),
    ('hello world foo', 8, False, 'hello wo...'),
])
def test_truncate_long_string_spec_examples(backend, s, max_length, middle,
                                            want):
    assert backend.truncate_long_string(s, max_length, middle) == want


def test_truncate_long_string_default_length(backend, upstream):
    s = 'one two three four five six seven eight nine ten'
    got = check(backend, upstream, 'truncate_long_string', s)
    assert got[0] == 'returns'


@pytest.mark.parametrize('s, max_length', [(None, 5), ('abc', None),
                                           ('abc', 1.5), (b'abc def', 2)])
def test_truncate_long_string_bad_types(backend, upstream, s, max_length):
    check(backend,
          upstream,
          'truncate_long_string',
          s,
          max_length,
          may_decline=True)


# get_cpu_count, get_mem_size_gb, get_parallel_threads


def test_get_cpu_count_detected(backend, upstream, monkeypatch):
    monkeypatch.delenv('SKYPILOT_POD_CPU_CORE_LIMIT', raising=False)
    got = check(backend, upstream, 'get_cpu_count')
    assert got[1][1] >= 0


@pytest.mark.parametrize('value, want', [
    ('2.9', returns(2)),
    ('0.5', returns(0)),
    ('1e3', returns(1000)),
    ('4', returns(4)),
    (' 8 ', returns(8)),
    ('-2', returns(-2)),
    ('', raises(ValueError, 'Failed to parse the number of CPUs from ')),
    ('abc', raises(ValueError, 'Failed to parse the number of CPUs from abc')),
    ('nan', raises(ValueError, 'Failed to parse the number of CPUs from nan')),
    ('inf', raises(OverflowError, 'cannot convert float infinity to integer')),
])
def test_get_cpu_count_from_environment(backend, upstream, monkeypatch, value,
                                        want):
    monkeypatch.setenv('SKYPILOT_POD_CPU_CORE_LIMIT', value)
    assert check(backend, upstream, 'get_cpu_count') == want


def test_get_cpu_count_reads_environment_at_call_time(backend, monkeypatch):
    monkeypatch.setenv('SKYPILOT_POD_CPU_CORE_LIMIT', '3')
    assert backend.get_cpu_count() == 3
    monkeypatch.setenv('SKYPILOT_POD_CPU_CORE_LIMIT', '5')
    assert backend.get_cpu_count() == 5


def test_get_mem_size_gb_detected(backend, upstream, monkeypatch):
    monkeypatch.delenv('SKYPILOT_POD_MEMORY_GB_LIMIT', raising=False)
    monkeypatch.delenv('SKYPILOT_POD_MEMORY_BYTES_LIMIT', raising=False)
    got = check(backend, upstream, 'get_mem_size_gb')
    assert float(got[1][1]) > 0


@pytest.mark.parametrize('gb, bytes_, want', [
    ('16', None, returns(16.0)),
    ('0.5', '1', returns(0.5)),
    ('inf', None, returns(math.inf)),
    ('nan', None, returns(math.nan)),
    ('-3', None, returns(-3.0)),
    (None, '1073741824', returns(1.0)),
    (None, '1e9', returns(1e9 / 1024**3)),
    (None, '-1073741824', returns(-1.0)),
    ('x', None,
     raises(ValueError, 'Failed to parse the memory size from x (GB)')),
    ('', '1', raises(ValueError, 'Failed to parse the memory size from  (GB)')),
    (None, '1 GB',
     raises(ValueError, 'Failed to parse the memory size from 1 GB (bytes)')),
])
def test_get_mem_size_gb_from_environment(backend, upstream, monkeypatch, gb,
                                          bytes_, want):
    for name, value in (('SKYPILOT_POD_MEMORY_GB_LIMIT', gb),
                        ('SKYPILOT_POD_MEMORY_BYTES_LIMIT', bytes_)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    assert check(backend, upstream, 'get_mem_size_gb') == want


@pytest.mark.parametrize('cloud_str', [
    None, 'aws', 'gcp', 'kubernetes', 'Kubernetes', 'KUBERNETES', ' kubernetes',
    'kubernetes ', '', 0, False, [], 'k8s'
])
def test_get_parallel_threads(backend, upstream, cloud_str):
    got = check(backend, upstream, 'get_parallel_threads', cloud_str)
    cpus = os.cpu_count() or 1
    multiplier = 4 if cloud_str == 'kubernetes' or (
        isinstance(cloud_str, str) and cloud_str.lower() == 'kubernetes') else 1
    assert got == returns(max(4, cpus - 1) * multiplier)


@pytest.mark.parametrize('cloud_str', [123, 1.5, True, ['kubernetes']])
def test_get_parallel_threads_non_str(backend, upstream, cloud_str):
    got = check(backend, upstream, 'get_parallel_threads', cloud_str)
    assert got[:2] == ('raises', AttributeError)


# get_max_workers_for_file_mounts and estimate_fd_for_directory


@pytest.fixture
def fd_soft_limit():
    """Set the soft RLIMIT_NOFILE for one test, then restore it."""
    saved = resource.getrlimit(resource.RLIMIT_NOFILE)

    def set_limit(soft):
        if saved[1] != resource.RLIM_INFINITY and soft > saved[1]:
            pytest.skip(f'hard RLIMIT_NOFILE {saved[1]} is below {soft}')
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, saved[1]))

    yield set_limit
    resource.setrlimit(resource.RLIMIT_NOFILE, saved)


def make_directory(root, name, entries):
    directory = root / name
    directory.mkdir()
    for i in range(entries):
        (directory / (f'.hidden{i}' if i % 3 == 0 else f'file{i}')).touch()
    return directory


@pytest.mark.parametrize('soft', [1100, 4096, 20000])
@pytest.mark.parametrize('cloud_str', [None, 'kubernetes'])
def test_get_max_workers_for_file_mounts(backend, upstream, tmp_path,
                                         fd_soft_limit, soft, cloud_str):
    fd_soft_limit(soft)
    small = make_directory(tmp_path, 'small', 3)
    big = make_directory(tmp_path, 'big', 120)
    nested = make_directory(tmp_path, 'nested', 2)
    make_directory(nested, 'inner', 50)  # not counted: not recursive
    a_file = tmp_path / 'file.txt'
    a_file.write_text('x')
    link = tmp_path / 'link'
    link.symlink_to(big)
    cases = [
        {},
        {'/a': str(small)},
        {'/a': str(small), '/b': str(big)},
        {'/a': str(nested)},
        {'/a': str(a_file), '/b': str(tmp_path / 'missing')},
        {'/a': 's3://bucket/path', '/b': 'gs://b', '/c': '~'},
        {'/a': str(link)},
        {'/a': str(small) + '/', '/b': str(big) + '/.'},
    ]
    for mounts in cases:
        got = check(backend, upstream, 'get_max_workers_for_file_mounts',
                    mounts, cloud_str)
        assert got[0] == 'returns', mounts


def test_get_max_workers_cost_of_a_directory(backend, tmp_path,
                                             fd_soft_limit):
    # 120 entries cost 600 descriptors per rsync: (1100 - 100) // 600 = 1.
    fd_soft_limit(1100)
    big = make_directory(tmp_path, 'big', 120)
    assert backend.get_max_workers_for_file_mounts({'/a': str(big)}) == 1
    small = make_directory(tmp_path, 'small', 30)  # (1000 // 150) = 6 -> cap
    threads = max(4, (os.cpu_count() or 1) - 1)
    assert backend.get_max_workers_for_file_mounts({'/a': str(small)
                                                   }) == min(6, threads)


@pytest.mark.parametrize('num_sources, per_source, soft', [
    (3, 100, 1100),
    (3, 100, 20000),
    (0, 100, 1100),
    (1, 0, 1100),
    (5, 1, 1100),
    (2, 150, 1100),
    (2, 1000, 1100),
])
@pytest.mark.parametrize('cloud_str', [None, 'aws', 'kubernetes'])
def test_get_max_workers_keyword_form(backend, fd_soft_limit, num_sources,
                                      per_source, soft, cloud_str):
    fd_soft_limit(soft)
    got = backend.get_max_workers_for_file_mounts(
        num_sources=num_sources,
        estimated_files_per_source=per_source,
        cloud_str=cloud_str)
    cost = 5 if num_sources == 0 else max(5, 5 * per_source)
    threads = max(4, (os.cpu_count() or 1) - 1) * (4 if cloud_str ==
                                                   'kubernetes' else 1)
    assert got == min(max((soft - 100) // cost, 1), threads)


def test_get_max_workers_keyword_form_touches_no_files(backend, tmp_path,
                                                       monkeypatch):
    monkeypatch.chdir(tmp_path)
    got = backend.get_max_workers_for_file_mounts(num_sources=1,
                                                  estimated_files_per_source=1)
    assert got >= 1


def test_get_max_workers_bad_mounts(backend, upstream):
    for mounts in (None, ['/a']):
        check(backend,
              upstream,
              'get_max_workers_for_file_mounts',
              mounts,
              may_decline=True)


def test_get_max_workers_non_str_cloud(backend, upstream, tmp_path):
    got = check(backend,
                upstream,
                'get_max_workers_for_file_mounts', {'/a': str(tmp_path)},
                123,
                may_decline=True)
    assert got[0] == 'raises'


@pytest.mark.skipif(hasattr(os, 'geteuid') and os.geteuid() == 0,
                    reason='root lists any directory')
def test_get_max_workers_unreadable_source(backend, upstream, tmp_path):
    locked = make_directory(tmp_path, 'locked', 2)
    os.chmod(locked, 0)
    try:
        got = check(backend, upstream, 'get_max_workers_for_file_mounts',
                    {'/a': str(locked)})
    finally:
        os.chmod(locked, 0o700)
    assert got[:2] == ('raises', PermissionError)


class _Records(logging.Handler):

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)


def test_get_max_workers_low_limit_warns_once(backend, fd_soft_limit,
                                              monkeypatch):
    fd_soft_limit(512)
    # One flag for both backends: the process warns once whichever answers.
    monkeypatch.setattr(sky_rs._system, '_fd_limit_warning_shown', False)
    # On the logger itself: once SkyPilot is imported, its 'sky' logger does
    # not propagate to the root logger, where caplog listens.
    logger = logging.getLogger('sky.utils.subprocess_utils')
    captured = _Records()
    logger.addHandler(captured)
    try:
        for _ in range(3):
            backend.get_max_workers_for_file_mounts({})
        _reference._python_get_max_workers_for_file_mounts({})  # pylint: disable=protected-access
    finally:
        logger.removeHandler(captured)
    warnings = [
        r for r in captured.records
        if r.levelno == logging.WARNING and 'descriptor limit' in r.getMessage()
    ]
    assert len(warnings) == 1
    assert 'Open file descriptor limit (512) is low.' in warnings[0].getMessage()
    # Upstream's logger, so that SkyPilot's logging settings govern it.
    assert warnings[0].name == 'sky.utils.subprocess_utils'


@pytest.mark.parametrize('entries', [0, 1, 7, 300])
def test_estimate_fd_for_directory(backend, tmp_path, entries):
    directory = make_directory(tmp_path, 'd', entries)
    make_directory(directory, 'sub', 5)  # one entry, not recursive
    assert backend.estimate_fd_for_directory(str(directory)) == 5 * (entries +
                                                                     1)


def test_estimate_fd_for_directory_follows_symlink(backend, tmp_path):
    directory = make_directory(tmp_path, 'd', 4)
    link = tmp_path / 'link'
    link.symlink_to(directory)
    assert backend.estimate_fd_for_directory(str(link)) == 20


@pytest.mark.parametrize('kind', ['missing', 'file', 'dangling'])
def test_estimate_fd_for_directory_errors(backend, tmp_path, kind):
    path = tmp_path / kind
    if kind == 'file':
        path.write_text('x')
    elif kind == 'dangling':
        path.symlink_to(tmp_path / 'nowhere')
    got = outcome(backend.estimate_fd_for_directory, str(path))
    want = outcome(os.listdir, str(path))
    assert got == want
    assert got[1] in (FileNotFoundError, NotADirectoryError)


@pytest.mark.skipif(hasattr(os, 'geteuid') and os.geteuid() == 0,
                    reason='root lists any directory')
def test_estimate_fd_for_directory_permission_denied(backend, tmp_path):
    locked = make_directory(tmp_path, 'locked', 2)
    os.chmod(locked, 0)
    try:
        got = outcome(backend.estimate_fd_for_directory, str(locked))
        want = outcome(os.listdir, str(locked))
    finally:
        os.chmod(locked, 0o700)
    assert got == want and got[1] is PermissionError


# is_process_alive


def test_is_process_alive_self_and_parent(backend):
    assert backend.is_process_alive(os.getpid()) is True
    assert backend.is_process_alive(os.getppid()) is True


@pytest.mark.parametrize('pid', [0, -1, -os.getpid(), 2**31, 2**31 - 1, 2**63,
                                 2**100])
def test_is_process_alive_impossible_pids(backend, pid):
    assert backend.is_process_alive(pid) is False


def test_is_process_alive_init(backend):
    # pid 1 always exists; for a non-root user kill(1, 0) fails with EPERM,
    # which still means "exists".
    assert backend.is_process_alive(1) is True


def wait_for_state(pid, states, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f'/proc/{pid}/stat', 'rb') as f:
                stat = f.read()
        except FileNotFoundError:
            return None
        state = stat[stat.rfind(b')') + 2:stat.rfind(b')') + 3]
        if state in states:
            return state
        time.sleep(0.01)
    raise AssertionError(f'pid {pid} never reached {states}')


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='uses /proc')
def test_is_process_alive_zombie_and_reaped(backend):
    pid = os.fork()
    if pid == 0:
        os._exit(0)  # pylint: disable=protected-access
    try:
        assert wait_for_state(pid, (b'Z',)) == b'Z'
        assert backend.is_process_alive(pid) is False
    finally:
        os.waitpid(pid, 0)
    assert backend.is_process_alive(pid) is False


def test_is_process_alive_running_child(backend):
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(write_end)
        os.read(read_end, 1)  # block until told to exit
        os._exit(0)  # pylint: disable=protected-access
    os.close(read_end)
    try:
        assert backend.is_process_alive(pid) is True
    finally:
        os.close(write_end)
        os.waitpid(pid, 0)


@pytest.mark.parametrize('pid', [1.0, '1', None, True])
def test_is_process_alive_non_int(backend, pid):
    got = outcome(backend.is_process_alive, pid)
    if backend.declines and got[0] == 'raises' and issubclass(
            got[1], NotImplementedError):
        return
    assert got == outcome(_reference._python_is_process_alive, pid)

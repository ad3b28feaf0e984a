"""Differential tests: Hypothesis-generated input, compared with upstream.

Each property runs against three subjects: ``go`` (sky_rs called directly),
``python`` (the pure-Python reference) and ``api`` (the public
``rust_fallback`` as the environment configures it). Outcomes must equal
upstream SkyPilot's: the same result, or the same exception type and message.
sky_rs called directly may decline input it cannot carry (NotImplementedError),
which the public API then answers in Python; it may never answer wrongly.

``HYPOTHESIS_PROFILE=long`` runs 10,000 examples per property instead of the
``ci`` profile's ~150.
"""

import os
import resource
import tempfile
import types

from hypothesis import example
from hypothesis import given
from hypothesis import strategies as st
import pytest

from sky_fallback import rust_fallback
from tests_py.conftest import make_backend
from tests_py.support import assert_same
from tests_py.support import FUNCTION_NAMES
from tests_py.support import outcome


@pytest.fixture(scope='module', params=['go', 'python', 'api'])
def subject(request):
    if request.param == 'api':
        return types.SimpleNamespace(
            name='api',
            declines=False,
            **{f: getattr(rust_fallback, f) for f in FUNCTION_NAMES})
    return make_backend(request.param, request.config)


def agree(subject, upstream, name, *args, may_decline=False, **kwargs):
    got = outcome(getattr(subject, name), *args, **kwargs)
    want = outcome(getattr(upstream, name), *args, **kwargs)
    assert_same(subject, got, want, may_decline)


def cannot_cross(text):
    """Strings that cannot cross into Go (NUL, lone surrogates)."""
    return '\x00' in text or any('\ud800' <= c <= '\udfff' for c in text)


# Strings: words of any script separated by runs of spaces, plus plain text.
words = st.text(alphabet=st.characters(codec='utf-8'), max_size=12)
spaced_text = st.lists(st.tuples(words, st.integers(1, 4)),
                       max_size=10).map(lambda parts: ''.join(
                           word + ' ' * gap for word, gap in parts))
any_text = st.one_of(spaced_text, st.text(max_size=60),
                     st.text(alphabet=' ab\u00e9\U0001f600', max_size=60))


@given(s=any_text, max_length=st.integers(-5, 60), middle=st.booleans())
@example(s='a  b  c  d  e  f', max_length=5, middle=False)
@example(s='', max_length=-1, middle=False)
@example(s='\x00 abc def', max_length=3, middle=False)
def test_truncate_long_string(subject, upstream, s, max_length, middle):
    agree(subject,
          upstream,
          'truncate_long_string',
          s,
          max_length,
          middle,
          may_decline=cannot_cross(s))


numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1e6, max_value=1e6).map(lambda x: round(x, 3)),
    st.floats(min_value=-1e-300, max_value=1e-300),
    st.integers(min_value=-10**40, max_value=10**40),
    st.booleans(),
    st.sampled_from([-0.0, 0.5, 1.5, 2.5, 2.25, 0.125, 1e300, 5e-324]),
)


@given(num=numbers, precision=st.integers(0, 20))
@example(num=2.25, precision=1)
@example(num=-0.0, precision=3)
@example(num=1e300, precision=1)
def test_format_float(subject, upstream, num, precision):
    agree(subject, upstream, 'format_float', num, precision)


hex_digits = st.text(alphabet='0123456789abcdefABCDEF', min_size=1,
                     max_size=80)
grouped_hex = st.lists(hex_digits, min_size=1,
                       max_size=5).map('_'.join)  # single '_' between digits
well_formed_hex = st.tuples(
    st.sampled_from(['', ' ', '\t', '\n ', '\u3000']),
    st.sampled_from(['', '+', '-']),
    st.sampled_from(['', '0x', '0X', '0x_']),
    st.one_of(hex_digits, grouped_hex),
    st.sampled_from(['', ' ', '\r\n', '\x0b'])).map(''.join)
hex_like = st.text(alphabet='0123456789abcdefxX_+- \tABCDEFg', max_size=20)
long_hex = st.text(alphabet='0123456789abcdef', min_size=100, max_size=2000)


@given(hex_str=st.one_of(well_formed_hex, hex_like, long_hex,
                         st.text(max_size=10)))
@example(hex_str='0x')
@example(hex_str='f__f')
@example(hex_str='١٠')
def test_base36_encode(subject, upstream, hex_str):
    agree(subject,
          upstream,
          'base36_encode',
          hex_str,
          may_decline=cannot_cross(hex_str) or not hex_str.isascii())


# Files: random bytes rich in the bytes that matter (newlines, CR, invalid
# UTF-8 lead and continuation bytes).
line_bytes = st.lists(st.sampled_from(
    [b'\n', b'\r', b'\r\n', b'a', b'xyz', b'\xff', b'\xe2\x82', b'\xc3\xa9',
     b'\xed\xa0\x80', b'\xf0\x9f\x98\x80', b'\x80', b' ', b'\x00']),
                      max_size=40).map(b''.join)
file_bytes = st.one_of(line_bytes, st.binary(max_size=300))


@given(data=file_bytes,
       n=st.integers(0, 50),
       chunk_size=st.integers(1, 64),
       errors=st.sampled_from(['replace', 'ignore', 'strict',
                               'backslashreplace']))
@example(data=b'l1\nl2\nl3\n', n=2, chunk_size=1, errors='replace')
@example(data=b'\n\n', n=5, chunk_size=64, errors='replace')
@example(data=b'\r\xff', n=1, chunk_size=1, errors='ignore')  # strip after
def test_read_last_n_lines(subject, upstream, tmp_path, data, n, chunk_size,
                           errors):
    path = tmp_path / 'log.bin'
    path.write_bytes(data)
    agree(subject,
          upstream,
          'read_last_n_lines',
          str(path),
          n,
          chunk_size,
          'utf-8',
          errors,
          may_decline=errors in ('strict', 'ignore'))


# Shapes of logs that the generated files above are too small to have (issue
# #11): lines longer than Go carries (8 MiB), the NUL runs copytruncate
# leaves, invalid UTF-8 in every line, '\r' progress output, short lines past
# the limit, every separator candidate. Each file is made once per module.
MiB = 1 << 20
LOG_SHAPES = {
    'one long line': lambda: b'x' * (9 * MiB),
    'long CRLF line, short line': lambda: b'y' * (9 * MiB) + b'\r\nshort\n',
    'NUL run, three lines': lambda: b'\0' * (9 * MiB) + b'one\ntwo\nthree\n',
    'NUL in a short tail': lambda: b'head\n' * 100 + b'a\0b\r\nc\n',
    'invalid UTF-8 rows': lambda: (b'abc \xff\xfe ' + b'q' * 1000 + b'\n') * 5000,
    'progress bars': lambda: (b'progress 12%\r' * 80 + b'\n') * 2000,
    'short lines past the limit': lambda: b''.join(
        b'%08d\n' % i for i in range(1_200_000)),
    'every separator': lambda: bytes(range(1, 32)) * 3 + b'\x7f\nend\n',
}


@pytest.fixture(scope='module')
def shaped_logs(tmp_path_factory):
    directory = tmp_path_factory.mktemp('shapes')
    paths = {}
    for name, make in LOG_SHAPES.items():
        path = directory / name.replace(' ', '_')
        path.write_bytes(make())
        paths[name] = str(path)
    return paths


@pytest.mark.parametrize('shape', sorted(LOG_SHAPES))
@pytest.mark.parametrize('n', [1, 3, 1000, 10**7])
def test_read_last_n_lines_shapes(subject, upstream, shaped_logs, shape, n):
    agree(subject, upstream, 'read_last_n_lines', shaped_logs[shape], n)


@pytest.mark.parametrize('shape', sorted(LOG_SHAPES))
@pytest.mark.parametrize('encoding,errors', [('utf-8', 'strict'),
                                             ('utf-8', 'surrogateescape'),
                                             ('utf-8', 'ignore'),
                                             ('latin-1', 'strict'),
                                             ('utf-16', 'replace')])
def test_read_last_n_lines_shapes_decoding(subject, upstream, shaped_logs,
                                           shape, encoding, errors):
    agree(subject, upstream, 'read_last_n_lines', shaped_logs[shape], 3,
          8192, encoding, errors)


# What sky_rs hashes itself; other algorithms it may decline.
NATIVE_HASHES = ('md5', 'sha1', 'sha224', 'sha256', 'sha384', 'sha512')
HASH_ALGORITHMS = ['md5', 'sha1', 'sha256', 'sha512', 'SHA256', 'sha3_256',
                   'blake2b']


@given(data=st.binary(max_size=5000),
       hash_alg=st.sampled_from(HASH_ALGORITHMS))
def test_hash_file(subject, upstream, tmp_path, data, hash_alg):
    path = tmp_path / 'data.bin'
    path.write_bytes(data)
    agree(subject,
          upstream,
          'hash_file',
          str(path),
          hash_alg,
          may_decline=hash_alg.lower() not in NATIVE_HASHES)


# Directory trees: names given as (directory index, entry name) pairs.
entry_names = st.text(alphabet='abc.-_ é', min_size=1,
                      max_size=6).filter(lambda s: s not in ('.', '..'))
trees = st.lists(st.tuples(st.integers(0, 3), entry_names,
                           st.sampled_from(['file', 'dir', 'link'])),
                 max_size=40)


def build_tree(root, entries):
    directories = []
    for i in range(4):
        directory = os.path.join(root, f'src{i}')
        os.mkdir(directory)
        directories.append(directory)
    for index, name, kind in entries:
        path = os.path.join(directories[index], name)
        if os.path.lexists(path):
            continue
        if kind == 'file':
            open(path, 'wb').close()  # pylint: disable=consider-using-with
        elif kind == 'dir':
            os.mkdir(path)
        else:
            os.symlink(directories[(index + 1) % 4], path)
    return directories


@given(entries=trees,
       sources=st.lists(st.integers(0, 5), max_size=5),
       cloud_str=st.sampled_from([None, 'aws', 'kubernetes', 'Kubernetes']))
def test_get_max_workers_and_estimate_fd(subject, upstream, entries, sources,
                                         cloud_str):
    with tempfile.TemporaryDirectory() as root:
        directories = build_tree(root, entries)
        # Indices 4 and 5 are a plain file and a missing path: skipped.
        plain_file = os.path.join(root, 'plain')
        open(plain_file, 'wb').close()  # pylint: disable=consider-using-with
        candidates = directories + [plain_file, os.path.join(root, 'none')]
        mounts = {f'/dst{i}': candidates[s] for i, s in enumerate(sources)}
        agree(subject, upstream, 'get_max_workers_for_file_mounts', mounts,
              cloud_str)
        for directory in candidates:
            got = outcome(subject.estimate_fd_for_directory, directory)
            want = outcome(lambda p: 5 * len(os.listdir(p)), directory)
            assert got == want


@given(num_sources=st.integers(0, 1000),
       per_source=st.integers(0, 100_000),
       cloud_str=st.sampled_from([None, 'aws', 'kubernetes']))
def test_get_max_workers_keyword_form(subject, num_sources, per_source,
                                      cloud_str):
    got = subject.get_max_workers_for_file_mounts(
        num_sources=num_sources,
        estimated_files_per_source=per_source,
        cloud_str=cloud_str)
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    cost = 5 if num_sources == 0 else max(5, 5 * per_source)
    threads = max(4, (os.cpu_count() or 1) - 1)
    threads *= 4 if cloud_str == 'kubernetes' else 1
    assert got == min(max((soft - 100) // cost, 1), threads)


@given(st.text(alphabet='0123456789abcdef', min_size=32, max_size=32))
def test_base36_encode_skypilot_hashes(subject, hex_str):
    # What SkyPilot feeds it: 32-digit hashes. Decoding base 36 gives back
    # the number.
    assert int(subject.base36_encode(hex_str), 36) == int(hex_str, 16)


def test_oracle_is_upstream(upstream):
    # The oracle is SkyPilot's own code, not this package.
    assert upstream.truncate_long_string.__wrapped__.__module__ == (
        'sky.utils.common_utils')

"""The server-side log tail (sky_fallback/skypilot/log_tail.py) against
SkyPilot's own ``stream_utils._tail_log_file``.

Both run on the same file and arguments, driven by asyncio, and must yield
the same chunks, raise the same exception and leave the file at the same
position. Where the native path is expected (the extension loads and
``SKYPILOT_USE_RUST`` allows it) the tests also check that it was taken, so
that a replacement that quietly hands everything to upstream fails them.
"""

import asyncio
import inspect
import json
import os
import re
import subprocess
import sys
import threading
from typing import Any, Callable, List, Optional, Tuple

from hypothesis import example
from hypothesis import given
from hypothesis import strategies as st
import pytest

from sky_fallback import rust_fallback

aiofiles = pytest.importorskip('aiofiles', reason='SkyPilot is not installed')
stream_utils = pytest.importorskip('sky.server.stream_utils',
                                   reason='SkyPilot is not installed')
from sky.utils import message_utils  # pylint: disable=wrong-import-position
from sky.utils import rich_utils  # pylint: disable=wrong-import-position

from sky_fallback.skypilot import log_tail  # pylint: disable=wrong-import-position
from sky_fallback.skypilot import registry  # pylint: disable=wrong-import-position

pytestmark = pytest.mark.upstream

INSTALLED = stream_utils._tail_log_file  # pylint: disable=protected-access
REPLACED = log_tail.replacement(INSTALLED)
ENTRY = registry.BY_NAME[log_tail.NAME]

Outcome = Tuple[List[str], Optional[Tuple[type, str]], int]


class UpstreamTailReads:
    """Counts the runs of upstream's own tail loop (its line filter)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.count = 0
        original = stream_utils._yield_log_file_with_payloads_skipped  # pylint: disable=protected-access

        def counting(log_file):
            self.count += 1
            return original(log_file)

        monkeypatch.setattr(stream_utils,
                            '_yield_log_file_with_payloads_skipped', counting)


@pytest.fixture
def upstream_reads(monkeypatch: pytest.MonkeyPatch) -> UpstreamTailReads:
    return UpstreamTailReads(monkeypatch)


def native_expected() -> bool:
    """Whether the replacement should answer in Go in this process."""
    return rust_fallback.is_rust_available()


async def _collect(function: Callable[..., Any], path: str, tail: Any,
                   start: int, plain_logs: bool) -> Outcome:
    async with aiofiles.open(path, 'rb') as f:
        if start:
            await f.seek(start)
        chunks: List[str] = []
        error = None
        try:
            async for chunk in function(f, None, plain_logs, tail, False):
                chunks.append(chunk)
        except Exception as e:  # pylint: disable=broad-except
            error = (type(e), str(e))
        return chunks, error, await f.tell()


def run_tail(function: Callable[..., Any],
             path: str,
             tail: Any,
             start: int = 0,
             plain_logs: bool = False) -> Outcome:
    """What ``function(f, None, plain_logs, tail, follow=False)`` yields for
    ``f`` the file at ``path`` opened with aiofiles and moved to ``start``:
    the chunks, the exception (type, message) if any, and where f ends."""
    return asyncio.run(_collect(function, path, tail, start, plain_logs))


def assert_same_tail(path: str,
                     tail: Any,
                     upstream_reads: UpstreamTailReads,
                     start: int = 0,
                     plain_logs: bool = False,
                     native: Optional[bool] = None) -> Outcome:
    """Run upstream and the replacement; assert they agree, and that the
    replacement answered natively when it should (``native``: None means
    when the extension is usable and the file is not empty)."""
    expected = run_tail(INSTALLED, path, tail, start, plain_logs)
    upstream_reads.count = 0
    got = run_tail(REPLACED, path, tail, start, plain_logs)
    assert got == expected
    if native is None:
        native = (native_expected() and type(tail) is int and tail >= 0 and  # pylint: disable=unidiomatic-typecheck
                  os.path.getsize(path) > 0)
    if native:
        assert upstream_reads.count == 0, 'upstream read the tail itself'
    return got


def write(tmp_path, data: bytes, name: str = 'log') -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def payload(value: Any, payload_type: Optional[str] = None) -> bytes:
    return message_utils.encode_payload(value, payload_type).encode('utf-8')


STATUS = rich_utils.EncodedStatusMessage('[dim]Launching[/dim]')

CONTENTS = {
    'empty': b'',
    'one line': b'only\n',
    'no final newline': b'a\nb\nlast',
    'only newlines': b'\n' * 50,
    'crlf': b'a\r\nb\r\n\r\nc\r\n',
    'lone cr (progress bars)': b'10%\r20%\r30%\nnext\rline\n',
    'other separators': 'a\x0bb\x0cc\x1cd\u2028e\u0085f\n'.encode('utf-8'),
    'nul bytes': b'x\x00y\n\x00\x00\n\x00',
    'nul and every control': bytes(range(0, 128)) + b'\n' + bytes(range(0, 10)),
    'invalid utf-8': (b'\xff\xfe\n\xe2\x82\n\xed\xa0\x80\n\xf0\x9f\x98\n'
                      b'\xc0\xaf\n\xe2\x82\xac ok\n\x80end'),
    'utf-8': 'é 日本 😀\n'.encode('utf-8') * 5,
    'rich status lines': (STATUS.init() + STATUS.start() + 'work\n' +
                          STATUS.update('[dim]more[/dim]') + 'done\n' +
                          STATUS.stop()).encode('utf-8'),
    'payloads': (b'before\n' + payload({'a': [1, 2, {'b': None}]}) +
                 payload('text', 'type') + payload([]) + b'middle\n' +
                 payload(1.5) + payload(float('nan')) + payload(
                     rich_utils.Control.HEARTBEAT.encode('')) + b'after\n'),
    'only payloads': payload('x') * 20,
    'payload-shaped text': (
        b'<sky-payload>not json</sky-payload>\n'
        b'<sky-payload>{"a": 1,}</sky-payload>\n'
        b'<sky-payload>"unterminated</sky-payload\n'
        b'<sky-payload>-NaN</sky-payload>\n'
        b'<sky-payload>\xef\xbb\xbf1</sky-payload>\n'
        b'<sky-payload>"\x1f"</sky-payload>\n'
        b'<sky-payload>"\xff"</sky-payload>\n'
        b'<sky-payload>' + b'9' * 5000 + b'</sky-payload>\n'
        b'<sky-payload>x</sky-payload><sky-payload>1</sky-payload>\n'
        b'<sky-payload>1</sky-payload><sky-payload>x</sky-payload>\n'
        b'<sky-payload' + b'>' * 3 + b'1</sky-payload>\n'
        b'<sky-payload>1</sky-payload>\r\n'
        b'<sky-payload>1</sky-payload>'),
    'nested payloads': (b'a\n' + b'<sky-payload>' + b'[' * 60 + b']' * 60 +
                        b'</sky-payload>\nb\n'),
}


@pytest.mark.parametrize('name', sorted(CONTENTS))
@pytest.mark.parametrize('tail', [0, 1, 2, 3, 7, 1000])
def test_same_lines_as_upstream(tmp_path, upstream_reads, name, tail):
    # Lines holding every control character leave Go no separator to
    # return them with: it declines.
    declines = name == 'nul and every control' and tail >= 2
    assert_same_tail(write(tmp_path, CONTENTS[name]), tail, upstream_reads,
                     native=False if declines else None)


@pytest.mark.parametrize('start', [1, 2, 5, 9])
def test_from_a_position_in_the_file(tmp_path, upstream_reads, start):
    path = write(tmp_path, b'first\nsecond\n' + payload('p') + b'third\n')
    assert_same_tail(path, 2, upstream_reads, start=start)
    assert_same_tail(path, 2, upstream_reads, start=os.path.getsize(path))


def test_many_lines_and_a_long_one(tmp_path, upstream_reads):
    lines = [f'line {i} '.encode() * (i % 7) + b'\n' for i in range(20000)]
    lines[19990] = b'long ' * 500000 + b'\n'  # 2.5 MB among the last
    lines[19995] = payload('x' * 100000)
    data = b''.join(lines)
    path = write(tmp_path, data)
    for tail in (1, 5, 10, 11, 100, 5000):
        assert_same_tail(path, tail, upstream_reads)


def test_one_huge_line(tmp_path, upstream_reads):
    path = write(tmp_path, b'head\n' + b'\xe2\x82' * (8 << 20) + b'tail')
    assert_same_tail(path, 1, upstream_reads)
    assert_same_tail(path, 2, upstream_reads)


def test_lines_beyond_what_go_holds(tmp_path, upstream_reads):
    """More than 64 MiB of lines: Go declines, upstream answers."""
    path = write(tmp_path, b'x' * (65 << 20) + b'\nlast\n')
    assert_same_tail(path, 2, upstream_reads, native=False)
    assert upstream_reads.count == 1


@pytest.mark.parametrize('tail', [-1, -5, True, False, 2.0, '3', None])
def test_tails_upstream_answers(tmp_path, upstream_reads, tail):
    """Negative (deque's ValueError), not a plain int (deque decides, or
    upstream skips its tail part): upstream's own generator answers."""
    path = write(tmp_path, b'a\nb\nc\n' + payload(1))
    _, error, _ = assert_same_tail(path, tail, upstream_reads)
    if tail in (-1, -5):
        assert error is not None and error[0] is ValueError
    with open(path, 'rb') as raw:
        generator = REPLACED(raw, None, False, tail, False)
    assert inspect.isasyncgen(generator)
    assert generator.ag_code is INSTALLED.__code__


def test_keyword_and_default_arguments(tmp_path, upstream_reads):
    path = write(tmp_path, b'a\nb\n' + payload(1) + b'c')

    async def collect(function):
        async with aiofiles.open(path, 'rb') as f:
            return [c async for c in function(f, tail=2, follow=False)]

    expected = asyncio.run(collect(INSTALLED))
    upstream_reads.count = 0
    assert asyncio.run(collect(REPLACED)) == expected
    assert upstream_reads.count == 0 or not native_expected()
    with pytest.raises(TypeError) as upstream_error:
        INSTALLED(None, bogus=1)
    with pytest.raises(TypeError) as error:
        REPLACED(None, bogus=1)
    assert str(error.value) == str(upstream_error.value)
    assert inspect.signature(REPLACED) == inspect.signature(INSTALLED)


def test_text_file_is_upstreams(tmp_path, upstream_reads):
    """A file opened as text: upstream's own error."""
    path = write(tmp_path, b'a\nb\n')

    async def collect(function):
        async with aiofiles.open(path, 'r') as f:
            try:
                return [c async for c in function(f, None, False, 1, False)]
            except Exception as e:  # pylint: disable=broad-except
                return (type(e), str(e))

    assert asyncio.run(collect(REPLACED)) == asyncio.run(collect(INSTALLED))


def test_unbuffered_file(tmp_path, upstream_reads):
    path = write(tmp_path, b'a\n' + payload(2) + b'b\nc')

    async def collect(function):
        async with aiofiles.open(path, 'rb', buffering=0) as f:
            return [c async for c in function(f, None, False, 2, False)]

    expected = asyncio.run(collect(INSTALLED))
    upstream_reads.count = 0
    assert asyncio.run(collect(REPLACED)) == expected
    assert upstream_reads.count == 0 or not native_expected()


# --- generated logs -------------------------------------------------------

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() |
    st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.text(max_size=4), children, max_size=3),
    max_leaves=8)

_payload_lines = st.builds(
    lambda value, kind: message_utils.encode_payload(value, kind).encode(
        'utf-8'), _json_values, st.sampled_from([None, '', 'type']))

_fragments = st.sampled_from([
    b'<sky-payload>', b'</sky-payload>', b'<sky-payload', b'>', b'"', b'[',
    b']', b'{', b'}', b',', b':', b'1', b'NaN', b'Infinity', b'-', b'null',
    b'\\u00e9', b'\\', b'\r', b'\x00', b'\xff', b'\xe2\x82', b' ', b'text'
])

_malformed_lines = st.lists(_fragments, min_size=1,
                            max_size=10).map(b''.join).map(
                                lambda line: line + b'\n')

_text_lines = st.one_of(
    st.text(max_size=20).map(lambda s: s.replace('\n', ' ').encode('utf-8')),
    st.binary(max_size=20).map(lambda b: b.replace(b'\n', b' ')),
).map(lambda line: line + b'\n')


_logs = st.tuples(
    st.lists(st.one_of(_text_lines, _payload_lines, _malformed_lines),
             max_size=60),
    st.binary(max_size=10),  # an unterminated last line, maybe empty
).map(lambda parts: b''.join(parts[0]) + parts[1].replace(b'\n', b''))


@given(data=_logs, tail=st.integers(0, 70), start=st.integers(0, 40),
       plain_logs=st.booleans())
@example(data=b'<sky-payload>1</sky-payload>\n', tail=1, start=0,
         plain_logs=False)
@example(data=b'a\n<sky-payload>[1,]</sky-payload>\nb', tail=2, start=0,
         plain_logs=False)
def test_generated_logs(tmp_path, upstream_reads, data, tail, start,
                        plain_logs):
    path = write(tmp_path, data)
    start = min(start, len(data)) if start % 3 == 0 else 0
    assert_same_tail(path, tail, upstream_reads, start=start,
                     plain_logs=plain_logs)


# --- the file changing ----------------------------------------------------


def test_file_rewritten_before_go_reads(tmp_path, upstream_reads,
                                        monkeypatch):
    """Truncated (and written again) between the size taken and Go's reads:
    Go sees bytes missing, declines, and upstream reads what is there now;
    written again to the same size, Go reads one state of it."""
    if not native_expected():
        pytest.skip('the native path is off in this process')
    from sky_rs import _log_tail  # pylint: disable=import-outside-toplevel
    original = _log_tail.tail_log_lines
    for new_content in (b'short\n', b'A\nB\nC\nD\nE\n' * 3):
        path = write(tmp_path, b'a\nb\nc\nd\ne\n' * 3)

        def rewriting(*args, new_content=new_content, path=path):
            with open(path, 'wb') as f:
                f.write(new_content)
            return original(*args)

        monkeypatch.setattr(_log_tail, 'tail_log_lines', rewriting)
        got = run_tail(REPLACED, path, 4)
        monkeypatch.setattr(_log_tail, 'tail_log_lines', original)
        assert got == run_tail(INSTALLED, path, 4)


def test_appended_after_the_tail(tmp_path, upstream_reads, monkeypatch):
    """Lines appended once the tail is read are followed, as upstream
    follows what is appended after its reading ends."""
    if not native_expected():
        pytest.skip('the native path is off in this process')
    data = b'a\nb\n' + payload(1) + b'partial'
    appended = b' line\nnew\n' + payload(2) + b'newer\n'
    for plain_logs in (False, True):
        # Upstream, with the lines appended as its reading ends.
        path = write(tmp_path, data)
        original = stream_utils._yield_log_file_with_payloads_skipped  # pylint: disable=protected-access

        async def appending_at_end(log_file, original=original, path=path):
            async for line in original(log_file):
                yield line
            with open(path, 'ab') as f:
                f.write(appended)

        monkeypatch.setattr(stream_utils,
                            '_yield_log_file_with_payloads_skipped',
                            appending_at_end)
        expected = run_tail(INSTALLED, path, 2, plain_logs=plain_logs)
        monkeypatch.setattr(stream_utils,
                            '_yield_log_file_with_payloads_skipped', original)
        # The replacement, with the lines appended once Go has read.
        path = write(tmp_path, data)
        tail_lines = log_tail._tail_lines_closing  # pylint: disable=protected-access

        def appending_after_go(*args, path=path):
            found = tail_lines(*args)
            with open(path, 'ab') as f:
                f.write(appended)
            return found

        monkeypatch.setattr(log_tail, '_tail_lines_closing',
                            appending_after_go)
        got = run_tail(REPLACED, path, 2, plain_logs=plain_logs)
        monkeypatch.setattr(log_tail, '_tail_lines_closing', tail_lines)
        assert got == expected
        assert expected[0][2:], 'the appended lines were followed'


@pytest.mark.parametrize('plain_logs', [False, True])
def test_follow_continues_from_the_same_place(tmp_path, upstream_reads,
                                              plain_logs):
    """follow=True: the tail, then what is appended, as upstream streams it."""
    data = b'one\ntwo\n' + payload(3) + b'three'
    appended = [b' more\n' + payload('p') + b'four\n', b'five\n' * 3000]

    async def follow(function, path):
        async with aiofiles.open(path, 'rb') as f:
            stream = function(f, None, plain_logs, 2, True, None, 0.01)
            chunks = [await stream.__anext__(), await stream.__anext__()]
            for part in appended:
                with open(path, 'ab') as raw:
                    raw.write(part)
                received = ''
                while received.count('\n') < part.count(b'\n') - (
                        plain_logs and b'sky-payload' in part):
                    received += await asyncio.wait_for(stream.__anext__(), 10)
                chunks.append(received)
            await stream.aclose()
            return chunks

    expected = asyncio.run(follow(INSTALLED, write(tmp_path, data, 'up')))
    upstream_reads.count = 0
    got = asyncio.run(follow(REPLACED, write(tmp_path, data, 'ours')))
    assert got == expected
    assert upstream_reads.count == 0 or not native_expected()


# --- where it runs ---------------------------------------------------------


def test_go_reads_off_the_event_loop(tmp_path, upstream_reads, monkeypatch):
    if not native_expected():
        pytest.skip('the native path is off in this process')
    from sky_rs import _log_tail  # pylint: disable=import-outside-toplevel
    original = _log_tail.tail_log_lines
    threads = []

    def recording(*args):
        threads.append(threading.current_thread())
        return original(*args)

    monkeypatch.setattr(_log_tail, 'tail_log_lines', recording)
    assert_same_tail(write(tmp_path, b'a\nb\n' * 1000), 10, upstream_reads)
    assert threads and threading.main_thread() not in threads


def test_extension_unavailable(tmp_path, upstream_reads, monkeypatch):
    monkeypatch.setattr(rust_fallback, 'is_rust_available', lambda: False)
    path = write(tmp_path, b'a\nb\n')
    assert_same_tail(path, 1, upstream_reads, native=False)
    assert upstream_reads.count == 1
    with open(path, 'rb') as raw:
        assert REPLACED(raw, None, False, 1, False).ag_code is INSTALLED.__code__


def test_payload_nested_beyond_what_go_decides(tmp_path, upstream_reads):
    """A valid payload nested deeper than Go classifies: upstream decides."""
    deep = b'<sky-payload>' + b'[' * 150 + b']' * 150 + b'</sky-payload>\n'
    path = write(tmp_path, b'a\n' + deep + b'b\n')
    assert_same_tail(path, 1, upstream_reads)  # the payload is not among them
    assert_same_tail(path, 2, upstream_reads, native=False)


_RECURSION_SCRIPT = r'''
import inspect, sys
sys.path.insert(0, sys.argv[3])
from tests_py import test_log_tail as t
function = t.INSTALLED if sys.argv[2] == 'upstream' else t.REPLACED

def at_depth(depth):
    if depth:
        return at_depth(depth - 1)
    try:
        return t.run_tail(function, sys.argv[1], 100)
    except RecursionError:
        return 'RecursionError'

here, limit = len(inspect.stack(0)), sys.getrecursionlimit()
for room in range(40, 240):
    sys.setrecursionlimit(here + 50 + room)
    outcome = at_depth(50)
    sys.setrecursionlimit(limit)
    print(room, repr(outcome), flush=True)
'''


def test_near_the_recursion_limit(tmp_path):
    """Called with little room left on the stack, where upstream's json.loads
    of a payload reaches the recursion limit: the same answers, room by
    room. Each side probes in a process of its own, at a depth pytest does
    not change (under pytest, CPython 3.9 aborted: "Cannot recover from
    stack overflow")."""
    nesting = [1, 10, 40, 80]
    data = b''.join(b'text\n<sky-payload>' + b'[' * n + b']' * n +
                    b'</sky-payload>\n' for n in nesting)
    path = write(tmp_path, data)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    outcomes = {}
    for side in ('upstream', 'replaced'):
        result = subprocess.run(
            [sys.executable, '-c', _RECURSION_SCRIPT, path, side, root],
            capture_output=True, text=True, timeout=300, check=False)
        assert result.returncode == 0, (side, result.stderr[-2000:])
        outcomes[side] = result.stdout.splitlines()
    assert len(outcomes['upstream']) == 200
    assert outcomes['replaced'] == outcomes['upstream']
    if sys.version_info < (3, 12):
        # Before 3.12, json.loads's C recursion counts against the limit,
        # so the rooms tried cross the boundary; from 3.12 on it has a limit
        # of its own and every room has the same answer.
        answers = {line.split(' ', 1)[1] for line in outcomes['upstream']}
        assert len(answers) > 2, 'the rooms tried do not reach the boundary'


# --- the gate and the recorded source -------------------------------------

_GATE_OFF_SCRIPT = r'''
import asyncio, inspect, json, sys
import aiofiles
from sky.server import stream_utils
from sky_fallback.skypilot import log_tail
import sky_rs

installed = stream_utils._tail_log_file
replaced = log_tail.replacement(installed)

async def collect(function):
    async with aiofiles.open(sys.argv[1], 'rb') as f:
        stream = function(f, None, False, 2, False)
        own = inspect.isasyncgen(stream) and stream.ag_code is installed.__code__
        return [chunk async for chunk in stream], own

ours, own = asyncio.run(collect(replaced))
theirs, _ = asyncio.run(collect(installed))
with open('/proc/self/maps') as maps:
    mapped = '_sky_rs' in maps.read()
print(json.dumps({'same': ours == theirs, 'own': own,
                  'loaded': sky_rs.is_loaded(), 'mapped': mapped}))
'''


@pytest.mark.parametrize('value', ['0', 'off', 'False'])
def test_gate_off_starts_no_go(tmp_path, value):
    if not os.path.exists('/proc/self/maps'):
        pytest.skip('no /proc/self/maps here')
    path = write(tmp_path, b'a\nb\n' + payload(1) + b'c\n')
    env = dict(os.environ, SKYPILOT_USE_RUST=value)
    result = subprocess.run([sys.executable, '-c', _GATE_OFF_SCRIPT, path],
                            env=env,
                            capture_output=True,
                            text=True,
                            timeout=120,
                            check=True)
    assert json.loads(result.stdout.splitlines()[-1]) == {
        'same': True,
        'own': True,
        'loaded': False,
        'mapped': False
    }


def test_source_sha256_is_the_installed_skypilots():
    """SkyPilot 0.14.1's function is the one recorded; another is not."""
    assert registry.source_sha256(INSTALLED) == log_tail.SOURCE_SHA256
    assert log_tail.unverified_dependency() is None
    assert ENTRY.unverified_reason(INSTALLED) is None

    async def _tail_log_file(f, request_id=None, plain_logs=False, tail=None,  # pylint: disable=unused-argument
                             follow=True, cluster_name=None,
                             polling_interval=0.1):
        yield ''

    assert registry.source_sha256(_tail_log_file) != log_tail.SOURCE_SHA256
    assert 'not the one sky_rs was written from' in ENTRY.unverified_reason(
        _tail_log_file)
    assert log_tail.MODULE == INSTALLED.__module__
    assert log_tail.NAME == INSTALLED.__name__


def test_changed_dependency_keeps_upstream(monkeypatch):
    def decode_payload(payload_str, payload_type=None,
                       raise_for_mismatch=True):
        return False, payload_str

    monkeypatch.setattr(message_utils, 'decode_payload', decode_payload)
    assert 'decode_payload is not the one verified' in (
        ENTRY.unverified_reason(INSTALLED))


def test_changed_payload_pattern_keeps_upstream(monkeypatch):
    pattern = message_utils._PAYLOAD_PATTERN  # pylint: disable=protected-access
    monkeypatch.setattr(message_utils, '_PAYLOAD_PATTERN',
                        re.compile(pattern.pattern, re.IGNORECASE))
    assert '_PAYLOAD_PATTERN is not the one verified' in (
        ENTRY.unverified_reason(INSTALLED))

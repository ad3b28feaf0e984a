"""SkyPilot's server-side ``--tail N``, at the cost of the tail.

What upstream does: ``sky.server.stream_utils._tail_log_file(f, ...,
tail=N, ...)`` serves ``sky api logs REQUEST --tail``, ``sky logs
--provision --tail`` and, against a remote server, ``sky api logs
--server-logs --tail`` (a local one tails that file in the client). It
reads the whole log from the position of ``f`` line by line through
aiofiles (a thread-pool round trip per line), decodes each line (UTF-8, errors='replace'), asks
``message_utils.decode_payload`` whether it is a payload, keeps the last N
others in a deque, yields them one by one, and then follows the file from
where the reading stopped, its end. For a 1,000,000-line log (117 MB) that is
about 30 s of the event loop that every request of the server shares.

What this does: Go reads back from the end of the file
(``sky_rs._log_tail``, ``skyrs.VisitLogTail``), in a thread, with the GIL
released, until it has the N lines, and returns them decoded; they are
yielded one by one, ``f`` is moved to where upstream's reading ends, and
upstream's own generator, called with ``tail=None`` (it then skips its tail
part), follows the file from there. A 10 GB log costs what a 1 MB log does.

Why it is equal:

- The lines. A line is a payload when ``_PAYLOAD_PATTERN`` matches it and
  ``json.loads`` accepts the body of the first match. The markers are ASCII,
  and decoding with errors='replace' never creates, removes or moves an
  ASCII character, so Go finds the match in the raw bytes; Go's JSON check is
  CPython's json.loads grammar (NaN and Infinity included, strict strings,
  ``sys.get_int_max_str_digits()`` passed in), and json.loads treats every
  non-ASCII character alike, so raw bytes decide as the decoded text does
  (``skyrs.ClassifyLogLine``). The one thing Go cannot know is where
  upstream's call would reach the recursion limit: payloads nested deeper
  than ``max_depth``, a depth the stack here leaves ample room for, are not
  classified, and the call goes to upstream (below). Decoding the lines in
  Go equals CPython's decoding line by line (``skyrs.AppendUTF8Replace``;
  a '\\n' ends every invalid sequence).
- The position. Upstream's reading ends at the end of the file it saw; here
  the end is the size ``fstat`` gave before Go read, and ``f`` is moved
  there. Bytes appended meanwhile are followed, as upstream follows what is
  appended after its reading. Go reads the selected bytes twice and declines
  when they differ or run short (a log truncated and written again).
- The generator. Where upstream's own code answers (``SKYPILOT_USE_RUST``
  off, no extension, a ``tail`` that is not a plain int or is negative, a
  file not opened as bytes by aiofiles, too little room on the stack) the
  replacement returns upstream's generator itself, called with the same
  arguments. On the native path it returns an async iterator
  (:class:`_NativeTail`) whose tail step runs where upstream's generator
  frame would, and which hands the follow loop's steps straight to
  upstream's generator: both run as deep in the stack as upstream's would,
  which is what decides whether ``decode_payload`` meets the recursion
  limit. Where Go declines (the file changed, lines spanning more than 64
  MiB, a payload nested deeper than ``max_depth``, lines holding every
  control character), upstream's own tail loop reads the tail, in that same
  frame. One step is not at upstream's depth: when the tail has no line to
  yield, the follow loop's first step runs from the tail's frame, one frame
  deeper than upstream's; it differs only for a payload appended meanwhile
  whose nesting is within one level of the recursion limit.
"""

import asyncio
import collections
import functools
import importlib
import inspect
import logging
import os
import re
import stat
import sys
from typing import Any, Callable, Deque, List, Optional, Tuple

from sky_fallback import rust_fallback

MODULE = 'sky.server.stream_utils'
NAME = '_tail_log_file'
# sha256 of inspect.getsource() of SkyPilot 0.14.1's function.
SOURCE_SHA256 = (
    '4052cd059e4f7938a9cf1960e04ec54f63fd334d5ca5df06046b7912f628f5cd')
CONTEXTS = frozenset({'main', 'uvicorn'})

# What the rewrite relies on besides the function it replaces, verified as
# that function is: upstream's line filter and payload test (sha256 of their
# source), and the pattern the test uses.
DEPENDENCIES = {
    ('sky.server.stream_utils', '_yield_log_file_with_payloads_skipped'):
        'e33b61fbb7b660ec4c185514f356e897e6577306bfe2514550081dedeea95404',
    ('sky.utils.message_utils', 'decode_payload'):
        '04566310242428d3effb4f2fc76f4243c5aa5e5c8b73ce3c6c76d01d45a34fb8',
}
PAYLOAD_PATTERN = r'<sky-payload(.*?)>(.*?)</sky-payload>'

logger = logging.getLogger(__name__)

# The deepest payload nesting Go classifies. Real payloads nest a few levels;
# from Python 3.12 the nesting counts against the C recursion limit (at
# least 800), which this leaves far from reach.
_MAX_PAYLOAD_DEPTH = 100
# What upstream's json.loads of a payload takes of the recursion limit above
# the caller of _tail_log_file, besides the payload's nesting (its generator,
# the line filter's, decode_payload, json.loads, decode, raw_decode, the
# scanner): 10 on CPython 3.11, measured; the rest is room to spare.
_PAYLOAD_FRAMES = 32
# Below this much room for nesting, upstream answers.
_MIN_PAYLOAD_DEPTH = 8


def unverified_dependency() -> Optional[str]:
    """None when the installed SkyPilot's helpers are those the rewrite was
    written against; otherwise which one is not."""
    # pylint: disable=import-outside-toplevel
    from sky_fallback.skypilot import registry  # it imports this module
    for (module_name, name), digest in DEPENDENCIES.items():
        function = getattr(importlib.import_module(module_name), name, None)
        if function is None or registry.source_sha256(function) != digest:
            return f'{module_name}.{name} is not the one verified'
    message_utils = importlib.import_module('sky.utils.message_utils')
    pattern = getattr(message_utils, '_PAYLOAD_PATTERN', None)
    if (getattr(pattern, 'pattern', None) != PAYLOAD_PATTERN or
            getattr(pattern, 'flags', None) != re.compile(PAYLOAD_PATTERN).flags):
        return 'sky.utils.message_utils._PAYLOAD_PATTERN is not the one verified'
    return None


def replacement(installed: Callable[..., Any]) -> Callable[..., Any]:
    """The function to set as ``stream_utils._tail_log_file``: ``installed``
    (upstream's, source verified, and its helpers: unverified_dependency)
    with its tail read in Go."""
    from aiofiles.threadpool import binary  # pylint: disable=import-outside-toplevel
    signature = inspect.signature(installed)
    # The files upstream's line loop reads as bytes (aiofiles.open(..., 'rb'),
    # with or without a buffer): a text file is upstream's (its error).
    binary_files = (binary.AsyncBufferedReader, binary.AsyncFileIO)

    def _tail_log_file(*args, **kwargs):
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError:
            return installed(*args, **kwargs)  # upstream's TypeError
        bound.apply_defaults()
        (f, request_id, plain_logs, tail, follow, cluster_name,
         polling_interval) = bound.args
        # A tail that is not a plain int (deque(maxlen=...) decides) or is
        # negative (its ValueError) is upstream's.
        if (type(tail) is not int or tail < 0 or  # pylint: disable=unidiomatic-typecheck
                type(f) not in binary_files):
            return installed(*args, **kwargs)
        if not rust_fallback.is_rust_available():
            return installed(*args, **kwargs)
        max_depth = _payload_depth_room()
        if max_depth < _MIN_PAYLOAD_DEPTH:
            return installed(*args, **kwargs)
        return _NativeTail(
            f, tail, max_depth,
            installed.__globals__['_yield_log_file_with_payloads_skipped'],
            lambda: installed(f, request_id, plain_logs, None, follow,
                              cluster_name, polling_interval))

    functools.update_wrapper(_tail_log_file,
                             installed,
                             assigned=('__name__', '__qualname__', '__doc__'),
                             updated=())
    _tail_log_file.__signature__ = signature  # type: ignore[attr-defined]
    # No __wrapped__: inspect.getsource() would follow it, and this function
    # must not pass for upstream's when its source is checked.
    del _tail_log_file.__wrapped__
    return _tail_log_file


def _payload_depth_room() -> int:
    """The deepest payload nesting upstream's json.loads would surely parse
    without RecursionError, if called by the caller of _tail_log_file."""
    depth = 0
    frame: Any = sys._getframe(1)  # pylint: disable=protected-access
    while frame is not None:
        depth += 1
        frame = frame.f_back
    return min(_MAX_PAYLOAD_DEPTH,
               sys.getrecursionlimit() - depth - _PAYLOAD_FRAMES)


class _NativeTail:
    """What ``_tail_log_file`` returns on the native path: an async iterator
    of the tail's lines, then of upstream's follow loop.

    It stands for upstream's generator: each step it takes itself (the
    tail) runs in a coroutine frame where upstream's generator frame would
    be, and each step of the follow loop is the step of upstream's own
    generator, returned by ``__anext__`` for the caller to await, so that
    generator runs as deep in the stack as upstream's would (which decides
    where ``decode_payload`` meets the recursion limit). Where Go declines,
    the tail is read by upstream's own tail loop (the three lines of
    ``_tail_log_file`` before its follow loop, verified by its source
    hash), in that same frame.
    """

    __slots__ = ('_file', '_tail', '_max_depth', '_lines_of', '_make_follow',
                 '_lines', '_follow', '_failed')

    def __init__(self, f: Any, tail: int, max_depth: int,
                 lines_of: Callable[[Any], Any],
                 make_follow: Callable[[], Any]):
        self._file = f
        self._tail = tail
        self._max_depth = max_depth
        # upstream's _yield_log_file_with_payloads_skipped, as it finds it
        self._lines_of = lines_of
        self._make_follow = make_follow
        self._lines: Deque[str] = collections.deque()
        self._follow: Any = None  # upstream's generator, once it streams
        self._failed = False  # the tail raised: the iterator is done

    def __aiter__(self) -> '_NativeTail':
        return self

    def __anext__(self) -> Any:
        if self._lines:
            return self._next_line()
        if self._follow is not None:
            return self._follow.__anext__()
        return self._start()

    async def aclose(self) -> None:
        self._lines.clear()
        if self._follow is not None:
            await self._follow.aclose()
        self._failed = True

    async def _next_line(self) -> str:
        return self._lines.popleft()

    async def _start(self) -> str:
        if self._failed:
            raise StopAsyncIteration
        try:
            lines = await self._read_tail()
            if lines is None:  # Go declined: upstream's tail loop
                kept: Deque[str] = collections.deque(maxlen=self._tail)
                async for line_str in self._lines_of(self._file):
                    kept.append(line_str)
                lines = list(kept)
        except BaseException:
            self._failed = True
            raise
        self._follow = self._make_follow()
        if lines:
            self._lines.extend(lines)
            return self._lines.popleft()
        # No line to yield: the follow loop's first step runs from here,
        # one frame deeper than upstream's (see the module's docstring).
        return await self._follow.__anext__()

    async def _read_tail(self) -> Optional[List[str]]:
        """The lines of the tail, with the file moved to where upstream's
        reading would end; None (the file untouched) when Go declines."""
        f = self._file
        try:
            start = await f.tell()
            # Go reads a descriptor of its own: should the stream be closed
            # while Go reads (a client gone), the descriptor of f may be
            # reused at once.
            fd = os.dup(f.fileno())
        except Exception:  # pylint: disable=broad-except
            return None
        loop = asyncio.get_running_loop()
        found = await loop.run_in_executor(None, _tail_lines_closing, fd,
                                           start, self._tail, self._max_depth)
        if found is None:
            return None
        lines, end = found
        try:
            await f.seek(end)
        except Exception:  # pylint: disable=broad-except
            return None  # f is where it was, or nowhere to read from
        return lines


_faults_logged = False


def _tail_lines_closing(fd: int, start: int, tail: int,
                        max_depth: int) -> Optional[Tuple[List[str], int]]:
    """The lines of the tail of the file open as fd from byte start, and
    where upstream's reading ends; None for upstream to read. Closes fd."""
    global _faults_logged
    try:
        info = os.fstat(fd)
        end = info.st_size
        # Not a regular file, or one whose size may not be its content (an
        # empty size: files of /proc; upstream reads an empty file at no
        # cost), or a position beyond the end: upstream reads.
        if not stat.S_ISREG(info.st_mode) or end == 0 or start > end:
            return None
        if tail == 0 or start == end:
            return [], end
        # pylint: disable=import-outside-toplevel
        from sky_rs import _log_tail
        get_digits = getattr(sys, 'get_int_max_str_digits', None)
        lines = _log_tail.tail_log_lines(fd, start, end, min(tail, end - start),
                                         max_depth,
                                         get_digits() if get_digits else 0)
        return lines, end
    except NotImplementedError:
        return None  # declined
    except Exception as error:  # pylint: disable=broad-except
        if not _faults_logged and isinstance(error, SystemError):
            _faults_logged = True
            logger.warning(
                'sky_rs log tail hit an internal fault (%s); SkyPilot reads '
                'the tail instead. Further faults are not logged.', error)
        return None
    finally:
        os.close(fd)

"""The lines SkyPilot's server-side log tail yields, found in Go.

SkyPilot's ``stream_utils._tail_log_file(..., tail=n)`` reads a whole log to
keep the last n lines that are not payloads. :func:`tail_log_lines` gives
those lines reading back from the end of the file
(``skyrs.VisitLogTail``), so its cost follows the lines, not the file. The
rewrite of ``_tail_log_file`` that uses it, with the gate and the fallback to
upstream, is ``sky_fallback/skypilot/log_tail.py``.
"""

from typing import List

from sky_rs import _errors


def tail_log_lines(fd: int, start: int, end: int, n: int, max_depth: int,
                   int_max_str_digits: int) -> List[str]:
    """The lines ``_tail_log_file(f, tail=n)`` yields, for a file ``f`` open
    as ``fd``, positioned at byte ``start``, whose end is byte ``end``.

    That is, the last ``n`` lines of the bytes ``[start, end)`` that are not
    SkyPilot payloads (``message_utils.decode_payload``), in file order, each
    decoded as ``line.decode('utf-8', errors='replace')`` decodes it and
    ending in ``'\\n'`` (the last line of the range may not).

    ``max_depth`` is the deepest nesting of a payload's JSON that
    ``json.loads`` is known to parse without RecursionError where upstream
    would call it; ``int_max_str_digits`` is ``sys.get_int_max_str_digits()``
    (0: no limit).

    ``fd`` is read with pread(2) (its position is left alone) and must stay
    open during the call; the GIL is released while Go reads. Raises
    NotImplementedError where Go declines (the lines span more than 64 MiB,
    a payload among them is nested deeper than ``max_depth``, the file
    changed while read, an argument Go cannot carry), OSError when a read
    fails.
    """
    text = _errors.call('pyexport_LogTailLines', fd, start, end, n, max_depth,
                 int_max_str_digits)
    if not text:
        return []
    separator, nul_stand_in = text[0], text[1]
    body = text[2:]
    if nul_stand_in != separator:
        body = body.replace(nul_stand_in, '\0')
    lines = body.split(separator)
    lines.pop()  # after the last separator
    return lines

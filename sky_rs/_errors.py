"""The error protocol of the boundary: what an encoded Go error stands for
(skyrs/pyexport/boundary.go), and one call into Go with its errors raised as
the exceptions SPEC.md requires."""

import builtins
import os

from sky_rs import _loading


class NativeFault(SystemError):
    """An internal fault in the Go code (a recovered panic): a bug in sky_rs."""


SEP = '\x1f'

# What pybindgen raises when an argument cannot be carried: a str with a NUL
# or a lone surrogate (ValueError), an int beyond int64 (OverflowError), a
# wrong type (TypeError). Such input is declined, not failed.
CANNOT_CARRY = (TypeError, ValueError, OverflowError)


def error(err: RuntimeError, filename=None) -> BaseException:
    """The exception an encoded Go error ("skyrs␟Kind␟errno␟msg") stands for."""
    parts = str(err).split(SEP, 3)
    if len(parts) != 4 or parts[0] != 'skyrs':
        return NativeFault(f'unexpected error from the Go extension: {err}')
    _, kind, errno, message = parts
    if kind == 'OSError':
        code = int(errno)
        if code:  # message is the file name Go knew, if any; none (a
            # failed read or seek on an open file) means Python names none.
            return OSError(code, os.strerror(code),
                           (filename or message) if message else None)
        return OSError(message)
    if kind == 'Decline':
        return NotImplementedError(message)
    if kind == 'Panic':
        return NativeFault(f'Go panic: {message}')
    exc_type = getattr(builtins, kind, None)
    if not (isinstance(exc_type, type) and issubclass(exc_type, Exception)):
        return NativeFault(f'unknown error kind {kind!r}: {message}')
    return exc_type(message)


def decline(err: Exception) -> NotImplementedError:
    return NotImplementedError(f'sky_rs cannot carry this argument: {err}')


def call(name: str, *args, filename=None):
    """Call the Go function ``name``, turning its errors into the exceptions
    SPEC.md requires and arguments it cannot carry into a decline."""
    # ForkedChildError in a forked child.
    function = getattr(_loading.lib or _loading.load(), name)
    try:
        return function(*args)
    except RuntimeError as e:
        raise error(e, filename) from None
    except CANNOT_CARRY as e:
        raise decline(e) from None


def is_int(value) -> bool:
    """Whether value is an int Go takes as one (bool is not)."""
    return isinstance(value, int) and not isinstance(value, bool)

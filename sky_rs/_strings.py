"""The string helpers: ``base36_encode``, ``format_float``,
``truncate_long_string``."""

from sky_rs import _errors
from sky_rs import _loading


def base36_encode(hex_str: str) -> str:
    """``int(hex_str, 16)`` written in base 36 (alphabet 0-9a-z)."""
    if type(hex_str) is not str:  # pylint: disable=unidiomatic-typecheck
        raise NotImplementedError('sky_rs takes a str')
    function = (_loading.lib or _loading.load()).pyexport_Base36Encode
    try:
        return function(hex_str)
    except RuntimeError as e:
        error = _errors.error(e)
    except _errors.CANNOT_CARRY as e:
        raise _errors.decline(e) from None
    if not isinstance(error, ValueError):
        raise error
    if str(error) == 'negative':
        raise ValueError('base36_encode() requires a non-negative '
                         f'number: {hex_str!r}') from None
    # CPython's message: "%.200R", the repr cut at 200 characters.
    raise ValueError('invalid literal for int() with base 16: '
                     f'{repr(hex_str)[:200]}') from None


def format_float(num, precision: int = 1) -> str:
    """``num`` without a decimal point if whole, else to ``precision`` places."""
    if isinstance(num, int):
        return str(num)
    # Exactly float: a subclass may override __format__ or is_integer(),
    # which upstream calls.
    if not (type(num) is float and _errors.is_int(precision)):  # pylint: disable=unidiomatic-typecheck
        raise NotImplementedError('sky_rs formats a float with int precision')
    return _errors.call('pyexport_FormatFloat', num, precision)


def truncate_long_string(s: str,
                         max_length: int = 35,
                         truncate_middle: bool = False) -> str:
    """``s`` cut to about ``max_length`` code points, as upstream cuts it."""
    if not (type(s) is str and _errors.is_int(max_length)):  # pylint: disable=unidiomatic-typecheck
        raise NotImplementedError('sky_rs takes a str and an int length')
    if len(s) <= max_length:
        return s
    return _errors.call('pyexport_TruncateLongString', s, max_length,
                 bool(truncate_middle))

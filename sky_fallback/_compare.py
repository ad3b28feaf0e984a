"""``python -m sky_fallback compare FUNCTION [ARG ...]``: one input, every
implementation, any difference.

The call is made four times, each on a fresh copy of the arguments:

- ``go``: ``sky_rs.<name>``, the Go extension itself (whatever
  ``SKYPILOT_USE_RUST`` says; a decline, ``NotImplementedError``, means "the
  Python reference answers this input" and is not a difference);
- ``python``: ``rust_fallback._python_<name>``, the pure-Python reference;
- ``api``: ``rust_fallback.<name>``, what callers get, as configured;
- ``upstream``: SkyPilot's own function, when SkyPilot is installed (its
  original even while ``patch_skypilot()`` is active).

Two outcomes are equal when both return equal values (a hash object by its
name, sizes and digest; a float by its repr, so ``-0.0`` and ``nan`` compare
exactly) or both raise the same exception type with the same message. The
report ends with the environment, so that it is a complete bug report.

Exit status: 0 when every outcome agrees, 1 when some differ, 2 for a usage
error (an unknown function, an argument that cannot be read).
"""

import argparse
import ast
import copy
import dataclasses
import inspect
import json
import sys
import typing
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from sky_fallback import rust_fallback

# The public functions that have a pure-Python reference to compare with.
FUNCTION_NAMES = tuple(name for name in rust_fallback.__all__
                       if hasattr(rust_fallback, f'_python_{name}'))

SUBJECTS = ('go', 'python', 'api', 'upstream')

EXIT_AGREE = 0
EXIT_DIFFERENT = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """The command line does not name a function or readable arguments."""


@dataclasses.dataclass
class Result:
    """What one implementation did with the input.

    ``status`` is ``returns``, ``raises``, ``declined`` (sky_rs left the
    input to Python) or ``unavailable`` (that implementation cannot run here);
    ``shown`` says what happened in words; ``key`` is what is compared.
    """
    subject: str
    status: str
    shown: str
    key: Any = None
    note: Optional[str] = None

    @property
    def compared(self) -> bool:
        return self.status in ('returns', 'raises')


@dataclasses.dataclass
class Comparison:
    function: str
    args: Tuple[Any, ...]
    kwargs: Dict[str, Any]
    results: List[Result]
    environment: Dict[str, Any]

    @property
    def call(self) -> str:
        return call_text(self.function, self.args, self.kwargs)

    def groups(self) -> List[Tuple[str, List[str]]]:
        """The distinct outcomes, each with the subjects that had it."""
        groups: Dict[Any, Tuple[str, List[str]]] = {}
        for result in self.results:
            if result.compared:
                groups.setdefault(result.key,
                                  (result.shown, []))[1].append(result.subject)
        return list(groups.values())

    @property
    def agree(self) -> bool:
        return len(self.groups()) <= 1

    def to_json(self) -> Dict[str, Any]:
        return {
            'function': self.function,
            'call': self.call,
            'args': [repr(a) for a in self.args],
            'kwargs': {
                k: repr(v) for k, v in self.kwargs.items()
            },
            'agree': self.agree,
            'results': {
                r.subject: {
                    'status': r.status,
                    'shown': r.shown,
                    'note': r.note
                } for r in self.results
            },
            'groups': [{
                'outcome': shown,
                'subjects': subjects
            } for shown, subjects in self.groups()],
            'environment': self.environment,
        }


def call_text(function: str, args: Sequence[Any],
              kwargs: Dict[str, Any]) -> str:
    """The call as Python source: ``base36_encode('ff')``."""
    shown = [repr(a) for a in args]
    shown += [f'{k}={v!r}' for k, v in kwargs.items()]
    return f'{function}({", ".join(shown)})'


# --- running one implementation -------------------------------------------


def value_key(value: Any) -> Any:
    """What a returned value is compared by: hashable, a hash object by its
    name, sizes and digest, a float by its repr."""
    key = _value_key_of(value)
    try:
        hash(key)
    except TypeError:
        return ('repr', type(value).__name__, repr(value))
    return key


def _value_key_of(value: Any) -> Any:
    if hasattr(value, 'hexdigest'):  # a hashlib object or sky_rs.FileDigest
        return ('hash', value.name, value.digest_size, value.block_size,
                value.hexdigest())
    if isinstance(value, float):
        return ('float', repr(value))
    if isinstance(value, list):
        return ('list', tuple(_value_key_of(v) for v in value))
    return (type(value).__name__, value)


def _value_shown(value: Any) -> str:
    if hasattr(value, 'hexdigest'):
        return f'<{value.name} digest {value.hexdigest()}>'
    return repr(value)


def outcome(subject: str, function: Callable[..., Any],
            args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Result:
    """What ``function`` does with a fresh copy of the arguments; a decline
    (NotImplementedError) of the ``go`` subject is not an outcome."""
    args, kwargs = copy.deepcopy(args), copy.deepcopy(kwargs)
    saved_tracebacklimit = getattr(sys, 'tracebacklimit', None)
    try:
        value = function(*args, **kwargs)
    except NotImplementedError as error:
        if subject == 'go':
            return Result(subject, 'declined',
                          f'declined ({error}): the Python reference answers')
        return _raised(subject, error)
    except Exception as error:  # pylint: disable=broad-except
        return _raised(subject, error)
    finally:
        # Upstream raises inside ux_utils.print_exception_no_traceback(),
        # which sets sys.tracebacklimit = 0 and never restores it.
        if saved_tracebacklimit is None:
            sys.__dict__.pop('tracebacklimit', None)
        else:
            sys.tracebacklimit = saved_tracebacklimit
    return Result(subject, 'returns', f'returns {_value_shown(value)}',
                  ('returns', value_key(value)))


def _raised(subject: str, error: Exception) -> Result:
    return Result(subject, 'raises',
                  f'raises {type(error).__name__}: {error}', error_key(error))


def error_key(error: BaseException) -> Any:
    """What a raised exception is compared by: its class and message."""
    kind = type(error)
    return ('raises', f'{kind.__module__}.{kind.__qualname__}', str(error))


def _native_function(name: str) -> Tuple[Optional[Callable[..., Any]], str]:
    try:
        import sky_rs  # pylint: disable=import-outside-toplevel
        sky_rs.load()
    except Exception as error:  # pylint: disable=broad-except
        return None, (f'sky_rs cannot be loaded: {type(error).__name__}: '
                      f'{error}')
    return getattr(sky_rs, name), ''


def _upstream_function(name: str) -> Tuple[Optional[Callable[..., Any]], str]:
    from sky_fallback import skypilot  # pylint: disable=import-outside-toplevel
    from sky_fallback.skypilot import utilities  # pylint: disable=import-outside-toplevel
    if name not in {entry[1] for entry in utilities.UTILITIES}:
        return None, f'SkyPilot has no {name}'
    try:
        return skypilot.skypilot_original(name), ''
    except ImportError as error:
        return None, f'SkyPilot is not installed ({error})'


def _upstream_hangs(name: str, args: Tuple[Any, ...],
                    kwargs: Dict[str, Any]) -> Optional[str]:
    """Why upstream must not be called with this input, if it must not."""
    if name != 'base36_encode':
        return None
    hex_str = kwargs.get('hex_str', args[0] if args else None)
    try:
        negative = int(hex_str, 16) < 0  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if negative:
        return ('not run: upstream loops forever on a negative number (here '
                'both backends raise ValueError, the one deliberate '
                'difference)')
    return None


def upstream_for_call(
        name: str, args: Tuple[Any, ...],
        kwargs: Dict[str, Any]) -> Tuple[Optional[Callable[..., Any]], str]:
    """SkyPilot's own ``name`` (its original while patched), if it may be
    called with these arguments, else None and why not (SkyPilot is not
    installed or has no such function, it would loop forever, or its
    signature cannot take the call). Imports SkyPilot: seconds."""
    upstream, why = _upstream_function(name)
    if upstream is None:
        return None, why
    hangs = _upstream_hangs(name, args, kwargs)
    if hangs:
        return None, hangs
    try:
        inspect.signature(upstream).bind(*args, **kwargs)
    except TypeError as error:
        return None, (f'not run: SkyPilot\'s {name} cannot take this call '
                      f'({error})')
    return upstream, ''


def route(name: str) -> str:
    """Which backend the public API sends ``name`` to right now."""
    routes = getattr(rust_fallback, 'routes', None)
    if routes is not None:
        chosen = routes().get(name)
        if chosen is not None:
            return chosen
    return rust_fallback.get_backend_info()['backend']


def environment() -> Dict[str, Any]:
    """The backend report plus the SkyPilot version: a bug report's context."""
    info = dict(rust_fallback.get_backend_info())
    sky = sys.modules.get('sky')
    info['skypilot_version'] = getattr(sky, '__version__', None)
    return info


def _check_name(name: str) -> None:
    if name not in FUNCTION_NAMES:
        raise UsageError(f'unknown function {name!r}; choose from '
                         f'{", ".join(FUNCTION_NAMES)}')


def check_call(name: str, args: Tuple[Any, ...],
               kwargs: Dict[str, Any]) -> None:
    """Raise UsageError unless the public ``name`` takes these arguments."""
    _check_name(name)
    try:
        inspect.signature(getattr(rust_fallback, name)).bind(*args, **kwargs)
    except TypeError as error:
        raise UsageError(f'{name}: {error}') from None


def compare(name: str,
            args: Sequence[Any] = (),
            kwargs: Optional[Dict[str, Any]] = None,
            with_upstream: bool = True) -> Comparison:
    """Call ``name`` with the same arguments in every implementation."""
    args = tuple(args)
    kwargs = dict(kwargs or {})
    check_call(name, args, kwargs)
    results = []

    native, why = _native_function(name)
    if native is None:
        results.append(Result('go', 'unavailable', why))
    else:
        results.append(outcome('go', native, args, kwargs))

    reference = getattr(rust_fallback, f'_python_{name}')
    results.append(outcome('python', reference, args, kwargs))

    api = outcome('api', getattr(rust_fallback, name), args, kwargs)
    api.note = f'routed to {route(name)}'
    results.append(api)

    if not with_upstream:
        results.append(
            Result('upstream', 'unavailable', 'not run (--no-upstream)'))
    else:
        upstream, why = upstream_for_call(name, args, kwargs)
        if upstream is None:
            results.append(Result('upstream', 'unavailable', why))
        else:
            results.append(outcome('upstream', upstream, args, kwargs))
    return Comparison(name, args, kwargs, results, environment())


# --- the command line -----------------------------------------------------


def _takes_text(hint: Any) -> bool:
    return hint is str or hint == Optional[str]


def _read_value(function: str, parameter: str, text: str, hint: Any,
                literal: bool) -> Any:
    if not literal and _takes_text(hint):
        return None if text == 'None' and hint != str else text
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        pass
    if 'float' in str(hint) or hint is float:
        try:
            return float(text)  # nan, inf, -inf
        except ValueError:
            pass
    raise UsageError(f'{function}: cannot read {parameter}={text!r} as a '
                     'Python literal (quote strings: "\'text\'")')


def parse_arguments(
        name: str,
        words: Sequence[str],
        literal: bool = False) -> Tuple[Tuple[Any, ...], Dict[str, Any]]:
    """Turn command-line words into the call's arguments.

    ``NAME=VALUE`` (NAME a parameter of the function) is a keyword argument,
    any other word the next positional one. A parameter annotated ``str`` takes
    the word as it is; every other value is read as a Python literal
    (``3``, ``2.5``, ``None``, ``"{'/dst': '/src'}"``), or, for a float, also
    ``nan``/``inf``. With ``literal``, every value is read as a literal.
    """
    _check_name(name)
    function = getattr(rust_fallback, name)
    parameters = list(inspect.signature(function).parameters.values())
    hints = typing.get_type_hints(function)
    positional = [p for p in parameters if p.kind is p.POSITIONAL_OR_KEYWORD]
    args: List[Any] = []
    kwargs: Dict[str, Any] = {}
    for word in words:
        key, sep, text = word.partition('=')
        if sep and key in {p.name for p in parameters}:
            if key in kwargs:
                raise UsageError(f'{name}: {key} given twice')
            kwargs[key] = _read_value(name, key, text, hints.get(key), literal)
            continue
        if len(args) >= len(positional):
            raise UsageError(f'{name} takes at most {len(positional)} '
                             f'positional arguments ({word!r} is one more)')
        parameter = positional[len(args)].name
        if parameter in kwargs:
            raise UsageError(f'{name}: {parameter} given twice')
        args.append(
            _read_value(name, parameter, word, hints.get(parameter), literal))
    return tuple(args), kwargs


def format_text(comparison: Comparison) -> str:
    lines = [f'compare {comparison.call}']
    for result in comparison.results:
        note = f'  ({result.note})' if result.note else ''
        lines.append(f'  {result.subject:<9} {result.shown}{note}')
    groups = comparison.groups()
    if comparison.agree:
        compared = [r.subject for r in comparison.results if r.compared]
        lines.append(f'result: no difference ({", ".join(compared)} agree)')
    else:
        lines.append('result: DIFFERENCE')
        for shown, subjects in groups:
            lines.append(f'  {", ".join(subjects)}: {shown}')
        lines.append('Please report this, with this whole output, as a bug in '
                     'sky_rs (docs/TROUBLESHOOTING.md).')
    lines.append('environment:')
    for key, value in comparison.environment.items():
        lines.append(f'  {key}: {"-" if value is None else value}')
    return '\n'.join(lines)


# How a call is written on the command line, for the help of compare and
# bench, which both take FUNCTION ARG... (add_call_arguments).
CALL_SYNTAX = ('ARG is NAME=VALUE for a keyword argument, else the next '
               'positional one. A str parameter takes the word as it is; '
               'other values are Python literals (3, 2.5, None, '
               '"{\'/dst\': \'/src\'}"). Put -- before arguments that start '
               'with "-".')


def add_call_arguments(parser: argparse.ArgumentParser) -> None:
    """FUNCTION, ARG... and --literal: a call of a public function, as
    compare and bench take it (read back by :func:`call_from_arguments`)."""
    parser.add_argument('function',
                        metavar='FUNCTION',
                        help=f'one of: {", ".join(FUNCTION_NAMES)}')
    parser.add_argument('words', metavar='ARG', nargs='*', help='an argument')
    parser.add_argument('--literal',
                        action='store_true',
                        help='read every ARG as a Python literal, str '
                        'parameters too (to pass e.g. a wrong type)')


def call_from_arguments(
        args: argparse.Namespace) -> Tuple[Tuple[Any, ...], Dict[str, Any]]:
    """The arguments of the call that :func:`add_call_arguments` read;
    UsageError if the function does not take them."""
    call_args, call_kwargs = parse_arguments(args.function, args.words,
                                             args.literal)
    check_call(args.function, call_args, call_kwargs)
    return call_args, call_kwargs


def add_parser(subcommands: Any) -> argparse.ArgumentParser:
    """Add the ``compare`` subcommand to ``python -m sky_fallback``."""
    parser = subcommands.add_parser(
        'compare',
        help='run one call in every implementation and print any difference',
        description='Call FUNCTION with ARGs in the Go extension (go), the '
        'pure-Python reference (python), the public API as configured (api) '
        'and SkyPilot itself (upstream, if installed), and print what each '
        'did. Exit status: 0 no difference, 1 a difference, 2 usage error.',
        epilog=CALL_SYNTAX + ' Examples: '
        'compare format_float 2.25 1; compare base36_encode deadbeef; '
        'compare read_last_n_lines /var/log/syslog 5; '
        'compare get_max_workers_for_file_mounts num_sources=3 '
        'estimated_files_per_source=100 cloud_str=aws')
    add_call_arguments(parser)
    parser.add_argument('--json',
                        action='store_true',
                        help='print the comparison as JSON')
    parser.add_argument('--no-upstream',
                        action='store_true',
                        help='leave SkyPilot out: importing it takes '
                        'seconds, the other three rows take milliseconds')
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the ``compare`` subcommand; return the exit status."""
    try:
        call_args, call_kwargs = call_from_arguments(args)
        comparison = compare(args.function,
                             call_args,
                             call_kwargs,
                             with_upstream=not args.no_upstream)
    except UsageError as error:
        print(f'python -m sky_fallback compare: error: {error}',
              file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(json.dumps(comparison.to_json(), indent=2, default=repr))
    else:
        print(format_text(comparison))
    return EXIT_AGREE if comparison.agree else EXIT_DIFFERENT

"""``python -m sky_fallback bench FUNCTION [ARG ...]``: measure the gain
yourself, on your own input.

Times one call as upstream SkyPilot makes it and as the public API
(``sky_fallback.rust_fallback``) makes it, the way the user's guide measures
(its ``benchmark_function``: calls back to back, the time per call), and
prints both times, the speed-up and whether the two results are equal. Where
SkyPilot is not installed, lacks the function, or must not be called with this
input, the baseline is the pure-Python reference
(``rust_fallback._python_<name>``, upstream's code), as in the guide.

``timeit`` makes the samples (its ``autorange`` picks how many calls make one
of at least 0.2 s); the samples of the two sides alternate for ``--rounds``
rounds, so that a change in the machine's load falls on both, and the figure
is the median. The project's benchmark suite (every function, threads, a busy
machine: docs/BENCHMARKS.md) is not in this package: ``make bench`` runs it in
a checkout.

Exit status: 0 the results are equal, 1 they differ, 2 usage error.
"""

import argparse
import statistics
import sys
import timeit
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from sky_fallback import _compare
from sky_fallback import rust_fallback

EXIT_EQUAL = _compare.EXIT_AGREE
EXIT_DIFFERENT = _compare.EXIT_DIFFERENT
EXIT_USAGE = _compare.EXIT_USAGE

# The longest result shown when two results differ.
SHOWN_CHARACTERS = 300


def call_timer(function: Callable[..., Any],
               args: Tuple[Any, ...] = (),
               kwargs: Optional[Dict[str, Any]] = None) -> timeit.Timer:
    """A ``timeit.Timer`` of ``function(*args, **kwargs)``.

    The call is spelled out (``_f(a0, a1, key=k0)``) with the function and
    its arguments bound as locals of timeit's loop, so that every function
    timed pays the same, least, for the call itself.
    """
    scope: Dict[str, Any] = {'_function': function}
    setup = ['_f = _function']
    call = []
    for index, value in enumerate(args):
        scope[f'_arg{index}'] = value
        setup.append(f'a{index} = _arg{index}')
        call.append(f'a{index}')
    for index, (key, value) in enumerate((kwargs or {}).items()):
        scope[f'_kwarg{index}'] = value
        setup.append(f'k{index} = _kwarg{index}')
        call.append(f'{key}=k{index}')
    return timeit.Timer(f'_f({", ".join(call)})',
                        '\n'.join(setup),
                        globals=scope)


def format_seconds(seconds: Optional[float]) -> str:
    """A duration as ``1.48 s``, ``635.02 ms``, ``21.5 µs`` or ``8.19 µs``;
    ``-`` for None."""
    if seconds is None:
        return '-'
    if seconds >= 1:
        return f'{seconds:.2f} s'
    if seconds >= 1e-3:
        return f'{seconds * 1e3:.2f} ms'
    if seconds >= 1e-5:
        return f'{seconds * 1e6:.1f} µs'
    return f'{seconds * 1e6:.2f} µs'


def take_turns(samplers: Mapping[str, Callable[[], float]],
               rounds: int,
               have: Optional[Mapping[str, List[float]]] = None
              ) -> Dict[str, List[float]]:
    """``rounds`` samples of each sampler (a call returns one), the samplers
    in turn each round, starting with a different one each round. Samples in
    ``have`` count towards ``rounds``: such a sampler stops when it has them.

    Ours, as no harness has it (pyperf and pytest-benchmark time one subject
    after another): a change in the machine's load falls on all alike.
    """
    names = list(samplers)
    samples = {name: list((have or {}).get(name, ())) for name in names}
    for number in range(rounds):
        shift = number % len(names)
        for name in names[shift:] + names[:shift]:
            if len(samples[name]) < rounds:
                samples[name].append(samplers[name]())
    return samples


def time_alternately(functions: Dict[str, Callable[..., Any]],
                     args: Tuple[Any, ...], kwargs: Dict[str, Any],
                     rounds: int) -> Dict[str, Tuple[float, int]]:
    """Each function's median time per call over ``rounds`` samples, the
    functions taking turns, and its calls per sample."""
    timers = {
        name: call_timer(function, args, kwargs)
        for name, function in functions.items()
    }
    loops = {name: timer.autorange()[0] for name, timer in timers.items()}
    samples = take_turns(
        {
            name: (lambda t=timer, n=loops[name]: t.timeit(n) / n)
            for name, timer in timers.items()
        }, rounds)
    return {
        name: (statistics.median(values), loops[name])
        for name, values in samples.items()
    }


def _shorten(text: str) -> str:
    if len(text) <= SHOWN_CHARACTERS:
        return text
    return text[:SHOWN_CHARACTERS - 1] + '…'


def _skypilot_version() -> Optional[str]:
    return getattr(sys.modules.get('sky'), '__version__', None)


def bench(name: str, args: Tuple[Any, ...], kwargs: Dict[str, Any],
          rounds: int) -> Tuple[str, bool]:
    """Time ``name(*args, **kwargs)``: upstream (or the reference) against
    the public API. Returns the report and whether the results are equal."""
    upstream, why_not = _compare.upstream_for_call(name, args, kwargs)
    if upstream is not None:
        baseline = 'upstream'
        baseline_function = upstream
        baseline_shown = (f'{upstream.__module__}.{name} (SkyPilot '
                          f'{_skypilot_version() or "?"})')
    else:
        baseline = 'reference'
        baseline_function = getattr(rust_fallback, f'_python_{name}')
        baseline_shown = f'rust_fallback._python_{name}: {why_not}'
    api_function = getattr(rust_fallback, name)
    api_shown = (f'sky_fallback.rust_fallback.{name} (routed to '
                 f'{_compare.route(name)})')
    results = {
        baseline: _compare.outcome(baseline, baseline_function, args, kwargs),
        'api': _compare.outcome('api', api_function, args, kwargs),
    }
    equal = results[baseline].key == results['api'].key
    lines = [f'bench {_compare.call_text(name, args, kwargs)}']
    if any(r.status != 'returns' for r in results.values()):
        for subject, shown in ((baseline, baseline_shown), ('api', api_shown)):
            lines.append(f'  {subject:<9}  {_shorten(results[subject].shown)}'
                         f'  {shown}')
        lines.append('not timed: the call raises')
    else:
        timings = time_alternately({
            baseline: baseline_function,
            'api': api_function
        }, args, kwargs, rounds)
        width = max(len(format_seconds(t)) for t, _ in timings.values())
        for subject, shown in ((baseline, baseline_shown), ('api', api_shown)):
            per_call = format_seconds(timings[subject][0])
            lines.append(f'  {subject:<9}  {per_call:>{width}} per call  '
                         f'{shown}')
        speed_up = timings[baseline][0] / timings['api'][0]
        lines.append(f'speed-up: {speed_up:.2f}× ({baseline} / api)')
        lines.append(
            f'timed by timeit: median of {rounds} alternating rounds, '
            f'{timings[baseline][1]:,} and {timings["api"][1]:,} calls a '
            'sample')
    if equal:
        lines.append(f'equal: yes ({_shorten(results["api"].shown)})')
    else:
        lines.append('equal: NO')
        for subject in (baseline, 'api'):
            lines.append(f'  {subject}: {_shorten(results[subject].shown)}')
        lines.append('Please report this as a bug in sky_rs, with the output '
                     'of python -m sky_fallback compare and the same '
                     'arguments (docs/TROUBLESHOOTING.md).')
    return '\n'.join(lines), equal


def _rounds(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError('at least 1')
    return value


def add_parser(subcommands: Any) -> argparse.ArgumentParser:
    """Add the ``bench`` subcommand to ``python -m sky_fallback``."""
    parser = subcommands.add_parser(
        'bench',
        help='time one call: upstream SkyPilot against the public API',
        description='Time FUNCTION(ARG...) as upstream SkyPilot runs it and '
        'as sky_fallback.rust_fallback runs it, on this machine, and print '
        'the time per call of each, the speed-up and whether the results are '
        'equal. Without SkyPilot, or for a function it lacks, the baseline is '
        'the pure-Python reference. Exit status: 0 equal, 1 different, 2 '
        'usage error.',
        epilog=_compare.CALL_SYNTAX + ' Examples: bench read_last_n_lines '
        'app.log 100; bench hash_file app.log sha256; bench base36_encode '
        'd41d8cd98f00b204e9800998ecf8427e. Every function on prepared '
        'workloads, threads, a busy machine: make bench in a checkout '
        '(docs/BENCHMARKS.md).')
    _compare.add_call_arguments(parser)
    parser.add_argument('--rounds',
                        type=_rounds,
                        default=5,
                        help='alternating rounds of at least 0.2 s a side '
                        '(default 5)')
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the ``bench`` subcommand; return the exit status."""
    try:
        call_args, call_kwargs = _compare.call_from_arguments(args)
    except _compare.UsageError as error:
        print(f'python -m sky_fallback bench: error: {error}', file=sys.stderr)
        return EXIT_USAGE
    report, equal = bench(args.function, call_args, call_kwargs, args.rounds)
    print(report)
    return EXIT_EQUAL if equal else EXIT_DIFFERENT

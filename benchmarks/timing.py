"""How a workload is timed: its doors in interleaved rounds.

Three layers, two of them well-kept tools:

- a sample: ``timeit`` runs the call ``loops`` times back to back, garbage
  collection off (``sky_fallback._bench.call_timer``, which the user's
  ``python -m sky_fallback bench`` times with too);
- the rounds (ours, ``take_turns``, shared with that tool): the doors of a
  workload (upstream, python, api, sky_rs) take turns, one sample each a
  round, starting with a different door each round, so that a change in the
  machine's load falls on all of them alike. Neither harness has this:
  pyperf times one benchmark after another (in worker processes),
  pytest-benchmark one test's function;
- the statistics: each door's samples make a ``pyperf.Benchmark``, whose
  median is the figure reported; ``python -m benchmarks --json FILE`` saves
  them all as a pyperf file (``python -m pyperf stats FILE``, ``python -m
  pyperf compare_to OLD NEW``).

The calibration (calls per sample for about ``--sample-ms``) is ours too:
pyperf's happens in its worker processes and timeit's ``autorange`` aims at
0.2 s, twenty times the samples here. So is the equality column: every door's
result is compared with upstream's, which no harness looks at.
"""

import dataclasses
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import pyperf

from sky_fallback import _bench
from sky_fallback import _compare
# The interleaved rounds, shared with python -m sky_fallback bench.
from sky_fallback._bench import take_turns

DOORS = ('upstream', 'python', 'api', 'sky_rs')
# Upstream timed a second time in the same rounds, where the machine's noise
# is not that of an idle one (threads, a busy machine): upstream / again is
# how far one function strays from itself there.
AGAIN = 'again'


@dataclasses.dataclass
class Case:
    """One workload of one function."""
    function: str  # the public name
    workload: str  # what the arguments are, in words
    args: Tuple[Any, ...] = ()
    kwargs: Dict[str, Any] = dataclasses.field(default_factory=dict)
    rounds: int = 31
    # door -> the function it calls; a door upstream lacks is left out.
    calls: Dict[str, Callable[..., Any]] = dataclasses.field(
        default_factory=dict)
    size: Optional[int] = None  # input size in bytes, for the picture
    series: Optional[str] = None  # the picture's line this case belongs to
    table: bool = True  # shown in the main table
    shape: bool = False  # a log shape of issue #11, not a target of issue #5


@dataclasses.dataclass
class Result:
    case: Case
    per_call: Dict[str, Optional[float]]  # median seconds per call
    spread: Dict[str, Tuple[float, float]]  # (min, max) of the samples
    loops: Dict[str, int]
    equal: Dict[str, Optional[bool]]  # result equal to upstream's
    note: Dict[str, str]
    # door -> its samples, for the pyperf file
    benchmarks: Dict[str, pyperf.Benchmark] = dataclasses.field(
        default_factory=dict)

    def ratio(self, door: str) -> Optional[float]:
        base = self.per_call.get('upstream')
        mine = self.per_call.get(door)
        if not base or not mine:
            return None
        return base / mine


def first_call(function: Callable[..., Any], args: Tuple[Any, ...],
               kwargs: Dict[str, Any]) -> Tuple[Any, float]:
    """What one call returned or raised, as ``python -m sky_fallback
    compare`` compares it, and how long it took. NotImplementedError (sky_rs
    declines the input) propagates."""
    start = time.perf_counter()
    try:
        value = function(*args, **kwargs)
    except NotImplementedError:
        raise
    except Exception as error:  # pylint: disable=broad-except
        return _compare.error_key(error), time.perf_counter() - start
    took = time.perf_counter() - start
    return ('returns', _compare.value_key(value)), took


def as_benchmarks(label: str,
                  samples: Mapping[str, List[float]],
                  loops: Optional[Mapping[str, int]] = None
                 ) -> Dict[str, pyperf.Benchmark]:
    """Each door's samples (seconds per call, ``loops`` calls a sample) as a
    pyperf benchmark named ``label [door]``."""
    return {
        door: pyperf.Benchmark([
            pyperf.Run(values,
                       metadata={
                           'name': f'{label} [{door}]',
                           'loops': (loops or {}).get(door, 1),
                           'unit': 'second'
                       },
                       collect_metadata=False)
        ]) for door, values in samples.items()
    }


def medians(label: str,
            samples: Mapping[str, List[float]],
            loops: Optional[Mapping[str, int]] = None
           ) -> Tuple[Dict[str, float], Dict[str, pyperf.Benchmark]]:
    """Each door's median (pyperf's), and the benchmarks it comes from."""
    benchmarks = as_benchmarks(label, samples, loops)
    return {door: b.median() for door, b in benchmarks.items()}, benchmarks


def _calibrate(timer: Any, first_seconds: float,
               sample_seconds: float) -> int:
    """Calls per sample for about ``sample_seconds`` (the first call took
    ``first_seconds``)."""
    if first_seconds >= sample_seconds:
        return 1
    # The fastest of three single calls: one slow call (a busy machine)
    # would make every sample a single call.
    one = max(min(timer.timeit(1) for _ in range(3)), 1e-7)
    trial = max(1, int(sample_seconds / one / 10))
    took = timer.timeit(trial)
    return max(1, min(int(sample_seconds * trial / max(took, 1e-9)),
                      1_000_000))


def run_case(case: Case,
             sample_seconds: float,
             progress: Callable[[str], None],
             section: str = '') -> Result:
    """Time every door of ``case`` in interleaved rounds; compare each
    door's result with upstream's (or, without upstream, the reference's).
    ``section`` prefixes the pyperf names (the busy machine's)."""
    timers: Dict[str, Any] = {}
    first: Dict[str, float] = {}
    outcomes: Dict[str, Any] = {}
    note: Dict[str, str] = {}
    for door in DOORS + tuple(d for d in case.calls if d not in DOORS):
        function = case.calls.get(door)
        if function is None:
            continue
        # The first call gives the result to compare (and warms caches).
        try:
            outcomes[door], first[door] = first_call(function, case.args,
                                                     case.kwargs)
        except NotImplementedError as error:
            note[door] = f'declined: {error}'
            continue
        timers[door] = _bench.call_timer(function, case.args, case.kwargs)
    # The equality column: ours, no harness looks at results.
    want = outcomes.get('upstream', outcomes.get('python'))
    equal: Dict[str, Optional[bool]] = {
        door: got == want for door, got in outcomes.items()
    }
    loops = {
        door: _calibrate(timer, first[door], sample_seconds)
        for door, timer in timers.items()
    }
    # A door whose one call is a sample already has its first.
    have = {
        door: [first[door]]
        for door in timers
        if loops[door] == 1 and first[door] >= sample_seconds
    }
    samples = take_turns(
        {
            door: (lambda t=timer, n=loops[door]: t.timeit(n) / n)
            for door, timer in timers.items()
        }, case.rounds, have)
    label = f'{section}{case.function} | {case.workload}'
    figures, benchmarks = medians(label, samples, loops)
    per_call: Dict[str, Optional[float]] = {door: None for door in DOORS}
    per_call.update(figures)
    spread = {door: (min(v), max(v)) for door, v in samples.items()}
    result = Result(case, per_call, spread, loops, equal, note, benchmarks)
    line = f'bench: {case.function} ({case.workload})'
    if any(ok is False for ok in equal.values()):
        line += ': NOT EQUAL to the baseline'
    progress(line)
    return result

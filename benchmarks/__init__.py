"""The benchmark suite of sky_rs: run from a checkout, never installed.

``make bench`` runs it (``python -m benchmarks --write``): every public
function timed four ways, the workloads of issue #11, the issues' targets,
written to docs/BENCHMARKS.md and docs/benchmarks.png. ``make`` prints a short
table from it (``python -m benchmarks --quick``), without SkyPilot.

One module per concern, each benchmark beside the shared machinery:

- ``timing``: how a workload is timed (interleaved rounds, timeit samples,
  pyperf statistics) and whether its results are equal;
- ``fixtures``: the files, directories and processes the workloads use;
- ``workloads``: the twelve functions' workloads, the main table;
- ``scenarios``: threads, a busy Python thread, a busy machine, the config
  hash, the noise band (issue #11);
- ``targets``: the issues' targets, judged on a run's figures;
- ``report``: docs/BENCHMARKS.md and the terminal's table; ``picture``:
  docs/benchmarks.png;
- ``__main__``: the command line of the functions' benchmark;
- ``test_guide_example.py`` (with ``conftest.py``): the user's guide's
  pytest-benchmark example, as written
  (``python -m pytest benchmarks/test_guide_example.py``).

The user's own measurement, ``python -m sky_fallback bench FUNCTION ARG...``,
is in the package (``sky_fallback/_bench.py``); this suite shares its timer.
"""

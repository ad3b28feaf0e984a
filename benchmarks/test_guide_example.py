"""The user's guide's performance test ("Performance-Tests"), as written.

Run with pytest-benchmark installed (``make bench`` runs it)::

    python -m pytest benchmarks/test_guide_example.py

``conftest.py`` makes ``large_file.log`` and ``sky.utils.rust_fallback``.
"""

import pytest


@pytest.mark.benchmark
def test_performance(benchmark):
    """Benchmark Rust-Version."""
    from sky.utils.rust_fallback import read_last_n_lines

    result = benchmark(read_last_n_lines, 'large_file.log', 100)
    assert len(result) <= 100

"""Each step's time, printed at the end of the run (``make test-controller``
reports them)."""

from typing import Dict

import pytest

TIMINGS = pytest.StashKey[Dict[str, float]]()


@pytest.fixture(scope='session')
def timings(request: pytest.FixtureRequest) -> Dict[str, float]:
    """Seconds each step took, by name."""
    return request.config.stash.setdefault(TIMINGS, {})


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    del exitstatus
    measured = config.stash.get(TIMINGS, {})
    if measured:
        terminalreporter.write_line('test_controller steps: ' + ', '.join(
            f'{step} {seconds:.1f} s' for step, seconds in measured.items()))

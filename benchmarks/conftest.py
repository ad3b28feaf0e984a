"""What the user's guide's pytest-benchmark example takes for granted.

Every test in this directory runs in a directory holding ``large_file.log``
(64 MiB of log lines), with ``sky.utils.rust_fallback`` importable: the name
the guide imports the API by, which ``sky_fallback.patch_skypilot()``
installs as an alias of ``sky_fallback.rust_fallback``. Only the alias: no
SkyPilot function is replaced. Without SkyPilot (``make bench`` installs it)
the tests are skipped.
"""

import pytest

from benchmarks.fixtures import log_block
from benchmarks.fixtures import MiB
from benchmarks.fixtures import write_log

LARGE_FILE_SIZE = 64 * MiB


@pytest.fixture(scope='session')
def guide_directory(tmp_path_factory):
    """A directory holding the guide's ``large_file.log``."""
    directory = tmp_path_factory.mktemp('guide')
    write_log(str(directory / 'large_file.log'), LARGE_FILE_SIZE,
              log_block(MiB))
    return directory


@pytest.fixture(scope='session', autouse=True)
def skypilot_alias():
    """``sky.utils.rust_fallback`` as the guide imports it, for the session."""
    pytest.importorskip('sky', reason='SkyPilot is not installed: the guide '
                        'imports sky.utils.rust_fallback')
    import sky_fallback  # pylint: disable=import-outside-toplevel
    sky_fallback.patch_skypilot(functions=())
    yield
    sky_fallback.unpatch_skypilot()


@pytest.fixture(autouse=True)
def in_guide_directory(guide_directory, monkeypatch):
    monkeypatch.chdir(guide_directory)

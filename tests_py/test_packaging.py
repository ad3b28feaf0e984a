"""The sdist and its metadata, as `pip show sky-rs` and PyPI present them,
and what the wheel holds.

These build from the source tree, so they skip where the tests run from an
installed wheel without it (scripts/check_wheel.sh).
"""

import email.parser
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytestmark = pytest.mark.skipif(
    not os.path.exists(os.path.join(ROOT, 'setup.py')),
    reason='needs the source tree (these tests run from an installed wheel)')


@pytest.fixture(scope='module')
def tree(tmp_path_factory):
    """A copy of the source tree, without build outputs."""
    pytest.importorskip('build', reason='the build package is not installed')
    copy = tmp_path_factory.mktemp('tree') / 'sky_rs'
    shutil.copytree(ROOT,
                    copy,
                    ignore=shutil.ignore_patterns('.git', '.venv', '_build',
                                                  'build', 'dist', '*.so',
                                                  '*.egg-info', 'wheelhouse'))
    return copy


@pytest.fixture(scope='module')
def sdist(tree, tmp_path_factory):
    """The sdist of a copy of the tree, and what the build printed."""
    out = tmp_path_factory.mktemp('dist')
    done = subprocess.run([
        sys.executable, '-m', 'build', '--sdist', '--no-isolation',
        '--outdir', str(out), str(tree)
    ],
                          capture_output=True,
                          text=True,
                          timeout=300,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    (path,) = out.glob('*.tar.gz')
    return path, done.stdout + done.stderr


def test_manifest_patterns_all_match(sdist):
    _, output = sdist
    warnings = [line for line in output.splitlines() if 'warning' in line]
    assert not warnings, '\n'.join(warnings)


def test_sdist_has_the_license_and_no_build_outputs(sdist):
    path, _ = sdist
    with tarfile.open(path) as tar:
        names = [name.split('/', 1)[1] for name in tar.getnames() if '/' in name]
    assert 'LICENSE' in names
    assert not [n for n in names if n.endswith(('.so', '.pyc'))]
    assert not [n for n in names if '__pycache__' in n]


def test_metadata_names_license_author_and_home(sdist):
    path, _ = sdist
    with tarfile.open(path) as tar:
        member = next(m for m in tar.getmembers()
                      if m.name.count('/') == 1 and
                      m.name.endswith('/PKG-INFO'))
        metadata = email.parser.Parser().parsestr(
            tar.extractfile(member).read().decode())
    assert metadata['License-Expression'] == 'Apache-2.0'
    assert metadata['License-File'] == 'LICENSE'
    assert metadata['Author']
    urls = dict(
        url.split(', ', 1) for url in metadata.get_all('Project-URL', []))
    assert urls['Homepage'].startswith('https://')


@pytest.fixture(scope='module')
def wheel_files(tree, tmp_path_factory):
    """The files of the wheel built as releases are, from the sdist (pure
    Python: the Go extension would take minutes and changes no other file),
    by their path once installed."""
    out = tmp_path_factory.mktemp('wheel')
    env = dict(os.environ, SKY_RS_PURE_PYTHON='1')
    for release_only in ('SKY_RS_REQUIRE_NATIVE', 'CIBUILDWHEEL'):
        env.pop(release_only, None)
    done = subprocess.run([
        sys.executable, '-m', 'build', '--no-isolation', '--outdir',
        str(out), str(tree)
    ],
                          capture_output=True,
                          text=True,
                          timeout=300,
                          check=False,
                          env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    (path,) = out.glob('*.whl')
    files = {}
    with zipfile.ZipFile(path) as wheel:
        for name in wheel.namelist():
            # A wheel may put the packages under <name>.data/platlib/.
            parts = name.split('/')
            if parts[0].endswith('.data') and len(parts) > 2:
                parts = parts[2:]
            files['/'.join(parts)] = wheel.read(name)
    return files


# The user's tool, `python -m sky_fallback bench FUNCTION ARG...`; the suite
# it was cut from (1,681 lines and 320 more) is benchmarks/, outside.
BENCH_TOOL = 'sky_fallback/_bench.py'
BENCH_TOOL_MAX_LINES = 300


def test_wheel_has_the_packages_and_no_benchmark_suite(wheel_files):
    top = {name.split('/', 1)[0] for name in wheel_files}
    assert {t for t in top if not t.endswith('.dist-info')} == {
        'sky_rs', 'sky_fallback'
    }
    assert not [n for n in wheel_files if 'benchmarks' in n.split('/')]
    assert [n for n in wheel_files if 'bench' in n.rsplit('/', 1)[-1]
           ] == [BENCH_TOOL]
    assert len(wheel_files[BENCH_TOOL].splitlines()) <= BENCH_TOOL_MAX_LINES
    # Nothing in the package needs what only the suite installs.
    for name, content in wheel_files.items():
        if name.endswith('.py'):
            for suite_only in (b'import pyperf', b'import matplotlib',
                               b'pytest_benchmark'):
                assert suite_only not in content, (name, suite_only)

"""The sdist and its metadata, as `pip show sky-rs` and PyPI present them.

These build from the source tree, so they skip where the tests run from an
installed wheel without it (scripts/check_wheel.sh).
"""

import email.parser
import os
import shutil
import subprocess
import sys
import tarfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytestmark = pytest.mark.skipif(
    not os.path.exists(os.path.join(ROOT, 'setup.py')),
    reason='needs the source tree (these tests run from an installed wheel)')


@pytest.fixture(scope='module')
def sdist(tmp_path_factory):
    """The sdist of a copy of the tree, and what the build printed."""
    pytest.importorskip('build', reason='the build package is not installed')
    tree = tmp_path_factory.mktemp('tree') / 'sky_rs'
    shutil.copytree(ROOT,
                    tree,
                    ignore=shutil.ignore_patterns('.git', '.venv', '_build',
                                                  'build', 'dist', '*.so',
                                                  '*.egg-info', 'wheelhouse'))
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

"""Every command in the docs runs: README.md and docs/*.md.

The convention, for whoever writes docs: every fenced block in ``bash``,
``sh``, ``shell``, ``console`` or ``python`` has, on the line before it
(blank lines aside), one of

- ``<!-- test -->``: run it (bash blocks with ``bash -e -o pipefail``,
  python blocks as a script with this interpreter); it must exit 0;
- ``<!-- test: OPTION, ... -->``: run it, with options:
  ``slow`` (only with ``SKY_RS_DOCS_SLOW=1``: installs into new virtualenvs;
  runs with ``SKYPILOT_USE_RUST`` unset), ``skypilot`` (skipped without
  SkyPilot installed; importing it costs seconds, so these run only while
  ``SKYPILOT_USE_RUST`` is on, not again in the pure-Python leg),
  ``native`` (skipped without the Go extension or with the Go backend left
  out), ``also-without-sky-rs`` (a python block, run a second time with
  ``sky_rs`` and ``sky_fallback`` hidden);
- ``<!-- not tested: REASON -->``: shown only (``make``, which builds the
  environment these tests run in; code that shows what not to do).

A ``text`` block after ``<!-- output -->`` is what the runnable block before
it prints on stdout, compared as doctest does with ELLIPSIS (``...`` matches
anything) and NORMALIZE_WHITESPACE.

The blocks of a page run in order in one scratch copy of the checkout, as it
is after ``make``: the tracked and untracked (not ignored) files, the built
extension, and ``.venv`` linked to the virtualenv running these tests. So a
block may use files that an earlier block of its page wrote, and the commands
are written as a reader types them in the checkout: ``python
examples/log_processing.py``. ``HOME`` is a scratch directory too (the Go and
pip caches are kept), this interpreter's directory leads ``PATH``, and
``SKY_RS_FORCE_NATIVE`` (which the suite sets) is unset: the blocks run with
the routing a reader gets.
Blocks must not install into ``.venv``. Relative links must resolve, anchors
included.

The suite runs twice (``make test-py``): as installed, and with
``SKYPILOT_USE_RUST=0``; the blocks see that environment, so each runs on
both backends.
"""

import dataclasses
import doctest
import functools
import importlib.util
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
from typing import Dict, List, Optional

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAGES = sorted([p for p in [ROOT / 'README.md'] if p.is_file()] +
               list((ROOT / 'docs').glob('*.md')))

if not PAGES:  # an installed wheel's test run: tests_py without the docs
    pytest.skip('no README.md or docs/ next to tests_py',
                allow_module_level=True)

SHELL = {'bash', 'sh', 'shell', 'console'}
PYTHON = {'python', 'py'}
OPTIONS = {'slow', 'skypilot', 'native', 'also-without-sky-rs'}
SLOW = os.environ.get('SKY_RS_DOCS_SLOW') == '1'
TIMEOUT = 300
SLOW_TIMEOUT = 1800

_MARKER = re.compile(
    r'^<!--\s*(test|not tested|output)\s*(?::\s*(.*?))?\s*-->$')
_FENCE = re.compile(r'^(`{3,})\s*([\w+-]*)\s*$')
_LINK = re.compile(r'\[[^\]]*\]\(([^)\s]+)\)')


@dataclasses.dataclass
class Block:
    page: pathlib.Path
    line: int  # of the opening fence, 1-based
    language: str
    code: str
    marker: Optional[str] = None  # 'test', 'not tested', 'output' or None
    argument: str = ''  # the options, or the reason
    output: Optional['Block'] = None  # the expected stdout, if given

    @property
    def where(self) -> str:
        return f'{_page_id(self.page)}:{self.line}'

    @property
    def runnable(self) -> bool:
        return self.language in SHELL | PYTHON

    @property
    def options(self) -> List[str]:
        return [o.strip() for o in self.argument.split(',') if o.strip()]


def parse(page: pathlib.Path) -> List[Block]:
    """The fenced blocks of a page, each with the marker before it."""
    lines = page.read_text(encoding='utf-8').splitlines()
    blocks: List[Block] = []
    previous = ''  # the last non-blank line outside a block
    index = 0
    while index < len(lines):
        fence = _FENCE.match(lines[index])
        if not fence:
            if lines[index].strip():
                previous = lines[index].strip()
            index += 1
            continue
        start = index
        index += 1
        body = []
        while index < len(lines) and lines[index].strip() != fence.group(1):
            body.append(lines[index])
            index += 1
        block = Block(page, start + 1,
                      fence.group(2).lower(), '\n'.join(body) + '\n')
        marker = _MARKER.match(previous)
        if marker:
            block.marker, block.argument = marker.group(
                1), marker.group(2) or ''
        blocks.append(block)
        previous = ''
        index += 1
    # Attach each expected output to the block it follows.
    for before, block in zip(blocks, blocks[1:]):
        if block.marker == 'output':
            before.output = block
    return blocks


def _page_id(page: pathlib.Path) -> str:
    try:
        return str(page.relative_to(ROOT))
    except ValueError:
        return str(page)


# --- the convention holds -------------------------------------------------


def convention_problems(page: pathlib.Path) -> List[str]:
    """Where a page breaks the convention of this module's docstring."""
    problems = []
    blocks = parse(page)
    for before, block in zip([None] + blocks, blocks):
        if block.marker == 'output':
            if (before is None or before.marker != 'test' or
                    block.language != 'text'):
                problems.append(f'{block.where}: <!-- output --> must mark a '
                                'text block right after a tested block')
            continue
        if not block.runnable:
            continue
        if block.marker is None:
            problems.append(f'{block.where}: a {block.language} block needs '
                            '<!-- test --> or <!-- not tested: REASON -->')
        elif block.marker == 'not tested' and not block.argument:
            problems.append(f'{block.where}: say why it is not tested')
        elif block.marker == 'test':
            unknown = set(block.options) - OPTIONS
            if unknown:
                problems.append(f'{block.where}: unknown options {unknown}')
            if ('also-without-sky-rs' in block.options and
                    block.language not in PYTHON):
                problems.append(f'{block.where}: also-without-sky-rs is for '
                                'python blocks')
    return problems


@pytest.mark.parametrize('page', PAGES, ids=_page_id)
def test_every_block_is_marked(page):
    problems = convention_problems(page)
    assert not problems, '\n'.join(problems)


def _anchors(page: pathlib.Path) -> set:
    """GitHub's heading anchors for a page."""
    anchors = set()
    for block_free_line in _outside_blocks(page):
        heading = re.match(r'^#+\s+(.*)$', block_free_line)
        if heading:
            text = heading.group(1).strip().lower()
            text = re.sub(r'[^\w\- ]', '', text)
            anchors.add(text.replace(' ', '-'))
    return anchors


def _outside_blocks(page: pathlib.Path) -> List[str]:
    outside, fence = [], None
    for line in page.read_text(encoding='utf-8').splitlines():
        match = _FENCE.match(line)
        if fence is None and match:
            fence = match.group(1)
        elif fence is not None and line.strip() == fence:
            fence = None
        elif fence is None:
            outside.append(line)
    return outside


@pytest.mark.parametrize('page', PAGES, ids=_page_id)
def test_links_resolve(page):
    problems = []
    for line in _outside_blocks(page):
        for target in _LINK.findall(line):
            if re.match(r'^[a-z]+:', target):  # https:, mailto:
                continue
            path, _, anchor = target.partition('#')
            linked = (page.parent / path).resolve() if path else page
            if not linked.exists():
                problems.append(f'{_page_id(page)}: {target}: no such file')
            elif anchor and linked.suffix == '.md' and anchor not in _anchors(
                    linked):
                problems.append(f'{_page_id(page)}: {target}: no such heading')
    assert not problems, '\n'.join(problems)


# --- running the blocks ---------------------------------------------------


def _checkout_files() -> List[str]:
    """The checkout's files: tracked and untracked, not ignored."""
    if (ROOT / '.git').exists() and shutil.which('git'):
        listed = subprocess.run([
            'git', 'ls-files', '-z', '--cached', '--others',
            '--exclude-standard'
        ],
                                cwd=ROOT,
                                capture_output=True,
                                check=True).stdout.decode()
        return [f for f in listed.split('\0') if f]
    skip = {'.git', '.venv', '_build', 'build', 'dist', '__pycache__'}
    files = []
    for directory, subdirectories, names in os.walk(ROOT):
        subdirectories[:] = [
            d for d in subdirectories
            if d not in skip and not d.endswith('.egg-info')
        ]
        files += [
            os.path.relpath(os.path.join(directory, n), ROOT) for n in names
        ]
    return files


def make_checkout_copy(destination: pathlib.Path) -> None:
    """A copy of the checkout as it is after `make` (see the docstring)."""
    files = _checkout_files()
    files += [
        str(p.relative_to(ROOT)) for p in (ROOT / 'sky_rs').glob('_sky_rs*')
    ]
    for name in files:
        source = ROOT / name
        if not source.is_file():  # tracked but deleted in the work tree
            continue
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    if sys.prefix != sys.base_prefix:  # the virtualenv running the tests
        (destination / '.venv').symlink_to(sys.prefix,
                                           target_is_directory=True)


@functools.lru_cache(maxsize=None)
def _kept_caches() -> Dict[str, str]:
    """Where Go and pip keep their caches under the real HOME."""
    kept = {}
    go = shutil.which('go')
    if go:
        names = ['GOPATH', 'GOMODCACHE', 'GOCACHE']
        values = subprocess.run([go, 'env', *names],
                                capture_output=True,
                                text=True,
                                check=False).stdout.splitlines()
        kept.update({n: v for n, v in zip(names, values) if v})
    pip_cache = pathlib.Path.home() / '.cache' / 'pip'
    if 'PIP_CACHE_DIR' not in os.environ and pip_cache.is_dir():
        kept['PIP_CACHE_DIR'] = str(pip_cache)
    return kept


def _environment(scratch: pathlib.Path, block: Block) -> Dict[str, str]:
    env = dict(os.environ)
    env.update(_kept_caches())
    home = scratch / 'home'
    home.mkdir(exist_ok=True)
    env['HOME'] = str(home)
    env['PATH'] = os.path.dirname(sys.executable) + os.pathsep + env.get(
        'PATH', '')
    env['PYTHONDONTWRITEBYTECODE'] = '1'
    # As a reader runs them: with the shipped routing, not the suite's.
    env.pop('SKY_RS_FORCE_NATIVE', None)
    if 'slow' in block.options:
        env.pop('SKYPILOT_USE_RUST', None)
    return env


def _hide_sky_rs(scratch: pathlib.Path) -> str:
    """A directory whose sky_rs and sky_fallback packages fail to import."""
    hidden = scratch / 'hide-sky-rs'
    for package in ('sky_rs', 'sky_fallback'):
        (hidden / package).mkdir(parents=True, exist_ok=True)
        (hidden / package / '__init__.py').write_text(
            f'raise ImportError("No module named {package!r} (hidden by '
            'test_docs)")\n')
    return str(hidden)


def _native_missing() -> Optional[str]:
    if os.environ.get('SKY_RS_NO_NATIVE') == '1':
        return 'the Go backend is left out (SKY_RS_NO_NATIVE=1)'
    if importlib.util.find_spec('sky_rs._sky_rs') is None:
        return 'the Go extension is not installed'
    return None


def _skip_reason(block: Block) -> Optional[str]:
    options = block.options
    if 'slow' in options and not SLOW:
        return 'slow (set SKY_RS_DOCS_SLOW=1)'
    if 'skypilot' in options:
        if importlib.util.find_spec('sky') is None:
            return 'SkyPilot is not installed'
        if os.environ.get('SKYPILOT_USE_RUST',
                          '').lower() in ('0', 'false', 'no', 'off'):
            return 'imports SkyPilot: run in the leg with the Go backend on'
    if 'native' in options:
        return _native_missing()
    return None


def _run(block: Block,
         checkout: pathlib.Path,
         scratch: pathlib.Path,
         hide_sky_rs: bool = False) -> subprocess.CompletedProcess:
    env = _environment(scratch, block)
    if hide_sky_rs:
        env['PYTHONPATH'] = os.pathsep.join(
            p for p in (_hide_sky_rs(scratch), env.get('PYTHONPATH')) if p)
    if block.language in PYTHON:
        # A script outside the checkout: it imports the installed package,
        # not the copy, as a reader's script elsewhere would.
        script = scratch / 'blocks' / f'line_{block.line}.py'
        script.parent.mkdir(exist_ok=True)
        script.write_text(block.code, encoding='utf-8')
        command = [sys.executable, str(script)]
    else:
        command = ['bash', '-e', '-o', 'pipefail', '-c', block.code]
    return subprocess.run(
        command,
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=SLOW_TIMEOUT if 'slow' in block.options else TIMEOUT,
        check=False)


def _failure(block: Block, result: subprocess.CompletedProcess,
             why: str) -> str:
    return (f'{block.where}: {why}\n--- the block\n{block.code}'
            f'--- stdout\n{result.stdout[-4000:]}'
            f'--- stderr\n{result.stderr[-4000:]}')


_CHECKER = doctest.OutputChecker()
_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def check_block(block: Block, checkout: pathlib.Path,
                scratch: pathlib.Path) -> None:
    runs = [False]
    if 'also-without-sky-rs' in block.options:
        runs.append(True)
    for hide in runs:
        result = _run(block, checkout, scratch, hide_sky_rs=hide)
        label = ' (sky_rs hidden)' if hide else ''
        if result.returncode != 0:
            pytest.fail(_failure(block, result,
                                 f'exit status {result.returncode}{label}'),
                        pytrace=False)
        if block.output is not None and not _CHECKER.check_output(
                block.output.code, result.stdout, _FLAGS):
            pytest.fail(_failure(
                block, result, f'stdout differs from the output block at '
                f'{block.output.where}{label}:\n{block.output.code}'),
                        pytrace=False)


RUNNABLE_PAGES = [
    p for p in PAGES if any(b.marker == 'test' for b in parse(p))
]


@pytest.mark.parametrize('page', RUNNABLE_PAGES, ids=_page_id)
def test_page_commands(page):
    """Run the page's tested blocks in order; report the first that fails."""
    blocks = [b for b in parse(page) if b.marker == 'test']
    skipped = []
    with tempfile.TemporaryDirectory(prefix='sky_rs-docs-') as scratch_dir:
        scratch = pathlib.Path(scratch_dir)
        checkout = scratch / 'sky_rs'
        make_checkout_copy(checkout)
        ran = 0
        for block in blocks:
            reason = _skip_reason(block)
            if reason:
                skipped.append(f'{block.where}: {reason}')
                continue
            check_block(block, checkout, scratch)
            ran += 1
    if not ran:
        pytest.skip('; '.join(skipped))


# --- the checks themselves ------------------------------------------------

_BAD_PAGE = """# A page

```bash
echo unmarked
```

<!-- test: fast -->
```python
print('unknown option')
```

<!-- not tested -->
```sh
echo no reason
```

<!-- output -->
```text
after a block that is not tested
```
"""


def test_convention_problems_are_found(tmp_path):
    page = tmp_path / 'page.md'
    page.write_text(_BAD_PAGE)
    problems = convention_problems(page)
    assert [p.split(': ', 1)[1] for p in problems] == [
        'a bash block needs <!-- test --> or <!-- not tested: REASON -->',
        "unknown options {'fast'}",
        'say why it is not tested',
        '<!-- output --> must mark a text block right after a tested block',
    ]


@pytest.mark.parametrize('code, output, message', [
    ('echo hello; false\n', None, 'exit status 1'),
    ('echo hello\n', 'goodbye\n', 'stdout differs'),
])
def test_a_failing_block_fails(tmp_path, code, output, message):
    block = Block(ROOT / 'docs' / 'QUICKSTART.md', 1, 'bash', code, 'test')
    if output is not None:
        block.output = Block(block.page, 5, 'text', output, 'output')
    with pytest.raises(pytest.fail.Exception, match=message):
        check_block(block, tmp_path, tmp_path)


def test_a_passing_block_passes(tmp_path):
    block = Block(ROOT / 'docs' / 'QUICKSTART.md', 1, 'python',
                  'print("a  b")\nprint(1)\n', 'test')
    block.output = Block(block.page, 5, 'text', 'a b\n...\n', 'output')
    check_block(block, tmp_path, tmp_path)

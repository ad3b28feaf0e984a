"""patch_skypilot() on the real SkyPilot package.

After patching, SkyPilot's own callers (the file-mount hash of a cluster
config, `sky serve logs --tail`, the catalog check, cluster and instance
names, worker sizing) give exactly what they gave unpatched, and the calls do
reach sky_fallback (and Go, when it answers); unpatch_skypilot() puts
SkyPilot's own functions back.
"""

import errno
import hashlib
import importlib
import inspect
import logging
import os
import pathlib
import re
import signal
import sys
import threading

import pytest

from sky_fallback import rust_fallback
from sky_fallback import skypilot as patch
from sky_fallback.skypilot import config_hash as _config_hash
from sky_fallback.skypilot import registry
from sky_fallback.skypilot import utilities
import sky_fallback

common_utils = pytest.importorskip('sky.utils.common_utils',
                                   reason='SkyPilot is not installed')
subprocess_utils = pytest.importorskip('sky.utils.subprocess_utils',
                                       reason='SkyPilot is not installed')
backend_utils = pytest.importorskip('sky.backends.backend_utils',
                                    reason='SkyPilot is not installed')
yaml_utils = pytest.importorskip('sky.utils.yaml_utils',
                                 reason='SkyPilot is not installed')

MODULES = {
    entry.module: importlib.import_module(entry.module)
    for entry in registry.PATCHES
}
EVERY_PATCHABLE = {entry.name: entry.module for entry in registry.PATCHES}
# SkyPilot's ten utilities, answered by rust_fallback's functions.
UTILITIES = {name: module for module, name, _, _ in utilities.UTILITIES}
ORIGINALS = {
    name: getattr(MODULES[module], name)
    for name, module in EVERY_PATCHABLE.items()
}
CONFIG_HASH = '_deterministic_cluster_yaml_hash'


@pytest.fixture
def unpatched():
    """Make sure every test starts and ends with SkyPilot unpatched."""
    patch.unpatch_skypilot()
    assert all(
        getattr(MODULES[module], name) is ORIGINALS[name]
        for name, module in EVERY_PATCHABLE.items())
    yield
    patch.unpatch_skypilot()


@pytest.fixture
def native_calls(monkeypatch):
    """Counts the calls that reach sky_rs, by function name."""
    calls = {}
    sky_rs = sys.modules.get('sky_rs')
    if sky_rs is None or not rust_fallback.is_rust_available():
        return None
    for name in list(UTILITIES) + [
            'hash_files', '_file_digests', '_walk_feed_steps'
    ]:
        function = getattr(sky_rs, name)

        def counting(*args, _name=name, _function=function, **kwargs):
            calls[_name] = calls.get(_name, 0) + 1
            return _function(*args, **kwargs)

        monkeypatch.setattr(sky_rs, name, counting)
    return calls


def twice(function, *args, **kwargs):
    """``function``'s result unpatched, then patched (left patched)."""
    patch.unpatch_skypilot()
    before = function(*args, **kwargs)
    patch.patch_skypilot()
    after = function(*args, **kwargs)
    return before, after


# --- patching and undoing -------------------------------------------------


def test_the_patchable_functions_are_skypilots():
    assert set(EVERY_PATCHABLE) == set(ORIGINALS)
    for name, original in ORIGINALS.items():
        assert original.__module__ == EVERY_PATCHABLE[name], name


def test_patch_points_skypilot_at_sky_fallback_and_unpatch_restores(unpatched):
    patched = sky_fallback.patch_skypilot()
    assert sorted(patched) == sorted(
        f'{module}.{name}' for name, module in EVERY_PATCHABLE.items())
    assert patch.patched_functions() == patched
    for name, module in EVERY_PATCHABLE.items():
        current = getattr(MODULES[module], name)
        assert current is not ORIGINALS[name]
        if name in UTILITIES and name != 'hash_file':
            assert current is getattr(rust_fallback, name)
        assert patch.skypilot_original(name) is ORIGINALS[name]
    assert inspect.unwrap(getattr(backend_utils, CONFIG_HASH)) is (
        _config_hash.deterministic_cluster_yaml_hash)
    restored = sky_fallback.unpatch_skypilot()
    assert sorted(restored) == sorted(patched)
    for name, module in EVERY_PATCHABLE.items():
        assert getattr(MODULES[module], name) is ORIGINALS[name]
    assert patch.patched_functions() == []
    assert sky_fallback.unpatch_skypilot() == []  # idempotent


def test_patching_twice_keeps_the_originals(unpatched):
    first = patch.patch_skypilot()
    assert patch.patch_skypilot() == first
    patch.unpatch_skypilot()
    assert common_utils.read_last_n_lines is ORIGINALS['read_last_n_lines']


def test_patch_only_some(unpatched):
    assert patch.patch_skypilot(['format_float'
                                ]) == ['sky.utils.common_utils.format_float']
    assert common_utils.format_float is rust_fallback.format_float
    assert common_utils.hash_file is ORIGINALS['hash_file']
    with pytest.raises(ValueError, match='is_process_alive'):
        patch.patch_skypilot(['is_process_alive'])


def test_a_changed_function_is_left_alone(unpatched, monkeypatch, caplog):

    def format_float(num, precision=1, suffix=''):  # a future SkyPilot
        return f'{num:.{precision}f}{suffix}'

    monkeypatch.setattr(common_utils, 'format_float', format_float)
    with caplog.at_level(logging.WARNING,
                         logger='sky_fallback.skypilot.patch'):
        patched = patch.patch_skypilot()
    assert 'sky.utils.common_utils.format_float' not in patched
    assert common_utils.format_float is format_float
    assert ('sky.utils.common_utils.format_float not patched: its source is '
            'not the one sky_rs was written from') in caplog.text
    # The others are patched all the same.
    assert 'sky.utils.common_utils.base36_encode' in patched


def test_each_entry_records_the_installed_skypilots_source():
    for entry in registry.PATCHES:
        assert entry.unverified_reason(ORIGINALS[entry.name]) is None, (
            entry.qualified_name)


def test_no_replacement_passes_for_skypilots_own(unpatched):
    # A replacement whose source hashed as upstream's (through __wrapped__,
    # which inspect.getsource follows) could be wrapped again by a later
    # patch that lost track of it.
    patch.patch_skypilot()
    for entry in registry.PATCHES:
        current = getattr(MODULES[entry.module], entry.name)
        assert current is not ORIGINALS[entry.name], entry.qualified_name
        assert entry.unverified_reason(current) is not None, (
            entry.qualified_name)


def test_an_unknown_skypilot_version_is_named(unpatched, monkeypatch,
                                              caplog):
    monkeypatch.setattr(sys.modules['sky'], '__version__', '0.15.0')
    with caplog.at_level(logging.WARNING,
                         logger='sky_fallback.skypilot.patch'):
        patch.patch_skypilot(['format_float'])
    assert 'SkyPilot 0.15.0 is installed' in caplog.text


def test_a_context_selects_its_entries(unpatched):
    executor = patch.patch_skypilot(context='executor')
    assert executor == [
        entry.qualified_name
        for entry in registry.PATCHES
        if 'executor' in entry.contexts
    ]
    with pytest.raises(ValueError, match='unknown context'):
        patch.patch_skypilot(context='client')


def test_unpatch_leaves_a_later_replacement(unpatched):
    patch.patch_skypilot()

    def theirs(hex_str):
        return hex_str

    common_utils.base36_encode = theirs
    try:
        assert 'sky.utils.common_utils.base36_encode' not in (
            patch.unpatch_skypilot())
        assert common_utils.base36_encode is theirs
    finally:
        common_utils.base36_encode = ORIGINALS['base36_encode']


def test_the_guides_module_name_is_an_alias_while_patched(unpatched):
    assert 'sky.utils.rust_fallback' not in sys.modules
    patch.patch_skypilot()
    # pylint: disable=import-outside-toplevel
    from sky.utils import rust_fallback as guide_module
    from sky.utils.rust_fallback import get_cpu_count
    assert guide_module is rust_fallback
    assert get_cpu_count is rust_fallback.get_cpu_count
    patch.unpatch_skypilot()
    assert 'sky.utils.rust_fallback' not in sys.modules
    assert not hasattr(sys.modules['sky.utils'], 'rust_fallback')
    with pytest.raises(ImportError):
        import sky.utils.rust_fallback  # pylint: disable=unused-import


def test_no_alias_when_asked(unpatched):
    patch.patch_skypilot(alias=False)
    assert 'sky.utils.rust_fallback' not in sys.modules


# --- what SkyPilot's code does with the patched functions ------------------

SKY_ROOT = pathlib.Path(sys.modules['sky'].__file__).parent


def _sky_sources():
    for path in sorted(SKY_ROOT.rglob('*.py')):
        yield path, path.read_text(encoding='utf-8', errors='replace')


def test_skypilot_calls_them_through_the_module():
    """No SkyPilot module imports a patched function by name (the patch
    would not reach it) or keeps its own reference to one."""
    names = '|'.join(UTILITIES)
    by_name = re.compile(r'from sky\.utils\.(common|subprocess)_utils import '
                         r'[^\n]*\b(' + names + r')\b')
    aliased = re.compile(
        r'=\s*(common|subprocess)_utils\.(' + names + r')\s*$', re.M)
    offenders = []
    for path, source in _sky_sources():
        for pattern in (by_name, aliased):
            offenders += [
                f'{path.relative_to(SKY_ROOT)}: {m.group(0)}'
                for m in pattern.finditer(source)
            ]
    assert not offenders, offenders
    # And the config hash is called by its name in backend_utils only.
    callers = [
        str(path.relative_to(SKY_ROOT))
        for path, source in _sky_sources()
        if CONFIG_HASH in source
    ]
    assert callers == ['backends/backend_utils.py'], callers


def test_skypilot_uses_only_digests_of_hash_file():
    """Every caller of hash_file takes .digest() or .hexdigest() at once, all
    a Go digest has without re-hashing (update() works too, see below)."""
    uses = []
    for path, source in _sky_sources():
        for match in re.finditer(r'\bhash_file\(([^()]|\([^()]*\))*\)(\.\w+)?',
                                 source):
            line = source[:match.start()].count('\n') + 1
            if source[:match.start()].rstrip().endswith('def'):
                continue  # the definition itself
            uses.append(
                (f'{path.relative_to(SKY_ROOT)}:{line}', match.group(2)))
    assert uses, 'SkyPilot no longer calls hash_file'
    assert all(
        attribute in ('.digest', '.hexdigest') for _, attribute in uses), uses


def test_cluster_config_hash_is_unchanged(unpatched, tmp_path, native_calls):
    """backend_utils hashes every file of every file-mount directory."""
    tree = tmp_path / 'workdir'
    (tree / 'src' / 'pkg').mkdir(parents=True)
    (tree / 'empty_dir').mkdir()
    (tree / 'empty.txt').write_bytes(b'')
    (tree / 'src' / 'main.py').write_text('print("hello")\n')
    (tree / 'src' / 'pkg' / 'data.bin').write_bytes(bytes(range(256)) * 5000)
    (tree / 'src' / 'pkg' / 'caf\u00e9.txt').write_bytes(b'\xff\xfe latin')
    os.symlink(tree / 'src' / 'main.py', tree / 'link.py')
    single = tmp_path / 'credentials.json'
    single.write_text('{"token": "secret"}')
    config = tmp_path / 'cluster.yaml'
    config.write_text(
        yaml_utils.dump_yaml_str({
            'cluster_name': 'test',
            'file_mounts': {
                '/remote/workdir': str(tree),
                '/remote/credentials.json': str(single),
                '/remote/missing': str(tmp_path / 'missing'),
            },
        }))
    # As backend_utils calls it: by its module-level name, at call time.
    config_hash = lambda path: getattr(backend_utils, CONFIG_HASH)(path)
    before, after = twice(config_hash, str(config))
    assert after == before
    if native_calls is not None:
        # The workdir walked and hashed by Go; credentials.json in a batch
        # (hash_files' form for digests only).
        assert native_calls.get('_walk_feed_steps') == 1
        assert native_calls.get('_file_digests') == 1
        assert native_calls.get('hash_file') is None
    # And it changes with the content, patched as unpatched.
    (tree / 'src' / 'main.py').write_text('print("hello!")\n')
    changed_before, changed_after = twice(config_hash, str(config))
    assert changed_after == changed_before != before


def _config(tmp_path, file_mounts, **extra):
    """A cluster YAML with these file mounts (and keys), as backend_utils
    writes one; returns its path."""
    config = tmp_path / 'cluster.yaml'
    config.write_text(
        yaml_utils.dump_yaml_str({
            'cluster_name': 'test',
            'provider': {
                'type': 'aws',
                'availability_zone': 'us-east-1a'
            },
            'file_mounts': file_mounts,
            **extra
        }))
    return str(config)


def _both_config_hashes(config):
    """What SkyPilot's config hash gives (or raises) for config, and ours."""
    outcomes = []
    for function in (ORIGINALS[CONFIG_HASH],
                     _config_hash.deterministic_cluster_yaml_hash):
        try:
            outcomes.append(('returns', function(config)))
        except Exception as error:  # pylint: disable=broad-except
            outcomes.append(('raises', type(error), str(error)))
    return outcomes


def _go_walks() -> bool:
    """Whether the config hash has Go walk a mount's directory here: Go
    answers, and names are UTF-8 (file system encoding)."""
    return (rust_fallback._file_digests_go_native('sha256') and  # pylint: disable=protected-access
            sys.getfilesystemencoding() == 'utf-8')


@pytest.fixture(params=['Go walks', 'Python walks'])
def walker(request, monkeypatch):
    """A mount's directory walked and hashed by Go (when Go answers), or
    walked in Python, as when Go declines the walk."""
    sky_rs = sys.modules.get('sky_rs')
    if request.param == 'Python walks' and sky_rs is not None:

        def declined(top, skip):
            raise NotImplementedError('declined by the test')
            yield  # pylint: disable=unreachable

        monkeypatch.setattr(sky_rs, '_walk_feed_steps', declined)
    return request.param


def test_config_hash_of_odd_trees_is_upstreams(unpatched, tmp_path, walker):
    tree = tmp_path / 'tree'
    (tree / 'b' / 'deep' / 'er').mkdir(parents=True)
    (tree / 'a').mkdir()
    (tree / '.hidden').write_text('hidden')
    (tree / 'a' / 'credentials.db').write_text('skipped by name')
    (tree / 'a' / 'access_tokens.db-wal').write_text('skipped too')
    (tree / 'b' / 'deep' / 'er' / '\u65e5\u672c.txt').write_bytes(b'x' * 3000)
    (tree / 'b' / 'big.bin').write_bytes(os.urandom(3 << 20))
    # Larger than Go hashes in a walk: hashed after it, its digest in place.
    (tree / 'b' / 'huge.bin').write_bytes(b'\x01' * ((32 << 20) + 1))
    (tree / 'b' / 'new\nline.txt').write_text('a name with a newline')
    # Names with a newline, which Go carries only in what it feeds the hash.
    (tmp_path / 'other' / 'nl\ndir').mkdir(parents=True)
    (tmp_path / 'other' / 'nl\ndir' / 'f').write_text('f')
    (tree / 'empty').mkdir()
    os.symlink(tree / 'b', tree / 'link_to_dir')  # listed, not followed
    os.symlink(tree / '.hidden', tree / 'link_to_file')
    lone = tmp_path / 'credentials.db'  # a skipped basename as a file mount
    lone.write_text('x')
    for mounts in [
        {'/w': str(tree)},
        {'/b': str(tree / 'b'), '/a': str(tree / 'a') + '//'},
        {'/w': str(tree), '/o': str(tmp_path / 'other')},
        {'/w': str(tree) + '/', '/b': str(tree / 'b'), '/lone': str(lone)},
        {'/w': str(tree / 'link_to_dir'), '/f': str(tree / 'link_to_file')},
        {'/empty': str(tmp_path / 'nothing'), '': ''},
        {},
    ]:
        config = _config(tmp_path, mounts)
        ours, theirs = _both_config_hashes(config)
        assert ours == theirs and ours[0] == 'returns', mounts
    if walker == 'Go walks' and _go_walks():
        # Go walked all this.
        skip = backend_utils._FILE_MOUNT_BASENAMES_SKIP_HASH  # pylint: disable=protected-access
        for top in (tree, tmp_path / 'other'):
            assert _config_hash._walked_in_go(str(top), skip) is not None  # pylint: disable=protected-access
    # The YAML as a mount of itself is left out; keys removed for the hash.
    config = _config(tmp_path, {'/cfg': str(tmp_path / 'cluster.yaml')})
    assert _config_hash.deterministic_cluster_yaml_hash(config) == (
        ORIGINALS[CONFIG_HASH](config))


def test_config_hash_raises_upstreams_first_error(unpatched, tmp_path,
                                                  walker):
    tree = tmp_path / 'tree'
    tree.mkdir()
    (tree / 'a.txt').write_text('a')
    os.symlink(tmp_path / 'gone', tree / 'b_broken')  # hash_file: ENOENT
    (tree / 'c.txt').write_text('c')
    ours, theirs = _both_config_hashes(_config(tmp_path, {'/w': str(tree)}))
    assert ours == theirs and ours[1] is FileNotFoundError
    # A mount source that is not a string fails in the walk, after the files
    # of the mounts before it were hashed: their error comes first.
    ours, theirs = _both_config_hashes(
        _config(tmp_path, {'/a': str(tree), '/b': 5}))
    assert ours == theirs and ours[1] is FileNotFoundError
    (tree / 'b_broken').unlink()
    ours, theirs = _both_config_hashes(
        _config(tmp_path, {'/a': str(tree), '/b': 5}))
    assert ours == theirs and ours[1] is TypeError
    ours, theirs = _both_config_hashes(_config(tmp_path, {7: str(tree)}))
    assert ours == theirs and ours[1] is AttributeError
    # A name that is not UTF-8 (os.walk gives it surrogate-escaped) cannot be
    # encoded: the error is upstream's, raised at that name of the directory.
    (tree / 'b_broken').symlink_to(tmp_path / 'gone')
    with open(os.path.join(os.fsencode(tree), b'b_\xff'), 'wb') as f:
        f.write(b'x')
    ours, theirs = _both_config_hashes(_config(tmp_path, {'/w': str(tree)}))
    assert ours == theirs and ours[1] is FileNotFoundError
    (tree / 'b_broken').unlink()
    ours, theirs = _both_config_hashes(_config(tmp_path, {'/w': str(tree)}))
    assert ours == theirs and ours[1] is UnicodeEncodeError
    # Go declines both walks (a name it cannot give as upstream does; a path
    # it cannot carry back): Python walks them.
    lone = tmp_path / 'lone'
    lone.mkdir()
    (lone / 'new\nline').symlink_to(tmp_path / 'gone')
    ours, theirs = _both_config_hashes(_config(tmp_path, {'/l': str(lone)}))
    assert ours == theirs and ours[1] is FileNotFoundError
    skip = backend_utils._FILE_MOUNT_BASENAMES_SKIP_HASH  # pylint: disable=protected-access
    for top in (tree, lone):
        assert _config_hash._walked_in_go(str(top), skip) is None  # pylint: disable=protected-access


def _tree_of(root, directories, files_each):
    for d in range(directories):
        (root / f'd{d}').mkdir(parents=True)
        for f in range(files_each):
            (root / f'd{d}' / f'f{f}.py').write_bytes(b'%d/%d\n' % (d, f) * f)
    return root


def test_config_hash_of_large_and_deep_trees_is_upstreams(
        unpatched, tmp_path, native_calls):
    """More files than one call into Go walks (8,192: the walk goes on from
    the directories it left), and a tree deeper than Go walks (100 levels:
    Python walks it)."""
    large = _tree_of(tmp_path / 'large', 40, 230)
    deep = tmp_path / 'deep'
    bottom = deep.joinpath(*['d'] * 105)
    bottom.mkdir(parents=True)
    (bottom / 'f').write_text('at the bottom')
    (deep / 'top.txt').write_text('at the top')
    for mounts in [{'/l': str(large)}, {'/d': str(deep)}]:
        ours, theirs = _both_config_hashes(_config(tmp_path, mounts))
        assert ours == theirs and ours[0] == 'returns', mounts
    if native_calls is not None and _go_walks():
        skip = backend_utils._FILE_MOUNT_BASENAMES_SKIP_HASH  # pylint: disable=protected-access
        assert _config_hash._walked_in_go(str(large), skip) is not None  # pylint: disable=protected-access
        assert _config_hash._walked_in_go(str(deep), skip) is None  # pylint: disable=protected-access
        sky_rs = sys.modules['sky_rs']
        steps = list(sky_rs._walk_feed_steps(str(large), []))  # pylint: disable=protected-access
        assert len(steps) >= 2


def test_config_hash_near_the_recursion_limit_is_upstreams(
        unpatched, tmp_path):
    """A caller deep in its stack: before Python 3.12 upstream's os.walk of a
    90-level tree (Go walks up to 100) raises RecursionError, and so must
    the call."""
    deep = tmp_path / 'deep'
    bottom = deep.joinpath(*['d'] * 90)
    bottom.mkdir(parents=True)
    (bottom / 'f').write_text('at the bottom')
    config = _config(tmp_path, {'/d': str(deep)})
    frames, frame = 0, sys._getframe()  # pylint: disable=protected-access
    while frame is not None:
        frames, frame = frames + 1, frame.f_back
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(frames + 60)
    try:
        ours, theirs = _both_config_hashes(config)
    finally:
        sys.setrecursionlimit(limit)
    assert ours[:2] == theirs[:2]
    assert ours[0] == 'returns' if sys.version_info >= (3, 12) else (
        ours[1] is RecursionError)


def _release_fifo_reader(fifo) -> bool:
    """Whether somebody was opening ``fifo`` to read (released now: it was
    opened for writing and closed)."""
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as error:
        assert error.errno == errno.ENXIO  # no reader
        return False
    os.close(fd)
    return True


@pytest.mark.parametrize('mounts', ['one', 'two'])
def test_config_hash_opens_nothing_upstream_does_not(unpatched, tmp_path,
                                                     walker, mounts):
    """A file's error, then a FIFO nobody writes to, later in the walk or in
    a later mount: upstream raises the error and never opens the FIFO, and
    neither may the call (Go leaves both files to it; a version that hashed
    them as each mount was walked would wait for a writer)."""
    tree = tmp_path / 'w'
    (tree / 'a').mkdir(parents=True)
    (tree / 'b').mkdir()
    (tree / 'a' / 'f.py').write_text('x')
    (tree / 'a' / 'broken').symlink_to(tmp_path / 'gone')
    fifo = tree / 'b' / 'fifo'
    os.mkfifo(fifo)
    (tree / 'b' / 'g.py').write_text('y')
    config = _config(
        tmp_path, {'/w': str(tree)} if mounts == 'one' else {
            '/a': str(tree / 'a'),
            '/b': str(tree / 'b')
        })
    threads = set(threading.enumerate())
    released = []  # by the watchdog, if the call waits for a reader of fifo
    watchdog = threading.Timer(
        30, lambda: released.append(_release_fifo_reader(fifo)))
    watchdog.start()
    try:
        ours, theirs = _both_config_hashes(config)
    finally:
        watchdog.cancel()
        watchdog.join()
    assert ours == theirs and ours[1] is FileNotFoundError
    assert not any(released) and not _release_fifo_reader(fifo)
    assert set(threading.enumerate()) <= threads


def test_config_hash_interrupted_where_upstream_blocks(unpatched, tmp_path,
                                                      walker):
    """A FIFO nobody writes to among a mount's files: upstream blocks opening
    it until Ctrl-C; the call blocks there too, on the calling thread, where
    Ctrl-C reaches it, and leaves no thread behind."""
    tree = _tree_of(tmp_path / 'w', 3, 6)
    fifo = tree / 'd1' / 'zz'
    os.mkfifo(fifo)
    config = _config(tmp_path, {'/w': str(tree)})

    # Ctrl-C, as a signal to the main thread whose handler raises
    # KeyboardInterrupt (SIGINT itself would reach pytest).
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGUSR1, interrupt)
    threads = set(threading.enumerate())
    ctrl_c = threading.Timer(
        0.5, signal.pthread_kill,
        (threading.main_thread().ident, signal.SIGUSR1))
    ctrl_c.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            _config_hash.deterministic_cluster_yaml_hash(config)
    finally:
        ctrl_c.join()
        signal.signal(signal.SIGUSR1, previous)
        released = _release_fifo_reader(fifo)
    assert not released
    assert set(threading.enumerate()) <= threads


def test_config_hash_of_another_source_is_left_alone(unpatched, monkeypatch,
                                                     caplog):

    def _deterministic_cluster_yaml_hash(tmp_yaml_path: str) -> str:
        return 'a future SkyPilot: ' + tmp_yaml_path  # same signature

    monkeypatch.setattr(backend_utils, CONFIG_HASH,
                        _deterministic_cluster_yaml_hash)
    with caplog.at_level(logging.WARNING,
                         logger='sky_fallback.skypilot.patch'):
        patched = patch.patch_skypilot()
    assert f'{_config_hash.MODULE}.{CONFIG_HASH}' not in patched
    assert getattr(backend_utils, CONFIG_HASH) is (
        _deterministic_cluster_yaml_hash)
    assert 'its source is not the one sky_rs was written from' in caplog.text
    assert 'sky.utils.common_utils.hash_file' in patched  # the rest is


LOGS = {
    'lines': ''.join(f'replica log line {i}\n' for i in range(5000)),
    'no final newline': 'first\nsecond\nthird',
    'windows': 'a\r\nb\r\nc\r\n',
    'invalid utf-8': b'ok\n\xff\xfe bad\n\xe2\x82 cut\nend\n',
    'blank lines': '\n\n\nx\n\n',
    'one long line': 'x' * 100_000,
}


@pytest.mark.parametrize('content', LOGS.values(), ids=LOGS.keys())
@pytest.mark.parametrize('tail', [0, 1, 3, 10_000])
def test_serve_log_tail_is_unchanged(unpatched, tmp_path, monkeypatch, capsys,
                                     content, tail, native_calls):
    """`sky serve logs --tail N` prints the last N lines of a replica log
    through common_utils.read_last_n_lines."""
    serve_utils = pytest.importorskip('sky.serve.serve_utils')
    log = tmp_path / 'replica_1.log'
    log.write_bytes(
        content if isinstance(content, bytes) else content.encode())
    monkeypatch.setattr(serve_utils, '_check_service_status_healthy',
                        lambda *args, **kwargs: None)
    monkeypatch.setattr(serve_utils, 'generate_replica_log_file_name',
                        lambda service_name, replica_id: str(log))

    def printed():
        assert serve_utils.stream_replica_logs('svc', 1, False, tail,
                                               False) == ''
        return capsys.readouterr().out

    before, after = twice(printed)
    assert after == before
    if native_calls is not None:
        assert native_calls.get('read_last_n_lines') == 1


def test_catalog_check_is_unchanged(unpatched, tmp_path, monkeypatch):
    """catalog.common compares a catalog's md5 hexdigest with its record."""
    catalog_common = pytest.importorskip('sky.catalog.common')
    monkeypatch.setattr(catalog_common, '_ABSOLUTE_VERSIONED_CATALOG_DIR',
                        str(tmp_path))
    (tmp_path / '.meta').mkdir()
    catalog = tmp_path / 'vms.csv'
    catalog.write_text('InstanceType,vCPUs\nm5.large,2\n')
    (tmp_path / '.meta' / 'vms.csv.md5').write_text(
        hashlib.md5(catalog.read_bytes()).hexdigest())
    assert twice(catalog_common.is_catalog_modified,
                 'vms.csv') == (False, False)
    catalog.write_text('InstanceType,vCPUs\nm5.large,4\n')
    assert twice(catalog_common.is_catalog_modified, 'vms.csv') == (True, True)


@pytest.mark.parametrize('display_name', [
    'my-cluster', 'a-very-long-cluster-name-that-needs-truncating',
    'Dots.And_Underscores.In.A.Long.Name', 'x' * 64
])
def test_cluster_names_are_unchanged(unpatched, display_name):
    """make_cluster_name_on_cloud shortens with base36_encode."""
    for max_length in (15, 35, 63):
        assert len(
            set(
                twice(common_utils.make_cluster_name_on_cloud,
                      display_name,
                      max_length,
                      add_user_hash=False))) == 1


def test_instance_type_names_are_unchanged(unpatched):
    """Kubernetes instance types are named '{cpus}CPU--{memory}GB'."""
    kubernetes_utils = pytest.importorskip('sky.provision.kubernetes.utils')
    for cpus, memory in [(4, 16), (0.5, 1.5), (2.0, 8.0), (0.25, 0.1),
                         (96, 768.5)]:
        names = twice(lambda c=cpus, m=memory: kubernetes_utils.
                      KubernetesInstanceType(c, m).name)
        assert names[0] == names[1]
        assert kubernetes_utils.KubernetesInstanceType.from_instance_type(
            names[1]).name == names[1]


def test_worker_sizing_is_unchanged(unpatched, tmp_path):
    """subprocess_utils sizes its pools with get_parallel_threads and
    get_max_workers_for_file_mounts, which calls it."""
    for entries in (0, 3, 300):
        source = tmp_path / f'src{entries}'
        source.mkdir()
        for i in range(entries):
            (source / f'f{i}').touch()
    mounts = {f'/dst{i}': str(p) for i, p in enumerate(tmp_path.iterdir())}
    mounts['/url'] = 's3://bucket/path'
    for cloud in (None, 'aws', 'kubernetes', 'Kubernetes'):
        assert len(
            set(
                twice(subprocess_utils.get_max_workers_for_file_mounts, mounts,
                      cloud))) == 1
        assert len(set(twice(subprocess_utils.get_parallel_threads,
                             cloud))) == 1
    assert len(
        set(
            twice(lambda: tuple(
                subprocess_utils.run_in_parallel(str.upper, ['a', 'b', 'c']))))
    ) == 1


def test_every_patched_function_gives_upstreams_result(unpatched, tmp_path):
    path = tmp_path / 'f.txt'
    path.write_text('one\ntwo\r\nthree\n')
    calls = {
        'read_last_n_lines': ((str(path), 2), {}),
        'hash_file': ((str(path), 'SHA256'), {}),
        'find_free_port': ((0,), {}),
        'base36_encode': (('0x' + 'f' * 32,), {}),
        'format_float': ((2.675, 2), {}),
        'truncate_long_string': (('a  b  c  d  e  f', 5), {}),
        'get_cpu_count': ((), {}),
        'get_mem_size_gb': ((), {}),
        'get_parallel_threads': (('kubernetes',), {}),
        'get_max_workers_for_file_mounts': (({
            '/d': str(tmp_path)
        },), {}),
    }
    assert set(calls) == set(UTILITIES)
    patch.patch_skypilot()
    for name, (args, kwargs) in calls.items():
        module = MODULES[UTILITIES[name]]
        got = getattr(module, name)(*args, **kwargs)
        want = ORIGINALS[name](*args, **kwargs)
        if name == 'hash_file':
            got, want = (got.name, got.hexdigest()), (want.name,
                                                      want.hexdigest())
        assert got == want, name


# --- hash_file's result under the patch ------------------------------------


@pytest.mark.parametrize('algorithm', ['md5', 'SHA256', 'sha512', 'sha3_256'])
def test_patched_hash_file_has_upstreams_interface(unpatched, tmp_path,
                                                   algorithm):
    path = tmp_path / 'data.bin'
    path.write_bytes(os.urandom(100_000))
    patch.patch_skypilot()
    ours = common_utils.hash_file(str(path), algorithm)
    theirs = ORIGINALS['hash_file'](str(path), algorithm)
    for attribute in ('name', 'digest_size', 'block_size'):
        assert getattr(ours, attribute) == getattr(theirs, attribute)
    assert ours.digest() == theirs.digest()
    assert ours.hexdigest() == theirs.hexdigest()
    copied = ours.copy()
    ours.update(b'more data')
    theirs.update(b'more data')
    assert ours.hexdigest() == theirs.hexdigest()
    assert copied.hexdigest() == hashlib.new(algorithm,
                                             path.read_bytes()).hexdigest()


def test_patched_hash_file_refuses_to_continue_a_changed_file(
        unpatched, tmp_path):
    if not rust_fallback.is_rust_available():
        pytest.skip('the Python backend returns a hashlib object')
    path = tmp_path / 'data.bin'
    path.write_bytes(b'before')
    patch.patch_skypilot()
    digest = common_utils.hash_file(str(path), 'sha256')
    assert not isinstance(digest, type(hashlib.sha256()))
    path.write_bytes(b'after')
    with pytest.raises(RuntimeError, match='changed after hash_file'):
        digest.update(b'x')
    assert digest.hexdigest() == hashlib.sha256(b'before').hexdigest()


def test_patched_hash_file_raises_upstreams_exceptions(unpatched, tmp_path):
    patch.patch_skypilot()
    for args in [(str(tmp_path / 'missing'), 'sha256'), (str(tmp_path), 'md5'),
                 (str(tmp_path / 'missing'), 'nonsense')]:
        with pytest.raises(Exception) as ours:
            common_utils.hash_file(*args)
        with pytest.raises(Exception) as theirs:
            ORIGINALS['hash_file'](*args)
        assert (type(ours.value), str(ours.value)) == (type(theirs.value),
                                                       str(theirs.value))


def test_the_utilities_take_every_call_skypilots_take():
    """Each replacement has upstream's parameters, in order, kinds and
    defaults; it may make a required one optional
    (get_max_workers_for_file_mounts's keyword form) or add keyword-only
    ones with defaults, and nothing else."""
    for name in UTILITIES:
        patch.patch_skypilot([name])
        theirs = list(inspect.signature(ORIGINALS[name]).parameters.values())
        ours = list(
            inspect.signature(getattr(MODULES[UTILITIES[name]],
                                      name)).parameters.values())
        patch.unpatch_skypilot()
        for mine, parameter in zip(ours, theirs):
            assert (mine.name, mine.kind) == (parameter.name,
                                              parameter.kind), name
            if parameter.default is not inspect.Parameter.empty:
                assert mine.default == parameter.default, name
        for extra in ours[len(theirs):]:
            assert extra.kind is inspect.Parameter.KEYWORD_ONLY, name
            assert extra.default is not inspect.Parameter.empty, name


def test_patched_functions_do_not_read_through_skypilots_helpers(
        unpatched, monkeypatch):
    """What docs/MIGRATION.md says of mocks: a mock of SkyPilot's cgroup
    helper steers SkyPilot's own get_cpu_count, not the patched one."""
    monkeypatch.delenv('SKYPILOT_POD_CPU_CORE_LIMIT', raising=False)
    monkeypatch.setattr(common_utils, '_get_cgroup_cpu_limit', lambda: 0.5)
    assert ORIGINALS['get_cpu_count']() == 0  # the mock steers upstream
    patch.patch_skypilot(['get_cpu_count'])
    assert common_utils.get_cpu_count() == rust_fallback.get_cpu_count() >= 1

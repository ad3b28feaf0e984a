"""SkyPilot's cluster-config hash, with the files hashed in batches.

``sky.backends.backend_utils._deterministic_cluster_yaml_hash`` hashes the
generated cluster YAML and the content of every file of its file mounts on
each launch, one ``hash_file`` call per file. Those mounts are SkyPilot's own
wheel and the cloud credential files and directories (not the task's workdir
or ``file_mounts``, which go by rsync): one file in a plain Kubernetes launch,
and where a credentials directory holds many files (20,000, say) the calls
are most of the function's time. :func:`deterministic_cluster_yaml_hash` is the same
code with the files' digests taken in batches, and gives the same digest
byte for byte, and the same first error (a file that cannot be read raises
what upstream's loop raises):

- A mount's directory is walked and hashed in Go (``sky_rs._walk_feed_steps``:
  os.walk's order and names, every core hashing), which gives back the bytes
  upstream feeds the hash for it; the files Go leaves (an error, a FIFO, a
  large file) are hashed here, in order. Where Go is off or cannot give that
  walk exactly (a name that is not UTF-8, say), the directory is walked here,
  as upstream walks it.
- Files of the mounts walked here are hashed at the end in one
  ``rust_fallback._file_digests`` call (``hash_files`` without a hash object
  per file), and their digests put where upstream fed them.

The rewrite is upstream's function line for line, so ``patch_skypilot()``
installs it only over the function it was written from: the source of the
installed function must hash to :data:`SOURCE_SHA256` (SkyPilot 0.14.1). The module-level names it uses (the YAML helpers, the keys and
basenames left out of the hash, the logger) are read from ``backend_utils``
at each call, as upstream reads them.
"""

import hashlib
import inspect
import itertools
import os
import sys
from typing import Any, Callable, List, Optional, Tuple

from sky_fallback import rust_fallback

MODULE = 'sky.backends.backend_utils'
NAME = '_deterministic_cluster_yaml_hash'
# sha256 of inspect.getsource() of SkyPilot 0.14.1's function (the decorator
# line included).
SOURCE_SHA256 = (
    'f39aecbd0fdd566e053041edff3f3d4e305d9cfb00cf9d54275087e9b18e20ba')
# Clusters are launched by request executors and by jobs/serve controllers.
CONTEXTS = frozenset(('executor', 'controller'))


def deterministic_cluster_yaml_hash(tmp_yaml_path: str) -> str:
    """Hash the cluster yaml and contents of file mounts to a unique string.

    ``backend_utils._deterministic_cluster_yaml_hash``'s digest (see its
    docstring for the byte sequence hashed), with the files hashed in
    batches (see the module's docstring).
    """
    backend_utils = sys.modules[MODULE]
    yaml_utils = backend_utils.yaml_utils
    skip_hash = backend_utils._FILE_MOUNT_BASENAMES_SKIP_HASH  # pylint: disable=protected-access
    # Load the yaml contents so that we can directly remove keys.
    yaml_config = yaml_utils.read_yaml(tmp_yaml_path)
    for key_list in backend_utils._RAY_YAML_KEYS_TO_REMOVE_FOR_HASH:  # pylint: disable=protected-access
        dict_to_remove_from = yaml_config
        found_key = True
        for key in key_list[:-1]:
            if (not isinstance(dict_to_remove_from, dict) or
                    key not in dict_to_remove_from):
                found_key = False
                break
            dict_to_remove_from = dict_to_remove_from[key]
        if found_key and key_list[-1] in dict_to_remove_from:
            dict_to_remove_from.pop(key_list[-1])

    # What upstream feeds config_hash, in order. A run (slot, names, first)
    # at feed[slot] stands for names[0], the digest of files[first],
    # names[1], the digest of files[first + 1], ...
    feed: List[bytes] = []
    files: List[str] = []
    runs: List[Tuple[int, List[bytes], int]] = []

    def digests_of(names: List[bytes], paths: List[str]) -> None:
        runs.append((len(feed), names, len(files)))
        feed.append(b'')
        files.extend(paths)

    # A directory none of whose names is skipped or fails to encode is one
    # run: a few list operations rather than several per file.
    skips_by_set = isinstance(skip_hash, (set, frozenset))

    yaml_hash = hashlib.sha256(
        yaml_utils.dump_yaml_str(yaml_config).encode('utf-8'))
    feed.append(yaml_hash.digest())

    file_mounts = yaml_config.get('file_mounts', {})
    # Remove the file mounts added by the newline.
    if '' in file_mounts:
        assert file_mounts[''] == '', file_mounts['']
        file_mounts.pop('')

    # Upstream raises an error of the walk (a key that is not a string, say)
    # only after hashing the files before it, which may raise first.
    pending: Optional[Exception] = None
    try:
        for dst, src in sorted(file_mounts.items()):
            if src == tmp_yaml_path:
                # Skip the yaml file itself. We have already hashed a
                # modified version of it. The file may include fields we
                # don't want to hash.
                continue

            expanded_src = os.path.expanduser(src)
            feed.append(dst.encode('utf-8') + b'\0')

            # If the file mount source is a symlink, this should be true.
            # In that case we hash the contents of the symlink destination.
            if os.path.isfile(expanded_src):
                feed.append('file'.encode('utf-8'))
                if os.path.basename(expanded_src) not in skip_hash:
                    digests_of([b''], [expanded_src])

            # This can also be a symlink to a directory. os.walk will treat
            # it as a normal directory and list the contents of the symlink
            # destination.
            elif os.path.isdir(expanded_src):
                feed.append('dir'.encode('utf-8'))
                walked = _walked_in_go(expanded_src, skip_hash)
                if walked is not None:
                    pieces, holes = walked
                    feed.append(pieces[0])
                    for hole, piece in zip(holes, pieces[1:]):
                        digests_of([b''], [hole])
                        feed.append(piece)

                # Aside from expanded_src, os.walk will list symlinks to
                # directories but will not recurse into them. (Unless Go
                # walked the directory.)
                for (dirpath, dirnames, filenames) in (
                        os.walk(expanded_src) if walked is None else ()):
                    feed.append(dirpath.encode('utf-8') + b'\0')

                    # Note: inplace sort will also affect the traversal
                    # order of os.walk. We need it so that the os.walk order
                    # is deterministic.
                    dirnames.sort()
                    for dirname in dirnames:
                        feed.append(dirname.encode('utf-8') + b'\0')
                    feed.append(b'\0')

                    filenames.sort()
                    # os.path.join(dirpath, filename), for a name os.walk
                    # gives (no '/'), is this prefix and the name.
                    prefix = os.path.join(dirpath, '')
                    try:
                        names: Optional[List[bytes]] = [
                            filename.encode('utf-8') + b'\0'
                            for filename in filenames
                        ]
                    except UnicodeEncodeError:
                        names = None  # raised below, after the names before
                    if (names is not None and skips_by_set and
                            skip_hash.isdisjoint(filenames)):
                        digests_of(names,
                                   [prefix + filename for filename in filenames])
                    else:
                        for filename in filenames:
                            feed.append(filename.encode('utf-8') + b'\0')
                            if filename not in skip_hash:
                                digests_of([b''], [prefix + filename])
                    feed.append(b'\0')

            else:
                backend_utils.logger.debug(
                    f'Unexpected file_mount that is not a file or dir: '
                    f'{src}')

            feed.append(b'\0\0')

    except Exception as error:  # pylint: disable=broad-except
        pending = error

    digests = rust_fallback._file_digests(files, 'sha256')  # pylint: disable=protected-access
    for slot, names, first in runs:
        feed[slot] = b''.join(itertools.chain.from_iterable(
            zip(names, digests[first:first + len(names)])))
    if pending is not None:
        raise pending
    # Fed at once or piece by piece, a hash digests the same bytes.
    return hashlib.sha256(b''.join(feed)).hexdigest()


def _walked_in_go(top: str,
                  skip_hash: Any) -> Optional[Tuple[List[bytes], List[str]]]:
    """What the file mount directory ``top`` feeds the hash (its os.walk,
    names and file digests), walked and hashed by Go
    (``sky_rs._walk_feed_steps``): pieces of the bytes fed, and between
    each two the file whose digest goes there, which Go left to the caller
    (an error, a FIFO, a large file). None when Go is off or cannot give
    that walk exactly (a file system encoding other than UTF-8, a skip set
    of other than str, a name Go declines, too little room for os.walk's
    recursion): the caller walks."""
    if (type(top) is not str or  # pylint: disable=unidiomatic-typecheck
            sys.getfilesystemencoding() != 'utf-8' or
            sys.getfilesystemencodeerrors() != 'surrogateescape' or
            not isinstance(skip_hash, (set, frozenset)) or
            any(type(name) is not str for name in skip_hash) or  # pylint: disable=unidiomatic-typecheck
            not _room_for_os_walk()):
        return None
    native = rust_fallback._native_for_file_digests('sha256')  # pylint: disable=protected-access
    if native is None:
        return None
    pieces: List[List[bytes]] = [[]]  # each joined at the end
    holes: List[str] = []
    try:
        for feed, step_holes in native._walk_feed_steps(top, list(skip_hash)):  # pylint: disable=protected-access
            start = 0
            for at, path in step_holes:
                pieces[-1].append(feed[start:at])
                pieces.append([])
                holes.append(path)
                start = at
            pieces[-1].append(feed[start:])
    except Exception:  # pylint: disable=broad-except
        return None  # a decline (or a fault): the caller walks
    return [b''.join(piece) for piece in pieces], holes


# The deepest tree Go walks (walkFeedMaxDepth, skyrs/pyexport/hash.go), and
# the frames os.walk's walk of it may take besides its one a level.
GO_WALK_MAX_DEPTH = 100
_OS_WALK_FRAMES = 20


def _room_for_os_walk() -> bool:
    """Whether upstream's os.walk of a tree Go walks could not reach the
    recursion limit here: before Python 3.12 it recursed, a frame a level,
    and a caller deep in its stack gets RecursionError, which only Python's
    walk gives."""
    if sys.version_info >= (3, 12):
        return True
    depth = 0
    frame: Any = sys._getframe()  # pylint: disable=protected-access
    while frame is not None:
        depth += 1
        frame = frame.f_back
    return (depth + GO_WALK_MAX_DEPTH + _OS_WALK_FRAMES <=
            sys.getrecursionlimit())


def replacement(installed: Callable[..., Any]) -> Callable[..., Any]:
    """deterministic_cluster_yaml_hash, wrapped as upstream wraps its own:
    a SkyPilot timeline event of the same name."""
    # pylint: disable=import-outside-toplevel
    from sky.utils import timeline
    inner = inspect.unwrap(installed)
    return timeline.event(f'{inner.__module__}.{inner.__qualname__}')(
        deterministic_cluster_yaml_hash)

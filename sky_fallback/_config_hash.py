"""SkyPilot's cluster-config hash, with the files hashed in batches.

``sky.backends.backend_utils._deterministic_cluster_yaml_hash`` hashes the
cluster YAML and the content of every file of every file mount on each
launch, one ``hash_file`` call per file: for a 20,000-file workdir the calls
are most of its time. :func:`deterministic_cluster_yaml_hash` is the same
code with the files' digests taken from ``rust_fallback._file_digests``
(``hash_files`` without a hash object per file; in Go, several files at
once): it walks the mounts as upstream does, notes what upstream feeds the
hash (names, markers, a file's place), hashes the files, then feeds it all
in upstream's order. The digest is the same byte for byte, and so is the
first error (a file that cannot be read raises what upstream's loop raises).

Go hashes without the GIL, so a large mount's files are hashed while the walk
goes on: once :data:`HASH_BATCH` files are listed they go to Go on a thread of
the call's own, which ends before the call returns (:class:`_Digests`).

The rewrite is upstream's function line for line, so ``patch_skypilot()``
installs it only over the function it was written from: the source of the
installed function must hash to :data:`VERIFIED_SOURCE_SHA256` (SkyPilot
0.14.1). The module-level names it uses (the YAML helpers, the keys and
basenames left out of the hash, the logger) are read from ``backend_utils``
at each call, as upstream reads them.
"""

import concurrent.futures
import hashlib
import inspect
import itertools
import os
import sys
import threading
from typing import Any, Callable, List, Optional, Tuple

from sky_fallback import rust_fallback

BACKEND_UTILS = 'sky.backends.backend_utils'
NAME = '_deterministic_cluster_yaml_hash'

# sha256 of inspect.getsource() of SkyPilot 0.14.1's function (the decorator
# line included).
VERIFIED_SOURCE_SHA256 = (
    'f39aecbd0fdd566e053041edff3f3d4e305d9cfb00cf9d54275087e9b18e20ba')


def unverified_reason(installed: Callable[..., Any]) -> Optional[str]:
    """None when ``installed`` is the function this module rewrites;
    otherwise why it is not (or cannot be shown to be)."""
    try:
        source = inspect.getsource(installed)
    except (OSError, TypeError) as error:
        return f'its source cannot be read ({error})'
    digest = hashlib.sha256(source.encode('utf-8')).hexdigest()
    if digest != VERIFIED_SOURCE_SHA256:
        return (f'its source is not the one verified (sha256 {digest[:12]}..., '
                f'verified {VERIFIED_SOURCE_SHA256[:12]}...)')
    return None


# Files listed before the walk hands them to the hashing thread (a mount with
# fewer has no thread): few enough that hashing starts early in a walk of
# tens of thousands of files, enough that the thread seldom waits for the GIL
# the walk holds.
HASH_BATCH = 4096


class _Digests:
    """The sha256 digests of files, in the order they are added, as
    ``rust_fallback._file_digests`` takes them, Go's part hashed HASH_BATCH
    files at a time on a thread while the caller lists more.

    The thread only calls Go (``sky_rs._file_digests_in_go``), which opens
    no file that is not regular: a file Go leaves (an error, a FIFO, a large
    file) is hashed by the caller, in order, as upstream's loop would, so the
    first error is upstream's and a read that blocks does so where Ctrl-C
    reaches it. Use it as a context manager: on leaving, the thread stops
    after the call into Go it is in (about 0.1 s) and ends.
    """

    def __init__(self) -> None:
        self._files: List[str] = []
        self._sent = 0  # files[:_sent] are in batches
        # (first, end, future): files[first:end] in Go on the thread
        self._batches: List[Tuple[int, int, Any]] = []
        self._pool: Optional[concurrent.futures.ThreadPoolExecutor] = None
        self._native: Any = None
        self._no_thread = False
        self._stop = threading.Event()

    def __len__(self) -> int:
        return len(self._files)

    def __enter__(self) -> '_Digests':
        return self

    def __exit__(self, error_type, error, traceback) -> None:
        if self._pool is not None:
            self._stop.set()
            self._pool.shutdown(wait=True, cancel_futures=True)

    def extend(self, paths: List[str]) -> None:
        self._files.extend(paths)
        if len(self._files) - self._sent >= HASH_BATCH and not self._no_thread:
            self._send()

    def _send(self) -> None:
        if self._pool is None:
            self._native = rust_fallback._native_for_file_digests('sha256')  # pylint: disable=protected-access
            if self._native is None:  # Python hashes: no gain from a thread
                self._no_thread = True
                return
            self._pool = concurrent.futures.ThreadPoolExecutor(
                1, thread_name_prefix='sky_rs-config-hash')
        first = self._sent
        try:
            batch = self._pool.submit(self._in_go, self._files[first:])
        except RuntimeError:
            # No thread can start (a pids limit) or the interpreter is
            # exiting: the rest is hashed by the caller, as a small mount.
            self._no_thread = True
            return
        self._sent = len(self._files)
        self._batches.append((first, self._sent, batch))

    def _in_go(self, paths: List[str]) -> Optional[List[Optional[bytes]]]:
        """On the thread: Go's digests of paths, or None (stopped, or Go did
        not answer: the caller then hashes them all)."""
        if self._stop.is_set():
            return None
        try:
            return self._native._file_digests_in_go(paths, 'sha256',  # pylint: disable=protected-access
                                                    self._stop)
        except Exception:  # pylint: disable=broad-except
            return None

    def digests(self) -> List[bytes]:
        """All the digests, in order; raises the first file's error."""
        file_digests = rust_fallback._file_digests  # pylint: disable=protected-access
        digests: List[bytes] = []
        for first, end, batch in self._batches:
            done = batch.result()
            if done is None:
                done = file_digests(self._files[first:end], 'sha256')
            elif None in done:  # files Go left: hashed here, in order
                done = [
                    digest or file_digests([path], 'sha256')[0]
                    for digest, path in zip(done, self._files[first:end])
                ]
            digests.extend(done)
        digests.extend(file_digests(self._files[self._sent:], 'sha256'))
        return digests


def deterministic_cluster_yaml_hash(tmp_yaml_path: str) -> str:
    """Hash the cluster yaml and contents of file mounts to a unique string.

    ``backend_utils._deterministic_cluster_yaml_hash``'s digest (see its
    docstring for the byte sequence hashed), with the files hashed in
    batches (:class:`_Digests`).
    """
    backend_utils = sys.modules[BACKEND_UTILS]
    yaml_utils = backend_utils.yaml_utils
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

    with _Digests() as hashed:
        return _hash_config_and_mounts(yaml_config, tmp_yaml_path, hashed)


def _hash_config_and_mounts(yaml_config: Any, tmp_yaml_path: str,
                            hashed: _Digests) -> str:
    """The rest of deterministic_cluster_yaml_hash: the file mounts walked,
    their files' digests taken from ``hashed``."""
    backend_utils = sys.modules[BACKEND_UTILS]
    yaml_utils = backend_utils.yaml_utils
    skip_hash = backend_utils._FILE_MOUNT_BASENAMES_SKIP_HASH  # pylint: disable=protected-access
    # What upstream feeds config_hash, in order. A run (slot, names, first)
    # at feed[slot] stands for names[0], the digest of hashed file number
    # first, names[1], the digest of file first + 1, ...
    feed: List[bytes] = []
    runs: List[Tuple[int, List[bytes], int]] = []

    def digests_of(names: List[bytes], paths: List[str]) -> None:
        runs.append((len(feed), names, len(hashed)))
        feed.append(b'')
        hashed.extend(paths)

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

                # Aside from expanded_src, os.walk will list symlinks to
                # directories but will not recurse into them.
                for (dirpath, dirnames, filenames) in os.walk(expanded_src):
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

    digests = hashed.digests()
    for slot, names, first in runs:
        feed[slot] = b''.join(itertools.chain.from_iterable(
            zip(names, digests[first:first + len(names)])))
    if pending is not None:
        raise pending
    # Fed at once or piece by piece, a hash digests the same bytes.
    return hashlib.sha256(b''.join(feed)).hexdigest()


def replacement(installed: Callable[..., Any]) -> Callable[..., Any]:
    """deterministic_cluster_yaml_hash, wrapped as upstream wraps its own:
    a SkyPilot timeline event of the same name."""
    # pylint: disable=import-outside-toplevel
    from sky.utils import timeline
    inner = inspect.unwrap(installed)
    return timeline.event(f'{inner.__module__}.{inner.__qualname__}')(
        deterministic_cluster_yaml_hash)

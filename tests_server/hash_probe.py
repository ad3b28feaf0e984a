"""A test-only plugin that records the config hash each executor computes,
and the stock recomputation it is compared with.

SkyPilot hashes the generated cluster YAML and its file mounts
(``sky.backends.backend_utils._deterministic_cluster_yaml_hash``) on every
launch, dry runs included, in the executor that runs the request. Listed in
plugins.yaml after the plugin under test, :class:`ConfigHashProbe` wraps
whatever that plugin left there, in executors only: before each call it
copies the YAML it is given, and after it appends one JSON line to
``<record_dir>/records.jsonl``: the YAML's path and copy, the hash returned,
the pid, the function that computed it, and which file-mount sources
existed.

``python -m tests_server.hash_probe <records.jsonl>`` then recomputes each
hash with SkyPilot's own function in a plain process (no plugin, no
sky_fallback), run with the server's HOME and TMPDIR so that ``~`` and the
wheel's temporary copy resolve as they did: it puts the copy back at the
YAML's path (the function skips the file mount that is the YAML itself by
comparing paths, so the path matters) and prints one JSON line per record
with ``stock_hash``. The cluster YAML embeds a gzip timestamp, so only the
same file hashed twice can be compared, never two launches.
"""

import inspect
import itertools
import json
import os
import shutil
import sys
import threading
from typing import Any, Callable, Dict, List

from sky.server import plugins

RECORDS = 'records.jsonl'
NAME = '_deterministic_cluster_yaml_hash'
_lock = threading.Lock()
_calls = itertools.count()


def qualified_name(function: Callable[..., Any]) -> str:
    """``module.qualname`` of ``function`` under its decorators."""
    inner = inspect.unwrap(function)
    return f'{inner.__module__}.{inner.__qualname__}'


def mount_sources(yaml_path: str) -> Dict[str, bool]:
    """Each file-mount source of the cluster YAML (``~`` expanded, the
    YAML itself left out), and whether it exists now."""
    from sky.utils import yaml_utils  # pylint: disable=import-outside-toplevel
    config = yaml_utils.read_yaml(yaml_path) or {}
    sources = {}
    for source in (config.get('file_mounts') or {}).values():
        if source and source != yaml_path:
            expanded = os.path.expanduser(source)
            sources[expanded] = os.path.exists(expanded)
    return sources


class ConfigHashProbe(plugins.BasePlugin):
    """Records every config hash an executor computes (see the module)."""

    load_contexts = frozenset({plugins.PluginContext.EXECUTOR})

    def __init__(self, record_dir: str):
        self.record_dir = os.path.expanduser(record_dir)

    @property
    def hidden_from_display(self) -> bool:
        return True

    def install(self, extension_context: plugins.ExtensionContext) -> None:
        del extension_context
        # pylint: disable=import-outside-toplevel
        from sky.backends import backend_utils
        computing = getattr(backend_utils, NAME)
        if getattr(computing, '_config_hash_probe', False):
            return  # loaded twice in this process
        os.makedirs(self.record_dir, exist_ok=True)
        record_dir = self.record_dir

        def probe(tmp_yaml_path: str) -> str:
            copy_path = os.path.join(record_dir,
                                     f'{os.getpid()}-{next(_calls)}.yml')
            shutil.copyfile(tmp_yaml_path, copy_path)
            record: Dict[str, Any] = {
                'pid': os.getpid(),
                'yaml_path': tmp_yaml_path,
                'copy_path': copy_path,
                'function': qualified_name(computing),
                'mount_sources': mount_sources(tmp_yaml_path),
            }
            try:
                record['hash'] = computing(tmp_yaml_path)
                return record['hash']
            except BaseException as error:
                record['error'] = repr(error)
                raise
            finally:
                line = json.dumps(record) + '\n'
                with _lock, open(os.path.join(record_dir, RECORDS),
                                 'a',
                                 encoding='utf-8') as f:
                    f.write(line)

        probe._config_hash_probe = True  # type: ignore[attr-defined]
        probe.__wrapped__ = computing  # type: ignore[attr-defined]
        setattr(backend_utils, NAME, probe)


def read_records(record_dir: str) -> List[Dict[str, Any]]:
    """The records the probe wrote to ``record_dir`` (empty if none)."""
    path = os.path.join(record_dir, RECORDS)
    if not os.path.exists(path):
        return []
    with open(path, encoding='utf-8') as f:
        return [json.loads(line) for line in f if line.strip()]


def recompute(record: Dict[str, Any]) -> Dict[str, Any]:
    """Stock SkyPilot's hash of the YAML a record copied (see the module).

    Raises AssertionError when a file-mount source that existed at the
    call is gone, since the hash would then differ for that reason alone.
    """
    # pylint: disable=import-outside-toplevel
    from sky.backends import backend_utils
    stock = getattr(backend_utils, NAME)
    assert 'sky_fallback' not in sys.modules, 'not a plain SkyPilot process'
    assert qualified_name(stock) == f'{backend_utils.__name__}.{NAME}', stock
    yaml_path, copy_path = record['yaml_path'], record['copy_path']
    with open(copy_path, 'rb') as f:
        seen = f.read()
    restored = False
    try:
        with open(yaml_path, 'rb') as f:
            restored = f.read() != seen
    except FileNotFoundError:
        restored = True
    if restored:
        os.makedirs(os.path.dirname(yaml_path), exist_ok=True)
        with open(yaml_path, 'wb') as f:
            f.write(seen)
    now = mount_sources(yaml_path)
    gone = [s for s, existed in record['mount_sources'].items()
            if existed and not now.get(s)]
    assert not gone, f'file-mount sources gone since the call: {gone}'
    return {
        'copy_path': copy_path,
        'stock_hash': stock(yaml_path),
        'restored_yaml': restored,
    }


def main(argv: List[str]) -> int:
    if len(argv) != 1:
        print('usage: python -m tests_server.hash_probe <records.jsonl>',
              file=sys.stderr)
        return 2
    with open(argv[0], encoding='utf-8') as f:
        records = [json.loads(line) for line in f if line.strip()]
    for record in records:
        if 'hash' in record:
            print(json.dumps(recompute(record)), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))

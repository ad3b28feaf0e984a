"""The SkyPilot API-server plugin that carries sky_rs into SkyPilot's own
processes.

SkyPilot 0.14 does its work in an API server: a main process, uvicorn
workers, request executors (started with ``spawn``) and, for managed jobs
and services, controllers. ``patch_skypilot()`` in a user's script reaches
none of them; SkyPilot loads plugins in each (``sky/server/plugins.py``).
List :class:`SkyRsPlugin` in the server's plugins file
(``python -m sky_fallback plugin install`` does it) and each process, as it
loads the plugin in its context, installs the entries of
``sky_fallback.skypilot.registry.PATCHES`` that run there.

The plugin fails open: without a working Go extension, with
``SKYPILOT_USE_RUST=0`` in the server's environment (then no process starts
Go), or where an installed SkyPilot function is not the source a
replacement was written from, SkyPilot's own functions stay, with one
warning per process, and the server starts as it would without the plugin.

Go starts in a process on the first call that needs it, not when the
plugin loads: a request executor that serves only short requests (``sky
status``) keeps the threads it had. Each process writes a record of what it
did (its contexts, why Go cannot run there if it cannot, what it patched and
refused) under
``~/.sky/sky_rs/processes/``; in a uvicorn worker the plugin serves them,
with whether each live process maps the Go extension now, at ``GET``
:data:`STATUS_ROUTE` (what ``python -m sky_fallback plugin status`` shows).
"""

import json
import logging
import os
import tempfile
from typing import Any, Dict, List, Optional, Tuple

import psutil
from sky.server import plugins

import sky_rs
from sky_fallback import rust_fallback
from sky_fallback.skypilot import patch

logger = logging.getLogger(__name__)

STATUS_ROUTE = '/plugins/api/sky_rs/status'
# Where each process records what the plugin did in it, one file per pid.
RECORDS_DIR = os.path.join('~', '.sky', 'sky_rs', 'processes')


class SkyRsPlugin(plugins.BasePlugin):
    """sky_rs's replacements of SkyPilot's hot paths, in every context.

    Parameters (``parameters:`` in the plugins file): none. The constructor
    does nothing: the server builds plugins without installing them to read
    their RBAC rules.
    """

    def __init__(self, **parameters: Any):
        self._unknown_parameters = sorted(parameters)

    @property
    def name(self) -> str:
        return 'sky_rs'

    @property
    def version(self) -> str:
        return sky_rs.__version__

    @property
    def viewer_allowlist(self) -> List['plugins.RBACRule']:
        # The status route only reads.
        return [plugins.RBACRule(path=STATUS_ROUTE, method='GET')]

    def install(self, extension_context: 'plugins.ExtensionContext') -> None:
        """Patch this process for its context; never raises (SkyPilot would
        not start). Idempotent: a process may load the plugin twice (MAIN,
        then UVICORN when uvicorn runs in the main process)."""
        context = getattr(extension_context, 'context',
                          plugins.PluginContext.UVICORN)
        context = getattr(context, 'value', context)
        try:
            record, first = _patch_this_process(context)
        except Exception as error:  # pylint: disable=broad-except
            logger.warning(
                'sky_rs plugin: not installed in this %s process (%s: %s); '
                "SkyPilot's own functions answer.", context,
                type(error).__name__, error)
            return
        if self._unknown_parameters and first:
            logger.warning('sky_rs plugin: parameters %s are unknown and '
                           'ignored', self._unknown_parameters)
        app = getattr(extension_context, 'app', None)
        if app is not None:
            try:
                _add_status_route(app)
            except Exception as error:  # pylint: disable=broad-except
                logger.warning('sky_rs plugin: no status route (%s: %s)',
                               type(error).__name__, error)
        try:
            _write_record(record)
        except OSError as error:
            logger.debug('sky_rs plugin: no status record (%s)', error)


def _patch_this_process(context: str) -> Tuple[Dict[str, Any], bool]:
    """Install the entries of ``context``, unless Go cannot answer here: the
    record of what was done, and whether this is the plugin's first install
    in this process (only the first warns)."""
    pid = os.getpid()
    record: Dict[str, Any] = {
        'pid': pid,
        'started': _start_time(pid),
        'contexts': [context],
        'patched': [],
        'refused': {},
    }
    previous = _read_record(pid)
    first = previous is None or previous.get('started') != record['started']
    if not first:
        record['contexts'] = sorted(set(previous['contexts']) | {context})
    if not rust_fallback.gate_open():
        # Turned off on purpose: nothing to warn about, and nothing may
        # start the Go runtime.
        record['reason'] = (f'{rust_fallback.GATE_VARIABLE}='
                            f'{os.environ.get(rust_fallback.GATE_VARIABLE)!r}'
                            ' turns sky_rs off')
        return record, first
    # Go is not started here: it starts on the first call that needs it,
    # so a process that never does (an executor serving only short
    # requests) keeps its threads; the replacements answer as SkyPilot's
    # own code until then, and in Python should that load fail.
    record['reason'] = sky_rs.unloadable_reason()
    if record['reason'] is not None:
        if first:
            logger.warning(
                'sky_rs plugin: Go cannot run in this %s process (%s); '
                "SkyPilot's own functions answer.", context, record['reason'])
        return record, first
    patched, refused = patch.apply(patch.select(context=context), alias=False)
    record['patched'] = patched
    record['refused'] = refused
    version_note = patch.unverified_version()
    if version_note is not None and first:
        logger.warning('sky_rs plugin: %s', version_note)
    if refused and first:
        logger.warning(
            'sky_rs plugin: in this %s process SkyPilot keeps its own %s',
            context, '; '.join(f'{name} ({why})'
                               for name, why in sorted(refused.items())))
    return record, first


def _add_status_route(app: Any) -> None:
    if any(getattr(route, 'path', None) == STATUS_ROUTE
           for route in app.routes):
        return  # loaded twice in this process
    app.add_api_route(STATUS_ROUTE, status_report, methods=['GET'])


def status_report() -> Dict[str, Any]:
    """What the plugin did in each live process of this machine's server:
    ``{'sky_rs_version', 'skypilot_version', 'processes': [record, ...]}``,
    each record with ``go_loaded`` read from ``/proc/<pid>/maps`` now (None
    where there is no /proc) and the process's ``title``. Read only."""
    return {
        'sky_rs_version': sky_rs.__version__,
        'skypilot_version': patch.skypilot_version(),
        'processes': [
            dict(record, go_loaded=_maps_extension(record['pid']),
                 title=_title(record['pid']))
            for record in _live_records()
        ],
    }


def _live_records() -> List[Dict[str, Any]]:
    """The records of processes still running, by pid (a pid reused since
    its record was written does not count)."""
    directory = os.path.expanduser(RECORDS_DIR)
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return []
    records = []
    for name in names:
        record = _live_record(name)
        if record is not None:
            records.append(record)
    return records


def _live_record(name: str) -> Optional[Dict[str, Any]]:
    """The record in file ``name`` of the records directory, if its process
    still runs."""
    pid = name[:-len('.json')]
    if not (name.endswith('.json') and pid.isdigit()):
        return None
    record = _read_record(int(pid))
    if record is None or _start_time(int(pid)) != record.get('started'):
        return None
    return record


def _record_path(pid: int) -> str:
    return os.path.join(os.path.expanduser(RECORDS_DIR), f'{pid}.json')


def _write_record(record: Dict[str, Any]) -> None:
    """Write this process's record, and remove those of processes that have
    exited (a server restart leaves its old ones)."""
    path = _record_path(record['pid'])
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    # Written whole, then renamed: a reader never sees half a record.
    fd, temporary = tempfile.mkstemp(dir=directory, suffix='.tmp')
    with os.fdopen(fd, 'w', encoding='utf-8') as f:
        json.dump(record, f)
    os.replace(temporary, path)
    for name in os.listdir(directory):
        # Each decided on its own: another process may be writing its own.
        if name.endswith('.json') and _live_record(name) is None:
            _remove(os.path.join(directory, name))


def _read_record(pid: int) -> Optional[Dict[str, Any]]:
    try:
        with open(_record_path(pid), encoding='utf-8') as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def _start_time(pid: int) -> Optional[float]:
    """When process pid started (seconds since the epoch), which tells a pid
    reused since a record was written; None when it has exited."""
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def _maps_extension(pid: int) -> Optional[bool]:
    """Whether process pid has the Go extension mapped (None: unknown, as
    where there is no /proc)."""
    try:
        with open(f'/proc/{pid}/maps', encoding='utf-8',
                  errors='replace') as f:
            return any('/_sky_rs.' in line for line in f)
    except OSError:
        return None


def _title(pid: int) -> str:
    """The process title (SkyPilot names its executors
    ``SkyPilot:executor:...``), or its command line."""
    try:
        return ' '.join(psutil.Process(pid).cmdline()).strip()
    except psutil.Error:
        return ''

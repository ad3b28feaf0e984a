"""``python -m sky_fallback plugin install | uninstall | status``: the
API-server plugin (sky_fallback.skypilot.plugin) on and off, and what it
does in a running server.

``install`` lists the plugin in SkyPilot's plugins file
(``$SKYPILOT_SERVER_PLUGINS_CONFIG``, else ``~/.sky/plugins.yaml``), keeping
every other plugin and key (the file is rewritten: YAML comments are not
kept; its mode and a symbolic link to it are); ``--remote`` also puts the sky_rs wheel for
SkyPilot's controllers in the ``controller_wheel_path`` directory and lists
the plugin in ``remote_plugins.yaml``, so that jobs and serve controllers
install and load it. The API server reads these files when it starts: the
command says to restart it.

A controller installs a plugin wheel once per file name (SkyPilot records
the names it installed, ``~/.sky/plugins/.installed_wheels`` there), so a
new build of sky_rs reaches controllers only with a new version number.
"""

import argparse
import filecmp
import glob
import json
import os
import shutil
import sys
from typing import Any, Dict, List, Optional, Tuple

import sky_rs

CLASS_PATH = 'sky_fallback.skypilot.plugin.SkyRsPlugin'
PLUGINS_CONFIG_VARIABLE = 'SKYPILOT_SERVER_PLUGINS_CONFIG'
REMOTE_PLUGINS_CONFIG_VARIABLE = 'SKYPILOT_SERVER_REMOTE_PLUGINS_CONFIG'
DEFAULT_PLUGINS_CONFIG = os.path.join('~', '.sky', 'plugins.yaml')
DEFAULT_REMOTE_PLUGINS_CONFIG = os.path.join('~', '.sky',
                                             'remote_plugins.yaml')
# controller_wheel_path, unless the plugins file names a directory already
# (it is one directory for every plugin's wheels).
DEFAULT_WHEEL_DIR = os.path.join('~', '.sky', 'sky_rs', 'controller_wheels')
# SkyPilot's controllers run CPython 3.10 on x86_64 or aarch64 Linux, which
# the abi3 manylinux2014 wheels serve. SkyPilot installs every wheel of the
# directory, so it may hold the wheel of one CPU only.
CONTROLLER_CPUS = ('x86_64', 'aarch64')
WHEEL_GLOB = 'sky_rs-*.whl'
RESTART_HINT = ('Restart the API server for this to take effect: '
                'sky api stop; sky api start')


def add_parser(subcommands: Any) -> None:
    parser = subcommands.add_parser(
        'plugin',
        help="sky_rs in SkyPilot's API server and controllers",
        description=__doc__.split('\n\n')[0].replace('``', ''))
    actions = parser.add_subparsers(dest='action', required=True)
    for name, text in (('install', 'list the plugin in the plugins file'),
                       ('uninstall', 'take the plugin out of it'),
                       ('status', 'whether it is configured, and what it '
                        'does in a running server')):
        action = actions.add_parser(name, help=text, description=text)
        action.add_argument(
            '--config',
            metavar='PATH',
            help=f'the plugins file (default: ${PLUGINS_CONFIG_VARIABLE}, '
            f'else {DEFAULT_PLUGINS_CONFIG})')
        if name == 'install':
            action.add_argument(
                '--remote',
                action='store_true',
                help='also for jobs and serve controllers: put the sky_rs '
                'wheel in controller_wheel_path, which SkyPilot uploads to '
                'them, and list the plugin in remote_plugins.yaml')
            action.add_argument(
                '--wheels',
                metavar='DIR',
                default='wheelhouse',
                help='with --remote: where the manylinux wheels of this '
                'sky_rs version are (default: wheelhouse, what `make wheels` '
                'builds)')
            action.add_argument('--cpu',
                                choices=CONTROLLER_CPUS,
                                default='x86_64',
                                help="with --remote: the controllers' CPU "
                                '(default: x86_64)')
        if name == 'uninstall':
            action.add_argument('--remote',
                                action='store_true',
                                help='also from remote_plugins.yaml and '
                                'controller_wheel_path')
        if name == 'status':
            action.add_argument('--json',
                                action='store_true',
                                help='print the report as JSON')


def run(args: argparse.Namespace) -> int:
    try:
        if args.action == 'install':
            return install(args.config, args.remote, args.wheels, args.cpu)
        if args.action == 'uninstall':
            return uninstall(args.config, args.remote)
        return status(args.config, args.json)
    except (OSError, ValueError, ImportError) as error:
        print(f'python -m sky_fallback plugin {args.action}: {error}',
              file=sys.stderr)
        return 1


# --- the files ------------------------------------------------------------


def plugins_config_path(path: Optional[str] = None) -> str:
    return os.path.expanduser(path or os.environ.get(
        PLUGINS_CONFIG_VARIABLE, DEFAULT_PLUGINS_CONFIG))


def remote_plugins_config_path() -> str:
    return os.path.expanduser(
        os.environ.get(REMOTE_PLUGINS_CONFIG_VARIABLE,
                       DEFAULT_REMOTE_PLUGINS_CONFIG))


def _yaml() -> Any:
    try:
        import yaml  # pylint: disable=import-outside-toplevel
    except ImportError as error:
        raise ImportError('the plugins file is YAML, and PyYAML (installed '
                          'with SkyPilot) is missing') from error
    return yaml


def _read(path: str) -> Dict[str, Any]:
    """The plugins file as a mapping ({} when it does not exist)."""
    yaml = _yaml()
    try:
        with open(path, encoding='utf-8') as f:
            config = yaml.safe_load(f)
    except FileNotFoundError:
        return {}
    except yaml.YAMLError as error:
        raise ValueError(f'{path} is not valid YAML: {error}') from error
    if config is None:
        return {}
    if not isinstance(config, dict) or not isinstance(
            config.get('plugins', []), list):
        raise ValueError(f'{path} is not a plugins file: a mapping with a '
                         'list of plugins under "plugins" was expected')
    return config


def _write(path: str, config: Dict[str, Any]) -> None:
    """Replace the file at path (through a symbolic link, keeping its mode)
    with config, whole: SkyPilot never reads half a file."""
    path = os.path.realpath(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    text = _yaml().safe_dump(config, sort_keys=False, default_flow_style=False)
    temporary = f'{path}.sky_rs-new'
    with open(temporary, 'w', encoding='utf-8') as f:
        f.write(text)
    try:
        shutil.copymode(path, temporary)
    except FileNotFoundError:
        pass
    os.replace(temporary, path)


def _listed(config: Dict[str, Any]) -> bool:
    return any(
        isinstance(plugin, dict) and plugin.get('class') == CLASS_PATH
        for plugin in config.get('plugins') or [])


def _add(config: Dict[str, Any]) -> bool:
    """List the plugin in config; whether that changed it."""
    if _listed(config):
        return False
    config['plugins'] = list(config.get('plugins') or []) + [{
        'class': CLASS_PATH
    }]
    return True


def _drop(config: Dict[str, Any]) -> bool:
    """Take the plugin out of config; whether that changed it."""
    if not _listed(config):
        return False
    config['plugins'] = [
        plugin for plugin in config['plugins']
        if not (isinstance(plugin, dict) and plugin.get('class') == CLASS_PATH)
    ]
    return True


# --- the controllers' wheel -----------------------------------------------


def controller_wheel(wheels: str, cpu: str) -> str:
    """The wheel of this sky_rs version for controllers of ``cpu`` in
    directory ``wheels``. Raises ValueError when there is none."""
    pattern = (f'sky_rs-{sky_rs.__version__}-cp39-abi3-manylinux*_{cpu}'
               '.whl')
    found = sorted(glob.glob(os.path.join(glob.escape(wheels), pattern)))
    if not found:
        raise ValueError(
            f'no {pattern} in {os.path.abspath(wheels)}: build it with `make '
            'wheels` in a sky_rs checkout, or name the directory that holds '
            'it with --wheels')
    return found[-1]


def _wheels_in(directory: str) -> List[str]:
    return glob.glob(os.path.join(glob.escape(directory), WHEEL_GLOB))


def _put_wheel(config: Dict[str, Any], wheel: str) -> List[str]:
    """Put wheel in the controller wheel directory of config (setting
    controller_wheel_path when there is none, which changes config); what
    was done."""
    done = []
    directory = config.get('controller_wheel_path')
    if not directory:
        directory = DEFAULT_WHEEL_DIR
        config['controller_wheel_path'] = directory
        done.append(f'controller_wheel_path: {directory}')
    target_dir = os.path.expanduser(directory)
    os.makedirs(target_dir, exist_ok=True)
    target = os.path.join(target_dir, os.path.basename(wheel))
    for old in _wheels_in(target_dir):
        if old != target:
            os.remove(old)
            done.append(f'removed {old}')
    if not os.path.exists(target):
        shutil.copyfile(wheel, target)
        done.append(f'copied {os.path.basename(wheel)} to {target_dir}')
    elif not filecmp.cmp(wheel, target, shallow=False):
        shutil.copyfile(wheel, target)
        done.append(f'replaced {target} by another build of the same name: '
                    'a controller that installed it keeps its build until '
                    'the sky_rs version changes')
    return done


# --- the commands ---------------------------------------------------------


def install(config: Optional[str], remote: bool, wheels: str,
            cpu: str) -> int:
    path = plugins_config_path(config)
    # Everything that can refuse is read before anything is written.
    wheel = controller_wheel(wheels, cpu) if remote else None
    settings = _read(path)
    remote_path = remote_plugins_config_path()
    remote_settings = _read(remote_path) if remote else {}
    changed = _add(settings)
    changes = [f'{path}: added {CLASS_PATH}'] if changed else []
    if wheel is not None:
        done = _put_wheel(settings, wheel)
        changed = changed or bool(done)
        changes.extend(f'{path}: {line}' for line in done)
        if _add(remote_settings):
            _write(remote_path, remote_settings)
            changes.append(f'{remote_path}: added {CLASS_PATH}')
    if changed:
        _write(path, settings)
    return _report(changes, f'The sky_rs plugin is already installed ({path})')


def uninstall(config: Optional[str], remote: bool) -> int:
    path = plugins_config_path(config)
    settings = _read(path)
    remote_path = remote_plugins_config_path()
    remote_settings = _read(remote_path) if remote else {}
    changed = _drop(settings)
    changes = [f'{path}: removed {CLASS_PATH}'] if changed else []
    if remote:
        directory = settings.get('controller_wheel_path')
        if directory:
            for wheel in _wheels_in(os.path.expanduser(directory)):
                os.remove(wheel)
                changes.append(f'removed {wheel}')
            if directory == DEFAULT_WHEEL_DIR:
                del settings['controller_wheel_path']
                changed = True
                changes.append(f'{path}: removed controller_wheel_path')
        if _drop(remote_settings):
            _write(remote_path, remote_settings)
            changes.append(f'{remote_path}: removed {CLASS_PATH}')
    if changed:
        _write(path, settings)
    return _report(changes, f'The sky_rs plugin is not installed ({path})')


def _report(changes: List[str], unchanged: str) -> int:
    """Print what changed and that the server must be restarted, or that
    nothing did."""
    if changes:
        print('\n'.join(changes))
        print(RESTART_HINT)
    else:
        print(f'{unchanged}; nothing to change.')
    return 0


def server_report() -> Tuple[str, Optional[Dict[str, Any]], Optional[str]]:
    """The address of the API server SkyPilot's client would use (``sky api
    info``'s), the plugin's report from it, and why there is none (the
    report is None then)."""
    # pylint: disable=import-outside-toplevel
    from sky.server import common as server_common
    from sky_fallback.skypilot import plugin
    url = server_common.get_server_url()
    try:
        response = server_common.make_authenticated_request(
            'GET', plugin.STATUS_ROUTE, retry=False, timeout=10)
    except Exception as error:  # pylint: disable=broad-except
        return url, None, f'no API server answers at {url} ({error})'
    if response.status_code == 404:
        return url, None, (f'the API server at {url} runs without the sky_rs '
                           f'plugin. {RESTART_HINT}')
    if response.status_code != 200:
        return url, None, (f'the API server at {url} answered '
                           f'{plugin.STATUS_ROUTE} with HTTP '
                           f'{response.status_code}')
    return url, response.json(), None


def status(config: Optional[str], as_json: bool) -> int:
    path = plugins_config_path(config)
    remote_path = remote_plugins_config_path()
    report: Dict[str, Any] = {
        'plugins_file': path,
        'configured': _listed(_read(path)),
        'remote_plugins_file': remote_path,
        'remote_configured': _listed(_read(remote_path)),
    }
    try:
        url, server, unavailable = server_report()
    except ImportError as error:
        url, server, unavailable = None, None, (
            f'SkyPilot is not installed here ({error})')
    report['server_url'] = url
    report['server'] = server
    report['server_unavailable'] = unavailable
    if as_json:
        print(json.dumps(report, indent=2, sort_keys=True))
        return 0
    print(f"plugins file        {path}: "
          f"{'lists' if report['configured'] else 'does not list'} the "
          'sky_rs plugin')
    print(f"remote plugins file {remote_path}: "
          f"{'lists' if report['remote_configured'] else 'does not list'} it")
    if server is None:
        print(f'API server          {unavailable}')
        return 0
    print(f"API server          {url}: sky_rs {server['sky_rs_version']}, "
          f"SkyPilot {server['skypilot_version']}")
    for process in server['processes']:
        if process.get('reason'):
            backend = f"Python: {process['reason']}"
        elif process['go_loaded']:
            backend = 'Go'
        elif process['go_loaded'] is None:
            backend = 'Go where a call needs it (unknown whether started)'
        else:
            backend = 'Go where a call needs it (not started yet)'
        print(f"  pid {process['pid']:<7} {'+'.join(process['contexts']):<16}"
              f" {backend}; {len(process['patched'])} patched")
        for name, why in sorted(process['refused'].items()):
            print(f'      SkyPilot keeps {name}: {why}')
    return 0

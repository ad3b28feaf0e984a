"""The SkyPilot API-server plugin, loaded by SkyPilot's own loader, and the
``python -m sky_fallback plugin`` command that turns it on and off.

Each loading test runs in a fresh Python process with its own HOME (where
SkyPilot reads ``~/.sky/plugins.yaml`` and the plugin writes its records),
so that what the plugin does to a process (patching, starting Go) is seen
from the start. tests_server/ shows the same in a real API server.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from sky_fallback.skypilot import plugin_cli
from sky_fallback.skypilot import registry

pytest.importorskip('sky.server.plugins', reason='SkyPilot is not installed')

CONTEXTS = ('main', 'uvicorn', 'executor', 'controller')


def load(home, code, **env):
    """Run code in a fresh Python with HOME=home after loading the plugins
    of home's plugins.yaml as SkyPilot does; the JSON object it prints."""
    environment = dict(os.environ)
    for name in ('SKYPILOT_USE_RUST', 'SKY_RS_FORCE_NATIVE',
                 plugin_cli.PLUGINS_CONFIG_VARIABLE,
                 plugin_cli.REMOTE_PLUGINS_CONFIG_VARIABLE):
        environment.pop(name, None)
    environment.update(env, HOME=str(home))
    prelude = textwrap.dedent("""
        import json, logging, os, sys
        from sky.server import plugins
        from sky_fallback.skypilot import patch
        warnings = []
        class Collect(logging.Handler):
            def emit(self, record):
                if record.levelno >= logging.WARNING:
                    warnings.append(record.getMessage())
        logging.getLogger('sky_fallback').addHandler(Collect())
        def load(context, app=None):
            plugins.load_plugins(plugins.ExtensionContext(
                context=plugins.PluginContext(context), app=app))
        def go_mapped():
            return '/_sky_rs.' in open('/proc/self/maps').read()
        def record():
            path = os.path.expanduser(
                f'~/.sky/sky_rs/processes/{os.getpid()}.json')
            return json.load(open(path)) if os.path.exists(path) else None
    """)
    result = subprocess.run(
        [sys.executable, '-c', prelude + textwrap.dedent(code)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture
def home(tmp_path):
    """A HOME whose plugins.yaml lists the plugin."""
    assert plugin_cli.install(str(tmp_path / '.sky' / 'plugins.yaml'), False,
                              '', 'x86_64') == 0
    return tmp_path


def entries(context):
    return [
        entry.qualified_name
        for entry in registry.PATCHES
        if context in entry.contexts
    ]


@pytest.mark.parametrize('context', CONTEXTS)
def test_each_context_patches_its_entries_and_go_starts_on_use(
        home, context, native):  # pylint: disable=unused-argument
    report = load(
        home, f"""
        load({context!r})
        at_load = go_mapped()
        from sky.utils import common_utils
        os.environ.pop('SKYPILOT_POD_CPU_CORE_LIMIT', None)
        common_utils.get_cpu_count()  # a patched function Go answers
        print(json.dumps(dict(patched=patch.patched_functions(),
                              at_load=at_load, go=go_mapped(),
                              record=record(), warnings=warnings)))
        """)
    assert report['patched'] == entries(context)
    # No Go threads in a process that never needs Go (an executor serving
    # short requests); the first call that needs it starts Go.
    assert report['at_load'] is False
    assert report['go'] is True
    assert report['warnings'] == []
    assert report['record']['contexts'] == [context]
    assert report['record']['patched'] == entries(context)
    assert report['record']['reason'] is None


def test_a_process_may_load_it_twice(home, native):  # pylint: disable=unused-argument
    # MAIN, then UVICORN in the same process (uvicorn in-process), with the
    # app: one route, the union of both contexts' entries.
    report = load(
        home, """
        import fastapi
        app = fastapi.FastAPI()
        load('main')
        load('uvicorn', app)
        load('uvicorn', app)
        from sky_fallback.skypilot import plugin
        routes = [r.path for r in app.routes if r.path == plugin.STATUS_ROUTE]
        print(json.dumps(dict(patched=patch.patched_functions(),
                              routes=routes, record=record(),
                              warnings=warnings)))
        """)
    both = set(entries('main')) | set(entries('uvicorn'))
    assert set(report['patched']) == both
    assert len(report['routes']) == 1
    assert report['record']['contexts'] == ['main', 'uvicorn']
    assert report['warnings'] == []


def test_the_constructor_does_nothing(home):
    # The server builds plugins without installing them, for their RBAC
    # rules: that must neither patch nor start Go.
    report = load(
        home, """
        plugins.load_plugin_rbac_rules()
        from sky_fallback.skypilot.plugin import SkyRsPlugin
        SkyRsPlugin()
        print(json.dumps(dict(patched=patch.patched_functions(),
                              go=go_mapped(), record=record())))
        """)
    assert report == {'patched': [], 'go': False, 'record': None}


@pytest.mark.parametrize('value', ['0', 'false', 'OFF'])
def test_the_gate_off_starts_no_go_in_any_context(home, value):
    report = load(home,
                  """
        for context in ('main', 'uvicorn', 'executor', 'controller'):
            load(context)
        print(json.dumps(dict(patched=patch.patched_functions(),
                              go=go_mapped(), record=record(),
                              warnings=warnings)))
        """,
                  SKYPILOT_USE_RUST=value)
    assert report['patched'] == [] and report['go'] is False
    assert 'SKYPILOT_USE_RUST' in report['record']['reason']
    assert report['warnings'] == []  # turned off on purpose


def test_without_go_skypilot_keeps_its_own_with_one_warning(home):
    # sky_rs present but its extension unusable (as in a source checkout
    # without a build): simulated by a load that fails.
    report = load(
        home, """
        import sky_rs._loading
        sky_rs._loading._failed = 'no extension, for the test'
        load('main')
        load('uvicorn')  # a second install in one process warns no more
        print(json.dumps(dict(patched=patch.patched_functions(),
                              record=record(), warnings=warnings)))
        """)
    assert report['patched'] == []
    assert 'no extension, for the test' in report['record']['reason']
    assert len(report['warnings']) == 1
    assert 'no extension, for the test' in report['warnings'][0]


def test_a_changed_skypilot_function_stays_with_one_warning(home, native):  # pylint: disable=unused-argument
    report = load(
        home, """
        from sky.utils import common_utils
        def format_float(num, precision=1):  # another SkyPilot's
            return str(num)
        common_utils.format_float = format_float
        load('main')
        load('uvicorn')  # a second install in one process warns no more
        print(json.dumps(dict(patched=patch.patched_functions(),
                              ours=common_utils.format_float is format_float,
                              record=record(), warnings=warnings)))
        """)
    assert report['ours'] is True
    assert report['record']['contexts'] == ['main', 'uvicorn']
    assert set(report['patched']) == set(entries('main')) - {
        'sky.utils.common_utils.format_float'
    }
    assert list(report['record']['refused']) == [
        'sky.utils.common_utils.format_float'
    ]
    assert len(report['warnings']) == 1
    assert 'format_float' in report['warnings'][0]


def test_install_never_stops_the_server(home):
    report = load(
        home, """
        def broken(*args, **kwargs):
            raise RuntimeError('broken, for the test')
        patch.apply = broken
        load('executor')  # SkyPilot re-raises what install() raises
        print(json.dumps(dict(patched=patch.patched_functions(),
                              warnings=warnings)))
        """)
    assert report['patched'] == []
    assert len(report['warnings']) == 1
    assert 'broken, for the test' in report['warnings'][0]


def test_a_failing_route_or_an_odd_context_never_stops_the_server(home):
    report = load(
        home, """
        from sky_fallback.skypilot import plugin
        class App:  # an app whose routes cannot be added
            routes = []
            def add_api_route(self, *args, **kwargs):
                raise RuntimeError('no routes, for the test')
        class Context:  # a context that is no PluginContext
            context = 'executor'
            app = App()
        plugin.SkyRsPlugin().install(Context())
        print(json.dumps(dict(patched=patch.patched_functions(),
                              record=record(), warnings=warnings)))
        """)
    # Patched, and the record says so, though the route failed.
    assert report['patched'] and report['record']['patched'] == report[
        'patched']
    assert len(report['warnings']) == 1
    assert 'no routes, for the test' in report['warnings'][0]


def test_status_reports_live_processes_and_a_write_drops_the_others(home, native):  # pylint: disable=unused-argument
    report = load(
        home, """
        load('executor')
        from sky.utils import common_utils
        common_utils.get_cpu_count()  # starts Go
        records = os.path.expanduser('~/.sky/sky_rs/processes')
        # A record of a process that has exited (its pid reused or gone).
        with open(os.path.join(records, '999999999.json'), 'w') as f:
            json.dump(dict(pid=999999999, started=1, contexts=['executor'],
                           patched=[], refused={}, reason=None), f)
        from sky_fallback.skypilot import plugin
        status = plugin.status_report()  # reads only
        before = sorted(os.listdir(records))
        load('uvicorn')  # the next record written prunes
        print(json.dumps(dict(status=status, pid=os.getpid(), before=before,
                              left=sorted(os.listdir(records)))))
        """)
    processes = report['status']['processes']
    assert [p['pid'] for p in processes] == [report['pid']]
    assert processes[0]['go_loaded'] is True
    assert processes[0]['contexts'] == ['executor']
    assert report['before'] == sorted(['999999999.json',
                                       f"{report['pid']}.json"])
    assert report['left'] == [f"{report['pid']}.json"]


def test_the_status_route_answers_over_http(home, native):  # pylint: disable=unused-argument
    report = load(
        home, """
        import fastapi
        from fastapi import testclient
        from sky_fallback.skypilot import plugin
        app = fastapi.FastAPI()
        load('uvicorn', app)
        response = testclient.TestClient(app).get(plugin.STATUS_ROUTE)
        print(json.dumps(dict(code=response.status_code,
                              body=response.json(), pid=os.getpid())))
        """)
    assert report['code'] == 200
    assert [p['pid'] for p in report['body']['processes']] == [report['pid']]
    assert report['body']['skypilot_version'] == '0.14.1'


# --- python -m sky_fallback plugin ------------------------------------------


def cli(*args, home, **env):
    environment = dict(os.environ, HOME=str(home), **env)
    for name in (plugin_cli.PLUGINS_CONFIG_VARIABLE,
                 plugin_cli.REMOTE_PLUGINS_CONFIG_VARIABLE):
        if name not in env:
            environment.pop(name, None)
    return subprocess.run(
        [sys.executable, '-m', 'sky_fallback', 'plugin', *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False)


def read_yaml(path):
    import yaml  # pylint: disable=import-outside-toplevel
    with open(path, encoding='utf-8') as f:
        return yaml.safe_load(f)


def test_install_keeps_every_other_plugin_and_key_and_is_idempotent(
        tmp_path):
    config = tmp_path / '.sky' / 'plugins.yaml'
    config.parent.mkdir()
    other = {'class': 'their.Plugin', 'parameters': {'a': 1}}
    config.write_text(
        'controller_wheel_path: /opt/wheels\nplugins:\n'
        '- class: their.Plugin\n  parameters:\n    a: 1\n')
    first = cli('install', home=tmp_path)
    assert first.returncode == 0, first.stderr
    assert f'{config}: added {plugin_cli.CLASS_PATH}' in first.stdout
    assert 'sky api stop; sky api start' in first.stdout
    assert read_yaml(config) == {
        'controller_wheel_path': '/opt/wheels',
        'plugins': [other, {
            'class': plugin_cli.CLASS_PATH
        }],
    }
    again = cli('install', home=tmp_path)
    assert 'nothing to change' in again.stdout
    assert read_yaml(config)['plugins'][-1] == {'class': plugin_cli.CLASS_PATH}
    assert len(read_yaml(config)['plugins']) == 2
    gone = cli('uninstall', home=tmp_path)
    assert gone.returncode == 0, gone.stderr
    assert read_yaml(config) == {
        'controller_wheel_path': '/opt/wheels',
        'plugins': [other],
    }
    assert 'nothing to change' in cli('uninstall', home=tmp_path).stdout


def test_the_plugins_file_is_skypilots(tmp_path):
    named = tmp_path / 'elsewhere.yaml'
    cli('install', home=tmp_path, SKYPILOT_SERVER_PLUGINS_CONFIG=str(named))
    assert read_yaml(named) == {'plugins': [{'class': plugin_cli.CLASS_PATH}]}
    explicit = tmp_path / 'explicit.yaml'
    cli('install', '--config', str(explicit), home=tmp_path)
    assert read_yaml(explicit)['plugins'] == [{'class': plugin_cli.CLASS_PATH}]
    assert not (tmp_path / '.sky' / 'plugins.yaml').exists()


def test_a_file_that_is_not_a_plugins_file_is_refused(tmp_path):
    config = tmp_path / '.sky' / 'plugins.yaml'
    config.parent.mkdir()
    config.write_text('- just\n- a list\n')
    result = cli('install', home=tmp_path)
    assert result.returncode == 1
    assert 'is not a plugins file' in result.stderr
    assert config.read_text() == '- just\n- a list\n'
    config.write_text('plugins: [\n')
    for action in ('install', 'uninstall', 'status'):
        result = cli(action, home=tmp_path)
        assert result.returncode == 1, action
        assert 'is not valid YAML' in result.stderr, action
        assert 'Traceback' not in result.stderr, action
    assert config.read_text() == 'plugins: [\n'


def test_a_linked_file_stays_a_link_with_its_mode(tmp_path):
    target = tmp_path / 'shared' / 'plugins.yaml'
    target.parent.mkdir()
    target.write_text('plugins: []\n')
    target.chmod(0o600)
    link = tmp_path / '.sky' / 'plugins.yaml'
    link.parent.mkdir()
    link.symlink_to(target)
    assert cli('install', home=tmp_path).returncode == 0
    assert link.is_symlink()
    assert read_yaml(target) == {'plugins': [{'class': plugin_cli.CLASS_PATH}]}
    assert target.stat().st_mode & 0o777 == 0o600


def fake_wheels(directory):
    import sky_rs  # pylint: disable=import-outside-toplevel
    directory.mkdir()
    names = {}
    for cpu in plugin_cli.CONTROLLER_CPUS:
        name = (f'sky_rs-{sky_rs.__version__}-cp39-abi3-manylinux2014_{cpu}.'
                f'manylinux_2_17_{cpu}.whl')
        (directory / name).write_bytes(cpu.encode())
        names[cpu] = name
    return names


def test_remote_uploads_one_wheel_through_skypilots_own_code(tmp_path):
    names = fake_wheels(tmp_path / 'wheelhouse')
    result = cli('install', '--remote', '--wheels',
                 str(tmp_path / 'wheelhouse'), home=tmp_path)
    assert result.returncode == 0, result.stderr
    config = read_yaml(tmp_path / '.sky' / 'plugins.yaml')
    assert config['controller_wheel_path'] == plugin_cli.DEFAULT_WHEEL_DIR
    wheel_dir = tmp_path / '.sky' / 'sky_rs' / 'controller_wheels'
    assert sorted(os.listdir(wheel_dir)) == [names['x86_64']]
    assert read_yaml(tmp_path / '.sky' / 'remote_plugins.yaml') == {
        'plugins': [{
            'class': plugin_cli.CLASS_PATH
        }]
    }
    # What SkyPilot makes of it for a controller: the wheel is uploaded and
    # installed, and the remote plugins file goes along.
    report = load(
        tmp_path, """
        from sky.server import plugin_utils
        mounts, commands = plugin_utils.get_plugin_mounts_and_commands()
        print(json.dumps(dict(
            mounts=mounts, commands=commands,
            config=plugin_utils.get_filtered_plugins_config_path())))
        """)
    remote = f'~/.sky/plugins/wheels/{names["x86_64"]}'
    assert report['mounts'] == {remote: str(wheel_dir / names['x86_64'])}
    assert f'install {remote}' in report['commands']
    assert report['config'] == str(tmp_path / '.sky' / 'remote_plugins.yaml')
    # The other CPU's wheel replaces it; uninstall takes it all back.
    cli('install', '--remote', '--cpu', 'aarch64', '--wheels',
        str(tmp_path / 'wheelhouse'), home=tmp_path)
    assert sorted(os.listdir(wheel_dir)) == [names['aarch64']]
    gone = cli('uninstall', '--remote', home=tmp_path)
    assert gone.returncode == 0, gone.stderr
    assert os.listdir(wheel_dir) == []
    assert read_yaml(tmp_path / '.sky' / 'plugins.yaml') == {'plugins': []}
    assert read_yaml(tmp_path / '.sky' / 'remote_plugins.yaml') == {
        'plugins': []
    }


def test_remote_shares_a_wheel_directory_already_configured(tmp_path):
    names = fake_wheels(tmp_path / 'wheelhouse')
    theirs = tmp_path / 'their_wheels'
    theirs.mkdir()
    (theirs / 'their_plugin-1.0-py3-none-any.whl').write_bytes(b'theirs')
    config = tmp_path / '.sky' / 'plugins.yaml'
    config.parent.mkdir()
    config.write_text(f'controller_wheel_path: {theirs}\n')
    cli('install', '--remote', '--wheels', str(tmp_path / 'wheelhouse'),
        home=tmp_path)
    assert read_yaml(config)['controller_wheel_path'] == str(theirs)
    assert sorted(os.listdir(theirs)) == sorted(
        ['their_plugin-1.0-py3-none-any.whl', names['x86_64']])
    cli('uninstall', '--remote', home=tmp_path)
    assert os.listdir(theirs) == ['their_plugin-1.0-py3-none-any.whl']
    assert read_yaml(config)['controller_wheel_path'] == str(theirs)


def test_remote_without_the_wheel_says_how_to_build_it(tmp_path):
    (tmp_path / 'empty').mkdir()
    result = cli('install', '--remote', '--wheels', str(tmp_path / 'empty'),
                 home=tmp_path)
    assert result.returncode == 1
    assert 'make wheels' in result.stderr
    # Refused before anything was written.
    assert not (tmp_path / '.sky').exists()


def test_status_without_a_server(tmp_path):
    cli('install', home=tmp_path)
    result = cli('status', '--json', home=tmp_path,
                 SKYPILOT_API_SERVER_ENDPOINT='http://127.0.0.1:9')
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report['configured'] is True
    assert report['remote_configured'] is False
    assert report['server'] is None
    assert 'no API server answers' in report['server_unavailable']

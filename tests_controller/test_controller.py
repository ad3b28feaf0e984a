"""The release wheel reaches a managed-jobs controller through SkyPilot's
plugin files, and the controller runs with Go.

What SkyPilot 0.14.1 does for a jobs controller, each step by its own code
where this machine allows it:

1. On the API server (the project's .venv, a HOME of its own):
   ``python -m sky_fallback plugin install --remote --wheels WHEELHOUSE
   --cpu CPU``; then SkyPilot makes the controller task
   (``api_server_side.py``: its template filled with
   ``controller_utils.shared_controller_vars_to_fill``, read back with
   ``Task.from_yaml``). Its file mounts upload our wheel and
   ``remote_plugins.yaml``; its run section installs the wheel with the
   guarded script of ``plugin_utils._build_guarded_install_script``.
2. The controller is a Debian root of ``scripts/debian_root.sh`` whose HOME
   was set up as SkyPilot sets up a controller's runtime: uv in
   ``~/.local/bin``, SkyPilot's ``UV_INSTALLATION_COMMANDS`` (the
   ``~/skypilot-runtime`` venv, its Python in ``~/.sky/python_path``),
   SkyPilot 0.14.1 installed in it by ``SKY_UV_PIP_CMD``. That HOME is made
   once and cached, keyed by what made it; each run sees it through an
   overlay, so the cache never changes.
3. A launch: the file mounts copied where they say (SkyPilot rsyncs them),
   the task's run section run up to where it submits the job, then a
   controller process started as ``sky.jobs.scheduler.start_controller``
   starts one (``controller_probe.py``: SkyPilot's own
   ``sky.jobs.controller.main()``, stopped before it manages jobs), which
   reports what the plugin did to it. Then the command ``sky jobs queue``
   runs there (SkyPilot's code generation), which loads the plugin too: its
   output must still be the payload the API server reads.
4. A second launch on the same controller: SkyPilot's script skips the
   installed wheel (its stamp file), and the controller still runs with Go.

Needs root (chroot, mount) and the manylinux wheels of this version in
``$WHEELHOUSE`` (default: wheelhouse/, what ``make wheels`` builds): ``make
test-controller``. ``SKY_RS_CONTROLLER_CPUS`` (default ``x86_64``; also
``aarch64``, under qemu-user) names the controllers tried.
"""

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from typing import Any, Dict, List, Optional

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT_SH = os.path.join(REPO, 'scripts', 'debian_root.sh')
WHEELHOUSE = os.environ.get('WHEELHOUSE', os.path.join(REPO, 'wheelhouse'))
CACHE = os.path.join(
    os.environ.get('XDG_CACHE_HOME', os.path.expanduser('~/.cache')),
    'sky_rs')


@dataclasses.dataclass(frozen=True)
class Controller:
    cpu: str  # platform.machine()
    root: str  # a root of scripts/debian_root.sh
    python: str  # the CPython of that root the runtime is made with
    # Why SkyPilot's job queue command cannot run there (None: it can).
    no_job_queue: Optional[str] = None


# SkyPilot's controllers run CPython 3.10 (UV_INSTALLATION_COMMANDS asks uv
# for it, and uv downloads it where the system has none). No Debian root has
# 3.10, and uv may download no interpreter here: the roots' own CPythons.
CONTROLLERS = {
    'x86_64': Controller('x86_64', 'bookworm-amd64', '3.11'),
    'aarch64': Controller(
        'aarch64', 'bullseye-arm64', '3.9',
        no_job_queue=('SkyPilot 0.14.1 fails there, with or without sky_rs: '
                      'its database migrations use ALTER TABLE ... DROP '
                      "COLUMN (SQLite 3.35); Debian 11's SQLite is 3.34.1")),
}
TRIED = os.environ.get('SKY_RS_CONTROLLER_CPUS', 'x86_64').split(',')
RUNTIME = '/root/skypilot-runtime'
# What the controller's HOME holds. SkyPilot's installer fetches the newest
# uv; a pin keeps the cached HOME what its key says.
UV_PIN = 'uv==0.13.10'
SKYPILOT_PIN = 'skypilot[remote]==0.14.1'  # what SkyPilot installs there
# The controller task's run section up to this line installs the plugins;
# the rest submits the job to the scheduler, which needs a jobs database.
SUBMIT_MARKER = '# Write env vars to a file'

# Bounds of each step, in seconds (qemu-user runs aarch64 several times
# slower).
PREPARE_TIMEOUT = 1200
HOST_TIMEOUT = 180
LAUNCH_TIMEOUT = 600


def run_bounded(args: List[str], timeout: float,
                **kwargs: Any) -> subprocess.CompletedProcess:
    """Run args, output and errors together; on timeout kill its whole
    process group (what runs in the root too: its mounts vanish with it)
    and fail the test."""
    with subprocess.Popen(args,
                          stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT,
                          text=True,
                          start_new_session=True,
                          **kwargs) as process:
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
            pytest.fail(f'{" ".join(args[:4])} ... did not finish in '
                        f'{timeout} s:\n{output[-4000:]}')
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # anything left
    return subprocess.CompletedProcess(args, process.returncode, output, None)


def in_root(root: str, script: str, timeout: float, *options: str) -> str:
    """Run the bash script in the root, with debian_root.sh's run options;
    its output. Fails the test unless the script exits 0."""
    result = run_bounded(
        [ROOT_SH, 'run', root, *options, '--', 'bash', '-c', script], timeout)
    assert result.returncode == 0, (
        f'exit {result.returncode} in {root}:\n{result.stdout[-6000:]}')
    return result.stdout


def host_python(*args: str, home: str) -> str:
    """Run this Python (the API server's) with HOME=home; its output."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(('SKYPILOT_', 'SKY_RS_'))
    }
    environment.update(HOME=home, PYTHONPATH=REPO)
    result = run_bounded([sys.executable, *args],
                         HOST_TIMEOUT,
                         env=environment,
                         cwd=home)
    assert result.returncode == 0, result.stdout[-6000:]
    return result.stdout


@pytest.fixture(scope='session', params=TRIED)
def controller(request: pytest.FixtureRequest) -> Controller:
    if request.param not in CONTROLLERS:
        pytest.fail(f'SKY_RS_CONTROLLER_CPUS: no controller {request.param} '
                    f'(one of {sorted(CONTROLLERS)})', pytrace=False)
    if os.geteuid() != 0:
        pytest.fail('needs root (debian_root.sh: chroot, mount)',
                    pytrace=False)
    return CONTROLLERS[request.param]


@pytest.fixture(scope='session')
def release_wheel(controller: Controller) -> str:
    """The manylinux wheel of this sky_rs version for the controller."""
    import sky_rs  # pylint: disable=import-outside-toplevel
    from sky_fallback.skypilot import plugin_cli  # pylint: disable=import-outside-toplevel
    try:
        return plugin_cli.controller_wheel(WHEELHOUSE, controller.cpu)
    except ValueError as error:
        pytest.fail(f'sky_rs {sky_rs.__version__}: {error}', pytrace=False)


@pytest.fixture(scope='session')
def api_server(controller: Controller, release_wheel: str,
               tmp_path_factory: pytest.TempPathFactory,
               timings: Dict[str, float]) -> Dict[str, Any]:
    """The API server's side: the plugin installed with --remote, and what
    SkyPilot makes of it for a jobs controller (api_server_side.py)."""
    del release_wheel  # the plugin command finds it itself
    started = time.monotonic()
    home = str(tmp_path_factory.mktemp(f'api_server_home_{controller.cpu}'))
    host_python('-m', 'sky_fallback', 'plugin', 'install', '--remote',
                '--wheels', WHEELHOUSE, '--cpu', controller.cpu, home=home)
    output = os.path.join(home, 'controller_task.json')
    host_python(os.path.join(HERE, 'api_server_side.py'), 'controller-task',
                output, home=home)
    with open(output, encoding='utf-8') as f:
        side = json.load(f)
    side['home'] = home
    timings[f'{controller.cpu}: API server side'] = (time.monotonic() -
                                                     started)
    return side


def runtime_setup(controller: Controller, side: Dict[str, Any]) -> str:
    """The script that sets up a controller's HOME as SkyPilot does, with
    SkyPilot's own commands (but for the pins and the Python version)."""
    uv_installation = side['uv_installation']
    assert uv_installation.count('--python 3.10') == 1, uv_installation
    uv_installation = uv_installation.replace('--python 3.10',
                                              f'--python {controller.python}')
    return '\n'.join([
        'set -euo pipefail',
        'cd ~',
        side['setup_sky_dirs'],
        # uv where SkyPilot's installer puts it (SKY_UV_INSTALL_CMD then
        # finds it and fetches nothing).
        'python3 -m venv /tmp/uv-venv',
        f'/tmp/uv-venv/bin/pip install --quiet {UV_PIN!r}',
        'install -D -m 755 /tmp/uv-venv/bin/uv ~/.local/bin/uv',
        uv_installation,
        f'{side["uv_pip"]} install --quiet {SKYPILOT_PIN!r}',
        f'{side["python"]} -c "import sky; print(\'SkyPilot\', '
        'sky.__version__, \'in\', sky.__file__)"',
    ])


@pytest.fixture(scope='session')
def controller_home(controller: Controller, api_server: Dict[str, Any],
                    tmp_path_factory: pytest.TempPathFactory,
                    timings: Dict[str, float]) -> str:
    """The controller's cached HOME, made on first use (read-only: a launch
    sees it through an overlay), keyed by the root it was made in and the
    script that made it; only the newest key of each CPU is kept."""
    started = time.monotonic()
    result = run_bounded([ROOT_SH, 'ensure', controller.root],
                         PREPARE_TIMEOUT)
    assert result.returncode == 0, result.stdout[-4000:]
    root_dir = run_bounded([ROOT_SH, 'path', controller.root],
                           30).stdout.strip()
    with open(os.path.join(root_dir, '.sky_rs-root'), encoding='utf-8') as f:
        root_spec = f.read()
    script = runtime_setup(controller, api_server)
    key = hashlib.sha256(json.dumps([root_spec, script]).encode()).hexdigest()
    base = os.path.join(CACHE, 'controller-home', controller.cpu)
    home = os.path.join(base, key[:16])
    os.makedirs(base, exist_ok=True)
    with open(os.path.join(base, '.lock'), 'w', encoding='utf-8') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one maker at a time
        if not os.path.isdir(home):
            for old in os.listdir(base):  # other keys', a half-made one
                if not old.startswith('.'):
                    shutil.rmtree(os.path.join(base, old))
            new = f'{home}.new'
            os.makedirs(new)
            scratch = tmp_path_factory.mktemp('prepare_tmp')
            for cache in ('pip', 'uv'):
                os.makedirs(os.path.join(CACHE, cache), exist_ok=True)
            in_root(controller.root, script, PREPARE_TIMEOUT,
                    '-b', f'{new}:/root',
                    '-b', f'{scratch}:/tmp',
                    '-b', f'{CACHE}/pip:/cache/pip',
                    '-b', f'{CACHE}/uv:/cache/uv',
                    '-e', 'PIP_CACHE_DIR=/cache/pip',
                    '-e', 'UV_CACHE_DIR=/cache/uv',
                    '-e', 'UV_PYTHON_DOWNLOADS=never')  # fail, don't hang
            os.rename(new, home)
    timings[f'{controller.cpu}: controller HOME'] = time.monotonic() - started
    return home


@pytest.fixture(scope='session')
def launches(controller: Controller, api_server: Dict[str, Any],
             controller_home: str, tmp_path_factory: pytest.TempPathFactory,
             timings: Dict[str, float]) -> List[Dict[str, Any]]:
    """Two launches of a managed job on one controller: what each printed,
    the probe's report, and the controller's HOME after it."""
    machine = tmp_path_factory.mktemp(f'controller_{controller.cpu}')
    upper = str(machine / 'home')  # what the controller wrote in its HOME
    stage = machine / 'stage'
    scratch = machine / 'tmp'
    stage.mkdir()
    scratch.mkdir()
    shutil.copy(os.path.join(HERE, 'controller_probe.py'), stage)
    run = api_server['run']
    assert SUBMIT_MARKER in run, run
    (stage / 'run.sh').write_text(run[:run.index(SUBMIT_MARKER)])
    (stage / 'job_queue.sh').write_text(api_server['job_queue_command'])
    records_dir = os.path.join(upper, '.sky', 'sky_rs', 'processes')
    seen: List[str] = []
    results = []
    for n in (1, 2):
        upload = stage / f'upload-{n}'
        for remote, local in api_server['file_mounts'].items():
            assert remote.startswith('~/'), remote
            target = upload / remote[2:]
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(local, target)
        started = time.monotonic()
        output = in_root(
            controller.root,
            '\n'.join([
                'set -euo pipefail',
                'cd ~',
                # The file mounts, where SkyPilot's rsync puts them.
                f'cp -r /stage/upload-{n}/. ~/',
                'echo "=== run section"',
                'bash /stage/run.sh',
                'echo "=== controller"',
                # As sky.jobs.scheduler.start_controller() starts one.
                f'export {api_server["override_consolidation_mode"]}=true',
                api_server['activate'],
                f'{api_server["python"]} -u /stage/controller_probe.py '
                f'/stage/report-{n}.json',
                # What `sky jobs queue` runs there (stdout, stderr apart).
                '' if controller.no_job_queue else
                (f'bash /stage/job_queue.sh >/stage/queue-{n}.out '
                 f'2>/stage/queue-{n}.err'),
                'echo "=== done"',
            ]),
            LAUNCH_TIMEOUT,
            '-O', f'{controller_home}:{upper}:/root',
            '-b', f'{stage}:/stage',
            '-b', f'{scratch}:/tmp',
        )
        timings[f'{controller.cpu}: launch {n}'] = time.monotonic() - started
        with open(stage / f'report-{n}.json', encoding='utf-8') as f:
            report = json.load(f)
        # The plugin's records of this launch's processes.
        new = sorted(set(os.listdir(records_dir)) - set(seen))
        seen.extend(new)
        records = {}
        for name in new:
            with open(os.path.join(records_dir, name), encoding='utf-8') as f:
                record = json.load(f)
            records[record['pid']] = record
        results.append({
            'output': output,
            'run_output': output.split('=== run section\n', 1)[1].split(
                '=== controller\n', 1)[0],
            'report': report,
            'stamp': read_text(upper, '.sky/plugins/.installed_wheels'
                              ).splitlines(),
            'wheels': sorted(
                os.listdir(os.path.join(upper, '.sky/plugins/wheels'))),
            'plugins_yaml': read_text(upper, '.sky/plugins.yaml'),
            'installed': installed_files(controller, upper),
            'records': records,
        })
    if controller.no_job_queue:
        return results
    # What the API server makes of the job queue commands' output.
    for n, result in enumerate(results, 1):
        result['queue_stdout'] = (stage / f'queue-{n}.out').read_text()
        result['queue_stderr'] = (stage / f'queue-{n}.err').read_text()
    queues = str(stage / 'queues.json')
    host_python(os.path.join(HERE, 'api_server_side.py'), 'job-queue', queues,
                *(str(stage / f'queue-{n}.out') for n in (1, 2)),
                home=api_server['home'])
    with open(queues, encoding='utf-8') as f:
        for result, job_queue in zip(results, json.load(f)):
            result['job_queue'] = job_queue
    return results


def read_text(home: str, path: str) -> str:
    with open(os.path.join(home, path), encoding='utf-8') as f:
        return f.read()


def site_packages(controller: Controller) -> str:
    return f'{RUNTIME}/lib/python{controller.python}/site-packages'


def installed_files(controller: Controller, upper: str) -> Dict[str, int]:
    """sky_rs's files in the runtime's site-packages, by mtime, as the
    overlay's upper layer holds them (each is new there); not the bytecode
    Python writes as it imports them."""
    site = os.path.join(upper,
                        os.path.relpath(site_packages(controller), '/root'))
    found = {}
    for top in ('sky_rs', 'sky_fallback'):
        for directory, subdirectories, names in os.walk(
                os.path.join(site, top)):
            if '__pycache__' in subdirectories:
                subdirectories.remove('__pycache__')
            for name in names:
                path = os.path.join(directory, name)
                found[os.path.relpath(path, site)] = os.stat(path).st_mtime_ns
    return found


def controller_entries() -> List[str]:
    """The registry entries of the CONTROLLER context (this checkout's)."""
    from sky_fallback.skypilot import registry  # pylint: disable=import-outside-toplevel
    return [
        entry.qualified_name
        for entry in registry.PATCHES
        if registry.CONTROLLER in entry.contexts
    ]


# --- 1. the API server ------------------------------------------------------


def test_the_api_server_uploads_the_wheel_and_its_plugins_file(
        api_server, release_wheel):
    name = os.path.basename(release_wheel)
    home = api_server['home']
    uploaded = os.path.join(home, '.sky', 'sky_rs', 'controller_wheels', name)
    assert api_server['file_mounts'] == {
        f'~/.sky/plugins/wheels/{name}': uploaded,
        '~/.sky/plugins.yaml.tmp': os.path.join(home, '.sky',
                                                'remote_plugins.yaml'),
    }
    with open(uploaded, 'rb') as ours, open(release_wheel, 'rb') as release:
        assert ours.read() == release.read()
    # The run section installs them with plugin_utils' script, then puts
    # the plugins file in place; a serve controller gets the same.
    run = api_server['run']
    assert api_server['plugin_commands'] in run[:run.index(SUBMIT_MARKER)]
    assert 'mv ~/.sky/plugins.yaml.tmp ~/.sky/plugins.yaml' in run
    assert api_server['serve'] == {
        'plugin_wheel_file_mounts': api_server['plugin_mounts'],
        'plugins_wheel_install_commands': api_server['plugin_commands'],
        'local_plugins_config_path': api_server['remote_plugins_config'],
        'remote_plugins_config_path': '~/.sky/plugins.yaml',
    }


# --- 2. SkyPilot's install script on the controller -------------------------


def test_skypilots_script_installs_the_wheel_in_the_runtime(
        controller, api_server, launches, release_wheel):
    name = os.path.basename(release_wheel)
    first = launches[0]
    assert f'Installing plugin wheel {name}...' in first['run_output']
    assert 'already installed' not in first['run_output']
    assert first['stamp'] == [name]
    assert first['wheels'] == [name]
    assert first['plugins_yaml'] == read_text(api_server['home'],
                                              '.sky/remote_plugins.yaml')
    # The release wheel's files, and no others, in the runtime.
    with zipfile.ZipFile(release_wheel) as wheel:
        packaged = {
            path for path in wheel.namelist()
            if path.startswith(('sky_rs/', 'sky_fallback/')) and
            not path.endswith('/')
        }
        site = site_packages(controller)
        report = first['report']
        assert report['executable'] == f'{RUNTIME}/bin/python'
        assert report['sky_rs_file'] == f'{site}/sky_rs/__init__.py'
        extension = os.path.relpath(report['extension_path'], site)
        assert extension in packaged
        assert report['extension_sha256'] == hashlib.sha256(
            wheel.read(extension)).hexdigest()
    assert set(first['installed']) == packaged


# --- 3. the controller process ----------------------------------------------


@pytest.mark.parametrize('launch', [1, 2])
def test_the_controller_runs_with_the_plugin_and_go(controller, launches,
                                                    launch):
    import sky_rs  # pylint: disable=import-outside-toplevel
    report = launches[launch - 1]['report']
    assert report['sky_rs_version'] == sky_rs.__version__
    assert report['skypilot_version'] == '0.14.1'
    assert report['python'].startswith(controller.python + '.')
    assert report['machine'] == controller.cpu
    # SkyPilot loaded the plugin in the CONTROLLER context ...
    assert report['context'] == 'controller'
    assert report['plugins'] == ['sky_fallback.skypilot.plugin.SkyRsPlugin']
    # ... which patched the controller's entries (this checkout's, and the
    # installed registry's) ...
    assert report['expected'] == controller_entries()
    assert report['patched'] == controller_entries()
    # ... with Go (from the first call that needs it): the installed
    # extension is mapped in the process ...
    assert report['mapped'] == [report['extension_path']]
    # ... and the patched functions answer as SkyPilot's own.
    for name, (ours, upstream) in report['answers'].items():
        assert ours == upstream, name
    # The plugin's record of this process says the same.
    record = report['record']
    assert record['pid'] == report['pid']
    assert record['contexts'] == ['controller']
    assert record['patched'] == controller_entries()
    assert record['refused'] == {}
    assert record['reason'] is None
    assert report['warnings'] == []


@pytest.mark.parametrize('launch', [1, 2])
def test_the_job_queue_command_loads_the_plugin_and_still_answers(
        controller, launches, launch):
    if controller.no_job_queue:
        pytest.skip(controller.no_job_queue)
    result = launches[launch - 1]
    # Only the payload the API server reads: the plugin printed nothing.
    payload = result['queue_stdout'].strip()
    assert payload.startswith('<sky-payload>'), payload
    assert payload.endswith('</sky-payload>'), payload
    assert payload.count('<sky-payload>') == 1, payload
    assert result['job_queue'] == {
        'jobs': [],
        'total': 0,
        'total_no_filter': 0,
        'status_counts': {},
        'infra_options': [],
    }
    assert 'sky_rs' not in result['queue_stderr'], result['queue_stderr']
    # It loaded the plugin in the CONTROLLER context, with Go (the plugin
    # patches only where the extension loaded).
    probe = result['report']['pid']
    others = {pid: r for pid, r in result['records'].items() if pid != probe}
    assert len(others) == 1, result['records']
    (record,) = others.values()
    assert record['contexts'] == ['controller']
    assert record['patched'] == controller_entries()
    assert record['reason'] is None


# --- 4. the next launch -----------------------------------------------------


def test_a_second_launch_skips_the_installed_wheel(launches, release_wheel):
    name = os.path.basename(release_wheel)
    first, second = launches
    assert (f'Plugin wheel {name} already installed, skipping.'
            in second['run_output'])
    assert 'Installing plugin wheel' not in second['run_output']
    assert second['stamp'] == [name]
    assert second['wheels'] == [name]
    # Not one file of the installed package was written again.
    assert second['installed'] == first['installed']

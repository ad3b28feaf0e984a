"""get_backend_info(), is_rust_available() and `python -m sky_fallback`."""

import json
import os
import platform
import subprocess
import sys

import pytest

from sky_fallback import rust_fallback

KEYS = {
    'backend': str,
    'native_available': bool,
    'loaded': bool,
    'enabled': bool,
    'reason': (str, type(None)),
    'sky_rs_version': (str, type(None)),
    'go_version': (str, type(None)),
    'module_path': (str, type(None)),
    'python_version': str,
    'platform': str,
}


def run_cli(*args, gate=None):
    env = dict(os.environ)
    env.pop('SKYPILOT_USE_RUST', None)
    if gate is not None:
        env['SKYPILOT_USE_RUST'] = gate
    return subprocess.run([sys.executable, '-m', 'sky_fallback', *args],
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=60,
                          check=True)


def test_keys_and_types():
    info = rust_fallback.get_backend_info()
    assert set(KEYS) <= set(info)
    for key, types in KEYS.items():
        assert isinstance(info[key], types), (key, info[key])
    assert info['backend'] in ('go', 'python')
    assert info['python_version'] == platform.python_version()
    json.dumps(info)  # plain data, loggable as the user's guide does


def test_backend_agrees_with_is_rust_available():
    info = rust_fallback.get_backend_info()
    assert (info['backend'] == 'go') == rust_fallback.is_rust_available()
    assert (info['backend'] == 'go') == (info['native_available'] and
                                         info['enabled'])
    assert (info['reason'] is None) == (info['backend'] == 'go')


def test_reason_names_the_gate(monkeypatch):
    monkeypatch.setenv('SKYPILOT_USE_RUST', '0')
    info = rust_fallback.get_backend_info()
    assert info['backend'] == 'python'
    assert info['enabled'] is False
    assert 'SKYPILOT_USE_RUST' in info['reason']


def test_native_details(native, monkeypatch):
    monkeypatch.delenv('SKYPILOT_USE_RUST', raising=False)
    info = rust_fallback.get_backend_info()
    assert info['backend'] == 'go'
    assert info['native_available'] is True
    assert info['sky_rs_version'] == native.__version__
    assert info['go_version'].startswith('go')
    assert os.path.isfile(info['module_path'])


def test_cli_json():
    output = run_cli('--json').stdout
    info = json.loads(output)
    assert set(KEYS) <= set(info)
    assert info == json.loads(run_cli('info', '--json').stdout)


def test_cli_json_with_the_gate_off():
    info = json.loads(run_cli('--json', gate='0').stdout)
    assert info['backend'] == 'python'
    assert info['enabled'] is False


def test_cli_text():
    text = run_cli().stdout
    assert text == run_cli('info').stdout
    fields = dict(line.split(None, 1) for line in text.splitlines())
    assert set(KEYS) <= set(fields)
    assert fields['backend'] in ('go', 'python')


def test_cli_rejects_unknown_arguments():
    with pytest.raises(subprocess.CalledProcessError) as error:
        run_cli('bogus')
    assert error.value.returncode == 2


@pytest.mark.parametrize('args', [(), ('info', '--json'),
                                  ('compare', '--no-upstream', 'base36_encode',
                                   'ff')])
def test_cli_is_quiet_when_the_reader_goes_away(args):
    """`python -m sky_fallback info | head -1`: the reader closes the pipe
    early; the command ends with status 1 and no traceback. The pipe here is
    closed before the command writes at all, so every write meets it."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run([sys.executable, '-m', 'sky_fallback', *args],
                              stdout=write_end,
                              stderr=subprocess.PIPE,
                              text=True,
                              timeout=120,
                              check=False)
    finally:
        os.close(write_end)
    assert done.returncode == 1, done.stderr
    assert 'Traceback' not in done.stderr
    assert 'BrokenPipeError' not in done.stderr

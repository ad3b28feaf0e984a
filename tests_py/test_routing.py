"""Routing in sky_fallback.rust_fallback: native only where it is faster.

Functions in ``PYTHON_ROUTED`` are answered by the Python reference itself
(the public name *is* the reference, so a call pays no dispatch), unless
``SKY_RS_FORCE_NATIVE=1`` was set when the module was imported, as this suite
does (see conftest.py). The measured routing is checked in fresh processes.
"""

import json
import os
import subprocess
import sys

import pytest

from sky_fallback import _reference
from sky_fallback import rust_fallback

PROBE = r'''
import json
from sky_fallback import rust_fallback as rf
from sky_fallback import _reference as ref
names = rf._ROUTED_NAMES
print(json.dumps({
    'force_native': rf.FORCE_NATIVE,
    'python_routed': sorted(rf.PYTHON_ROUTED),
    'is_reference': {n: getattr(rf, n) is getattr(ref, '_python_' + n)
                     for n in names},
    'routes': rf.get_backend_info()['routes'],
    'python_hash_algorithms': rf.get_backend_info()['python_hash_algorithms'],
    'digest_types': {alg: type(rf.hash_file(rf.__file__, alg)).__module__
                     for alg in ('md5', 'sha256', 'sha384', 'sha512')},
    'results': [rf.format_float(2.25), rf.truncate_long_string('a b c d', 3),
                rf.get_parallel_threads('kubernetes'), rf.base36_encode('ff')],
}))
'''


def probe(**env_changes):
    env = dict(os.environ)
    env.pop('SKY_RS_FORCE_NATIVE', None)
    env.pop('SKYPILOT_USE_RUST', None)
    for key, value in env_changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    output = subprocess.run([sys.executable, '-c', PROBE],
                            env=env,
                            capture_output=True,
                            text=True,
                            timeout=60,
                            check=True).stdout
    return json.loads(output)


def expected_results():
    return [
        _reference._python_format_float(2.25),  # pylint: disable=protected-access
        _reference._python_truncate_long_string('a b c d', 3),  # pylint: disable=protected-access
        _reference._python_get_parallel_threads('kubernetes'),  # pylint: disable=protected-access
        '73',
    ]


def test_measured_routing_binds_the_reference():
    info = probe()
    assert info['force_native'] is False
    assert info['python_routed'], 'nothing routed to Python'
    for name, is_reference in info['is_reference'].items():
        assert is_reference == (name in info['python_routed']), name
    assert info['results'] == expected_results()


def test_routes_in_backend_info(native):  # pylint: disable=unused-argument
    info = probe()
    assert set(info['routes']) == set(info['is_reference'])
    for name, route in info['routes'].items():
        want = 'python' if name in info['python_routed'] else 'go'
        assert route == want, name


def test_python_hash_algorithms_in_backend_info(native):  # pylint: disable=unused-argument
    # The algorithms listed are those whose digests come from hashlib
    # (module '_hashlib' or '_sha512'...), not from sky_rs.
    info = probe()
    assert info['python_hash_algorithms'], 'no algorithm routed to Python'
    for alg, module in info['digest_types'].items():
        assert (module == 'sky_rs') == (alg not in info['python_hash_algorithms']
                                       ), (alg, module)
    forced = probe(SKY_RS_FORCE_NATIVE='1')
    assert forced['python_hash_algorithms'] == []
    assert set(forced['digest_types'].values()) == {'sky_rs'}


def test_gate_off_routes_everything_to_python():
    info = probe(SKYPILOT_USE_RUST='0')
    assert set(info['routes'].values()) == {'python'}
    assert info['results'] == expected_results()


@pytest.mark.parametrize('value', ['1', 'true', 'ON'])
def test_force_native_routes_everything_through_dispatch(value):
    info = probe(SKY_RS_FORCE_NATIVE=value)
    assert info['force_native'] is True
    assert not any(info['is_reference'].values())
    assert info['results'] == expected_results()


def test_this_suite_runs_forced_native():
    # conftest.py sets SKY_RS_FORCE_NATIVE=1 before importing rust_fallback,
    # so the public API of this process dispatches every function.
    assert rust_fallback.FORCE_NATIVE is True
    for name in rust_fallback._ROUTED_NAMES:  # pylint: disable=protected-access
        assert getattr(rust_fallback, name) is not getattr(
            _reference, f'_python_{name}'), name

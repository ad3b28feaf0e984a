"""Upstream SkyPilot's answers, recorded on one machine and checked on another.

The release checks (``scripts/wheels.sh check``) test the aarch64 wheel under
qemu-user, where installing SkyPilot and its dependencies would take most of
the time budget. So upstream is asked here, on the build machine, and its
answers travel as a file::

    python -m tests_py.oracle record ORACLE.json   # needs SkyPilot
    python -m tests_py.oracle check ORACLE.json    # needs only sky-rs

``record`` draws a fixed, seeded set of calls to the functions whose answers
depend only on their arguments (``base36_encode``, ``format_float``,
``truncate_long_string``, ``read_last_n_lines`` and ``hash_file`` on files it
makes, ``hash_files``), and writes each call's arguments, the files' bytes
and upstream's outcome (result, or exception type and message). ``check``
recreates the files, makes every call on ``sky_rs`` itself and on the public
API, and fails on any difference: sky_rs may decline (NotImplementedError)
only where the differential tests allow it; the public API never.
"""

import json
import math
import os
import random
import sys
import tempfile
from typing import Any, Callable, Dict, List, Tuple

from tests_py.reliability import is_decline
from tests_py.reliability import outcome

SEED = 20261129
ERRORS = ('replace', 'ignore', 'strict', 'backslashreplace')
NATIVE_HASHES = ('md5', 'sha1', 'sha224', 'sha256', 'sha384', 'sha512')
HASHES = NATIVE_HASHES + ('SHA256', 'sha3_256', 'blake2b')
TREE = '<tree>'  # stands for the directory of the files in messages


def _hex(rng: random.Random) -> str:
    digits = ''.join(
        rng.choice('0123456789abcdefABCDEF')
        for _ in range(rng.choice([1, 2, 8, 32, 40, 64, 80, 300])))
    if rng.random() < 0.3:
        digits = '_'.join(digits[i:i + 4] for i in range(0, len(digits), 4))
    return (rng.choice(['', ' ', '\t', '\n ']) + rng.choice(['', '+']) +
            rng.choice(['', '0x', '0X']) + digits +
            rng.choice(['', ' ', '\r\n']))


def _text(rng: random.Random) -> str:
    words = ['a', 'bc', 'déjà', 'ß', '\U0001f600', 'x' * 30, '日本語', '']
    return ''.join(
        rng.choice(words) + ' ' * rng.randint(1, 3)
        for _ in range(rng.randint(0, 12)))


def _number(rng: random.Random) -> Any:
    kind = rng.randrange(6)
    if kind == 0:
        return rng.choice([0.0, -0.0, 0.5, 1.5, 2.5, 2.25, 0.125, 1e300,
                           5e-324, math.inf, -math.inf, math.nan])
    if kind == 1:
        return round(rng.uniform(-1e6, 1e6), 3)
    if kind == 2:
        return rng.uniform(-1e-300, 1e-300)
    if kind == 3:
        return rng.randint(-10**40, 10**40)
    if kind == 4:
        return rng.choice([True, False])
    return rng.uniform(-1e9, 1e9)


def _file_bytes(rng: random.Random) -> bytes:
    pieces = [b'\n', b'\r', b'\r\n', b'a', b'xyz', b'\xff', b'\xe2\x82',
              b'\xc3\xa9', b'\xed\xa0\x80', b'\xf0\x9f\x98\x80', b'\x80',
              b' ', b'\x00', b'line of text\n']
    if rng.random() < 0.2:
        return bytes(rng.randrange(256) for _ in range(rng.randint(0, 3000)))
    return b''.join(rng.choice(pieces) for _ in range(rng.randint(0, 200)))


def draw_calls() -> Tuple[Dict[str, str], List[Dict[str, Any]]]:
    """The files (name -> hex bytes) and the calls (name, args) to record.

    A path argument is ``{"file": name}``, resolved against the directory
    the files are written to.
    """
    rng = random.Random(SEED)
    files = {f'f{i}.bin': _file_bytes(rng).hex() for i in range(40)}
    files['empty.bin'] = ''
    files['lines.txt'] = ''.join(f'line {i}\n' for i in range(500)).encode().hex()
    names = sorted(files)
    calls: List[Dict[str, Any]] = []

    def add(name: str, *args: Any) -> None:
        calls.append({'name': name, 'args': list(args)})

    for _ in range(150):
        add('base36_encode', _hex(rng))
    for bad in ['', 'g', '0x', 'f__f', '١٠', ' ', '0x_', 'ff ff']:
        add('base36_encode', bad)
    for _ in range(150):
        add('format_float', _number(rng), rng.randint(0, 20))
    for _ in range(150):
        add('truncate_long_string', _text(rng), rng.randint(-5, 60),
            rng.random() < 0.5)
    for _ in range(150):
        add('read_last_n_lines', {'file': rng.choice(names)},
            rng.randint(0, 50), rng.randint(1, 64), 'utf-8', rng.choice(ERRORS))
    add('read_last_n_lines', {'file': 'missing.txt'}, 5, 8192, 'utf-8',
        'replace')
    for name in names:
        add('hash_file', {'file': name}, rng.choice(HASHES))
    add('hash_file', {'file': 'missing.txt'}, 'sha256')
    for alg in NATIVE_HASHES:
        add('hash_files', [{'file': n} for n in rng.sample(names, 10)], alg)
    return files, calls


def _resolve(value: Any, root: str) -> Any:
    if isinstance(value, dict) and set(value) == {'file'}:
        return os.path.join(root, value['file'])
    if isinstance(value, list):
        return [_resolve(v, root) for v in value]
    return value


def _jsonable(value: Any, root: str) -> Any:
    """An outcome as JSON data, the files' directory replaced by TREE."""
    if isinstance(value, (tuple, list)):
        return [_jsonable(v, root) for v in value]
    if isinstance(value, bytes):
        return {'bytes': value.hex()}
    if isinstance(value, str):
        return value.replace(root, TREE)
    if isinstance(value, float) and not math.isfinite(value):
        return {'float': repr(value)}
    return value


def _call(function: Callable[..., Any], call: Dict[str, Any],
          root: str) -> Any:
    args = _resolve(call['args'], root)
    if call['name'] == 'hash_files':
        # Not upstream's: its answer is upstream's hash_file of each path.
        paths, alg = args
        return _jsonable(
            outcome(lambda: [function(p, alg) for p in paths]), root)
    return _jsonable(outcome(function, *args), root)


def _write_files(files: Dict[str, str], root: str) -> None:
    for name, data in files.items():
        with open(os.path.join(root, name), 'wb') as f:
            f.write(bytes.fromhex(data))


def record(path: str) -> None:
    from tests_py.reliability import upstream_function  # pylint: disable=import-outside-toplevel
    files, calls = draw_calls()
    with tempfile.TemporaryDirectory() as root:
        _write_files(files, root)
        for call in calls:
            name = 'hash_file' if call['name'] == 'hash_files' else call['name']
            call['upstream'] = _call(upstream_function(name), call, root)
    with open(path, 'w', encoding='utf-8') as f:
        json.dump({'files': files, 'calls': calls}, f)
    print(f'oracle: {len(calls)} upstream answers recorded in {path}')


def may_decline(call: Dict[str, Any]) -> bool:
    """Where sky_rs itself may say NotImplementedError (test_differential)."""
    name, args = call['name'], call['args']
    if name == 'base36_encode':
        return not args[0].isascii() or '\x00' in args[0]
    if name == 'truncate_long_string':
        return '\x00' in args[0]
    if name == 'read_last_n_lines':
        return args[4] in ('strict', 'ignore')
    if name == 'hash_file':
        return args[1].lower() not in NATIVE_HASHES
    return False


def check(path: str) -> int:
    # pylint: disable=import-outside-toplevel
    import sky_rs
    from sky_fallback import rust_fallback
    sky_rs.load()  # native or nothing: ImportError fails the check
    with open(path, encoding='utf-8') as f:
        oracle = json.load(f)
    wrong = []
    with tempfile.TemporaryDirectory() as root:
        _write_files(oracle['files'], root)
        for call in oracle['calls']:
            name = call['name']
            for subject, module in (('go', sky_rs), ('api', rust_fallback)):
                function = getattr(module, name)
                if name == 'hash_files':
                    paths = _resolve(call['args'][0], root)
                    got = _jsonable(
                        outcome(function, paths, call['args'][1]), root)
                else:
                    got = _call(function, call, root)
                if got == call['upstream']:
                    continue
                if (subject == 'go' and may_decline(call) and
                        is_decline(tuple(got))):
                    continue
                wrong.append((subject, name, call['args'], got,
                              call['upstream']))
    for subject, name, args, got, want in wrong[:20]:
        print(f'oracle: {subject} {name}{tuple(args)!r}: got {got!r}, '
              f'upstream {want!r}')
    calls = len(oracle['calls'])
    if wrong:
        print(f'oracle: {len(wrong)} of {2 * calls} answers differ from '
              'upstream')
        return 1
    print(f'oracle: {calls} calls, sky_rs and the public API agree with '
          f'upstream ({sky_rs.extension_path()})')
    return 0


def main(argv: List[str]) -> int:
    if len(argv) != 2 or argv[0] not in ('record', 'check'):
        print('usage: python -m tests_py.oracle record|check ORACLE.json',
              file=sys.stderr)
        return 2
    if argv[0] == 'record':
        record(argv[1])
        return 0
    return check(argv[1])


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))

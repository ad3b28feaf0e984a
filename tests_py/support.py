"""Helpers shared by the tests: the function names, and comparing outcomes.

An *outcome* is what a call did: its result, normalised so that two equal
results compare equal (a hash object becomes its digests, a float its repr so
that -0.0 and nan compare exactly), or the exception it raised as
``(type, str(e))``. Two backends agree when their outcomes are equal.
"""

import hashlib
import types
from typing import Any, Callable, Tuple

FUNCTION_NAMES = (
    'read_last_n_lines',
    'hash_file',
    'find_free_port',
    'base36_encode',
    'format_float',
    'truncate_long_string',
    'get_cpu_count',
    'get_mem_size_gb',
    'get_parallel_threads',
    'is_process_alive',
    'get_max_workers_for_file_mounts',
    'estimate_fd_for_directory',
)

# The batch forms, in each backend's namespace too (not upstream functions).
BATCH_NAMES = ('are_processes_alive', 'hash_files')

# The two functions SkyPilot does not have; SPEC.md defines them.
NOT_UPSTREAM = ('is_process_alive', 'estimate_fd_for_directory')

Outcome = Tuple[Any, ...]


def normalise(value: Any) -> Any:
    if hasattr(value, 'hexdigest'):  # hashlib object or sky_rs.FileDigest
        return ('hash', value.name, value.digest_size, value.block_size,
                value.digest(), value.hexdigest())
    if isinstance(value, float):
        return ('float', repr(value))
    return (type(value).__name__, value)


def outcome(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Outcome:
    """Call ``function`` and return what it did, as a comparable tuple."""
    try:
        value = function(*args, **kwargs)
    except Exception as error:  # pylint: disable=broad-except
        return ('raises', type(error), str(error))
    return ('returns', normalise(value))


def hashlib_error(hash_alg: str) -> str:
    """The message of hashlib.new's ValueError for an unknown algorithm on
    this interpreter ("unsupported hash type X" up to CPython 3.14,
    "unsupported hash algorithm X" from 3.15)."""
    try:
        hashlib.new(hash_alg)
    except ValueError as error:
        return str(error)
    raise AssertionError(f'hashlib knows {hash_alg!r}')


def declined(result: Outcome) -> bool:
    return result[0] == 'raises' and issubclass(result[1], NotImplementedError)


def assert_same(subject: types.SimpleNamespace,
                got: Outcome,
                want: Outcome,
                may_decline: bool = False) -> None:
    """Assert that ``got`` equals ``want``.

    When ``subject`` is sky_rs itself and ``may_decline`` is set, a
    ``NotImplementedError`` is accepted too: sky_rs declines input it does not
    handle (the public API then answers in Python). A wrong answer is never
    accepted.
    """
    if may_decline and subject.declines and declined(got):
        return
    assert got == want, f'got {got!r}, upstream {want!r}'

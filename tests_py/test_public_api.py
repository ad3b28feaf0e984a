"""The drop-in surface: what the user's guide imports from rust_fallback."""

import inspect
import os
import resource
import subprocess
import sys
import textwrap
import typing

import pytest

import sky_fallback
from sky_fallback import _reference
from sky_fallback import rust_fallback
from tests_py.support import BATCH_NAMES
from tests_py.support import FUNCTION_NAMES
from tests_py.support import NOT_UPSTREAM


def test_everything_the_guide_imports():
    # The user's guide, Pattern 2 and its equivalence test, verbatim names.
    # pylint: disable=import-outside-toplevel
    from sky_fallback.rust_fallback import (
        _python_base36_encode, base36_encode, estimate_fd_for_directory,
        find_free_port, format_float, get_backend_info, get_cpu_count,
        get_max_workers_for_file_mounts, get_mem_size_gb,
        get_parallel_threads, hash_file, is_process_alive, is_rust_available,
        read_last_n_lines, truncate_long_string)
    assert base36_encode('deadbeef') == _python_base36_encode('deadbeef')
    imported = (estimate_fd_for_directory, find_free_port, format_float,
                get_backend_info, get_cpu_count,
                get_max_workers_for_file_mounts, get_mem_size_gb,
                get_parallel_threads, hash_file, is_process_alive,
                is_rust_available, read_last_n_lines, truncate_long_string)
    assert all(callable(function) for function in imported)
    for name in FUNCTION_NAMES:
        reference = getattr(rust_fallback, f'_python_{name}')
        assert reference is getattr(_reference, f'_python_{name}')


def test_all_lists_the_public_names():
    assert sorted(rust_fallback.__all__) == sorted(
        list(FUNCTION_NAMES) + list(BATCH_NAMES) +
        ['is_rust_available', 'get_backend_info'])
    for name in rust_fallback.__all__:
        assert getattr(sky_fallback, name) is getattr(rust_fallback, name)
    assert sky_fallback.__all__ == ['rust_fallback'] + rust_fallback.__all__


@pytest.mark.parametrize('name', FUNCTION_NAMES)
def test_signatures_match_upstream(upstream, name):
    public = inspect.signature(getattr(rust_fallback, name))
    reference = inspect.signature(getattr(rust_fallback, f'_python_{name}'))
    assert list(public.parameters) == list(reference.parameters)
    if name in NOT_UPSTREAM:
        return
    theirs = inspect.signature(getattr(upstream, name))
    ours = list(public.parameters.values())[:len(theirs.parameters)]
    for mine, their in zip(ours, theirs.parameters.values()):
        assert (mine.name, mine.kind) == (their.name, their.kind)
        if their.default is not inspect.Parameter.empty:
            assert mine.default == their.default
    # Anything added (the guide's keyword form) is keyword-only.
    for extra in list(public.parameters.values())[len(theirs.parameters):]:
        assert extra.kind is inspect.Parameter.KEYWORD_ONLY


@pytest.mark.parametrize('name', FUNCTION_NAMES)
def test_type_hints(name):
    hints = typing.get_type_hints(getattr(rust_fallback, name))
    assert 'return' in hints
    assert set(inspect.signature(getattr(rust_fallback, name)).parameters) <= (
        set(hints))


def test_py_typed_marker():
    assert os.path.isfile(
        os.path.join(os.path.dirname(sky_fallback.__file__), 'py.typed'))


def test_package_logger_has_a_null_handler():
    import logging  # pylint: disable=import-outside-toplevel
    handlers = logging.getLogger('sky_fallback').handlers
    assert any(isinstance(h, logging.NullHandler) for h in handlers)


def test_guide_keyword_form(upstream):
    # Scenario 2 of the user's guide.
    workers = rust_fallback.get_max_workers_for_file_mounts(
        num_sources=3, estimated_files_per_source=100, cloud_str='aws')
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    threads = upstream.get_parallel_threads('aws')
    assert workers == min(max((soft - 100) // 500, 1), threads)


def test_guide_dict_form_equals_upstream(upstream, tmp_path):
    for i in range(30):
        (tmp_path / f'f{i}').touch()
    mounts = {'/remote': str(tmp_path), '/other': 's3://bucket'}
    assert rust_fallback.get_max_workers_for_file_mounts(
        mounts, 'kubernetes') == upstream.get_max_workers_for_file_mounts(
            mounts, 'kubernetes')


def test_both_forms_at_once_is_an_error():
    with pytest.raises(TypeError):
        rust_fallback.get_max_workers_for_file_mounts({}, num_sources=1)


def run_python(code, **env):
    environment = dict(os.environ)
    environment.pop('SKYPILOT_USE_RUST', None)
    environment.update(env)
    result = subprocess.run([sys.executable, '-c', textwrap.dedent(code)],
                            env=environment,
                            capture_output=True,
                            text=True,
                            timeout=60,
                            check=True)
    return result.stdout.split()


def test_import_starts_no_go_runtime():
    # Importing, and calling with the gate off, must not even import sky_rs.
    assert run_python("""
        import sys
        import sky_fallback
        from sky_fallback import rust_fallback
        print('sky_rs' in sys.modules)
        rust_fallback.format_float(1.5)
        print('sky_rs' in sys.modules)
    """, SKYPILOT_USE_RUST='0') == ['False', 'False']


def test_first_enabled_call_loads_native(native):
    assert run_python("""
        import sys
        from sky_fallback import rust_fallback
        rust_fallback.format_float(1.5)
        print(sys.modules['sky_rs'].is_loaded())
    """) == ['True']


def test_loading_native_keeps_the_open_file_limit(native):
    # Go raises RLIMIT_NOFILE to the hard limit when its runtime starts; the
    # process's limit is the caller's (upstream's get_max_workers reads it).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard <= 1024:
        pytest.skip(f'hard RLIMIT_NOFILE is {hard}')
    assert run_python("""
        import resource
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (1000, hard))
        import sky_rs
        sky_rs.load()
        sky_rs.base36_encode('ff')
        from sky_fallback import rust_fallback
        rust_fallback.hash_file(__import__('sys').executable, 'md5')
        print(resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    """) == ['1000']


def test_patch_skypilot_without_skypilot_says_so(monkeypatch):
    """Without SkyPilot, patch_skypilot() names what is missing and how to
    install it, instead of a bare "No module named 'sky'"."""
    for name in [m for m in sys.modules if m == 'sky' or m.startswith('sky.')]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, 'sky', None)  # as if not installed
    with pytest.raises(ImportError) as error:
        sky_fallback.patch_skypilot()
    assert error.value.name == 'sky'
    assert 'SkyPilot' in str(error.value)
    assert 'not installed' in str(error.value)
    assert 'pip install skypilot' in str(error.value)

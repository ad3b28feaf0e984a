"""Helpers for the reliability tests (hostile input, faults, load, memory).

- :class:`Sandbox` runs calls in a child process behind a watchdog, so that a
  call that aborts the interpreter or hangs fails one test instead of taking
  the suite down with it;
- :func:`scaled` sizes the heavy loops: ``SKY_RS_STRESS_SCALE`` (default 0.02,
  so ``make test`` stays fast; ``make stress`` sets 1) multiplies every count
  the issue asks for;
- :func:`report` prints a figure and, when ``SKY_RS_FIGURES`` names a file,
  appends it there as a JSON line (docs/RELIABILITY.md is written from that).
"""

import functools
import json
import multiprocessing
import os
import sys
import traceback
from typing import Any, Callable, Optional, Tuple

STRESS_SCALE = float(os.environ.get('SKY_RS_STRESS_SCALE', '0.02'))

# The uid and gid a sandbox drops to for permission tests (CI runs as root,
# and root reads everything).
NOBODY = 65534

# How long a sandbox may take to start, apart from the timeout of its calls.
STARTUP_TIMEOUT = 300


def scaled(count: int, minimum: int = 1) -> int:
    """``count`` times SKY_RS_STRESS_SCALE, at least ``minimum``."""
    return max(minimum, int(count * STRESS_SCALE))


def report(test: str, **figures: Any) -> None:
    """Print the figures a test measured; record them under SKY_RS_FIGURES."""
    line = {'test': test, 'scale': STRESS_SCALE, **figures}
    print(f"FIGURES {json.dumps(line, default=repr)}", file=sys.stderr)
    path = os.environ.get('SKY_RS_FIGURES')
    if path:
        with open(path, 'a', encoding='utf-8') as f:
            f.write(json.dumps(line, default=repr) + "\n")


# --- what a call did ------------------------------------------------------


def describe(value: Any) -> Any:
    """A result as a comparable value (see tests_py.support.normalise)."""
    if hasattr(value, 'hexdigest'):  # hashlib object or sky_rs.FileDigest
        try:
            digest = (value.digest(), value.hexdigest())
        except TypeError:  # shake_*: the length is an argument
            digest = (value.digest(16), value.hexdigest(16))
        return ('hash', value.name, value.digest_size, value.block_size,
                digest)
    if isinstance(value, float):
        return ('float', repr(value))
    if isinstance(value, list):
        return ('list', [describe(v) for v in value])
    return (type(value).__name__, value)


def exception_name(error: BaseException) -> str:
    cls = type(error)
    module = '' if cls.__module__ == 'builtins' else cls.__module__ + '.'
    return module + cls.__qualname__


def outcome(function: Callable[..., Any], *args: Any,
            **kwargs: Any) -> Tuple[Any, ...]:
    """What ``function(*args, **kwargs)`` did: ('returns', value) or
    ('raises', exception class name, message). Picklable."""
    try:
        value = function(*args, **kwargs)
    except Exception as error:  # pylint: disable=broad-except
        return ('raises', exception_name(error), str(error))
    return ('returns', describe(value))


def is_decline(result: Tuple[Any, ...]) -> bool:
    """Whether sky_rs declined: NotImplementedError or its ForkedChildError."""
    return result[0] == 'raises' and result[1] in ('NotImplementedError',
                                                   'sky_rs.ForkedChildError')


# --- the subjects ---------------------------------------------------------

SUBJECTS = ('go', 'python', 'api')


def subject_function(subject: str, name: str) -> Callable[..., Any]:
    """Function ``name`` of a subject: ``go`` (sky_rs itself), ``python``
    (the reference), ``api`` (rust_fallback as the environment configures
    it) or ``upstream`` (SkyPilot)."""
    # pylint: disable=import-outside-toplevel
    if subject == 'go':
        import sky_rs
        return getattr(sky_rs, name)
    if subject == 'python':
        from sky_fallback import _reference
        return getattr(_reference, f'_python_{name}')
    if subject == 'api':
        from sky_fallback import rust_fallback
        return getattr(rust_fallback, name)
    assert subject == 'upstream', subject
    return upstream_function(name)


def upstream_function(name: str) -> Callable[..., Any]:
    """SkyPilot's function ``name``; for the two SPEC.md adds, the reference.

    ``base36_encode`` of a negative number raises as SPEC.md requires (the
    one deliberate difference: upstream loops forever).
    """
    # pylint: disable=import-outside-toplevel
    from sky_fallback import _reference
    if name in ('is_process_alive', 'estimate_fd_for_directory'):
        return getattr(_reference, f'_python_{name}')
    from sky.utils import common_utils
    from sky.utils import subprocess_utils
    module = (subprocess_utils if name in ('get_parallel_threads',
                                           'get_max_workers_for_file_mounts')
              else common_utils)
    function = getattr(module, name)
    if name == 'base36_encode':
        plain = function

        def function(hex_str):
            if int(hex_str, 16) < 0:
                raise ValueError('base36_encode() requires a non-negative '
                                 f'number: {hex_str!r}')
            return plain(hex_str)

    @functools.wraps(function)
    def call(*args, **kwargs):
        # Upstream raises inside ux_utils.print_exception_no_traceback(),
        # which sets sys.tracebacklimit = 0 and never restores it: every
        # traceback printed afterwards in this process would be empty.
        saved = getattr(sys, 'tracebacklimit', None)
        try:
            return function(*args, **kwargs)
        finally:
            if saved is None:
                sys.__dict__.pop('tracebacklimit', None)
            else:
                sys.tracebacklimit = saved

    return call


def call_subject(subject: str, name: str, *args: Any,
                 **kwargs: Any) -> Tuple[Any, ...]:
    """The outcome of one call of one subject (runs in the sandbox)."""
    return outcome(subject_function(subject, name), *args, **kwargs)


# --- the sandbox ----------------------------------------------------------


class SandboxFailure(AssertionError):
    """The sandboxed call aborted the child or did not finish in time."""


def _serve(conn, user: Optional[int]) -> None:
    """The child's loop: receive (function, args, kwargs), send outcomes."""
    # Everything a call may import, imported while this process can still
    # read it all (the interpreter's own files may not be readable by nobody).
    # pylint: disable=import-outside-toplevel,unused-import
    import hashlib
    import resource
    import socket
    import psutil
    import sky_rs
    from sky_fallback import rust_fallback
    try:
        from sky.utils import common_utils, subprocess_utils
    except ImportError:
        pass
    if user is not None:
        os.setgroups([])
        os.setresgid(user, user, user)
        os.setresuid(user, user, user)
    conn.send(('ready', os.getpid()))
    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        function, args, kwargs = request
        try:
            result = ('ok', function(*args, **kwargs))
        except BaseException:  # pylint: disable=broad-except
            result = ('error', traceback.format_exc())
        conn.send(result)


class Sandbox:
    """A child process that runs calls, restarted after one aborts or hangs.

    The child is spawned (a fresh interpreter, environment as the parent's
    at start) and runs as ``user`` when given.
    """

    def __init__(self, user: Optional[int] = None, timeout: float = 120):
        self.user = user
        self.timeout = timeout
        self.calls = 0
        self.restarts = 0
        self._process = None
        self._conn = None

    def _start(self) -> None:
        context = multiprocessing.get_context('spawn')
        self._conn, child_conn = context.Pipe()
        self._process = context.Process(target=_serve,
                                        args=(child_conn, self.user),
                                        daemon=True)
        self._process.start()
        child_conn.close()
        # Starting an interpreter and importing SkyPilot takes seconds on a
        # busy machine; the watchdog times the calls, not that.
        if not self._conn.poll(STARTUP_TIMEOUT):
            raise self._fail(f'the sandbox did not start in {STARTUP_TIMEOUT}s')
        try:
            self._conn.recv()
        except (EOFError, OSError):
            raise self._fail('the sandbox died while starting') from None

    def close(self) -> None:
        if self._process is not None:
            self._conn.close()
            self._process.join(10)
            if self._process.is_alive():
                self._process.kill()
                self._process.join()
            self._process = None

    def _fail(self, why: str) -> SandboxFailure:
        self._process.kill()
        self._process.join()
        self._conn.close()
        self._process = None
        self.restarts += 1
        return SandboxFailure(why)

    def run(self,
            function: Callable[..., Any],
            *args: Any,
            timeout: Optional[float] = None,
            **kwargs: Any) -> Any:
        """Run ``function(*args, **kwargs)`` in the child; return its value.

        Raises SandboxFailure when the child dies (an abort) or does not
        answer within the timeout (a hang); an exception in the call itself
        is re-raised as an AssertionError with the child's traceback.
        """
        if self._process is None:
            self._start()
        self.calls += 1
        self._conn.send((function, args, kwargs))
        limit = self.timeout if timeout is None else timeout
        try:
            ready = self._conn.poll(limit)
        except (EOFError, OSError):
            ready = True
        if not ready:
            raise self._fail(f'hang: no answer within {limit}s from '
                             f'{getattr(function, "__name__", function)}'
                             f'{args!r:.300}')
        try:
            status, value = self._conn.recv()
        except (EOFError, OSError):
            self._process.join(5)
            code = self._process.exitcode
            raise self._fail(f'abort: the child died (exit code {code}) '
                             f'running {function!r} {args!r:.300}') from None
        if status == 'error':
            raise AssertionError(f'the sandboxed call raised:\n{value}')
        return value

    def outcome(self, subject: str, name: str, *args: Any,
                **kwargs: Any) -> Tuple[Any, ...]:
        """The outcome of subject's ``name(*args, **kwargs)``, in the child."""
        return self.run(call_subject, subject, name, *args, **kwargs)

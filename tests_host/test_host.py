"""The Go runtime as a guest in the Python process, on a hostile host.

Issue #10: the Go runtime has fatal errors no ``recover`` sees, and loading
it changes process-wide state. Every numbered case of the issue is a test
here, with variants of its kind; docs/RELIABILITY.md ("The Go runtime as a
guest") lists each fatal path and how it is closed. Each test runs its case
in a child process (conftest.py) and asserts that the child exits normally,
that every function gives the reference's (upstream's) answer, and that the
process state is as before.
"""

import json
import os
import resource
import signal

import pytest

from sky_rs import _host
from tests_host.conftest import NOBODY
from tests_py import reliability
from tests_host.conftest import run_child

MIB = 1 << 20

# The signals whose handler the Go runtime keeps: it turns a fault in Go
# code into a panic the boundary recovers, and passes others on.
SYNCHRONOUS = (signal.SIGBUS, signal.SIGFPE, signal.SIGSEGV)
SYNCHRONOUS_MASK = sum(1 << (s - 1) for s in SYNCHRONOUS)

# --- 1 and 9: file descriptors -------------------------------------------


def test_descriptors_used_up_after_go_started():
    # Issue case 1: the runtime's poller used to start on its first timer
    # (the GC's scavenger), long after loading, and abort without
    # descriptors. Here every function also runs with none free.
    report = run_child("""
        import os, resource, time
        import psutil  # imported, as in a SkyPilot process
        from sky_fallback import rust_fallback
        import sky_rs
        directory = child.make_files()
        limits = resource.getrlimit(resource.RLIMIT_NOFILE)
        sky_rs.base36_encode('ff')
        before = child.open_descriptors()
        held = child.leave_free_descriptors(0)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            sky_rs.base36_encode('f' * 3000)
        zero_free = child.mismatches(directory)
        hashed = {str(child.outcome(sky_rs.hash_files,
                                    [os.path.join(directory, 'log')] * 200,
                                    'md5')) for _ in range(20)}
        child.release(held, limits)
        child.report(zero_free=zero_free, backend=child.backend(),
                     hashed=sorted(hashed),
                     leaked=child.open_descriptors() - before)
    """).ok()
    assert report['zero_free'] == []
    assert len(report['hashed']) == 1 and 'Errno 24' in report['hashed'][0]
    assert report['backend']['backend'] == 'go'
    assert report['leaked'] == 0


@pytest.mark.parametrize('free', [0, 1, 3, _host.DESCRIPTORS - 1,
                                  _host.DESCRIPTORS])
def test_load_at_the_descriptor_limit_is_retried(free):
    # Issue case 9, and the load itself at each count of free descriptors:
    # too few defers the load (the reference answers, as upstream would),
    # and once descriptors are free again the next load succeeds.
    report = run_child(f"""
        import resource, time
        import psutil  # imported, as in a SkyPilot process
        from sky_fallback import rust_fallback
        directory = child.make_files()
        limits = resource.getrlimit(resource.RLIMIT_NOFILE)
        expected_cpus = rust_fallback._python_get_cpu_count()
        held = child.leave_free_descriptors({free})
        cpus = rust_fallback.get_cpu_count()
        at_limit = child.backend()
        mismatched = child.mismatches(directory)
        child.release(held, limits)
        time.sleep(1.05)  # sky_rs.RETRY_SECONDS
        child.report(cpus=cpus, expected_cpus=expected_cpus,
                     at_limit=at_limit, mismatched=mismatched,
                     later=child.backend(),
                     later_mismatched=child.mismatches(directory))
    """).ok()
    assert report['cpus'] == report['expected_cpus']
    assert report['mismatched'] == []
    if free < _host.DESCRIPTORS:
        assert report['at_limit']['backend'] == 'python'
        # The check before loading, or the import of sky_rs itself.
        assert ('file descriptors are free' in report['at_limit']['reason'] or
                'Too many open files' in report['at_limit']['reason'])
    assert report['later']['backend'] == 'go', report['later']
    assert report['later_mismatched'] == []


def test_upstream_answers_at_the_limit_so_do_we():
    # Issue case 9 with SkyPilot itself: at the limit, upstream's
    # get_cpu_count returns the count; the first native-routed call must
    # too (it used to raise EMFILE while importing the extension).
    report = run_child("""
        import resource
        from sky.utils import common_utils
        from sky_fallback import rust_fallback
        limits = resource.getrlimit(resource.RLIMIT_NOFILE)
        held = child.leave_free_descriptors(0)
        upstream = common_utils.get_cpu_count()
        ours = rust_fallback.get_cpu_count()
        child.release(held, limits)
        child.report(upstream=upstream, ours=ours)
    """).ok()
    assert report['ours'] == report['upstream']


# --- 2: address space and writable memory ----------------------------------


@pytest.mark.parametrize('limit_mib', [300, 781, 1300, 1800, 4096])
def test_address_space_limit_at_load(limit_mib):
    # Issue case 2 (prlimit --as=819200000, 781 MiB) and a sweep: the
    # runtime reserves over 1 GiB of address space as it starts, and aborts
    # when it cannot ("out of memory allocating heap arena map", "failed to
    # reserve page summary memory", "pthread_create failed").
    limit = limit_mib * MIB
    report = run_child("""
        directory = child.make_files()
        child.report(mismatched=child.mismatches(directory),
                     backend=child.backend())
    """, limits={resource.RLIMIT_AS: (limit, limit)}).ok()
    assert report['mismatched'] == []
    if limit_mib <= 1300:
        assert report['backend']['backend'] == 'python'
        assert 'RLIMIT_AS' in report['backend']['reason']
    if limit_mib >= 4096:
        assert report['backend']['backend'] == 'go'


@pytest.mark.parametrize('which', ['RLIMIT_AS', 'RLIMIT_DATA'])
def test_memory_used_up_after_go_started(which):
    # The same kind after loading: Python takes all the address space (or
    # writable memory) the limit leaves; Go, which took its heap arena and
    # thread stacks when it loaded, must still answer every call.
    report = run_child(f"""
        import gc, resource, threading
        from sky_fallback import rust_fallback
        directory = child.make_files()
        assert child.backend()['backend'] == 'go'
        child.mismatches(directory)
        status = {{'RLIMIT_AS': 'VmSize', 'RLIMIT_DATA': 'VmData'}}['{which}']
        used = int([l for l in open('/proc/self/status')
                    if l.startswith(status)][0].split()[1]) * 1024
        resource.setrlimit(resource.{which}, (used + 64 * 2**20,) * 2)
        hoard, memory_errors = [], 0
        for size in (2**24, 2**20, 2**16, 2**12):
            while True:
                try:
                    hoard.append(bytearray(size))
                except MemoryError:
                    memory_errors += 1
                    break
        # Room for the calls' own arguments and results (Python's, and the
        # C strings Go returns them in), as a process that still runs has:
        # 16 MiB given back to the system. A block that size is a mapping of
        # its own; small blocks freed stay in malloc's heap, which left no
        # room at all under Debian's python3.11 (the runtime's next 4 MiB
        # heap map failed).
        hoard.pop(0)
        # Every call, many times: the Go heap grows and is collected.
        results = [child.api_outcomes(directory) for _ in range(30)]
        del hoard
        gc.collect()
        child.report(memory_errors=memory_errors,
                     stable=all(r == results[0] for r in results),
                     mismatched=child.mismatches(directory))
    """).ok()
    assert report['memory_errors'] == 4  # Python did run out
    assert report['stable'] and report['mismatched'] == []


def test_writable_memory_limit_at_load():
    limit = 96 * MIB
    report = run_child("""
        child.report(backend=child.backend(),
                     mismatched=child.mismatches(child.make_files()))
    """, limits={resource.RLIMIT_DATA: (limit, limit)}).ok()
    assert report['mismatched'] == []
    assert report['backend']['backend'] == 'python'
    assert 'RLIMIT_DATA' in report['backend']['reason']


# --- 3: cgroup CPU limits and the runtime's own settings -------------------

# cgroup v1 CPU limits the kernel accepts (period >= 1000 us, quota < 2**44
# us) whose quota/period is 2**31 or more: the runtime's cgroup-aware
# GOMAXPROCS overflowed into a negative count and aborted ("procresize:
# invalid arg").
OVERFLOWING = [(1000, 2147483648000), (1000, 2**42), (1000, 2**44 - 1)]


@pytest.mark.parametrize('period,quota', OVERFLOWING)
def test_cgroup_cpu_quota_beyond_int32_at_start(cgroup, period, quota):
    group = cgroup('cpu')
    group.write('cpu.cfs_period_us', str(period))
    group.write('cpu.cfs_quota_us', str(quota))
    report = run_child("""
        from sky_fallback import rust_fallback
        import sky_rs
        child.report(cpus=rust_fallback.get_cpu_count(),
                     reference=rust_fallback._python_get_cpu_count(),
                     backend=child.backend(),
                     guest=sky_rs.load().pyexport_GuestReport())
    """, cgroups=(group,)).ok()
    assert report['backend']['backend'] == 'go'
    assert report['cpus'] == report['reference']
    # The guest computes on the CPUs it may use, at most guest.MaxProcs.
    assert f'gomaxprocs={_host.go_maxprocs()} ' in report['guest']
    assert f'workers={_host.go_procs()} ' in report['guest']


def test_upstream_cpu_count_under_such_a_quota(cgroup):
    group = cgroup('cpu')
    group.write('cpu.cfs_period_us', '1000')
    group.write('cpu.cfs_quota_us', '2147483648000')
    report = run_child("""
        from sky.utils import common_utils
        from sky_fallback import rust_fallback
        child.report(upstream=common_utils.get_cpu_count(),
                     ours=rust_fallback.get_cpu_count(),
                     backend=child.backend())
    """, cgroups=(group,)).ok()
    assert report['backend']['backend'] == 'go'
    assert report['ours'] == report['upstream']


@pytest.mark.parametrize('period,quota', OVERFLOWING[:2])
def test_cgroup_cpu_quota_changed_after_go_started(cgroup, period, quota):
    # The runtime used to re-read the limit every second or so, and abort
    # a second or two after it became such a value.
    group = cgroup('cpu')
    report = run_child(f"""
        import os, time
        from sky_fallback import rust_fallback
        assert child.backend()['backend'] == 'go'
        group = {group.path!r}
        with open(os.path.join(group, 'cpu.cfs_period_us'), 'w') as f:
            f.write('{period}')
        with open(os.path.join(group, 'cpu.cfs_quota_us'), 'w') as f:
            f.write('{quota}')
        deadline = time.monotonic() + 2.5
        calls = 0
        while time.monotonic() < deadline:
            rust_fallback.base36_encode('f' * 300)
            time.sleep(0.01)
            calls += 1
        child.report(calls=calls, backend=child.backend())
    """, cgroups=(group,)).ok()
    assert report['backend']['backend'] == 'go'


@pytest.mark.parametrize('godebug', [
    'containermaxprocs=1', 'gctrace=0,updatemaxprocs=1',
    'containermaxprocs=0,containermaxprocs=1'
])
def test_godebug_cannot_undo_the_guest_settings(cgroup, godebug):
    # A GODEBUG in the environment overrides the build's godebug settings
    # when the runtime starts: sky_rs then keeps Go out, for good.
    group = cgroup('cpu')
    group.write('cpu.cfs_period_us', '1000')
    group.write('cpu.cfs_quota_us', '2147483648000')
    report = run_child("""
        import time
        directory = child.make_files()
        first = child.backend()
        time.sleep(1.05)
        child.report(first=first, later=child.backend(),
                     mismatched=child.mismatches(directory))
    """, env={'GODEBUG': godebug}, cgroups=(group,)).ok()
    assert report['first']['backend'] == 'python'
    assert 'GODEBUG' in report['first']['reason']
    assert report['later'] == report['first']
    assert report['mismatched'] == []


def test_godebug_without_pinned_settings_is_harmless():
    report = run_child("""
        child.report(backend=child.backend())
    """, env={'GODEBUG': 'madvdontneed=1,containermaxprocs=0'}).ok()
    assert report['backend']['backend'] == 'go'


def test_go_environment_of_the_host_is_pinned():
    # GOGC=off would let the guest's heap grow until the runtime aborts;
    # a GOMAXPROCS meant for Go programs the host starts does not size the
    # guest either.
    report = run_child("""
        import sky_rs
        sky_rs.base36_encode('ff')
        before = child.rss_kib()
        text = 'word ' * (1 << 20)
        for _ in range(100):  # Go copies each 5 MiB argument: 500 MiB
            sky_rs.truncate_long_string(text, 10)
        child.report(growth_kib=child.rss_kib() - before,
                     guest=sky_rs.load().pyexport_GuestReport())
    """, env={'GOGC': 'off', 'GOMAXPROCS': '64'}).ok()
    # Unpinned, GOGC=off kept all of it (RSS grew by 2 GiB).
    assert report['growth_kib'] < 256 * 1024, report
    assert f'gomaxprocs={_host.go_maxprocs()} ' in report['guest']


def test_gomaxprocs_follows_the_affinity_set():
    report = run_child("""
        import os
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        import sky_rs
        child.report(guest=sky_rs.load().pyexport_GuestReport(),
                     threads=child.threads())
    """).ok()
    assert 'gomaxprocs=2 workers=1 ' in report['guest']


# --- 4: threads and pids ---------------------------------------------------


@pytest.mark.parametrize('room', [0, 2, 'needed-1', 'needed'])
def test_pids_cgroup_headroom_at_load(cgroup, room):
    # Issue case 4: with little room for threads, loading aborted
    # ("runtime/cgo: pthread_create failed").
    needed = _host.go_threads()
    room = {'needed-1': needed - 1, 'needed': needed}.get(room, room)
    group = cgroup('pids')
    report = run_child(f"""
        import os
        group = {group.path!r}
        directory = child.make_files()
        with open(os.path.join(group, 'pids.current')) as f:
            current = int(f.read())
        with open(os.path.join(group, 'pids.max'), 'w') as f:
            f.write(str(current + {room}))
        child.report(backend=child.backend(),
                     mismatched=child.mismatches(directory))
    """, cgroups=(group,)).ok()
    assert report['mismatched'] == []
    if room < needed:
        assert report['backend']['backend'] == 'python'
        assert 'pids' in report['backend']['reason']
    else:
        assert report['backend']['backend'] == 'go'


def test_pids_cgroup_full_after_go_started(cgroup):
    # Issue case 4, after loading: no room for a single new thread, and
    # every function called from several threads at once, with the Go GC
    # running. The runtime made every thread it needs when it loaded.
    group = cgroup('pids')
    report = run_child(f"""
        import os, threading
        group = {group.path!r}
        directory = child.make_files()
        assert child.backend()['backend'] == 'go'
        want = child.reference_outcomes(directory)
        start = threading.Barrier(5)
        results = []
        def work():
            start.wait()
            for _ in range(15):
                results.append(child.api_outcomes(directory) == want)
        workers = [threading.Thread(target=work) for _ in range(4)]
        for worker in workers:
            worker.start()
        with open(os.path.join(group, 'pids.current')) as f:
            current = f.read().strip()
        with open(os.path.join(group, 'pids.max'), 'w') as f:
            f.write(current)
        try:
            threading.Thread(target=print).start()
            full = False
        except RuntimeError:  # can't start new thread: the limit holds
            full = True
        start.wait()
        for worker in workers:
            worker.join()
        child.report(full=full, results=results,
                     threads=child.threads(), backend=child.backend())
    """, cgroups=(group,)).ok()
    assert report['full']
    assert report['results'] == [True] * 60
    assert report['backend']['backend'] == 'go'


def test_threads_started_at_load():
    # What _host asks room for is an upper bound on the threads a load
    # starts (skyrs/guest starts 3n + 3; the scheduler adds a few).
    started = []
    for _ in range(20):
        started.append(run_child("""
            before = child.threads()
            import sky_rs
            sky_rs.load()
            child.report(started=child.threads() - before)
        """).ok()['started'])
    reliability.report('threads_started_at_load', loads=len(started),
                       most=max(started), least=min(started),
                       bound=_host.go_threads())
    assert max(started) <= _host.go_threads(), started


def test_rlimit_nproc_of_another_user():
    # RLIMIT_NPROC counts every thread of the user (root is exempt).
    if os.geteuid() != 0:
        pytest.skip('switching users needs root')
    report = run_child(f"""
        import os, resource
        from sky_rs import _host
        os.setgroups([])
        os.setgid({NOBODY})
        os.setuid({NOBODY})
        own = _host._threads_of_user({NOBODY})
        resource.setrlimit(resource.RLIMIT_NPROC, (own + 3, own + 3))
        child.report(backend=child.backend(),
                     base36=child.rust_fallback.base36_encode('ff'))
    """).ok()
    assert report['base36'] == '73'
    assert report['backend']['backend'] == 'python'
    assert 'RLIMIT_NPROC' in report['backend']['reason']


# --- 5: signals ------------------------------------------------------------


def test_signal_dispositions_and_children():
    # Issue case 5: after Go loaded, SIGPIPE was caught instead of ignored,
    # so children started without restoring signals died of it (141).
    report = run_child("""
        import threading
        # glibc installs its own handler (SIGSETXID) with the first thread,
        # whoever starts it.
        threading.Thread(target=int).start()
        directory = child.make_files()
        before = (child.signal_masks(), child.python_handlers(),
                  child.child_pipe_status())
        child.mismatches(directory)
        child.report(backend=child.backend(),
                     before=before,
                     after=(child.signal_masks(), child.python_handlers(),
                            child.child_pipe_status()))
    """).ok()
    assert report['backend']['backend'] == 'go'
    (masks, handlers, pipes), (masks_after, handlers_after,
                               pipes_after) = report['before'], report['after']
    assert pipes == {'posix_spawn': '1', 'subprocess': '1', 'os.system': '1'}
    assert pipes_after == pipes
    assert handlers_after == handlers
    assert masks_after['SigIgn'] == masks['SigIgn']
    assert masks_after['SigBlk'] == masks['SigBlk']
    assert masks_after['SigCgt'] & ~SYNCHRONOUS_MASK == masks['SigCgt']


def test_signal_handlers_of_the_host_keep_working():
    # The host's own handlers (SIGPIPE, SIGURG, SIGUSR1) stay installed and
    # get their signals; the runtime's preemption requests (SIGURG) reach
    # the host's handler at most once per runtime thread, then stop.
    report = run_child("""
        import os, signal, threading, time
        counts = {'SIGPIPE': 0, 'SIGURG': 0, 'SIGUSR1': 0}
        def handler(number, frame):
            counts[signal.Signals(number).name] += 1
        for name in counts:
            signal.signal(getattr(signal, name), handler)
        directory = child.make_files()
        import sky_rs
        sky_rs.load()
        go_threads = child.threads() - 1
        stop = time.monotonic() + 2
        def busy():
            while time.monotonic() < stop:
                sky_rs.base36_encode('f' * 20000)
                sky_rs.hash_files([directory + '/big'] * 2, 'sha256')
        workers = [threading.Thread(target=busy) for _ in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        spurious = dict(counts)
        for name in counts:
            os.kill(os.getpid(), getattr(signal, name))
        time.sleep(0.1)
        child.report(spurious=spurious, go_threads=go_threads,
                     delivered={k: counts[k] - spurious[k] for k in counts})
    """).ok()
    assert report['delivered'] == {'SIGPIPE': 1, 'SIGURG': 1, 'SIGUSR1': 1}
    assert report['spurious']['SIGPIPE'] == report['spurious']['SIGUSR1'] == 0
    assert report['spurious']['SIGURG'] <= report['go_threads'] + 5


@pytest.mark.parametrize('faulthandler', [False, True])
def test_a_fault_outside_go_is_the_hosts(faulthandler):
    # Go keeps its SIGSEGV handler (a fault in Go code becomes a recovered
    # panic) and passes a fault elsewhere to what was there before:
    # faulthandler's report, or death by SIGSEGV, as without sky_rs.
    result = run_child(f"""
        import ctypes, faulthandler
        if {faulthandler}:
            faulthandler.enable()
        import sky_rs
        sky_rs.base36_encode('ff')
        ctypes.string_at(0)
    """)
    assert result.returncode == -signal.SIGSEGV, result.stderr
    assert 'fatal error' not in result.stderr  # Go's own report
    if faulthandler:
        assert 'Fatal Python error: Segmentation fault' in result.stderr


def test_go_panic_is_still_recovered_after_the_restore():
    report = run_child("""
        import sky_rs
        try:
            sky_rs._errors.call('pyexport_SelfTestPanic', 'boom')
        except sky_rs.NativeFault as error:
            child.report(fault=str(error))
    """).ok()
    assert report['fault'] == 'Go panic: boom'


# --- 6: the gate off starts nothing ----------------------------------------


def test_gate_off_starts_no_go_runtime():
    # Issue case 6: get_backend_info() and friends loaded the extension
    # with the gate off (1 thread became 6; Python 3.12+ then warns on
    # every os.fork()).
    report = run_child("""
        import io, contextlib, sys
        from sky_fallback import rust_fallback, __main__ as cli
        modules, threads = set(sys.modules), child.threads()
        info = rust_fallback.get_backend_info()
        routes = rust_fallback.routes()
        available = rust_fallback.is_rust_available()
        with contextlib.redirect_stdout(io.StringIO()) as out:
            cli.main(['info']); cli.main(['info', '--json'])
        new_modules = sorted(set(sys.modules) - modules)
        # The Python answers import what they need (psutil); threads and
        # maps below still show they start no Go.
        child.mismatches(child.make_files())
        threads_after = child.threads()
        import sky.utils.subprocess_utils  # starts a thread of its own
        from sky_fallback import skypilot as patch
        with_sky = child.threads()
        patched = patch.patch_skypilot()
        rust_fallback.get_backend_info()
        patch.unpatch_skypilot()
        child.report(threads_before=threads, threads=threads_after,
                     with_sky=with_sky, patched_threads=child.threads(),
                     new_modules=new_modules, info=info,
                     mapped='_sky_rs' in open('/proc/self/maps').read(),
                     routes=sorted(set(routes.values())), available=available,
                     patched=len(patched), cli='loaded' in out.getvalue(),
                     patchable=len(patch.registry.PATCHES))
    """, env={'SKYPILOT_USE_RUST': '0'}).ok()
    assert report['threads'] == report['threads_before'] == 1
    assert report['patched_threads'] == report['with_sky']
    assert not report['mapped']
    # sky_rs's Python part describes the extension; describing it imports
    # nothing but sky_rs's own Python modules.
    assert all(name == 'sky_rs' or (name.startswith('sky_rs._') and
                                    name != 'sky_rs._sky_rs')
               for name in report['new_modules']), report['new_modules']
    assert report['routes'] == ['python'] and report['available'] is False
    assert report['patched'] == report['patchable'] and report['cli']
    info = report['info']
    assert (info['backend'], info['loaded']) == ('python', False)
    assert info['native_available'] is True
    assert info['go_version'].startswith('go')


# --- 7: RLIMIT_NOFILE during the load --------------------------------------


# Reads the soft RLIMIT_NOFILE of a process from outside, as fast as it can,
# until its stdin closes: what any observer could see, GIL or not.
LIMIT_SAMPLER = """
import select, sys
seen = {}
path = f'/proc/{sys.argv[1]}/limits'
while not select.select([sys.stdin], [], [], 0)[0]:
    with open(path) as f:
        for line in f:
            if line.startswith('Max open files'):
                seen[line.split()[3]] = seen.get(line.split()[3], 0) + 1
print(json.dumps(seen))
"""


def test_open_file_limit_unchanged_while_go_starts():
    # Issue case 7: Go raises the soft limit as it starts; a thread reading
    # it, or a child started meanwhile, saw the raised value (3 in 10). Ten
    # loads, each watched by a thread reading getrlimit and by children
    # started one after another; and from outside, /proc/<pid>/limits.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 4096:
        pytest.skip(f'hard RLIMIT_NOFILE {hard} < 4096')
    seen = []
    for _ in range(10):
        report = run_child(f"""
            import json, os, resource, subprocess, sys, threading, time
            sampler = subprocess.Popen(
                [sys.executable, '-c', 'import json' + {LIMIT_SAMPLER!r},
                 str(os.getpid())], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, text=True)
            time.sleep(0.2)
            seen, children = set(), set()
            done = threading.Event()
            def read():
                while not done.is_set():
                    seen.add(resource.getrlimit(resource.RLIMIT_NOFILE)[0])
            def spawn():
                while not done.is_set():
                    children.add(subprocess.run(
                        ['/bin/sh', '-c', 'ulimit -Sn'], capture_output=True,
                        text=True).stdout.strip())
            workers = [threading.Thread(target=f) for f in (read, spawn)]
            for worker in workers:
                worker.start()
            import sky_rs
            sky_rs.load()
            time.sleep(0.05)
            done.set()
            for worker in workers:
                worker.join()
            outside = json.loads(sampler.communicate('stop')[0])
            seen.add(resource.getrlimit(resource.RLIMIT_NOFILE)[0])
            child.report(seen=sorted(seen), children=sorted(children),
                         outside=outside)
        """, limits={resource.RLIMIT_NOFILE: (1024, 4096)}).ok()
        seen.append(report)
    # From outside, the raise can still be seen in the moment between two
    # system calls of the runtime's init thread (docs/RELIABILITY.md):
    # reported, not asserted.
    reliability.report(
        'open_file_limit_while_go_starts',
        loads=len(seen),
        outside_reads=sum(sum(r['outside'].values()) for r in seen),
        outside_raised=sum(
            n for r in seen for v, n in r['outside'].items() if v != '1024'))
    assert all(r['seen'] == [1024] for r in seen), seen
    assert all(r['children'] in ([], ['1024']) for r in seen), seen


# --- 8: log records --------------------------------------------------------

LOG_CHILD = """
    import logging, os, resource
    from sky import sky_logging
    from sky.utils import subprocess_utils
    from sky_fallback import skypilot as patch
    from sky_rs import _system as sky_rs_system
    records = []
    class Collect(logging.Handler):
        def emit(self, record):
            records.append((record.name, record.levelname, record.getMessage()))
    logging.getLogger('sky').addHandler(Collect(logging.DEBUG))
    logging.getLogger('sky').setLevel(logging.DEBUG)
    mounts = {'/remote': child.make_files()}
    def run():
        del records[:]
        subprocess_utils._fd_limit_warning_shown = False
        sky_rs_system._fd_limit_warning_shown = False
        for _ in range(2):
            subprocess_utils.get_max_workers_for_file_mounts(mounts, 'aws')
        with sky_logging.silent():
            subprocess_utils._fd_limit_warning_shown = False
            sky_rs_system._fd_limit_warning_shown = False
            subprocess_utils.get_max_workers_for_file_mounts(mounts)
        return list(records)
    upstream = run()
    patch.patch_skypilot()
    child.report(upstream=upstream, ours=run(), backend=child.backend())
"""


@pytest.mark.parametrize('gate', ['1', '0'])
def test_log_records_are_upstreams(gate):
    # Issue case 8: under prlimit --nofile=200:4096 the low-limit warning
    # came from sky_rs / sky_fallback._reference, so sky_logging.silent()
    # did not silence it.
    report = run_child(LOG_CHILD,
                       env={'SKYPILOT_USE_RUST': gate},
                       limits={resource.RLIMIT_NOFILE: (200, 4096)}).ok()
    assert report['backend']['backend'] == ('go' if gate == '1' else 'python')
    assert report['ours'] == report['upstream']
    assert [r[1] for r in report['upstream']] == ['WARNING', 'DEBUG', 'DEBUG']

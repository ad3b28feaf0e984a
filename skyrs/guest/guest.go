// Package guest settles the Go runtime into the Python process that loaded
// the extension, when it loads: it acquires what the runtime would otherwise
// take lazily, later, at a moment when the host may have none to spare (the
// runtime aborts when it cannot get it), and it pins the runtime settings the
// host's environment may carry for Go programs it starts. docs/RELIABILITY.md
// ("The Go runtime as a guest") lists each fatal path and how it is closed.
//
// Importing the package does it (pyexport imports it); package hoststate,
// imported here, has already put back the host's signal actions and
// RLIMIT_NOFILE by then.
package guest

import (
	"fmt"
	"math"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/skypilot-org/sky_rs/skyrs"
	"github.com/skypilot-org/sky_rs/skyrs/hoststate"
)

// MaxProcs caps Procs, and so the threads the extension keeps: a guest
// answers short calls, and more parallelism than this buys nothing there.
const MaxProcs = 4

// Procs returns how many CPUs the extension computes on: the CPUs this
// process may run on (its affinity set), lowered to the cgroup CPU limit
// rounded up, at least 1 and at most MaxProcs. It is the worker budget, and
// the facade lets that many hashing calls into Go at once. The limit is read
// overflow-safe by skyrs (the runtime's own reading aborts on cgroup v1
// quota/period >= 2**31, which is why containermaxprocs=0 is pinned at
// build time).
func Procs() int {
	n, err := skyrs.AffinityCPUs()
	if err != nil || n < 1 {
		n = runtime.NumCPU()
	}
	n = min(n, MaxProcs)
	if limit, ok := skyrs.CgroupCPULimit(skyrs.DefaultCgroupRoot); ok && limit > 0 && limit < float64(n) {
		n = int(math.Ceil(limit))
	}
	return max(n, 1)
}

// GoMaxProcs returns the GOMAXPROCS the extension runs with for Procs n: a P
// for each of n calls in Go, and n spare. A Python thread that returns from
// Go leaves its P parked with it, so that a next call from the same thread
// takes it straight back; a call from another thread that found no idle P
// waited for the runtime's monitor to take a parked one, up to 10 ms later,
// and 4 and 16 threads hashing lost to upstream's hashlib for it (make bench,
// Threads). The spare Ps are no more CPU: at most n calls and n workers
// compute at once.
func GoMaxProcs(n int) int { return 2 * n }

// Threads returns how many threads the extension keeps for n = GOMAXPROCS,
// the thread the runtime started on, sysmon and the template thread
// included. A thread is busy when it runs Go code (at most n, one per P),
// blocks in a system call (at most n: the worker budget; a Python thread
// calling in is a thread of its own), or moves between those and the idle
// list (at most n at once); the rest wait idle for the scheduler, which takes
// an idle thread before it starts a new one. The facade checks before
// loading that the host can spare this many and the few more the scheduler
// starts of its own meanwhile (sky_rs/_host.py, go_threads).
func Threads(n int) int { return 3*n + 3 }

var settled struct {
	workers, spawned int
}

func init() {
	// The host's GOGC, GOMEMLIMIT and GOMAXPROCS are meant for Go programs
	// it starts: GOGC=off would let this heap grow until the runtime aborts.
	debug.SetGCPercent(100)
	debug.SetMemoryLimit(math.MaxInt64)
	procs := Procs()
	runtime.GOMAXPROCS(GoMaxProcs(procs))
	skyrs.SetWorkerBudget(procs)

	// The runtime's network poller (an epoll and an eventfd) starts with the
	// first timer; started later, at the open-file limit, it aborts
	// ("netpollinit failed"). A timer armed once starts it now.
	time.AfterFunc(time.Hour, func() {}).Stop()

	// Every thread the runtime will need, now: with the worker budget, the
	// runtime never has more threads busy than these (see Threads), and it
	// keeps an idle thread rather than ending it.
	spawned := Threads(GoMaxProcs(procs)) - 3
	spawnThreads(spawned)
	settled.workers, settled.spawned = skyrs.WorkerBudget(), spawned
}

// spawnThreads makes the runtime start n threads at once: n goroutines each
// lock a thread until all are running, then let go; the threads stay, idle.
func spawnThreads(n int) {
	var running, done sync.WaitGroup
	release := make(chan struct{})
	running.Add(n)
	for range n {
		done.Go(func() {
			runtime.LockOSThread()
			running.Done()
			<-release
			runtime.UnlockOSThread()
		})
	}
	running.Wait()
	close(release)
	done.Wait()
}

// Report describes what loading did, for tests and diagnostics.
func Report() string {
	return fmt.Sprintf("gomaxprocs=%d workers=%d spawned=%d restored_signals=%#x restored_nofile=%t",
		runtime.GOMAXPROCS(0), settled.workers, settled.spawned,
		hoststate.Restored.Signals, hoststate.Restored.Nofile)
}

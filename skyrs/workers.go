package skyrs

import (
	"runtime"
	"sync"
)

// workerSlots bounds, for the whole process, the goroutines that calls start
// beside their own (HashFiles, AreProcessesAlive, the read-ahead of a large
// hash). A goroutine in a blocking system call holds an OS thread, so this
// bound is what lets package guest create, when the extension loads, every
// thread the runtime will ever need: a host at its thread or pids limit
// must never see the runtime's pthread_create fail, which aborts.
var workerSlots = make(chan struct{}, runtime.GOMAXPROCS(0))

// SetWorkerBudget sets how many such goroutines may run at once. It must be
// called before any call that starts one (package guest calls it at load).
func SetWorkerBudget(n int) { workerSlots = make(chan struct{}, max(n, 0)) }

// WorkerBudget returns the number SetWorkerBudget set.
func WorkerBudget() int { return cap(workerSlots) }

// acquireWorker takes a slot for a goroutine if one is free; the caller must
// releaseWorker it when that goroutine ends. Never blocks: a call that finds
// no slot does the work in its own goroutine.
func acquireWorker() bool {
	select {
	case workerSlots <- struct{}{}:
		return true
	default:
		return false
	}
}

func releaseWorker() { <-workerSlots }

// goWorker runs f in a goroutine of its own, counted in wg, if a slot is
// free, and reports whether it did. f must recover its own panics.
func goWorker(wg *sync.WaitGroup, f func()) bool {
	if !acquireWorker() {
		return false
	}
	wg.Go(func() {
		defer releaseWorker()
		f()
	})
	return true
}

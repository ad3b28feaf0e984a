package skyrs

import (
	"runtime"
	"sync"
)

// workerSlots bounds, for the whole process, the goroutines that calls start
// beside their own (HashFiles, AreProcessesAlive). A goroutine in a blocking system call holds an OS thread, so this
// bound is what lets package guest create, when the extension loads, every
// thread the runtime will ever need: a host at its thread or pids limit
// must never see the runtime's pthread_create fail, which aborts.
var workerSlots = make(chan struct{}, runtime.GOMAXPROCS(0))

// SetWorkerBudget sets how many such goroutines may run at once. It must be
// called before any call that starts one (package guest calls it at load).
func SetWorkerBudget(n int) { workerSlots = make(chan struct{}, max(n, 0)) }

// WorkerBudget returns the number SetWorkerBudget set.
func WorkerBudget() int { return cap(workerSlots) }

// goWorker runs f in a goroutine of its own, counted in wg, if a slot is
// free, and reports whether it did. It never blocks: a call that finds no
// slot does the work in its own goroutine. f must recover its own panics.
func goWorker(wg *sync.WaitGroup, f func()) bool {
	select {
	case workerSlots <- struct{}{}:
	default:
		return false
	}
	wg.Go(func() {
		defer func() { <-workerSlots }()
		f()
	})
	return true
}

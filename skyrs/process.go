package skyrs

import (
	"math"
	"sync"
)

// DefaultProcRoot is where Linux mounts the proc file system.
const DefaultProcRoot = "/proc"

// IsProcessAlive reports whether a process with this pid exists and has not
// exited: SPEC.md's is_process_alive. See ProcessAliveIn.
func IsProcessAlive(pid int) bool {
	return ProcessAliveIn(DefaultProcRoot, pid)
}

// ProcessAliveIn reports whether a process with this pid exists and has not
// exited, reading process states under procRoot on Linux.
//
// A pid <= 0 is false: kill(2) would address a process group there. A pid
// beyond int32 is false: no process can have it. Otherwise kill(pid, 0)
// decides existence, where EPERM (another user's process) still means it
// exists. An existing process is then checked for having exited: a zombie
// (exited, not yet reaped), which kill(pid, 0) reports as alive, is false, and
// so is a process reaped between the two checks. When the state cannot be
// read, the kill(2) answer stands.
func ProcessAliveIn(procRoot string, pid int) bool {
	if pid <= 0 || pid > math.MaxInt32 {
		return false
	}
	if !processExists(pid) {
		return false
	}
	return !hasExited(procRoot, pid)
}

// processesPerWorker is the smallest share of a batch worth a goroutine of its
// own: checking a live pid costs a few microseconds of system calls, starting
// a goroutine well under one.
const processesPerWorker = 64

// AreProcessesAlive reports ProcessAliveIn(procRoot, pid) for every pid, in
// order. A large batch is split across goroutines, one per CPU at most and
// as many as the process-wide worker budget allows (a share without one is
// checked by the caller): the checks are independent system calls, so they
// run in parallel. A panic in a
// worker is raised again in the caller, where the boundary recovers it (a
// panic left in a goroutine would end the process).
func AreProcessesAlive(procRoot string, pids []int) []bool {
	alive := make([]bool, len(pids))
	workers := min(WorkerBudget(), (len(pids)+processesPerWorker-1)/processesPerWorker)
	if workers <= 1 {
		for i, pid := range pids {
			alive[i] = ProcessAliveIn(procRoot, pid)
		}
		return alive
	}
	var (
		wg     sync.WaitGroup
		failed sync.Once
		fault  any
	)
	share := (len(pids) + workers - 1) / workers
	for start := 0; start < len(pids); start += share {
		end := min(start+share, len(pids))
		part, out := pids[start:end], alive[start:end]
		check := func() {
			defer func() {
				if r := recover(); r != nil {
					failed.Do(func() { fault = r })
				}
			}()
			for i, pid := range part {
				out[i] = ProcessAliveIn(procRoot, pid)
			}
		}
		if !goWorker(&wg, check) {
			check() // the process-wide budget is spent: this share here
		}
	}
	wg.Wait()
	if fault != nil {
		panic(fault)
	}
	return alive
}

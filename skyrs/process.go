package skyrs

import "math"

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
// exists. An existing process is then checked for being a zombie (exited,
// not yet reaped), which kill(pid, 0) reports as alive; a zombie is false.
// When the state cannot be read, the kill(2) answer stands.
func ProcessAliveIn(procRoot string, pid int) bool {
	if pid <= 0 || pid > math.MaxInt32 {
		return false
	}
	if !processExists(pid) {
		return false
	}
	return !isZombie(procRoot, pid)
}

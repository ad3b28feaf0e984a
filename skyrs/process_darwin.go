package skyrs

import "golang.org/x/sys/unix"

// darwinZombieState is SZOMB from <sys/proc.h>: exited, not yet reaped.
const darwinZombieState = 5

// hasExited reports whether the kernel's process table shows pid as a
// zombie; macOS has no /proc, so procRoot is not used.
func hasExited(procRoot string, pid int) bool {
	info, err := unix.SysctlKinfoProc("kern.proc.pid", pid)
	if err != nil {
		return false
	}
	return info.Proc.P_stat == darwinZombieState
}

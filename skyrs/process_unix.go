//go:build unix

package skyrs

import "golang.org/x/sys/unix"

// processExists reports whether kill(pid, 0) finds the process: success or
// EPERM (it exists but belongs to another user) mean it does, ESRCH and any
// other error that it does not.
func processExists(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || err == unix.EPERM
}

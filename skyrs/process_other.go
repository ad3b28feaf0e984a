//go:build unix && !linux && !darwin

package skyrs

// hasExited is not implemented on platforms SkyPilot does not run on: there,
// IsProcessAlive relies on kill(pid, 0) alone.
func hasExited(procRoot string, pid int) bool {
	return false
}

//go:build !linux && !darwin

package skyrs

// TotalMemoryBytes is implemented for Linux and macOS, the platforms
// SkyPilot runs on; elsewhere the call is declined and answered by psutil
// through the pure-Python reference.
func TotalMemoryBytes() (uint64, error) {
	return 0, Decline("total memory is not implemented on this OS")
}

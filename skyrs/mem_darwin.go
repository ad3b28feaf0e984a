package skyrs

import "golang.org/x/sys/unix"

// TotalMemoryBytes returns psutil.virtual_memory().total, which on macOS is
// the sysctl hw.memsize. Should that fail, the call is declined, so that
// psutil raises its own exception through the pure-Python reference.
func TotalMemoryBytes() (uint64, error) {
	total, err := unix.SysctlUint64("hw.memsize")
	if err != nil {
		return 0, Decline("sysctl hw.memsize: %v", err)
	}
	return total, nil
}

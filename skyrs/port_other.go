//go:build !linux

package skyrs

// canBindTCP4 is implemented for Linux only, where SOCK_CLOEXEC lets the
// socket be created without leaking into a child forked by another thread.
// Elsewhere the call is declined and answered by the pure-Python reference.
func canBindTCP4(port int) (bool, error) {
	return false, Decline("find_free_port is not implemented on this OS")
}

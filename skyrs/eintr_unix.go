//go:build unix

package skyrs

import "syscall"

// retryOnEINTR calls fn until it fails with something other than EINTR, as
// CPython retries interrupted system calls (PEP 475).
func retryOnEINTR(fn func() error) error {
	for {
		if err := fn(); err != syscall.EINTR {
			return err
		}
	}
}

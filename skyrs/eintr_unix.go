//go:build unix

package skyrs

import "golang.org/x/sys/unix"

// retryOnEINTR calls fn until it fails with something other than EINTR, as
// CPython retries interrupted system calls (PEP 475).
func retryOnEINTR(fn func() error) error {
	for {
		if err := fn(); err != unix.EINTR {
			return err
		}
	}
}

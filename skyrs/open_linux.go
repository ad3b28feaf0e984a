package skyrs

import (
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// openReadOnly opens path for reading, as os.OpenFile(path, O_RDONLY|flags)
// does, but returns a file that the Go runtime does not poll.
//
// os.OpenFile registers every descriptor with the runtime's network poller,
// and the first registration in the process creates the poller's own two
// descriptors (an epoll instance and an eventfd). If that happens while the
// process is at its RLIMIT_NOFILE, the runtime does not return an error: it
// throws "netpollinit failed" and aborts the whole Python process. Inside a
// long-running server that has run out of descriptors, a call must fail with
// EMFILE instead, as Python's open() does. Regular files and /proc and /sys
// files gain nothing from the poller, and os.NewFile of a blocking
// descriptor never touches it.
//
// O_NONBLOCK in flags applies to the open only (it keeps the open of a FIFO
// from blocking); it is cleared before the file is returned. Errors are
// *fs.PathError, as from os.OpenFile.
func openReadOnly(path string, flags int) (*os.File, error) {
	var fd int
	err := retryOnEINTR(func() (err error) {
		fd, err = unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|flags, 0)
		return err
	})
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	if flags&unix.O_NONBLOCK != 0 {
		if err := unix.SetNonblock(fd, false); err != nil {
			unix.Close(fd)
			return nil, &fs.PathError{Op: "fcntl", Path: path, Err: err}
		}
	}
	return os.NewFile(uintptr(fd), path), nil
}

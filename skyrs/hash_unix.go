//go:build unix

package skyrs

import (
	"io"

	"golang.org/x/sys/unix"
)

// rawFile is an open file descriptor used with bare system calls: an
// *os.File costs several more (it tries to register the descriptor with the
// poller and sets a finalizer), which is most of the price of opening a small
// file. Its Close must not be forgotten.
type rawFile int

func (fd rawFile) readAt(p []byte, offset int64) (int, error) {
	for {
		n, err := unix.Pread(int(fd), p, offset)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return 0, err
		case n == 0 && len(p) > 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

func (fd rawFile) Close() error { return unix.Close(int(fd)) }

// openHashSource opens path for reading as Python's open(path, 'rb') does and
// returns the file with its size. A directory is EISDIR, as in Python.
//
// It stats path first so that a FIFO is never opened: even a non-blocking
// open would release a writer waiting for a reader. O_NONBLOCK keeps the
// open itself from hanging if path became a FIFO after that; it changes
// nothing for a regular file. Anything but a regular file is declined.
func openHashSource(path string) (hashSource, int64, error) {
	return openHashSourceAt(unix.AT_FDCWD, path, path, 0)
}

// openHashSourceAt is openHashSource of name in the directory open as dirfd
// (unix.AT_FDCWD: the working directory), path naming it in errors. Its
// stat is skipped when kind, the type its directory listed for it, is
// already S_IFREG or S_IFDIR (0: not known).
func openHashSourceAt(dirfd int, name, path string, kind uint32) (hashSource, int64, error) {
	var st unix.Stat_t
	if kind != unix.S_IFREG && kind != unix.S_IFDIR {
		if err := retryOnEINTR(func() error { return unix.Fstatat(dirfd, name, &st, 0) }); err != nil {
			return nil, 0, osErrorWithPath(err, path)
		}
		if kind := uint32(st.Mode) & unix.S_IFMT; kind != unix.S_IFREG && kind != unix.S_IFDIR {
			return nil, 0, Decline("hash_file of a non-regular file")
		}
	}
	var fd int
	err := retryOnEINTR(func() (err error) {
		fd, err = unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		return err
	})
	if err != nil {
		return nil, 0, osErrorWithPath(err, path)
	}
	err = retryOnEINTR(func() error { return unix.Fstat(fd, &st) })
	switch kind := uint32(st.Mode) & unix.S_IFMT; {
	case err != nil:
		err = osErrorWithoutPath(err)
	case kind == unix.S_IFDIR:
		err = &Error{Kind: KindOSError, Errno: unix.EISDIR, Msg: path}
	case kind != unix.S_IFREG:
		err = Decline("hash_file of a non-regular file")
	default:
		return rawFile(fd), st.Size, nil
	}
	unix.Close(fd)
	return nil, 0, err
}

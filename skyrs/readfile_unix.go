//go:build unix

package skyrs

import "golang.org/x/sys/unix"

// smallFileFirstRead is the first read of readSmallFile: enough for the
// /proc, /sys and cgroup files it reads, which are a line or a few.
const smallFileFirstRead = 512

// readSmallFile reads the whole file at path with bare system calls: open,
// read until end of file, close. os.ReadFile adds an fstat, a finalizer and,
// on Linux, the runtime's poller (see openReadOnly); for a file of a few
// bytes in /proc or /sys those cost more than the reading itself, and these
// files are read on every call of get_cpu_count, get_mem_size_gb and
// is_process_alive. Errors are bare unix.Errno values.
func readSmallFile(path string) ([]byte, error) {
	var fd int
	err := retryOnEINTR(func() (err error) {
		fd, err = unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		return err
	})
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	buf := make([]byte, smallFileFirstRead)
	used := 0
	for {
		if used == len(buf) {
			buf = append(buf, make([]byte, len(buf))...)
		}
		var got int
		err := retryOnEINTR(func() (err error) {
			got, err = unix.Read(fd, buf[used:])
			return err
		})
		if err != nil {
			return nil, err
		}
		if got <= 0 {
			return buf[:used], nil
		}
		used += got
	}
}

// isRegularFile reports whether path names a regular file, following
// symbolic links, as Python's os.path.isfile does.
func isRegularFile(path string) bool {
	var info unix.Stat_t
	err := retryOnEINTR(func() error { return unix.Stat(path, &info) })
	return err == nil && info.Mode&unix.S_IFMT == unix.S_IFREG
}

// isDirectory reports whether path names a directory, following symbolic
// links, as Python's os.path.isdir does.
func isDirectory(path string) bool {
	var info unix.Stat_t
	err := retryOnEINTR(func() error { return unix.Stat(path, &info) })
	return err == nil && info.Mode&unix.S_IFMT == unix.S_IFDIR
}

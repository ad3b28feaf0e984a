package skyrs

import (
	"encoding/binary"
	"unsafe"

	"golang.org/x/sys/unix"
)

// direntBufferSize is the getdents64 buffer: a few system calls even for a
// directory of thousands of entries.
const direntBufferSize = 64 << 10

// Offsets into struct linux_dirent64 (d_ino u64, d_off s64, d_reclen u16,
// d_type u8, d_name[]).
const (
	direntReclenOffset = unsafe.Offsetof(unix.Dirent{}.Reclen)
	direntTypeOffset   = unsafe.Offsetof(unix.Dirent{}.Type)
	direntNameOffset   = unsafe.Offsetof(unix.Dirent{}.Name)
)

// CountDirEntries returns len(os.listdir(path)): the entries directly in the
// directory at path, hidden ones included, "." and ".." not, following a
// symbolic link to the directory. It counts getdents64 records without
// building names. Errors are KindOSError with the errno os.listdir gives
// (ENOENT, ENOTDIR, EACCES) and path as the file name.
func CountDirEntries(path string) (int, error) {
	// The flags of glibc's opendir, which os.listdir uses. O_NONBLOCK keeps
	// a FIFO from blocking the open; O_DIRECTORY then refuses it.
	fd, err := openDir(path, unix.O_RDONLY|unix.O_NONBLOCK)
	if err != nil {
		return 0, osErrorWithPath(err, path)
	}
	defer unix.Close(fd)
	buf := make([]byte, direntBufferSize)
	count := 0
	for {
		var n int
		err := retryOnEINTR(func() (err error) {
			n, err = unix.Getdents(fd, buf)
			return err
		})
		if err != nil {
			return 0, osErrorWithPath(err, path)
		}
		if n <= 0 {
			return count, nil
		}
		eachDirent(buf[:n], func(_ byte, name []byte) {
			if !isDotOrDotDot(name) {
				count++
			}
		})
	}
}

// openDir opens the directory at path with mode (O_RDONLY, O_PATH, ...) and
// O_DIRECTORY, O_CLOEXEC.
func openDir(path string, mode int) (fd int, err error) {
	err = retryOnEINTR(func() (err error) {
		fd, err = unix.Open(path, mode|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		return err
	})
	return fd, err
}

// eachDirent calls f with the type (d_type: S_IFMT>>12) and the NUL-padded
// name of each linux_dirent64 record that getdents64 put in records.
func eachDirent(records []byte, f func(typ byte, name []byte)) {
	for len(records) > int(direntNameOffset) {
		reclen := int(binary.NativeEndian.Uint16(records[direntReclenOffset:]))
		if reclen <= int(direntNameOffset) || reclen > len(records) {
			return
		}
		f(records[direntTypeOffset], records[direntNameOffset:reclen])
		records = records[reclen:]
	}
}

// isDotOrDotDot reports whether the NUL-terminated name is "." or "..".
func isDotOrDotDot(name []byte) bool {
	return len(name) >= 2 && name[0] == '.' &&
		(name[1] == 0 || (len(name) >= 3 && name[1] == '.' && name[2] == 0))
}

package tests_go

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/skypilot-org/sky_rs/skyrs"
)

// HashFiles knows the files of a directory from its listing once it opens a
// second file there, and then opens a regular file without a stat first; a
// FIFO among them must still be left to the caller unopened: opening it,
// even without blocking, would release a writer waiting for a reader.
func TestHashFilesNeverOpensAFIFOOfAListedDirectory(t *testing.T) {
	dir := t.TempDir()
	var paths []string
	for i := range 5 {
		paths = append(paths, filesWrite(t, dir, fmt.Sprintf("f%d", i), hashRandom(uint64(i), 100)))
	}
	fifo := filepath.Join(dir, "f2fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	paths = append(paths[:3], append([]string{fifo}, paths[3:]...)...)
	watch, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		t.Skip("no inotify:", err)
	}
	defer unix.Close(watch)
	if _, err := unix.InotifyAddWatch(watch, fifo, unix.IN_OPEN); err != nil {
		t.Fatal(err)
	}
	for _, workers := range []int{1, 2} {
		got, err := skyrs.HashFiles(paths, "sha256", skyrs.HashFilesOptions{Workers: workers})
		if err != nil || len(got) != len(paths) {
			t.Fatalf("HashFiles(workers %d) = %d digests, %v", workers, len(got), err)
		}
		for i, path := range paths {
			if want := path != fifo; (got[i] != nil) != want {
				t.Errorf("HashFiles(workers %d)[%s] = %x; want a digest: %v", workers, path, got[i], want)
			}
		}
	}
	if n, _ := unix.Read(watch, make([]byte, 4096)); n > 0 {
		t.Errorf("HashFiles opened the FIFO (inotify IN_OPEN)")
	}
}

// A file whose whole path is PATH_MAX bytes or more, in a directory whose
// path is shorter: Python's open(path) fails with ENAMETOOLONG, so HashFile
// must and HashFiles must leave the file to its caller, though opened
// relative to its directory (as the directory cache opens files) it would
// open.
func TestHashFilesOfAPathLongerThanPathMax(t *testing.T) {
	dir := t.TempDir()
	for len(dir) < unix.PathMax-300 {
		dir = filepath.Join(dir, strings.Repeat("d", 200))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	short := filesWrite(t, dir, "short", []byte("short"))
	name := strings.Repeat("f", unix.PathMax-len(dir)-1) // the path: PATH_MAX bytes, and a NUL
	dirfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dirfd)
	fd, err := unix.Openat(dirfd, name, unix.O_WRONLY|unix.O_CREAT, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	long := filepath.Join(dir, name)
	paths := []string{short, long, short}
	for _, workers := range []int{1, 2} {
		got, err := skyrs.HashFiles(paths, "sha256", skyrs.HashFilesOptions{Workers: workers})
		if err != nil || len(got) != 3 || got[0] == nil || got[1] != nil || got[2] == nil {
			t.Errorf("HashFiles(workers %d) = %x, %v; want the long path left to the caller", workers, got, err)
		}
	}
	var osErr *skyrs.Error
	if _, err := skyrs.HashFile(long, "sha256"); !errors.As(err, &osErr) || osErr.Errno != unix.ENAMETOOLONG {
		t.Errorf("HashFile(a path of %d bytes) = %.60v...; want ENAMETOOLONG", len(long), err)
	}
}

package tests_go

import (
	"fmt"
	"path/filepath"
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

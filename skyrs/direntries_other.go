//go:build !linux

package skyrs

import (
	"errors"
	"io"
	"os"
)

// dirEntriesBatch is how many entries CountDirEntries reads at a time.
const dirEntriesBatch = 1024

// CountDirEntries returns len(os.listdir(path)): the entries directly in the
// directory at path, hidden ones included, "." and ".." not, following a
// symbolic link to the directory. Errors are KindOSError with the errno
// os.listdir gives (ENOENT, ENOTDIR, EACCES) and path as the file name.
func CountDirEntries(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, osErrorWithPath(err, path)
	}
	defer f.Close()
	count := 0
	for {
		entries, err := f.ReadDir(dirEntriesBatch)
		count += len(entries)
		if errors.Is(err, io.EOF) {
			return count, nil
		}
		if err != nil {
			return 0, osErrorWithPath(err, path)
		}
	}
}

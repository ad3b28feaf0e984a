//go:build !unix

package skyrs

import "os"

// openHashSource opens path for reading as Python's open(path, 'rb') does and
// returns the file with its size. A directory is EISDIR, as in Python;
// anything but a regular file is declined.
func openHashSource(path string) (hashSource, int64, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, 0, OSErrorFrom(err)
	}
	if !info.Mode().IsRegular() && !info.IsDir() {
		return nil, 0, Decline("hash_file of a non-regular file")
	}
	f, err := openRegularFile(path)
	if err != nil {
		return nil, 0, err
	}
	info, err = f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, osErrorWithoutPath(err)
	}
	return osFile{f}, info.Size(), nil
}

// osFile is a file hashed with plain reads.
type osFile struct{ *os.File }

func (f osFile) readAt(p []byte, offset int64) (int, error) { return f.ReadAt(p, offset) }

//go:build !linux

package skyrs

import "os"

// openReadOnly opens path for reading, as os.OpenFile(path, O_RDONLY|flags)
// does. Only Linux puts regular files into the runtime's poller (see
// open_linux.go); elsewhere os.OpenFile already leaves them out.
func openReadOnly(path string, flags int) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|flags, 0)
}

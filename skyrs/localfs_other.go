//go:build !linux

package skyrs

// OnLocalFileSystem reports false: only Linux's file system types are known
// (localfs_linux.go).
func OnLocalFileSystem(path string) bool { return false }

package skyrs

import (
	"bytes"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// listedBytes bounds the one getdents64 call that lists a directory for a
// dirCache: a few hundred entries, so that hashing two files of a huge
// directory costs a few microseconds more at most, not a whole listing.
const listedBytes = 16 << 10

// dirCache keeps the directory of the last file a HashFiles worker opened
// and opens the next files of that directory relative to it: the files of a
// file mount come directory by directory, and resolving each whole path
// twice (stat, then open) was a fifth of the cost of hashing a small file
// (a CPU profile of HashFiles on 20,000 files).
//
// From the second file of a directory on, the cache also knows the type of
// the directory's entries from one getdents64 call (d_type), as find and fts
// do, and skips the stat that keeps a FIFO from being opened for an entry
// listed as a regular file or a directory: one system call in five. A symbolic
// link, an entry of unknown type (a file system without d_type) or one not
// in the first listedBytes of the listing is stat'd as before. An entry that
// becomes a FIFO after the listing is opened (O_NONBLOCK: the open cannot
// hang) and then declined by the fstat after the open: the same race as
// between a stat and an open, over a longer window.
//
// The directory is opened for reading where it may be, as os.walk opens it
// (and, as os.walk's does, the listing may update its access time under
// relatime), and otherwise as O_PATH (search permission only), without a
// listing. It must be closed.
type dirCache struct {
	dir    string
	fd     int               // -1 when none is open
	opened int               // files opened in dir so far
	kinds  map[string]uint32 // S_IFREG or S_IFDIR of entries of dir, once listed
	buf    []byte            // for the listing; the worker's read buffer
}

// newDirCache returns a cache that lists directories into buf (at least
// listedBytes long; the caller may use it between calls).
func newDirCache(buf []byte) *dirCache { return &dirCache{fd: -1, buf: buf} }

// openHashSource is openHashSource(path), through the cache; kind is the
// type the caller's own listing of the directory gave the file (S_IFREG or
// S_IFDIR; 0: none), which spares the cache its listing. A path without a
// directory part, or whose directory cannot be opened, is opened whole,
// which reports its error; so is a path the kernel refuses whole for its
// length (PATH_MAX with the NUL: ENAMETOOLONG, as upstream's open raises),
// which relative to its directory would open.
func (c *dirCache) openHashSource(path string, kind uint32) (hashSource, int64, error) {
	dir, name := filepath.Split(path)
	if dir == "" || name == "" || len(path) >= unix.PathMax {
		return openHashSource(path)
	}
	if dir != c.dir {
		c.Close()
		fd, err := openDir(dir, unix.O_RDONLY|unix.O_NONBLOCK)
		if err != nil {
			fd, err = openDir(dir, unix.O_PATH)
		}
		if err != nil {
			return openHashSource(path)
		}
		c.dir, c.fd = dir, fd
	}
	if kind == 0 {
		c.opened++
		if c.opened == 2 {
			c.kinds = listKinds(c.fd, c.buf[:listedBytes])
		}
		kind = c.kinds[name]
	}
	return openHashSourceAt(c.fd, name, path, kind)
}

// Close closes the directory kept, if any.
func (c *dirCache) Close() {
	if c.fd >= 0 {
		unix.Close(c.fd)
	}
	c.dir, c.fd, c.opened, c.kinds = "", -1, 0, nil
}

// listKinds returns the regular files and directories among the entries one
// getdents64 call into buf reads from the directory open as fd; nil if the
// call fails (an O_PATH descriptor: EBADF).
func listKinds(fd int, buf []byte) map[string]uint32 {
	var n int
	if err := retryOnEINTR(func() (err error) {
		n, err = unix.Getdents(fd, buf)
		return err
	}); err != nil || n <= 0 {
		return nil
	}
	kinds := make(map[string]uint32)
	eachDirent(buf[:n], func(typ byte, name []byte) {
		kind := uint32(typ) << 12
		if kind == unix.S_IFREG || kind == unix.S_IFDIR {
			if end := bytes.IndexByte(name, 0); end >= 0 {
				kinds[string(name[:end])] = kind
			}
		}
	})
	return kinds
}

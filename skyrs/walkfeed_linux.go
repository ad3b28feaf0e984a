package skyrs

import (
	"bytes"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// listForWalk lists the directory at path, with getdents64 into buf, as
// os.walk does: its dirnames (entries that are directories or symbolic
// links to one, as DirEntry.is_dir() says, a stat error meaning no) and its
// other entries, a regular file's kind S_IFREG.
// ok is false when os.walk would leave the directory out: it cannot be
// opened or read to the end. A name that is not UTF-8 is declined.
//
// Entries are stat'd, as DirEntry does, by their whole path only when
// getdents64 does not say what they are (a symbolic link, a file system
// without d_type), so a path the kernel refuses for its length fails here
// as it fails there.
func listForWalk(path string, buf []byte) (dirs []walkDir, files []walkFile, ok bool, err error) {
	// The flags of glibc's opendir, which os.scandir uses.
	fd, err := openDir(path, unix.O_RDONLY|unix.O_NONBLOCK)
	if err != nil {
		return nil, nil, false, nil
	}
	defer unix.Close(fd)
	prefix := joinPath(path, "")
	for {
		var n int
		if err := retryOnEINTR(func() (err error) {
			n, err = unix.Getdents(fd, buf)
			return err
		}); err != nil {
			return nil, nil, false, nil
		}
		if n <= 0 {
			return dirs, files, true, nil
		}
		var notUTF8 bool
		eachDirent(buf[:n], func(typ byte, raw []byte) {
			if isDotOrDotDot(raw) || notUTF8 {
				return
			}
			if end := bytes.IndexByte(raw, 0); end >= 0 {
				raw = raw[:end]
			}
			if !utf8.Valid(raw) {
				notUTF8 = true
				return
			}
			name := string(raw)
			switch kind := uint32(typ) << 12; kind {
			case unix.S_IFDIR:
				dirs = append(dirs, walkDir{name: name})
			case unix.S_IFREG:
				files = append(files, walkFile{name: name, kind: kind})
			case unix.S_IFLNK, 0: // DT_LNK, DT_UNKNOWN
				// DirEntry.is_dir() of such an entry is os.path.isdir.
				if isDirectory(prefix + name) {
					dirs = append(dirs, walkDir{name: name, link: isLink(prefix + name)})
				} else {
					files = append(files, walkFile{name: name})
				}
			default: // a FIFO, a socket, a device: HashFiles looks
				files = append(files, walkFile{name: name})
			}
		})
		if notUTF8 {
			return nil, nil, false, Decline("WalkFeed of a name that is not UTF-8")
		}
	}
}

// isLink is os.path.islink(path): lstat says it is a symbolic link; any
// error means no.
func isLink(path string) bool {
	var st unix.Stat_t
	err := retryOnEINTR(func() error { return unix.Lstat(path, &st) })
	return err == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK
}

package skyrs

import (
	"bytes"
	"io"
	"os"
	"slices"
	"sync"

	"golang.org/x/sys/unix"
)

// Block sizes for reading a file backwards. The first read is sized for n
// lines of a typical log (tailBytesPerLine each) and later reads double, so a
// tail costs the same whatever the size of the file, and a usual `--tail 10`
// is one small read.
const (
	tailMinBlock     = 4 << 10
	tailMaxBlock     = 4 << 20
	tailBytesPerLine = 128
)

// TailLines returns the lines upstream SkyPilot's read_last_n_lines selects
// from the end of the file at path, as raw bytes: each line with all its
// trailing '\r' bytes removed and followed by one '\n' (the last line too;
// the caller drops that final '\n'). Zero lines give an empty slice.
//
// Upstream reads backwards in chunk_size steps until it has seen more than n
// '\n' bytes or reached the start of the file, splits on '\n' only, and takes
// the last n pieces, leaving out the empty piece after a final '\n'. Once more
// than n '\n' were seen the partial first piece can no longer be among the last
// n, so the selection is the last n lines of the whole file whatever
// chunk_size is. TailLines therefore validates chunkSize as upstream does but
// reads in blocks of its own size, and copies only the selected lines.
//
// Errors follow upstream's asserts in upstream's order (KindAssertionError);
// other system errors are KindOSError (upstream wraps them in RuntimeError).
// A FIFO, device or socket is declined without being opened: opening a FIFO
// blocks until a writer appears, which upstream would do but a native call
// must not, and opening a device may have effects of its own.
func TailLines(path string, n, chunkSize int) ([]byte, error) {
	lines := []byte{}
	err := visitTail(path, n, chunkSize, func(raw []byte, endsWithNL bool) {
		lines = appendLines(make([]byte, 0, len(raw)+1), raw, endsWithNL, 0)
	})
	if err != nil {
		return nil, err
	}
	return lines, nil
}

// AppendTailLinesSeparated appends to dst the lines TailLines selects with a
// separator after each line, for a caller that splits them apart again: the
// lines exactly as upstream returns them before decoding (each but the last
// ending in '\n'), each followed by sep, the first byte of candidates that
// occurs in none of them. When every candidate occurs, sep is 0 and the lines
// are those of TailLines. Zero lines append nothing.
func AppendTailLinesSeparated(dst []byte, path string, n, chunkSize int, candidates []byte) (lines []byte, sep byte, err error) {
	lines = dst
	err = visitTail(path, n, chunkSize, func(raw []byte, endsWithNL bool) {
		for _, c := range candidates {
			if bytes.IndexByte(raw, c) < 0 {
				sep = c
				break
			}
		}
		size := len(raw) + 1
		if sep != 0 {
			size += bytes.Count(raw, []byte{'\n'}) + 1
		}
		lines = appendLines(slices.Grow(dst, size), raw, endsWithNL, sep)
	})
	return lines, sep, err
}

// visitTail validates the arguments as upstream does, reads the tail of the
// file at path and passes use the selected bytes as they are in the file:
// the last n lines split on '\n', '\r' not yet stripped, ending with '\n'
// exactly when the file does. raw is valid only during the call. use is not
// called for zero lines.
//
// The file is read with bare system calls (stat, open, lseek, pread, close):
// *os.File would add an fstat, an epoll registration and a finalizer to a
// call that is otherwise a handful of system calls.
func visitTail(path string, n, chunkSize int, use func(raw []byte, endsWithNL bool)) error {
	if n < 0 {
		return Errorf(KindAssertionError, "n must be non-negative. Got %d", n)
	}
	if chunkSize <= 0 {
		return Errorf(KindAssertionError, "chunk_size must be positive. Got %d", chunkSize)
	}
	// os.path.exists is False for every stat error (ENOENT, a broken
	// symlink, ENOTDIR, ELOOP, EACCES on a parent), not only ENOENT.
	var info unix.Stat_t
	if err := retryOnEINTR(func() error { return unix.Stat(path, &info) }); err != nil {
		return Errorf(KindAssertionError, "File not found: %s", path)
	}
	if n == 0 {
		return nil
	}
	switch info.Mode & unix.S_IFMT {
	case unix.S_IFREG:
	case unix.S_IFDIR:
		// What Python's open(path, 'rb') raises for a directory: the error
		// of open(2) itself (EACCES for a directory the caller may not
		// read), else EISDIR from the fstat that follows it.
		var fd int
		err := retryOnEINTR(func() (err error) {
			fd, err = unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			return err
		})
		if err != nil {
			return osErrorWithPath(err, path)
		}
		unix.Close(fd)
		return &Error{Kind: KindOSError, Errno: unix.EISDIR, Msg: path}
	default:
		return Decline("read_last_n_lines of a non-regular file")
	}
	// O_NONBLOCK keeps the open from hanging should path have been replaced
	// by a FIFO since the stat; it changes nothing for a regular file.
	var fd int
	err := retryOnEINTR(func() (err error) {
		fd, err = unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		return err
	})
	if err != nil {
		return osErrorWithPath(err, path)
	}
	defer unix.Close(fd)
	// The size as upstream gets it, by seeking to the end: files in /proc
	// refuse that (EINVAL) or report 0, /sys reports 4096, whatever stat says.
	size, err := unix.Seek(fd, 0, io.SeekEnd)
	if err != nil {
		return osErrorWithoutPath(err)
	}
	return selectTail(fileAt(fd), size, n, use)
}

// fileAt reads an open file descriptor with pread(2).
type fileAt int

// ReadAt fills p from offset off, as io.ReaderAt: a short count only at the
// end of the file (with io.EOF) or with an error.
func (fd fileAt) ReadAt(p []byte, off int64) (int, error) {
	done := 0
	for done < len(p) {
		var got int
		err := retryOnEINTR(func() (err error) {
			got, err = unix.Pread(int(fd), p[done:], off+int64(done))
			return err
		})
		if err != nil {
			return done, err
		}
		if got == 0 {
			return done, io.EOF
		}
		done += got
	}
	return done, nil
}

// openRegularFile opens path for reading as Python's open(path, 'rb') does.
// A directory fails with EISDIR, as in Python (Go's os.Open accepts
// directories). O_NONBLOCK keeps the open itself from hanging if path was
// replaced by a FIFO after the caller looked at it; it changes nothing for a
// regular file. Anything but a regular file is declined. openReadOnly keeps
// the file out of the Go runtime's poller (see open_linux.go).
func openRegularFile(path string) (*os.File, error) {
	f, err := openReadOnly(path, unix.O_NONBLOCK)
	if err != nil {
		return nil, OSErrorFrom(err)
	}
	info, err := f.Stat()
	switch {
	case err != nil:
		err = osErrorWithoutPath(err)
	case info.IsDir():
		err = &Error{Kind: KindOSError, Errno: unix.EISDIR, Msg: path}
	case !info.Mode().IsRegular():
		err = Decline("not a regular file")
	default:
		return f, nil
	}
	f.Close()
	return nil, err
}

// osErrorWithoutPath is OSErrorFrom for a failure on an open file: Python
// reports errors of read() and fstat() without a file name, while Go's
// *fs.PathError carries one.
func osErrorWithoutPath(err error) error {
	e := *OSErrorFrom(err).(*Error)
	if e.Kind == KindOSError {
		e.Msg = ""
	}
	return &e
}

// tailReadBuffers recycles the buffer of a tail's first read: use copies the
// selected lines out of it, so it is free again when selectTail returns, and
// a tail that one read serves allocates only its result.
var tailReadBuffers = sync.Pool{New: func() any { return new([]byte) }}

// selectTail finds the last n lines (n > 0) of the size bytes of r and passes
// them to use (see visitTail).
//
// It reads backwards into one contiguous buffer, each read in front of the
// bytes read before, counting '\n' in each new part until that part holds the
// '\n' before the first selected line or the start of the file is reached.
func selectTail(r io.ReaderAt, size int64, n int, use func(raw []byte, endsWithNL bool)) error {
	if size == 0 {
		return nil
	}
	// A file of size bytes holds at most size+1 pieces; clamping keeps the
	// arithmetic below from overflowing for a huge n.
	want := int64(n)
	if want > size {
		want = size + 1
	}
	first := tailReadBuffers.Get().(*[]byte)
	defer tailReadBuffers.Put(first)
	var (
		data       []byte // the file from pos to its end, as read
		need       int64  // '\n' bytes to find from the end, once known
		seen       int64
		endsWithNL bool
		cut        = -1 // the selection starts at data[cut:]
		pos        = size
		step       = min(max(want*tailBytesPerLine, tailMinBlock), tailMaxBlock)
	)
	for pos > 0 && cut < 0 {
		readSize := min(step, pos)
		step = min(2*step, tailMaxBlock)
		var buf []byte
		if data == nil {
			if int64(cap(*first)) < readSize {
				*first = make([]byte, readSize)
			}
			buf = (*first)[:readSize]
		} else {
			buf = make([]byte, readSize+int64(len(data)))
			copy(buf[readSize:], data)
		}
		pos -= readSize
		got, err := r.ReadAt(buf[:readSize], pos)
		if err != nil && err != io.EOF {
			return osErrorWithoutPath(err)
		}
		if int64(got) < readSize {
			// Files such as those in /sys report a size larger than what
			// reads return; like upstream, keep what the read gave. A short
			// read anywhere else means the file shrank under the reads:
			// upstream's result then depends on its chunk_size steps, so the
			// reference answers.
			if pos != 0 || data != nil {
				return Decline("file shrank while being read")
			}
			buf = buf[:got]
		}
		fresh := buf[:len(buf)-len(data)]
		data = buf
		if len(data) == 0 {
			break
		}
		if need == 0 {
			// The first bytes seen are the last of the file. After a final
			// '\n', upstream takes the n lines before the empty last piece,
			// which needs one '\n' more.
			endsWithNL = data[len(data)-1] == '\n'
			need = want
			if endsWithNL {
				need++
			}
		}
		at, count := lastNewlines(fresh, need-seen)
		seen += count
		if at >= 0 {
			cut = at + 1
		}
	}
	if len(data) == 0 {
		// A non-empty size but nothing to read (the file shrank, or a /sys
		// attribute with no content): upstream fails with an IndexError.
		return Decline("file size %d but no bytes read", size)
	}
	use(data[max(cut, 0):], endsWithNL)
	return nil
}

// newlineBlock is how many bytes lastNewlines counts at a time.
const newlineBlock = 1024

// lastNewlines returns the index of the k-th '\n' from the end of b (k >= 1)
// and k, or -1 and the number of '\n' in b when it holds fewer. It counts
// block by block from the end, because bytes.Count is vectorised and a
// byte-by-byte search is not, and searches byte by byte only in the block
// that holds the answer.
func lastNewlines(b []byte, k int64) (index int, count int64) {
	for end := len(b); end > 0; {
		start := max(end-newlineBlock, 0)
		inBlock := int64(bytes.Count(b[start:end], []byte{'\n'}))
		if count+inBlock < k {
			count += inBlock
			end = start
			continue
		}
		for ; count < k; count++ {
			end = start + bytes.LastIndexByte(b[start:end], '\n')
		}
		return end, count
	}
	return -1, count
}

// appendLines appends the lines of raw (split on '\n') to dst, each without
// its trailing '\r' bytes: with sep 0, each followed by '\n' (the last one
// too, even when raw does not end with '\n'); otherwise each but the last
// followed by '\n' and every one by sep.
func appendLines(dst, raw []byte, endsWithNL bool, sep byte) []byte {
	if endsWithNL {
		raw = raw[:len(raw)-1]
	}
	for {
		end := bytes.IndexByte(raw, '\n')
		line := raw
		if end >= 0 {
			line = raw[:end]
		}
		for len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		dst = append(dst, line...)
		if end >= 0 || sep == 0 {
			dst = append(dst, '\n')
		}
		if sep != 0 {
			dst = append(dst, sep)
		}
		if end < 0 {
			return dst
		}
		raw = raw[end+1:]
	}
}

// splitlinesBoundary marks the single bytes that Python's str.splitlines()
// treats as line boundaries besides '\n'.
var splitlinesBoundary = [256]bool{
	0x0B: true, 0x0C: true, '\r': true, 0x1C: true, 0x1D: true, 0x1E: true,
}

// NeedsNewlineSplit reports whether the decoded b would be split by Python's
// str.splitlines() anywhere but at '\n': at \v, \f, \r, \x1c-\x1e, U+0085
// (C2 85), U+2028 (E2 80 A8) or U+2029 (E2 80 A9). When it is false, the
// facade may split the decoded lines with the fast splitlines(); otherwise it
// must split on '\n'. C2 and E2 always start a new sequence, so these bytes
// decode to those characters wherever they occur, even next to invalid bytes.
func NeedsNewlineSplit(b []byte) bool {
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case splitlinesBoundary[c]:
			return true
		case c == 0xC2:
			if i+1 < len(b) && b[i+1] == 0x85 {
				return true
			}
		case c == 0xE2:
			if i+2 < len(b) && b[i+1] == 0x80 && (b[i+2] == 0xA8 || b[i+2] == 0xA9) {
				return true
			}
		}
	}
	return false
}

// ReadLastNLines returns what upstream SkyPilot's
// read_last_n_lines(path, n, chunkSize) returns with the default UTF-8
// 'replace' decoding: the last n lines, each without trailing '\r', every one
// but the last ending in '\n'.
func ReadLastNLines(path string, n, chunkSize int) ([]string, error) {
	tail, err := TailLines(path, n, chunkSize)
	if err != nil {
		return nil, err
	}
	lines := make([]string, 0, bytes.Count(tail, []byte{'\n'}))
	for len(tail) > 0 {
		end := bytes.IndexByte(tail, '\n') + 1
		line := tail[:end]
		tail = tail[end:]
		if len(tail) == 0 {
			line = line[:len(line)-1]
		}
		// '\n' is ASCII and ends every invalid sequence, so decoding a line
		// with its '\n' is decoding the line alone, as upstream does.
		lines = append(lines, DecodeUTF8Replace(line))
	}
	return lines, nil
}

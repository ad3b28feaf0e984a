package skyrs

import (
	"bytes"
	"io"
	"os"
	"syscall"
)

// Block sizes for reading a file backwards. The first read is small enough to
// be cheap for the usual `--tail 100` and grows for large n, so a tail costs
// the same whatever the size of the file.
const (
	tailFirstBlock = 16 << 10
	tailMaxBlock   = 4 << 20
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
// A FIFO, device or socket is declined: opening a FIFO blocks until a writer
// appears, which upstream would do but a native call must not.
func TailLines(path string, n, chunkSize int) ([]byte, error) {
	if n < 0 {
		return nil, Errorf(KindAssertionError, "n must be non-negative. Got %d", n)
	}
	if chunkSize <= 0 {
		return nil, Errorf(KindAssertionError, "chunk_size must be positive. Got %d", chunkSize)
	}
	// os.path.exists is False for every stat error (ENOENT, a broken
	// symlink, ENOTDIR, ELOOP, EACCES on a parent), not only ENOENT.
	info, err := os.Stat(path)
	if err != nil {
		return nil, Errorf(KindAssertionError, "File not found: %s", path)
	}
	if n == 0 {
		return []byte{}, nil
	}
	if !info.Mode().IsRegular() && !info.IsDir() {
		return nil, Decline("read_last_n_lines of a non-regular file")
	}
	f, err := openRegularFile(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// The size as upstream gets it, by seeking to the end: files in /proc
	// refuse that (EINVAL) or report 0, /sys reports 4096, whatever stat says.
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, osErrorWithoutPath(err)
	}
	return tailLines(f, size, n)
}

// openRegularFile opens path for reading as Python's open(path, 'rb') does.
// A directory fails with EISDIR, as in Python (Go's os.Open accepts
// directories). O_NONBLOCK keeps the open itself from hanging if path was
// replaced by a FIFO after the caller looked at it; it changes nothing for a
// regular file. Anything but a regular file is declined.
func openRegularFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, OSErrorFrom(err)
	}
	info, err := f.Stat()
	switch {
	case err != nil:
		err = osErrorWithoutPath(err)
	case info.IsDir():
		err = &Error{Kind: KindOSError, Errno: syscall.EISDIR, Msg: path}
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

// tailLines selects the last n lines (n > 0) of the size bytes of r.
func tailLines(r io.ReaderAt, size int64, n int) ([]byte, error) {
	if size == 0 {
		return []byte{}, nil
	}
	// A file of size bytes holds at most size+1 pieces; clamping keeps the
	// arithmetic below from overflowing for a huge n.
	want := int64(n)
	if want > size {
		want = size + 1
	}
	var (
		blocks     [][]byte // from the end of the file backwards
		need       int64    // '\n' bytes to find from the end, once known
		seen       int64
		endsWithNL bool
		cutBlock   = -1 // the selection starts in blocks[cutBlock] at cutAt
		cutAt      int
		pos        = size
		step       = int64(tailFirstBlock)
	)
	for pos > 0 && cutBlock < 0 {
		readSize := min(step, pos)
		pos -= readSize
		step = min(2*step, tailMaxBlock)
		buf := make([]byte, readSize)
		got, err := r.ReadAt(buf, pos)
		if err != nil && err != io.EOF {
			return nil, osErrorWithoutPath(err)
		}
		// Files such as those in /sys report a size larger than what reads
		// return; like upstream, keep what the reads gave.
		buf = buf[:got]
		if len(buf) == 0 {
			continue
		}
		if need == 0 {
			// The first bytes seen are the last of the file. After a final
			// '\n', upstream takes the n lines before the empty last piece,
			// which needs one '\n' more.
			endsWithNL = buf[len(buf)-1] == '\n'
			need = want
			if endsWithNL {
				need++
			}
		}
		blocks = append(blocks, buf)
		count := int64(bytes.Count(buf, []byte{'\n'}))
		if seen+count < need {
			seen += count
			continue
		}
		i := len(buf)
		for ; seen < need; seen++ {
			i = bytes.LastIndexByte(buf[:i], '\n')
		}
		cutBlock, cutAt = len(blocks)-1, i+1
	}
	if len(blocks) == 0 {
		// A non-empty size but nothing to read (the file shrank, or a /sys
		// attribute with no content): upstream fails with an IndexError.
		return nil, Decline("file size %d but no bytes read", size)
	}
	if cutBlock < 0 {
		cutBlock, cutAt = len(blocks)-1, 0
	}
	total := len(blocks[cutBlock]) - cutAt + 1
	for _, b := range blocks[:cutBlock] {
		total += len(b)
	}
	out := make([]byte, 0, total)
	out = append(out, blocks[cutBlock][cutAt:]...)
	for k := cutBlock - 1; k >= 0; k-- {
		out = append(out, blocks[k]...)
	}
	if !endsWithNL {
		out = append(out, '\n')
	}
	return stripCRBeforeLF(out), nil
}

// stripCRBeforeLF removes every run of '\r' that ends a line, in place: it is
// upstream's rstrip('\r') of each decoded line. '\r' is ASCII, so no invalid
// UTF-8 sequence can swallow it and stripping before decoding is the same.
func stripCRBeforeLF(b []byte) []byte {
	if bytes.IndexByte(b, '\r') < 0 {
		return b
	}
	w := 0
	for start := 0; start < len(b); {
		end := start + bytes.IndexByte(b[start:], '\n') // b ends with '\n'
		trimmed := end
		for trimmed > start && b[trimmed-1] == '\r' {
			trimmed--
		}
		w += copy(b[w:], b[start:trimmed])
		b[w] = '\n'
		w++
		start = end + 1
	}
	return b[:w]
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

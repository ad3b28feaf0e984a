package skyrs

import (
	"bytes"
	"errors"
	"io"
	"os"
	"slices"
	"sync"
	"unicode/utf8"

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
	err := visitTail(path, n, chunkSize, 0, func(raw []byte, endsWithNL bool) {
		lines = appendLines(make([]byte, 0, len(raw)+1), raw, endsWithNL, 0, false)
	})
	if err != nil {
		return nil, err
	}
	return lines, nil
}

// AppendTailText's errors for lines it does not return.
var (
	// ErrTailTooLarge: the lines span more than TailTextOptions.MaxBytes
	// bytes at the end of the file.
	ErrTailTooLarge = errors.New("the lines wanted span more bytes than allowed")
	// ErrTailNotUTF8: the lines are not valid UTF-8 (RejectInvalidUTF8).
	ErrTailNotUTF8 = errors.New("the lines wanted are not valid UTF-8")
)

// UTF8Policy says what AppendTailText does with lines that are not valid
// UTF-8.
type UTF8Policy int

const (
	// KeepInvalidUTF8 appends the lines as they are in the file.
	KeepInvalidUTF8 UTF8Policy = iota
	// ReplaceInvalidUTF8 replaces invalid bytes as CPython's
	// b.decode('utf-8', 'replace') does (AppendUTF8Replace).
	ReplaceInvalidUTF8
	// RejectInvalidUTF8 fails with ErrTailNotUTF8.
	RejectInvalidUTF8
)

// TailTextOptions shapes the result of AppendTailText.
type TailTextOptions struct {
	// Separators are the candidate separators, in order of preference.
	Separators []byte
	// MaxBytes bounds the bytes read from the end of the file (0: no bound):
	// once that many hold fewer lines than wanted, AppendTailText gives up
	// with ErrTailTooLarge.
	MaxBytes int64
	// InvalidUTF8 is what to do with lines that are not valid UTF-8.
	InvalidUTF8 UTF8Policy
}

// AppendTailText appends to dst the lines TailLines selects with a
// separator after each line, for a caller that splits them apart again: the
// lines exactly as upstream returns them before decoding (each but the last
// ending in '\n'), each followed by sep, the first byte of opts.Separators
// that occurs in none of them. When every candidate occurs, sep is 0 and the
// lines are those of TailLines. Zero lines append nothing.
func AppendTailText(dst []byte, path string, n, chunkSize int, opts TailTextOptions) (lines []byte, sep byte, err error) {
	lines = dst
	var useErr error
	err = visitTail(path, n, chunkSize, opts.MaxBytes, func(raw []byte, endsWithNL bool) {
		replace := false
		if opts.InvalidUTF8 != KeepInvalidUTF8 && !utf8.Valid(raw) {
			if opts.InvalidUTF8 == RejectInvalidUTF8 {
				useErr = ErrTailNotUTF8
				return
			}
			replace = true
		}
		for _, c := range opts.Separators {
			if bytes.IndexByte(raw, c) < 0 {
				sep = c
				break
			}
		}
		size := len(raw) + 1
		if sep != 0 {
			size += bytes.Count(raw, []byte{'\n'}) + 1
		}
		lines = appendLines(slices.Grow(dst, size), raw, endsWithNL, sep, replace)
	})
	if err == nil {
		err = useErr
	}
	return lines, sep, err
}

// visitTail validates the arguments as upstream does, reads the tail of the
// file at path and passes use the selected bytes as they are in the file:
// the last n lines split on '\n', '\r' not yet stripped, ending with '\n'
// exactly when the file does. raw is valid only during the call. use is not
// called for zero lines. With maxBytes > 0, lines that span more than
// maxBytes at the end of the file are ErrTailTooLarge.
//
// The file is read with bare system calls (stat, open, lseek, pread, close):
// *os.File would add an fstat, an epoll registration and a finalizer to a
// call that is otherwise a handful of system calls.
func visitTail(path string, n, chunkSize int, maxBytes int64, use func(raw []byte, endsWithNL bool)) error {
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
	return selectTail(fileAt(fd), size, n, maxBytes, use)
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

// tailReadBuffers recycles the buffers selectTail reads into: use copies the
// selected lines out, so a buffer is free again when selectTail returns, and
// a tail of a size seen before allocates only its result. Buffers larger
// than tailPooledBufferMax (only TailLines reads without a bound) are left
// to the collector.
var tailReadBuffers = sync.Pool{New: func() any { return new([]byte) }}

const tailPooledBufferMax = 16 << 20

// borrowTailBuffer takes a read buffer from tailReadBuffers, at its full
// capacity; the caller defers giveBackTailBuffer(pooled, &buf), which keeps
// what buf grew to, unless that is too large to keep.
func borrowTailBuffer() (pooled *[]byte, buf []byte) {
	pooled = tailReadBuffers.Get().(*[]byte)
	return pooled, (*pooled)[:cap(*pooled)]
}

func giveBackTailBuffer(pooled *[]byte, buf *[]byte) {
	if cap(*buf) <= tailPooledBufferMax {
		*pooled = *buf
	}
	tailReadBuffers.Put(pooled)
}

// selectTail finds the last n lines (n > 0) of the size bytes of r and passes
// them to use (see visitTail); with maxBytes > 0 it reads at most maxBytes
// and gives up with ErrTailTooLarge if they hold fewer lines than wanted.
//
// It reads backwards into one contiguous buffer, from its end, each read in
// front of the bytes read before, counting '\n' in each new part until that
// part holds the '\n' before the first selected line or the start of the
// file is reached. The buffer at least doubles when it grows, so however
// long the selection, each byte is copied a bounded number of times.
func selectTail(r io.ReaderAt, size int64, n int, maxBytes int64, use func(raw []byte, endsWithNL bool)) error {
	if size == 0 {
		return nil
	}
	// A file of size bytes holds at most size+1 pieces; clamping keeps the
	// arithmetic below from overflowing for a huge n.
	want := int64(n)
	if want > size {
		want = size + 1
	}
	pooled, buf := borrowTailBuffer()
	defer giveBackTailBuffer(pooled, &buf)
	var (
		start      = len(buf) // the file from pos to its end is buf[start:]
		need       int64      // '\n' bytes to find from the end, once known
		seen       int64
		endsWithNL bool
		cut        = -1 // the selection starts at buf[cut:]
		pos        = size
		step       = min(max(want*tailBytesPerLine, tailMinBlock), tailMaxBlock)
	)
	for pos > 0 && cut < 0 {
		read := int64(len(buf) - start)
		readSize := min(step, pos)
		if maxBytes > 0 {
			if read >= maxBytes {
				return ErrTailTooLarge
			}
			readSize = min(readSize, maxBytes-read)
		}
		step = min(2*step, tailMaxBlock)
		if int64(start) < readSize {
			grown := make([]byte, max(2*len(buf), int(read+readSize)))
			copy(grown[len(grown)-int(read):], buf[start:])
			buf, start = grown, len(grown)-int(read)
		}
		pos -= readSize
		fresh := buf[start-int(readSize) : start]
		got, err := r.ReadAt(fresh, pos)
		if err != nil && err != io.EOF {
			return osErrorWithoutPath(err)
		}
		if int64(got) < readSize {
			// Files such as those in /sys report a size larger than what
			// reads return; like upstream, keep what the read gave. A short
			// read anywhere else means the file shrank under the reads:
			// upstream's result then depends on its chunk_size steps, so the
			// reference answers.
			if pos != 0 || read != 0 {
				return Decline("file shrank while being read")
			}
			buf = buf[:start-int(readSize)+got]
			fresh, start = buf[start-int(readSize):], len(buf)
		}
		start -= len(fresh)
		if len(fresh) == 0 {
			break
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
		at, count := lastNewlines(fresh, need-seen)
		seen += count
		if at >= 0 {
			cut = start + at + 1
		}
	}
	if len(buf) == start {
		// A non-empty size but nothing to read (the file shrank, or a /sys
		// attribute with no content): upstream fails with an IndexError.
		return Decline("file size %d but no bytes read", size)
	}
	use(buf[max(cut, start):], endsWithNL)
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
// followed by '\n' and every one by sep. With replaceInvalid, a line that is
// not valid UTF-8 is appended as AppendUTF8Replace appends it: the same as
// decoding it first and stripping '\r' after, as upstream does, because '\r'
// neither continues an invalid sequence nor comes out of one.
func appendLines(dst, raw []byte, endsWithNL bool, sep byte, replaceInvalid bool) []byte {
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
		if replaceInvalid && !utf8.Valid(line) {
			dst = AppendUTF8Replace(dst, line)
		} else {
			dst = append(dst, line...)
		}
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

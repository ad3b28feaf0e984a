package pyexport

import (
	"bytes"
	"sync"
	"unsafe"

	"github.com/skypilot-org/sky_rs/skyrs"
)

// Results of ReadLastNLinesText that are not lines. Neither can be a
// separator (see lineSeparators).
const (
	// noLines: n is 0 or the file is empty; the facade returns [].
	noLines = "0"
	// inPython: the facade answers in Python (see ReadLastNLinesText).
	inPython = "P"
	// needsFullCall: ReadLastNLinesTextKeepingGIL would read more than it
	// may; the facade calls ReadLastNLinesText.
	needsFullCall = "F"
)

// tailTextMaxBytes bounds the bytes one call reads from the end of a file,
// and so the memory and time of the call: lines that span more (a log that
// is one huge line, a large n) are read by the facade in Python, in steps
// that Ctrl-C can stop, where the cost is copying bytes, not calling Go.
const tailTextMaxBytes = 8 << 20

// tailKeepingGILMaxBytes bounds what ReadLastNLinesTextKeepingGIL reads: tens
// of microseconds of reading from the page cache, n=1000 of a usual log.
const tailKeepingGILMaxBytes = 256 << 10

// lineSeparators are the bytes ReadLastNLinesText may put between lines, the
// first that does not occur in them: control characters that log lines
// practically never hold; never NUL (a C string ends there), '\t', '\n',
// '\v', '\f', '\r', or a letter or digit.
var lineSeparators = []byte("\x01\x02\x03\x04\x05\x06\x07\x08\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x7f")

// ReadLastNLinesText is skyrs.AppendTailText for sky_rs.read_last_n_lines,
// shaped so that Python builds the list in one C-level pass: upstream's
// lines, each followed by a separator that occurs nowhere in them, so that
// result.split(result[-1]) is the list plus one empty string. It returns a
// str because gopy returns a str in one crossing, where []byte costs three
// more (a handle to take, copy and release).
//
// Lines that are not valid UTF-8 are replaced as errors='replace' (the
// default of read_last_n_lines) replaces them when replaceInvalid is set;
// otherwise the facade applies the caller's error handler in Python. Valid
// UTF-8 decoded whole equals upstream's decoding line by line.
//
// It returns inPython for lines it does not carry: lines spanning more than
// tailTextMaxBytes, invalid UTF-8 not to be replaced, a NUL byte (a C string
// ends there), every separator in the lines.
//
// The string shares memory that the calling thread's next call reuses (see
// resultBuffers): gopy copies it at once; a Go caller that keeps it must
// clone it.
func ReadLastNLinesText(path string, n int, chunkSize int, replaceInvalid bool) (string, error) {
	return readLastNLinesText(path, n, chunkSize, replaceInvalid, tailTextMaxBytes, inPython)
}

// ReadLastNLinesTextKeepingGIL is ReadLastNLinesText for lines that span at
// most tailKeepingGILMaxBytes, or needsFullCall. The build leaves the GIL
// held around this call (setup.py, KEEPING_GIL): released and taken back
// beside a busy Python thread, the GIL costs a switch interval (5 ms), 600
// times the call. The facade calls it only for a file it has seen on a local
// file system (LocalFile), whose reads cannot stall on another machine.
func ReadLastNLinesTextKeepingGIL(path string, n int, chunkSize int, replaceInvalid bool) (string, error) {
	return readLastNLinesText(path, n, chunkSize, replaceInvalid, tailKeepingGILMaxBytes, needsFullCall)
}

// LocalFile reports whether path is on a local file system
// (skyrs.OnLocalFileSystem).
func LocalFile(path string) bool { return skyrs.OnLocalFileSystem(path) }

// readLastNLinesText reads lines spanning at most maxBytes; tooLarge is the
// answer when they span more.
func readLastNLinesText(path string, n, chunkSize int, replaceInvalid bool, maxBytes int64, tooLarge string) (string, error) {
	return guard(func() (string, error) {
		thread, reuse := callingThread()
		var buf []byte
		if reuse {
			buf = resultBuffers.take(thread)
		}
		invalid := skyrs.RejectInvalidUTF8
		if replaceInvalid {
			invalid = skyrs.ReplaceInvalidUTF8
		}
		lines, sep, err := skyrs.AppendTailText(buf, path, n, chunkSize, skyrs.TailTextOptions{
			Separators:  lineSeparators,
			MaxBytes:    maxBytes,
			InvalidUTF8: invalid,
		})
		switch {
		case err == skyrs.ErrTailTooLarge:
			return tooLarge, nil
		case err == skyrs.ErrTailNotUTF8:
			return inPython, nil
		case err != nil:
			return "", err
		case len(lines) == 0:
			return noLines, nil
		case sep == 0, bytes.IndexByte(lines, 0) >= 0:
			return inPython, nil
		}
		if reuse {
			resultBuffers.keep(thread, lines)
		}
		return unsafe.String(unsafe.SliceData(lines), len(lines)), nil
	})
}

// resultBuffers holds the memory of the last string ReadLastNLinesText
// returned to each calling thread, for that thread's next call.
//
// A result of 100 kB allocated afresh on every call costs more than reading
// it (fresh pages to fault in, and a garbage collection every few dozen
// calls), so the memory is reused; but the string must stay intact until
// gopy has copied it, after the function has returned. gopy copies it on the
// calling thread before that thread gets back to Python, and a thread makes
// one call at a time, so by the time the same thread calls again the copy has
// been made and the memory is free. Go runs a call from C on the calling
// thread, so its thread id tells the callers apart.
var resultBuffers = threadBuffers{buffers: map[int][]byte{}}

// Bounds on resultBuffers: a few threads' worth, none huge.
const (
	maxThreadBuffers    = 16
	maxThreadBufferSize = 4 << 20
)

type threadBuffers struct {
	mu      sync.Mutex
	buffers map[int][]byte
}

// take returns the buffer kept for thread, emptied, or nil.
func (t *threadBuffers) take(thread int) []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	buf := t.buffers[thread]
	delete(t.buffers, thread)
	return buf[:0]
}

// keep keeps buf for thread's next call, unless it is too large or too many
// threads have buffers kept (then the others are dropped to the collector).
func (t *threadBuffers) keep(thread int, buf []byte) {
	if cap(buf) > maxThreadBufferSize {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.buffers) >= maxThreadBuffers {
		clear(t.buffers)
	}
	t.buffers[thread] = buf
}

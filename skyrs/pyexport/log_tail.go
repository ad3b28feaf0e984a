package pyexport

import (
	"bytes"
	"errors"
	"unicode/utf8"
	"unsafe"

	"github.com/skypilot-org/sky_rs/skyrs"
)

// logTailMaxBytes bounds the bytes LogTailLines holds from the end of a log:
// lines (and payloads among them) that span more are left to upstream, which
// holds no more than the lines it keeps.
const logTailMaxBytes = 64 << 20

// LogTailLines is skyrs.VisitLogTail for sky_rs._log_tail: the lines
// SkyPilot's stream_utils._tail_log_file yields for tail=n from the file open
// as fd, positioned at start, of end bytes, each decoded as
// bytes.decode('utf-8', 'replace') decodes it.
//
// They come in one str, the form gopy returns in one crossing: "" for no
// lines; otherwise a separator, the character that stands for NUL (the
// separator again when the lines hold no NUL: a C string ends at NUL), then
// each line followed by the separator. Both are bytes of lineSeparators
// that occur in none of the lines. Decoding line by line equals decoding
// them at once, as a '\n' ends every invalid sequence.
//
// maxDepth and intMaxStrDigits are skyrs.PayloadOptions. It declines
// (KindDecline) what it does not give: lines spanning more than
// logTailMaxBytes, a payload nested deeper than maxDepth, a file that
// changed while read, lines holding every separator. fd stays open.
//
// The string shares memory that the calling thread's next call reuses (see
// resultBuffers): gopy copies it at once.
func LogTailLines(fd int, start int, end int, n int, maxDepth int, intMaxStrDigits int) (string, error) {
	return guard(func() (string, error) {
		thread, reuse := callingThread()
		var out []byte
		if reuse {
			out = resultBuffers.take(thread)
		}
		opts := skyrs.LogTailOptions{
			Payload:  skyrs.PayloadOptions{MaxDepth: maxDepth, IntMaxStrDigits: intMaxStrDigits},
			MaxBytes: logTailMaxBytes,
		}
		var noSeparator bool
		err := skyrs.VisitLogTail(skyrs.FileDescriptor(fd), int64(start), int64(end), n, opts, func(lines [][]byte) {
			out, noSeparator = appendLogLines(out, lines)
		})
		switch {
		case errors.Is(err, skyrs.ErrLogTailTooLarge), errors.Is(err, skyrs.ErrLogTailUndecided),
			errors.Is(err, skyrs.ErrLogTailChanged):
			return "", skyrs.Decline("log tail: %v", err)
		case err != nil:
			return "", err
		case noSeparator:
			return "", skyrs.Decline("log tail: every separator occurs in the lines")
		case len(out) == 0:
			return "", nil
		}
		if reuse {
			resultBuffers.keep(thread, out)
		}
		return unsafe.String(unsafe.SliceData(out), len(out)), nil
	})
}

// appendLogLines appends lines to dst in LogTailLines' form, or reports that
// no separator is free.
func appendLogLines(dst []byte, lines [][]byte) ([]byte, bool) {
	if len(lines) == 0 {
		return dst, false
	}
	separator, nulStandIn := byte(0), byte(0)
	hasNUL := anyLineHolds(lines, 0)
	for _, c := range lineSeparators {
		if anyLineHolds(lines, c) {
			continue
		}
		switch {
		case separator == 0:
			separator = c
			if !hasNUL {
				nulStandIn = c
			}
		case nulStandIn == 0:
			nulStandIn = c
		}
		if nulStandIn != 0 {
			break
		}
	}
	if nulStandIn == 0 {
		return dst, true
	}
	dst = append(dst, separator, nulStandIn)
	for _, line := range lines {
		mark := len(dst)
		if utf8.Valid(line) {
			dst = append(dst, line...)
		} else {
			dst = skyrs.AppendUTF8Replace(dst, line)
		}
		if hasNUL {
			decoded := dst[mark:]
			for at := bytes.IndexByte(decoded, 0); at >= 0; at = bytes.IndexByte(decoded, 0) {
				decoded[at] = nulStandIn
				decoded = decoded[at+1:]
			}
		}
		dst = append(dst, separator)
	}
	return dst, false
}

func anyLineHolds(lines [][]byte, c byte) bool {
	for _, line := range lines {
		if bytes.IndexByte(line, c) >= 0 {
			return true
		}
	}
	return false
}

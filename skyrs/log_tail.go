package skyrs

import (
	"bytes"
	"errors"
	"io"
)

// LogTailOptions shape VisitLogTail.
type LogTailOptions struct {
	// Payload decides which lines are payloads.
	Payload PayloadOptions
	// MaxBytes bounds the bytes read back from the end (0: no bound): lines
	// that span more fail with ErrLogTailTooLarge.
	MaxBytes int64
}

// VisitLogTail's errors for tails it does not give.
var (
	// ErrLogTailTooLarge: the lines wanted span more than MaxBytes.
	ErrLogTailTooLarge = errors.New("the lines wanted span more bytes than allowed")
	// ErrLogTailUndecided: a line among them is LineUndecided.
	ErrLogTailUndecided = errors.New("a payload among the lines is nested too deep to classify")
	// ErrLogTailChanged: the bytes read changed (or ran short) while they
	// were read, so they are not one state of the file.
	ErrLogTailChanged = errors.New("the file changed while being read")
)

// logTailVerifyChunk is how much VisitLogTail reads back at a time to check
// the bytes it selected from.
const logTailVerifyChunk = 256 << 10

// VisitLogTail passes use the lines that upstream SkyPilot 0.14.1's
// stream_utils._tail_log_file yields for `tail=n` when its file is positioned
// at start and ends at end: the last n lines of the bytes [start, end) of r
// that are not payloads (ClassifyLogLine), in file order, each with its '\n'
// (the last line of the range may have none), as in the file: the caller
// decodes them. use is called once on success, with no lines when none are
// kept; the lines are valid only during the call.
//
// Upstream reads every line of the file to keep the last n in a deque. This
// reads backwards from end, one block at a time, and classifies each line as
// it completes until n are kept or start is reached, so the cost follows the
// lines selected (and the payloads among them), not the size of the file.
//
// Once chosen, the bytes from the '\n' before the first line selected (or
// from start) to end are read again and compared with those classified:
// a file rewritten while it was read (a log truncated and written again)
// fails with ErrLogTailChanged rather than giving lines of two states of the
// file. Bytes appended beyond end change nothing here. A read that comes up
// short is ErrLogTailChanged too.
func VisitLogTail(r io.ReaderAt, start, end int64, n int, opts LogTailOptions, use func(lines [][]byte)) error {
	if start < 0 || end < start || n < 0 {
		return Errorf(KindValueError, "invalid range [%d, %d) or count %d", start, end, n)
	}
	// A line holds at least one byte: the range has at most end-start.
	want := min(int64(n), end-start)
	if want == 0 {
		use(nil)
		return nil
	}
	pooled, buf := borrowTailBuffer()
	defer giveBackTailBuffer(pooled, &buf)
	var (
		// buf[held:] is the file from pos to end; at(o) is offset o in buf.
		held = len(buf)
		pos  = end
		// The line being looked at ends at lineEnd (after its '\n', if
		// any); its start is the byte after the last '\n' before searchEnd.
		lineEnd   = end
		searchEnd = end - 1 // the line's own '\n' is not its start
		// The kept lines, [lo, hi) file offsets, last first.
		kept = make([][2]int64, 0, min(want, 1<<16))
		step = min(max(min(want, tailMaxBlock)*tailBytesPerLine, tailMinBlock), tailMaxBlock)
	)
	at := func(offset int64) int { return held + int(offset-pos) }
	for int64(len(kept)) < want && lineEnd > start {
		lineStart := int64(-1)
		if searchEnd > pos {
			if nl := bytes.LastIndexByte(buf[at(pos):at(searchEnd)], '\n'); nl >= 0 {
				lineStart = pos + int64(nl) + 1
			}
		}
		if lineStart < 0 && pos > start {
			// The line starts before the bytes read so far: read the block
			// in front of them; only it remains to be searched.
			searchEnd = min(searchEnd, pos)
			if opts.MaxBytes > 0 && end-pos >= opts.MaxBytes {
				return ErrLogTailTooLarge
			}
			size := min(step, pos-start)
			if opts.MaxBytes > 0 {
				size = min(size, opts.MaxBytes-(end-pos))
			}
			step = min(2*step, tailMaxBlock)
			if int64(held) < size {
				// Grow at least twofold, so that each byte is copied a
				// bounded number of times however long the lines are.
				grown := make([]byte, max(2*len(buf), len(buf)-held+int(size)))
				copy(grown[len(grown)-(len(buf)-held):], buf[held:])
				held, buf = len(grown)-(len(buf)-held), grown
			}
			got, err := r.ReadAt(buf[held-int(size):held], pos-size)
			if int64(got) < size {
				if err != nil && err != io.EOF {
					return osErrorWithoutPath(err)
				}
				return ErrLogTailChanged
			}
			held -= int(size)
			pos -= size
			continue
		}
		if lineStart < 0 {
			lineStart = start
		}
		switch ClassifyLogLine(buf[at(lineStart):at(lineEnd)], opts.Payload) {
		case LineText:
			kept = append(kept, [2]int64{lineStart, lineEnd})
		case LineUndecided:
			return ErrLogTailUndecided
		}
		lineEnd = lineStart
		searchEnd = lineStart - 1
	}
	// What the selection depends on: the lines from the first selected one
	// (kept or not) to end, and the '\n' before them.
	from := max(lineEnd-1, start)
	if err := sameBytes(r, from, buf[at(from):]); err != nil {
		return err
	}
	lines := make([][]byte, len(kept))
	for i, span := range kept {
		lines[len(kept)-1-i] = buf[at(span[0]):at(span[1])]
	}
	use(lines)
	return nil
}

// sameBytes checks that r holds want at offset from now, reading it again.
func sameBytes(r io.ReaderAt, from int64, want []byte) error {
	scratch := make([]byte, min(len(want), logTailVerifyChunk))
	for done := 0; done < len(want); {
		chunk := scratch[:min(len(scratch), len(want)-done)]
		got, err := r.ReadAt(chunk, from+int64(done))
		if got < len(chunk) {
			if err != nil && err != io.EOF {
				return osErrorWithoutPath(err)
			}
			return ErrLogTailChanged
		}
		if !bytes.Equal(chunk, want[done:done+len(chunk)]) {
			return ErrLogTailChanged
		}
		done += len(chunk)
	}
	return nil
}

// FileDescriptor reads an open file descriptor with pread(2), which leaves
// its file position alone, retrying on EINTR. The caller keeps it open.
func FileDescriptor(fd int) io.ReaderAt { return fileAt(fd) }

package tests_go

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/skypilot-org/sky_rs/skyrs"
	"github.com/skypilot-org/sky_rs/skyrs/pyexport"
)

// tailSeparators are the candidates the tests pass AppendTailText.
var tailSeparators = []byte{0x01, 0x02, 0x1f}

func TestAppendTailText(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		data    string
		n       int
		want    string
		wantSep byte
	}{
		{"", 3, "", 0},
		{"a\nb\n", 0, "", 0},
		{"l1\nl2\nl3\n", 2, "l2\n\x01l3\x01", 0x01},
		{"\n", 1, "\x01", 0x01},
		{"\n\n", 5, "\n\x01\x01", 0x01},
		{"a\r\r\nb\r\n", 5, "a\n\x01b\x01", 0x01},
		{"a\rb\nc", 5, "a\rb\n\x01c\x01", 0x01},
		{"x\x01\ny\n", 2, "x\x01\n\x02y\x02", 0x02},
		{"\x01\x02\n\x1f", 2, "\x01\x02\n\x1f\n", 0},
		{"old\x01\nnew\n", 1, "new\x01", 0x01}, // only the selection counts
	}
	for i, tt := range tests {
		path := filesWrite(t, dir, fmt.Sprint(i), []byte(tt.data))
		got, sep, err := skyrs.AppendTailText([]byte("dst:"), path, tt.n, 8192, skyrs.TailTextOptions{Separators: tailSeparators})
		if err != nil || string(got) != "dst:"+tt.want || sep != tt.wantSep {
			t.Errorf("AppendTailText(%q, %d) = %q, %q, %v; want %q, %q",
				tt.data, tt.n, got, sep, err, "dst:"+tt.want, tt.wantSep)
		}
	}
}

// TestAppendTailTextRandom checks random files rich in '\r' and
// odd bytes against the literal transcription of upstream.
func TestAppendTailTextRandom(t *testing.T) {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(5, 6))
	for i := range 300 {
		data := filesRandomContent(r, 40)
		if r.IntN(3) == 0 {
			data = append(data, tailSeparators[r.IntN(len(tailSeparators))])
		}
		path := filesWrite(t, dir, fmt.Sprint(i), data)
		for _, n := range []int{1, 2, 3, 7, 100} {
			lines, raw := filesReferenceTail(data, n, 8192)
			got, sep, err := skyrs.AppendTailText(nil, path, n, 8192, skyrs.TailTextOptions{Separators: tailSeparators})
			if err != nil {
				t.Fatalf("AppendTailText(%q, %d): %v", data, n, err)
			}
			if sep == 0 {
				if !bytes.Equal(got, raw) {
					t.Errorf("AppendTailText(%q, %d) without separator = %q; want %q", data, n, got, raw)
				}
				continue
			}
			// Splitting on the separator gives upstream's lines (undecoded).
			pieces := strings.Split(string(got), string(sep))
			if pieces[len(pieces)-1] != "" {
				t.Fatalf("AppendTailText(%q, %d) = %q: no final separator", data, n, got)
			}
			joined := strings.Join(pieces[:len(pieces)-1], "") + "\n"
			if joined != string(raw) || bytes.Contains(raw, []byte{sep}) {
				t.Errorf("AppendTailText(%q, %d) = %q (sep %q); want the lines %q",
					data, n, got, sep, raw)
			}
			// With ReplaceInvalid, the pieces are upstream's decoded lines.
			got, sep, err = skyrs.AppendTailText(nil, path, n, 8192, skyrs.TailTextOptions{Separators: tailSeparators, InvalidUTF8: skyrs.ReplaceInvalidUTF8})
			pieces = strings.Split(string(got), string(sep))
			if err != nil || !slices.Equal(pieces[:len(pieces)-1], lines) {
				t.Errorf("AppendTailText(%q, %d, ReplaceInvalid) = %q, %v; want the lines %q", data, n, got, err, lines)
			}
		}
	}
}

// TestAppendTailTextMaxBytes checks the bound on the bytes read: lines that
// span more give ErrTailTooLarge, lines within it are those of TailLines,
// whatever the sizes of the reads in between.
func TestAppendTailTextMaxBytes(t *testing.T) {
	dir := t.TempDir()
	for _, lineLen := range []int{10, 4095, 4096, 70_000} {
		var data []byte
		for i := range 50 {
			data = append(data, bytes.Repeat([]byte{'a' + byte(i%26)}, lineLen)...)
			data = append(data, '\n')
		}
		path := filesWrite(t, dir, fmt.Sprint(lineLen), data)
		for _, maxBytes := range []int64{1, 4096, 100_000, 1 << 20} {
			for _, n := range []int{1, 3, 49, 50, 51} {
				raw, _ := skyrs.TailLines(path, n, 8192)
				// The selection and the '\n' before it, if any.
				span := int64(len(raw))
				if n < 50 {
					span++
				}
				got, sep, err := skyrs.AppendTailText(nil, path, n, 8192, skyrs.TailTextOptions{MaxBytes: maxBytes})
				switch {
				case span > maxBytes && err != skyrs.ErrTailTooLarge:
					t.Errorf("AppendTailText(%d lines of %d, n=%d, MaxBytes %d) = %d bytes, %v; want ErrTailTooLarge", 50, lineLen, n, maxBytes, len(got), err)
				case span <= maxBytes && (err != nil || sep != 0 || !bytes.Equal(got, raw)):
					t.Errorf("AppendTailText(%d lines of %d, n=%d, MaxBytes %d) = %d bytes, %v; want %d bytes", 50, lineLen, n, maxBytes, len(got), err, len(raw))
				}
			}
		}
	}
}

// TestTailLinesLongLines crosses the reads' block boundaries with lines far
// longer than the first read, and many short ones.
func TestTailLinesLongLines(t *testing.T) {
	dir := t.TempDir()
	for _, lineLen := range []int{1, 127, 128, 4095, 4096, 70_000} {
		var data []byte
		for i := range 300 {
			data = append(data, bytes.Repeat([]byte{'a' + byte(i%26)}, lineLen)...)
			data = append(data, '\n')
		}
		path := filesWrite(t, dir, fmt.Sprint(lineLen), data)
		for _, n := range []int{1, 10, 299, 300, 1000} {
			_, want := filesReferenceTail(data, n, 8192)
			got, err := skyrs.TailLines(path, n, 8192)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("TailLines(%d lines of %d, n=%d) = %d bytes, %v; want %d bytes",
					300, lineLen, n, len(got), err, len(want))
			}
		}
	}
}

func TestPyexportReadLastNLinesText(t *testing.T) {
	dir := t.TempDir()
	allSeparators := []byte("\x01\x02\x03\x04\x05\x06\x07\x08\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x7f\n")
	huge := strings.Repeat("x", 9<<20) + "\n"
	tests := []struct {
		data    string
		n       int
		replace bool
		want    string
	}{
		{"", 1, false, "0"},
		{"a\nb\n", 0, false, "0"},
		{"a\r\nb", 10, false, "a\n\x01b\x01"},
		{"\n", 1, false, "\x01"},
		{"caf\xc3\xa9\n", 1, false, "caf\xc3\xa9\x01"},
		{"bad \xff\n", 1, false, "P"}, // for the caller's error handler
		{"bad \xff\nok\n", 1, false, "ok\x01"},
		{"bad \xff\r\nb\xe2\x82", 5, true, "bad \ufffd\n\x01b\ufffd\x01"},
		{"nul\x00\n", 1, false, "P"},
		{"nul\x00\nafter\n", 1, false, "after\x01"}, // only the selection counts
		{"x\x01\x02\n", 1, false, "x\x01\x02\x03"},
		{string(allSeparators), 1, false, "P"},
		{huge, 1, false, "P"},                       // more than tailTextMaxBytes
		{huge + "short\n", 1, false, "short\x01"},   // the end of a large file
		{huge[:1<<20] + "\n" + huge, 2, false, "P"}, // more than tailTextMaxBytes
	}
	for i, tt := range tests {
		path := filesWrite(t, dir, fmt.Sprint(i), []byte(tt.data))
		got, err := pyexport.ReadLastNLinesText(path, tt.n, 8192, tt.replace)
		if err != nil || got != tt.want {
			t.Errorf("pyexport.ReadLastNLinesText(%.50q, %d, %v) = %.50q, %v; want %.50q", tt.data, tt.n, tt.replace, got, err, tt.want)
		}
	}
	// The result's memory is reused by the thread's next call: gopy copies
	// it first; a Go caller clones it.
	first := filesWrite(t, dir, "first", []byte("one\ntwo\n"))
	second := filesWrite(t, dir, "second", []byte("three\n"))
	a, _ := pyexport.ReadLastNLinesText(first, 2, 8192, false)
	a = strings.Clone(a)
	b, _ := pyexport.ReadLastNLinesText(second, 2, 8192, false)
	if a != "one\n\x01two\x01" || b != "three\x01" {
		t.Errorf("consecutive calls gave %q, %q", a, b)
	}
	_, err := pyexport.ReadLastNLinesText(filepath.Join(dir, "missing"), 1, 8192, false)
	want := "skyrs\x1fAssertionError\x1f0\x1fFile not found: " + filepath.Join(dir, "missing")
	if err == nil || err.Error() != want {
		t.Errorf("pyexport.ReadLastNLinesText(missing) error %v; want %q", err, want)
	}
	_, err = pyexport.ReadLastNLinesText(dir, 1, 8192, false)
	if err == nil || !strings.Contains(err.Error(), "\x1fOSError\x1f21\x1f") {
		t.Errorf("pyexport.ReadLastNLinesText(directory) error %v; want EISDIR", err)
	}
}

func BenchmarkReadLastNLinesText(b *testing.B) {
	var data []byte
	for i := 0; len(data) < 1<<20; i++ {
		data = fmt.Appendf(data, "2024-05-01 12:00:%02d INFO replica request latency_ms=%d user job cluster id=%d\n", i%60, i%997, i)
	}
	path := filesWrite(b, b.TempDir(), "log", data)
	for _, n := range []int{10, 1000} {
		for _, replace := range []bool{false, true} {
			b.Run(fmt.Sprint("n=", n, "/replace=", replace), func(b *testing.B) {
				for range b.N {
					if _, err := pyexport.ReadLastNLinesText(path, n, 8192, replace); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

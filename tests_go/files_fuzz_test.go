package tests_go

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/skypilot-org/sky_rs/skyrs"
)

// FuzzDecodeUTF8Replace checks DecodeUTF8Replace against the reference
// decoder built from Go's own UTF-8 decoder, and its invariants: the result is
// valid UTF-8, valid input comes back unchanged, and removing the U+FFFD it
// added leaves exactly the valid sequences of the input.
func FuzzDecodeUTF8Replace(f *testing.F) {
	for _, seed := range []string{"", "abc", "é日😀", "\xe2\x82", "\xff\xfe", "\xed\xa0\x80",
		"\xc0\x80", "\xf4\x90\x80\x80", "\xf0\x9f\x98a", "\xe0\xa0\xe0\x9f", "\xef\xbf\xbd\xef\xbf",
		"a log line longer than thirty-two bytes \xff\xfe then more ASCII text than 32 bytes \xe2\x82"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got := skyrs.DecodeUTF8Replace(b)
		if !utf8.ValidString(got) {
			t.Fatalf("DecodeUTF8Replace(%q) = %q is not valid UTF-8", b, got)
		}
		if utf8.Valid(b) && got != string(b) {
			t.Fatalf("DecodeUTF8Replace(%q) = %q changed valid input", b, got)
		}
		if want := filesReferenceDecode(b); got != want {
			t.Fatalf("DecodeUTF8Replace(%q) = %q; reference %q", b, got, want)
		}
	})
}

// FuzzTailLines writes random content to a file and compares TailLines and
// ReadLastNLines with the literal transcription of upstream's algorithm.
func FuzzTailLines(f *testing.F) {
	f.Add([]byte("l1\nl2\nl3\n"), uint16(2), uint16(8192))
	f.Add([]byte("\n\n"), uint16(5), uint16(1))
	f.Add([]byte("a\r\nb\r\n"), uint16(5), uint16(3))
	f.Add([]byte("a\r\r\nb\r\xff\xfe\n\xe2\x82"), uint16(1), uint16(2))
	f.Add([]byte(""), uint16(1), uint16(1))
	dir := f.TempDir()
	path := filepath.Join(dir, "content")
	f.Fuzz(func(t *testing.T, data []byte, n, chunkSize uint16) {
		if chunkSize == 0 {
			chunkSize = 1
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		wantLines, wantRaw := filesReferenceTail(data, int(n), int(chunkSize))
		raw, err := skyrs.TailLines(path, int(n), int(chunkSize))
		if err != nil || !bytes.Equal(raw, wantRaw) {
			t.Fatalf("TailLines(%q, %d, %d) = %q, %v; reference %q", data, n, chunkSize, raw, err, wantRaw)
		}
		lines, err := skyrs.ReadLastNLines(path, int(n), int(chunkSize))
		if err != nil || !slices.Equal(lines, wantLines) {
			t.Fatalf("ReadLastNLines(%q, %d, %d) = %q, %v; reference %q", data, n, chunkSize, lines, err, wantLines)
		}
		// Bounded to chunkSize bytes read: ErrTailTooLarge exactly when the
		// lines and the '\n' before them span more, else the same lines;
		// with every line replaced, upstream's decoded lines.
		maxBytes := int64(chunkSize)
		span := int64(len(data))
		if need := int(n); need > 0 && len(data) > 0 {
			if data[len(data)-1] == '\n' {
				need++
			}
			for at := len(data); need > 0; need-- {
				if at = bytes.LastIndexByte(data[:at], '\n'); at < 0 {
					break
				} else if need == 1 {
					span = int64(len(data) - at)
				}
			}
		}
		text, _, err := skyrs.AppendTailText(nil, path, int(n), 8192, skyrs.TailTextOptions{MaxBytes: maxBytes})
		tooLarge := n > 0 && span > maxBytes
		if tooLarge != (err == skyrs.ErrTailTooLarge) || (!tooLarge && (err != nil || !bytes.Equal(text, wantRaw))) {
			t.Fatalf("AppendTailText(%q, %d, MaxBytes %d) = %q, %v; reference %q (span %d)", data, n, maxBytes, text, err, wantRaw, span)
		}
		text, sep, err := skyrs.AppendTailText(nil, path, int(n), 8192, skyrs.TailTextOptions{
			Separators: []byte{0x01}, InvalidUTF8: skyrs.ReplaceInvalidUTF8})
		if err == nil && sep != 0 && len(text) > 0 {
			pieces := strings.Split(string(text), "\x01")
			if !slices.Equal(pieces[:len(pieces)-1], wantLines) {
				t.Fatalf("AppendTailText(%q, %d, ReplaceInvalid) = %q; reference %q", data, n, text, wantLines)
			}
		} else if err != nil {
			t.Fatalf("AppendTailText(%q, %d, ReplaceInvalid): %v", data, n, err)
		}
	})
}

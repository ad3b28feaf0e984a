package tests_go

import (
	"bytes"
	"encoding/json"
	"regexp"
	"slices"
	"testing"

	"github.com/skypilot-org/sky_rs/skyrs"
)

// FuzzVisitLogTail checks the backward scan against upstream's loop, read
// literally (logTailReference), from any position, for any n.
func FuzzVisitLogTail(f *testing.F) {
	f.Add([]byte("a\nb\nc\n"), uint16(0), uint16(2))
	f.Add([]byte("a\n<sky-payload>1</sky-payload>\nb"), uint16(0), uint16(1))
	f.Add([]byte("<sky-payload>[[[]]]</sky-payload>\n\n\r\n"), uint16(3), uint16(9))
	f.Add([]byte("x\x00\xff\xe2\x82\n<sky-payload>NaN</sky-payload>\ny"), uint16(1), uint16(3))
	f.Fuzz(func(t *testing.T, data []byte, start, n uint16) {
		begin := min(int(start), len(data))
		opts := skyrs.PayloadOptions{MaxDepth: 3, IntMaxStrDigits: 640}
		want, undecided := logTailReference(data, begin, int(n), opts)
		got, err := logTailVisit(bytes.NewReader(data), int64(begin), int64(len(data)), int(n), skyrs.LogTailOptions{Payload: opts})
		if err != nil {
			// Only a deep payload among the lines upstream looks at may stop it.
			if !(undecided && err == skyrs.ErrLogTailUndecided) {
				t.Fatalf("VisitLogTail(%q, %d, %d): %v", data, begin, n, err)
			}
			return
		}
		if !slices.EqualFunc(got, want, bytes.Equal) {
			t.Fatalf("VisitLogTail(%q, %d, %d) = %q; want %q", data, begin, n, got, want)
		}
	})
}

// payloadPattern is upstream's _PAYLOAD_PATTERN. Go's regexp prefers the
// match a backtracking engine finds first, as Python's re does, and its '.'
// takes each invalid byte as one character, which keeps the ASCII markers
// where they are.
var payloadPattern = regexp.MustCompile(`<sky-payload(.*?)>(.*?)</sky-payload>`)

// FuzzClassifyLogLine checks the hand-written match against the pattern, and
// the JSON grammar against encoding/json where the two grammars agree (no
// NaN or Infinity, nesting within encoding/json's limit, no digit limit).
func FuzzClassifyLogLine(f *testing.F) {
	f.Add([]byte(`<sky-payload>"x"</sky-payload>`))
	f.Add([]byte(`<sky-payload <sky-payload>>[1, {"a": null}]</sky-payload></sky-payload>`))
	f.Add([]byte(`<sky-payloadt>>1</sky-payload>`))
	f.Add([]byte("<sky-payload>\"\xff\x00\"</sky-payload>\n"))
	f.Add([]byte(`<sky-payload>-0.5E+2</sky-payload>`))
	f.Add([]byte(`<sky-payload>NaN</sky-payload>`))
	f.Fuzz(func(t *testing.T, line []byte) {
		line = bytes.TrimSuffix(line, []byte("\n"))
		if bytes.IndexByte(line, '\n') >= 0 {
			return // not one line
		}
		opts := skyrs.PayloadOptions{MaxDepth: 1 << 30}
		got := skyrs.ClassifyLogLine(line, opts)
		m := payloadPattern.FindSubmatchIndex(line)
		if m == nil {
			if got != skyrs.LineText {
				t.Fatalf("ClassifyLogLine(%q) = %d; the pattern does not match", line, got)
			}
			return
		}
		body := line[m[4]:m[5]]
		valid, depth := skyrs.PythonJSONAccepts(body, 0)
		if want := map[bool]skyrs.LineClass{true: skyrs.LinePayload, false: skyrs.LineText}[valid]; got != want {
			t.Fatalf("ClassifyLogLine(%q) = %d; its body %q is valid: %v", line, got, body, valid)
		}
		if bytes.Contains(body, []byte("NaN")) || bytes.Contains(body, []byte("Infinity")) || depth > 10000 {
			return
		}
		if json.Valid(body) != valid {
			t.Fatalf("PythonJSONAccepts(%q) = %v; encoding/json says %v", body, valid, json.Valid(body))
		}
	})
}

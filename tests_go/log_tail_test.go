package tests_go

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/skypilot-org/sky_rs/skyrs"
	"github.com/skypilot-org/sky_rs/skyrs/pyexport"
)

// logTailPayloadOptions are what the facade passes on CPython 3.11 with the
// default limits.
var logTailPayloadOptions = skyrs.PayloadOptions{MaxDepth: 100, IntMaxStrDigits: 4300}

func TestClassifyLogLine(t *testing.T) {
	const (
		text      = skyrs.LineText
		payload   = skyrs.LinePayload
		undecided = skyrs.LineUndecided
	)
	tests := []struct {
		line string
		want skyrs.LineClass
	}{
		{"plain text\n", text},
		{"", text},
		{`<sky-payload>"<rich_init>x</rich_init>"</sky-payload>` + "\n", payload},
		{`<sky-payload>{"a": [1, 2.5e3, null, true, false]}</sky-payload>` + "\n", payload},
		{`noise <sky-payload>1</sky-payload> noise` + "\r\n", payload},
		{`<sky-payloadTYPE>[]</sky-payload>`, payload},         // a type in the first group
		{`<sky-payload>"x"</sky-payload`, text},                // no closing tag
		{`<sky-payload "x"</sky-payload>`, text},               // the tag's '>' is the first
		{`<sky-payload>"x</sky-payload>"</sky-payload>`, text}, // lazy body: `"x`
		{`<sky-payload><sky-payload>1</sky-payload>`, text},    // body `<sky-payload>1`
		{`<sky-payload>1</sky-payload><sky-payload>{}</sky-payload>`, payload},
		{`<sky-payload>x</sky-payload><sky-payload>1</sky-payload>`, text}, // only the first match counts
		{`<sky-payload>NaN</sky-payload>`, payload},
		{`<sky-payload>[Infinity, -Infinity]</sky-payload>`, payload},
		{`<sky-payload>-NaN</sky-payload>`, text},
		{`<sky-payload>` + "\ufeff" + `1</sky-payload>`, text}, // BOM
		{`<sky-payload> 1 ` + "\r\t" + `</sky-payload>`, payload},
		{`<sky-payload>` + "\"\x1f\"" + `</sky-payload>`, text}, // a raw control character
		{`<sky-payload>` + "\"\x7f\xff\xfe\"" + `</sky-payload>`, payload},
		{`<sky-payload>` + "\xff1" + `</sky-payload>`, text},
		{`<sky-payload>` + "\"\x00\"" + `</sky-payload>`, text},
		{`<sky-payload>"\ud800"</sky-payload>`, payload}, // a lone surrogate
		{`<sky-payload>"\u12g4"</sky-payload>`, text},
		{`<sky-payload>01</sky-payload>`, text},
		{`<sky-payload>1.</sky-payload>`, text},
		{`<sky-payload>1e</sky-payload>`, text},
		{`<sky-payload>[1,]</sky-payload>`, text},
		{`<sky-payload>{"a":1,}</sky-payload>`, text},
		{`<sky-payload>{1:2}</sky-payload>`, text},
		{`<sky-payload></sky-payload>`, text},
		{`<sky-payload>` + strings.Repeat("9", 4300) + `</sky-payload>`, payload},
		{`<sky-payload>-` + strings.Repeat("9", 4301) + `</sky-payload>`, text},
		{`<sky-payload>` + strings.Repeat("9", 4301) + `.0</sky-payload>`, payload}, // a float: no limit
		{`<sky-payload>` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `</sky-payload>`, payload},
		{`<sky-payload>` + strings.Repeat("[", 101) + strings.Repeat("]", 101) + `</sky-payload>`, undecided},
		{`<sky-payload>` + strings.Repeat("[", 101) + strings.Repeat("]", 100) + `</sky-payload>`, text}, // invalid: any depth
		{`<sky-payload>` + strings.Repeat(`{"a":`, 101) + "1" + strings.Repeat("}", 101) + `</sky-payload>`, undecided},
	}
	for _, tt := range tests {
		if got := skyrs.ClassifyLogLine([]byte(tt.line), logTailPayloadOptions); got != tt.want {
			t.Errorf("ClassifyLogLine(%.80q) = %d; want %d", tt.line, got, tt.want)
		}
	}
	// No limit on integers.
	long := []byte(`<sky-payload>` + strings.Repeat("9", 5000) + `</sky-payload>`)
	if got := skyrs.ClassifyLogLine(long, skyrs.PayloadOptions{MaxDepth: 10}); got != payload {
		t.Errorf("ClassifyLogLine(5000 digits, no limit) = %d; want payload", got)
	}
}

// logTailReference is upstream's loop, literally: every line of data from
// start, classified, the last n kept.
func logTailReference(data []byte, start, n int, opts skyrs.PayloadOptions) (lines [][]byte, undecided bool) {
	for rest := data[start:]; len(rest) > 0; {
		end := bytes.IndexByte(rest, '\n') + 1
		if end == 0 {
			end = len(rest)
		}
		switch skyrs.ClassifyLogLine(rest[:end], opts) {
		case skyrs.LineText:
			lines = append(lines, rest[:end])
		case skyrs.LineUndecided:
			undecided = true
		}
		rest = rest[end:]
	}
	return lines[max(len(lines)-n, 0):], undecided
}

// logTailVisit calls VisitLogTail and copies the lines out.
func logTailVisit(r io.ReaderAt, start, end int64, n int, opts skyrs.LogTailOptions) ([][]byte, error) {
	var got [][]byte
	err := skyrs.VisitLogTail(r, start, end, n, opts, func(lines [][]byte) {
		got = make([][]byte, 0, len(lines))
		for _, line := range lines {
			got = append(got, bytes.Clone(line))
		}
	})
	return got, err
}

func TestVisitLogTail(t *testing.T) {
	p := func(s string) string { return `<sky-payload>"` + s + `"</sky-payload>` + "\n" }
	tests := []struct {
		data  string
		start int
		n     int
		want  []string
	}{
		{"", 0, 5, nil},
		{"a\nb\n", 0, 0, nil},
		{"a\nb\nc\n", 0, 2, []string{"b\n", "c\n"}},
		{"a\nb\nc", 0, 2, []string{"b\n", "c"}},
		{"a\nb\nc", 0, 9, []string{"a\n", "b\n", "c"}},
		{"\n\n\n", 0, 2, []string{"\n", "\n"}},
		{"a\r\nb\r\n", 0, 1, []string{"b\r\n"}},
		{"a\n" + p("x") + p("y") + "b\n" + p("z"), 0, 2, []string{"a\n", "b\n"}},
		{p("x") + p("y"), 0, 3, nil},
		{"one\ntwo\nthree\n", 4, 5, []string{"two\n", "three\n"}}, // from a position
		{"one\ntwo\nthree\n", 5, 5, []string{"wo\n", "three\n"}},  // mid-line
		{"x\x00y\n\xff\xfe\n", 0, 5, []string{"x\x00y\n", "\xff\xfe\n"}},
		{"a\n" + p("x"), 0, 1, []string{"a\n"}},
	}
	dir := t.TempDir()
	for i, tt := range tests {
		path := filesWrite(t, dir, fmt.Sprint(i), []byte(tt.data))
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := logTailVisit(skyrs.FileDescriptor(int(f.Fd())), int64(tt.start), int64(len(tt.data)), tt.n,
			skyrs.LogTailOptions{Payload: logTailPayloadOptions})
		f.Close()
		var gotStrings []string
		for _, line := range got {
			gotStrings = append(gotStrings, string(line))
		}
		if err != nil || !slices.Equal(gotStrings, tt.want) {
			t.Errorf("VisitLogTail(%q, start %d, n %d) = %q, %v; want %q", tt.data, tt.start, tt.n, gotStrings, err, tt.want)
		}
	}
}

// logTailRandomLog makes a log of lines of the kinds the streamer meets:
// text, payloads, payload-shaped text, invalid UTF-8, '\r', NUL, and now
// and then a line longer than a block.
func logTailRandomLog(r *rand.Rand, lines int) []byte {
	pieces := []string{
		"text", " ", "é", "\r", "\x00", "\xff", "\xe2\x82", "<sky-payload>", "</sky-payload>",
		`"s"`, "[1,", "]", "{", `"k":`, "NaN", "<", ">", "9",
	}
	var out []byte
	for range lines {
		switch r.IntN(8) {
		case 0:
			out = append(out, `<sky-payload>"<rich_update>msg</rich_update>"</sky-payload>`...)
		case 1:
			out = append(out, `<sky-payload>{"a": [1, 2]}</sky-payload>`...)
		case 2:
			for range r.IntN(12) {
				out = append(out, pieces[r.IntN(len(pieces))]...)
			}
		case 3:
			if r.IntN(20) == 0 {
				out = append(out, bytes.Repeat([]byte("long "), 2000+r.IntN(4000))...)
			}
		default:
			out = fmt.Appendf(out, "line %d of the log", r.IntN(1000000))
		}
		out = append(out, '\n')
	}
	if r.IntN(3) == 0 && len(out) > 0 {
		out = out[:len(out)-1] // no final '\n'
	}
	return out
}

// TestVisitLogTailRandom compares random logs, read through a file, with
// the literal loop, for many n and starting positions.
func TestVisitLogTailRandom(t *testing.T) {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(11, 12))
	for i := range 60 {
		data := logTailRandomLog(r, 1+r.IntN(3000))
		path := filesWrite(t, dir, fmt.Sprint(i), data)
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{1, 2, 10, 100, 1000, 1 << 40} {
			start := 0
			if r.IntN(4) == 0 {
				start = r.IntN(len(data) + 1)
			}
			want, undecided := logTailReference(data, start, n, logTailPayloadOptions)
			if undecided {
				t.Fatal("the random logs hold no deep payload")
			}
			got, err := logTailVisit(skyrs.FileDescriptor(int(f.Fd())), int64(start), int64(len(data)), n,
				skyrs.LogTailOptions{Payload: logTailPayloadOptions})
			if err != nil || !slices.EqualFunc(got, want, bytes.Equal) {
				t.Fatalf("VisitLogTail(log %d, start %d, n %d) = %d lines, %v; want %d", i, start, n, len(got), err, len(want))
			}
		}
		f.Close()
	}
}

// TestVisitLogTailLongLines puts lines of many blocks around the selection.
func TestVisitLogTailLongLines(t *testing.T) {
	long := bytes.Repeat([]byte("0123456789"), 1<<20) // 10 MiB, more than a block
	payload := append(append([]byte(`<sky-payload>"`), long...), `"</sky-payload>`...)
	logs := [][]byte{
		long,
		append(slices.Clone(long), '\n'),
		slices.Concat([]byte("a\n"), long, []byte("\nb\n")),
		slices.Concat([]byte("a\n"), payload, []byte("\n"), long),
		slices.Concat(payload, []byte("\n"), payload),
	}
	for i, data := range logs {
		for _, n := range []int{1, 2, 3} {
			want, _ := logTailReference(data, 0, n, logTailPayloadOptions)
			got, err := logTailVisit(bytes.NewReader(data), 0, int64(len(data)), n,
				skyrs.LogTailOptions{Payload: logTailPayloadOptions})
			if err != nil || !slices.EqualFunc(got, want, bytes.Equal) {
				t.Errorf("VisitLogTail(log %d, n %d) = %d lines, %v; want %d", i, n, len(got), err, len(want))
			}
		}
	}
}

func TestVisitLogTailDeclines(t *testing.T) {
	deep := `<sky-payload>` + strings.Repeat("[", 101) + strings.Repeat("]", 101) + "</sky-payload>\n"
	opts := skyrs.LogTailOptions{Payload: logTailPayloadOptions}
	data := []byte("a\n" + deep + "b\n")
	if _, err := logTailVisit(bytes.NewReader(data), 0, int64(len(data)), 1, opts); err != nil {
		t.Errorf("a deep payload before the lines: %v; want the lines", err)
	}
	if _, err := logTailVisit(bytes.NewReader(data), 0, int64(len(data)), 2, opts); !errors.Is(err, skyrs.ErrLogTailUndecided) {
		t.Errorf("a deep payload among the lines: %v; want ErrLogTailUndecided", err)
	}

	big := bytes.Repeat([]byte("x\n"), 1<<20)
	opts.MaxBytes = 1 << 20
	if _, err := logTailVisit(bytes.NewReader(big), 0, int64(len(big)), 1000, opts); err != nil {
		t.Errorf("lines within MaxBytes: %v", err)
	}
	if _, err := logTailVisit(bytes.NewReader(big), 0, int64(len(big)), 600000, opts); !errors.Is(err, skyrs.ErrLogTailTooLarge) {
		t.Errorf("lines beyond MaxBytes: %v; want ErrLogTailTooLarge", err)
	}
	opts.MaxBytes = 0

	// The end beyond what the reader holds: it shrank.
	if _, err := logTailVisit(bytes.NewReader([]byte("a\nb\n")), 0, 10, 1, opts); !errors.Is(err, skyrs.ErrLogTailChanged) {
		t.Errorf("a short read: %v; want ErrLogTailChanged", err)
	}
	if err := skyrs.VisitLogTail(bytes.NewReader(nil), 5, 4, 1, opts, func([][]byte) {}); err == nil {
		t.Error("end before start: no error")
	}
}

// logTailSyntheticLog is a log of size bytes, 100-byte lines, made up as
// it is read; it counts the bytes read.
type logTailSyntheticLog struct {
	size, read int64
}

func (l *logTailSyntheticLog) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for ; n < len(p) && off+int64(n) < l.size; n++ {
		if (off+int64(n))%100 == 99 {
			p[n] = '\n'
		} else {
			p[n] = 'x'
		}
	}
	l.read += int64(n)
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// TestVisitLogTailCostFollowsTheLines: a tail of a 10 GB log reads what a
// tail of a 1 MB log reads.
func TestVisitLogTailCostFollowsTheLines(t *testing.T) {
	var reads []int64
	for _, size := range []int64{1_000_000, 10_000_000_000} {
		log := &logTailSyntheticLog{size: size}
		got, err := logTailVisit(log, 0, size, 1000, skyrs.LogTailOptions{Payload: logTailPayloadOptions})
		if err != nil || len(got) != 1000 || string(got[999]) != strings.Repeat("x", 99)+"\n" {
			t.Fatalf("VisitLogTail(%d bytes) = %d lines, %v", size, len(got), err)
		}
		reads = append(reads, log.read)
	}
	// The lines (100 kB), and again to check them; a block at most besides.
	if reads[0] != reads[1] || reads[1] > 2*100_000+128<<10 {
		t.Errorf("bytes read for 1 MB and 10 GB logs: %d, %d; want the same, about 200 kB", reads[0], reads[1])
	}
}

// logTailRewrittenReader serves one content for the first reads and another
// after: a file truncated and written again while it is read.
type logTailRewrittenReader struct {
	before, after   []byte
	reads, switchAt int
}

func (r *logTailRewrittenReader) ReadAt(p []byte, off int64) (int, error) {
	r.reads++
	data := r.before
	if r.reads > r.switchAt {
		data = r.after
	}
	return bytes.NewReader(data).ReadAt(p, off)
}

func TestVisitLogTailRewrittenWhileRead(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	before := logTailRandomLog(r, 20000)
	after := slices.Clone(before)
	after[len(after)-100] ^= 1 // a byte among the last lines
	opts := skyrs.LogTailOptions{Payload: logTailPayloadOptions}
	unchanged := &logTailRewrittenReader{before: before, switchAt: 1 << 30}
	if _, err := logTailVisit(unchanged, 0, int64(len(before)), 5000, opts); err != nil || unchanged.reads < 3 {
		t.Fatalf("unchanged: %v after %d reads; want several reads", err, unchanged.reads)
	}
	// Rewritten after any read but the last: the reads disagree.
	for switchAt := 1; switchAt < unchanged.reads; switchAt++ {
		reader := &logTailRewrittenReader{before: before, after: after, switchAt: switchAt}
		if _, err := logTailVisit(reader, 0, int64(len(before)), 5000, opts); !errors.Is(err, skyrs.ErrLogTailChanged) {
			t.Errorf("rewritten after %d reads (of %d): %v; want ErrLogTailChanged", switchAt, unchanged.reads, err)
		}
	}
	// Appended: the bytes up to end are the same, the answer stands.
	reader := &logTailRewrittenReader{before: before, after: append(slices.Clone(before), "more\n"...), switchAt: 1}
	want, _ := logTailReference(before, 0, 5000, logTailPayloadOptions)
	got, err := logTailVisit(reader, 0, int64(len(before)), 5000, opts)
	if err != nil || !slices.EqualFunc(got, want, bytes.Equal) {
		t.Errorf("appended while read: %d lines, %v; want %d", len(got), err, len(want))
	}
}

// TestPyexportLogTailLines checks the string the facade splits.
func TestPyexportLogTailLines(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		data string
		n    int
		want string
	}{
		{"", 3, ""},
		{"a\nb\n", 0, ""},
		{"a\nb\n", 5, "\x01\x01a\n\x01b\n\x01"},
		{"a\x01\nb", 5, "\x02\x02a\x01\n\x02b\x02"},
		{"a\x00\nb\xe2\x82\n", 5, "\x01\x02a\x02\n\x01b\ufffd\n\x01"},
		{`<sky-payload>1</sky-payload>` + "\n", 5, ""},
	}
	for i, tt := range tests {
		path := filesWrite(t, dir, fmt.Sprint(i), []byte(tt.data))
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := pyexport.LogTailLines(int(f.Fd()), 0, len(tt.data), tt.n, 100, 4300)
		f.Close()
		if err != nil || got != tt.want {
			t.Errorf("LogTailLines(%q, %d) = %q, %v; want %q", tt.data, tt.n, got, err, tt.want)
		}
	}
	// Every separator and NUL among the lines: declined.
	var every []byte
	for c := range 0x80 {
		if c != '\n' {
			every = append(every, byte(c))
		}
	}
	path := filesWrite(t, dir, "every", every)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got, err := pyexport.LogTailLines(int(f.Fd()), 0, len(every), 1, 100, 4300); !strings.Contains(fmt.Sprint(err), "Decline") {
		t.Errorf("LogTailLines(every byte) = %q, %v; want a decline", got, err)
	}
}

// logTailOracleScript answers, for each hex-encoded line, whether upstream's
// decode_payload calls it a payload, and the int digit limit it ran with.
const logTailOracleScript = `
import json, sys
from sky.utils import message_utils
lines = json.load(sys.stdin)
answers = [message_utils.decode_payload(bytes.fromhex(line).decode('utf-8', errors='replace'),
                                        raise_for_mismatch=False)[0] for line in lines]
json.dump({'payload': answers, 'digits': sys.get_int_max_str_digits()}, sys.stdout)
`

// logTailRandomPayloadLine makes a payload-shaped line: JSON-like pieces,
// often valid, often one mutation away.
func logTailRandomPayloadLine(r *rand.Rand) []byte {
	values := []string{
		`"s"`, `"é\u00e9\ud800"`, `1`, `-0.5e+3`, `01`, `1.`, `NaN`, `Infinity`, `-Infinity`,
		`null`, `true`, `fals`, `[]`, `{}`, `[1, "a"]`, `{"k": [null]}`, `{"k" 1}`, `[1,]`,
		"\"\x01\"", "\"\xff\"", "\xff", `"\x"`, `"\u12"`, ` `, "\r", strings.Repeat("7", 4301),
		strings.Repeat("[", 30) + strings.Repeat("]", 30),
	}
	var body []byte
	for range 1 + r.IntN(3) {
		body = append(body, values[r.IntN(len(values))]...)
		if r.IntN(3) == 0 {
			body = append(body, ',')
		}
	}
	if r.IntN(2) == 0 {
		body = fmt.Appendf(nil, "[%s]", body)
	}
	var line []byte
	if r.IntN(4) == 0 {
		line = append(line, "noise "...)
	}
	line = append(line, "<sky-payload"...)
	if r.IntN(4) == 0 {
		line = append(line, "type"...)
	}
	line = append(line, '>')
	line = append(line, body...)
	switch r.IntN(6) {
	case 0:
		line = append(line, "</sky-payload"...)
	case 1:
		line = append(line, "</sky-payload></sky-payload>"...)
	default:
		line = append(line, "</sky-payload>"...)
	}
	if r.IntN(3) > 0 {
		line = append(line, '\n')
	}
	return line
}

// TestClassifyLogLineAgainstUpstream asks SkyPilot's own decode_payload, in
// the project venv, about a few thousand payload-shaped lines.
func TestClassifyLogLineAgainstUpstream(t *testing.T) {
	python, err := filepath.Abs(filepath.Join("..", ".venv", "bin", "python"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(python); err != nil {
		t.Skipf("no upstream oracle: %v", err)
	}
	r := rand.New(rand.NewPCG(21, 22))
	var lines [][]byte
	for range 4000 {
		lines = append(lines, logTailRandomPayloadLine(r))
	}
	encoded := make([]string, len(lines))
	for i, line := range lines {
		encoded[i] = hex.EncodeToString(line)
	}
	input, err := json.Marshal(encoded)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, "-c", logTailOracleScript)
	cmd.Stdin = bytes.NewReader(input)
	cmd.Stderr = os.Stderr
	output, err := cmd.Output()
	if err != nil {
		t.Fatalf("upstream oracle failed: %v", err)
	}
	var answers struct {
		Payload []bool
		Digits  int
	}
	if err := json.Unmarshal(output, &answers); err != nil || len(answers.Payload) != len(lines) {
		t.Fatalf("upstream oracle output: %v (%d answers)", err, len(answers.Payload))
	}
	opts := skyrs.PayloadOptions{MaxDepth: 100, IntMaxStrDigits: answers.Digits}
	payloads := 0
	for i, line := range lines {
		got := skyrs.ClassifyLogLine(line, opts)
		if got == skyrs.LineUndecided || (got == skyrs.LinePayload) != answers.Payload[i] {
			t.Errorf("ClassifyLogLine(%.120q) = %d; upstream payload: %v", line, got, answers.Payload[i])
		}
		if answers.Payload[i] {
			payloads++
		}
	}
	// Both answers must be well represented for the comparison to mean much.
	if payloads < len(lines)/10 || payloads > len(lines)*9/10 {
		t.Errorf("%d of %d lines are payloads: the generator is off balance", payloads, len(lines))
	}
}

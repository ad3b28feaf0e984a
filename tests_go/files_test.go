package tests_go

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"unicode/utf8"

	"github.com/skypilot-org/sky_rs/skyrs"
	"github.com/skypilot-org/sky_rs/skyrs/pyexport"
)

// The expectations in these tables were produced by upstream SkyPilot 0.14
// (sky.utils.common_utils) on CPython 3.11; TestFilesAgainstUpstream checks
// random files against it live.

// filesError returns err as an *skyrs.Error, failing the test if it is not one.
func filesError(t *testing.T, err error) *skyrs.Error {
	t.Helper()
	var e *skyrs.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *skyrs.Error", err, err)
	}
	return e
}

// filesWrite writes data to a new file in dir and returns its path.
func filesWrite(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// filesReferenceDecode is CPython's decode('utf-8', 'replace') built another
// way than skyrs.DecodeUTF8Replace: a maximal invalid subpart is the longest
// prefix that some valid sequence starts with, found by trying completions
// with continuation bytes at the edges of every range in Table 3-7.
func filesReferenceDecode(b []byte) string {
	var out strings.Builder
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r != utf8.RuneError || size > 1 {
			out.Write(b[i : i+size])
			i += size
			continue
		}
		k := 1
		for l := 2; l <= 3 && i+l <= len(b); l++ {
			if filesIsValidPrefix(b[i : i+l]) {
				k = l
			}
		}
		out.WriteString("\uFFFD")
		i += k
	}
	return out.String()
}

// filesIsValidPrefix reports whether some well-formed UTF-8 sequence starts
// with p (len(p) <= 3). Every range of Table 3-7 holds one of the edges
// below, and any continuation byte may follow the first, so trying each edge
// in all the missing positions finds a completion if there is one.
func filesIsValidPrefix(p []byte) bool {
	for _, edge := range []byte{0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF} {
		q := [4]byte{edge, edge, edge, edge}
		copy(q[:], p)
		if r, size := utf8.DecodeRune(q[:]); (r != utf8.RuneError || size > 1) && size >= len(p) {
			return true
		}
	}
	return false
}

// filesReferenceTail is upstream's read_last_n_lines transcribed literally
// onto an in-memory file: backwards chunks, split on '\n', the selection with
// Python's slice rules, per-line decoding and rstrip('\r'). It returns the
// decoded lines and TailLines's form of them (raw, '\r' stripped, '\n' after
// each).
func filesReferenceTail(data []byte, n, chunkSize int) ([]string, []byte) {
	lines, raw := []string{}, []byte{}
	if n == 0 || len(data) == 0 {
		return lines, raw
	}
	pos, found := len(data), 0
	var chunks [][]byte
	for pos > 0 && found <= n {
		readSize := min(chunkSize, pos)
		pos -= readSize
		chunk := data[pos : pos+readSize]
		chunks = append(chunks, chunk)
		found += bytes.Count(chunk, []byte("\n"))
	}
	slices.Reverse(chunks)
	all := bytes.Split(bytes.Join(chunks, nil), []byte("\n"))
	var selected [][]byte
	if len(all[len(all)-1]) == 0 {
		selected = all[max(len(all)-n-1, 0) : len(all)-1]
	} else {
		selected = all[max(len(all)-n, 0):]
	}
	for i, line := range selected {
		s := strings.TrimRight(filesReferenceDecode(line), "\r")
		if i < len(selected)-1 {
			s += "\n"
		}
		lines = append(lines, s)
		raw = append(raw, bytes.TrimRight(line, "\r")...)
		raw = append(raw, '\n')
	}
	return lines, raw
}

func TestReadLastNLinesExamples(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		data string
		n    int
		want []string
	}{
		{"l1\nl2\nl3\n", 2, []string{"l2\n", "l3"}},
		{"l1\nl2\nl3", 2, []string{"l2\n", "l3"}},
		{"l1\nl2\nl3\n\n", 2, []string{"l3\n", ""}},
		{"\n", 1, []string{""}},
		{"\n\n", 5, []string{"\n", ""}},
		{"a\r\nb\r\n", 5, []string{"a\n", "b"}},
		{"a\r\r\n", 1, []string{"a"}},
		{"a\rb\n", 1, []string{"a\rb"}},
		{"x\r", 1, []string{"x"}},
		{"\r", 1, []string{""}},
		{"\r\n", 1, []string{""}},
		{"", 3, []string{}},
		{"abc", 0, []string{}},
		{"abc", 1, []string{"abc"}},
		{"a\nb", 1, []string{"b"}},
		{"a\nb", 5, []string{"a\n", "b"}},
		{"a\x0bb\x0cc\u2028d\n", 1, []string{"a\x0bb\x0cc\u2028d"}},
		{"\xe2\x82\n\xff\xfe\n\xed\xa0\x80", 3, []string{"\uFFFD\n", "\uFFFD\uFFFD\n", "\uFFFD\uFFFD\uFFFD"}},
		{"\xc0\x80\xf4\x90\x80\x80\r\n", 1, []string{strings.Repeat("\uFFFD", 6)}},
		{"\xe2\x82\r\n", 1, []string{"\uFFFD"}},
	}
	for i, tt := range tests {
		path := filesWrite(t, dir, fmt.Sprint(i), []byte(tt.data))
		for _, chunkSize := range []int{1, 2, 3, 8192} {
			got, err := skyrs.ReadLastNLines(path, tt.n, chunkSize)
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("ReadLastNLines(%q, %d, %d) = %q, %v; want %q", tt.data, tt.n, chunkSize, got, err, tt.want)
			}
		}
	}
}

func TestTailLines(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		data string
		n    int
		want string
	}{
		{"l1\nl2\nl3\n", 2, "l2\nl3\n"},
		{"l1\nl2\nl3\n", 0, ""},
		{"abc", 1, "abc\n"},
		{"a\r\r\nb\r", 5, "a\nb\n"},
		{"", 1, ""},
		{"\n", 1, "\n"},
		{"\n\n", 5, "\n\n"},
		{"\xff\r\n\xfe", 2, "\xff\n\xfe\n"},
	}
	for i, tt := range tests {
		path := filesWrite(t, dir, fmt.Sprint(i), []byte(tt.data))
		got, err := skyrs.TailLines(path, tt.n, 8192)
		if err != nil || string(got) != tt.want {
			t.Errorf("TailLines(%q, %d) = %q, %v; want %q", tt.data, tt.n, got, err, tt.want)
		}
	}
}

// filesRandomContent returns random bytes rich in what read_last_n_lines
// treats specially: '\n', '\r', invalid UTF-8 and other line boundaries.
func filesRandomContent(r *rand.Rand, maxPieces int) []byte {
	pieces := []string{"a", "bc", "\r", "\n", "\n", "\r\n", "\xff", "\xe2\x82", "\xc2\x85",
		"\xe2\x80\xa8", "\x0b", "é", "\xed\xa0\x80", "\xf0\x9f\x98\x80", "\x00", "\xf4\x90"}
	var b []byte
	for range r.IntN(maxPieces + 1) {
		b = append(b, pieces[r.IntN(len(pieces))]...)
	}
	return b
}

// TestReadLastNLinesChunkSizes compares every small chunk size and every n
// with the literal transcription of upstream.
func TestReadLastNLinesChunkSizes(t *testing.T) {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 60 {
		data := filesRandomContent(r, 30)
		path := filesWrite(t, dir, fmt.Sprint(i), data)
		for chunkSize := 1; chunkSize <= 20; chunkSize++ {
			for n := 0; n <= bytes.Count(data, []byte("\n"))+2; n++ {
				wantLines, wantRaw := filesReferenceTail(data, n, chunkSize)
				raw, err := skyrs.TailLines(path, n, chunkSize)
				if err != nil || !bytes.Equal(raw, wantRaw) {
					t.Fatalf("TailLines(%q, %d, %d) = %q, %v; want %q", data, n, chunkSize, raw, err, wantRaw)
				}
				lines, err := skyrs.ReadLastNLines(path, n, chunkSize)
				if err != nil || !slices.Equal(lines, wantLines) {
					t.Fatalf("ReadLastNLines(%q, %d, %d) = %q, %v; want %q", data, n, chunkSize, lines, err, wantLines)
				}
			}
		}
	}
}

// TestReadLastNLinesLargeFile covers selections that span many read blocks.
func TestReadLastNLinesLargeFile(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var data []byte
	for len(data) < 6<<20 {
		line := bytes.Repeat([]byte{'x'}, r.IntN(300))
		if r.IntN(4) == 0 {
			line = append(line, '\r')
		}
		data = append(append(data, line...), '\n')
	}
	data = append(data, "no newline at the end"...)
	path := filesWrite(t, t.TempDir(), "big", data)
	lineCount := bytes.Count(data, []byte("\n")) + 1
	for _, n := range []int{1, 10, 1000, 30000, lineCount - 1, lineCount, lineCount + 5} {
		_, want := filesReferenceTail(data, n, 8192)
		got, err := skyrs.TailLines(path, n, 8192)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("TailLines(big, %d): %d bytes, %v; want %d bytes", n, len(got), err, len(want))
		}
	}
}

// TestTailLinesBlockBoundaries puts '\n' and '\r' at and around 16 KiB and
// 48 KiB from the end of the file, where TailLines splits its reads.
func TestTailLinesBlockBoundaries(t *testing.T) {
	dir := t.TempDir()
	const size = 80 << 10
	for _, boundary := range []int{16 << 10, 48 << 10} {
		for delta := -2; delta <= 2; delta++ {
			for _, endsWithNewline := range []bool{false, true} {
				data := bytes.Repeat([]byte{'x'}, size)
				at := size - boundary + delta
				data[at-1], data[at], data[at+1] = '\r', '\n', '\n'
				data[at-5000] = '\n'
				if endsWithNewline {
					data[size-1] = '\n'
				}
				path := filesWrite(t, dir, "boundary", data)
				for n := 1; n <= 5; n++ {
					_, want := filesReferenceTail(data, n, 8192)
					got, err := skyrs.TailLines(path, n, 8192)
					if err != nil || !bytes.Equal(got, want) {
						t.Errorf("TailLines(newlines at end-%d%+d, ends with newline %v, n=%d): %d bytes, %v; want %d bytes",
							boundary, delta, endsWithNewline, n, len(got), err, len(want))
					}
				}
			}
		}
	}
}

// TestTailLinesSparseGigabyte reads the end of a 1 GiB sparse file, which
// must not mean reading the gigabyte of zeros before it.
func TestTailLinesSparseGigabyte(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sparse")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	tail := "\nsecond to last\r\nlast\n"
	if _, err := f.WriteAt([]byte(tail), 1<<30); err != nil {
		t.Fatal(err)
	}
	f.Close()
	got, err := skyrs.ReadLastNLines(path, 2, 8192)
	if want := []string{"second to last\n", "last"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("ReadLastNLines(sparse, 2) = %q, %v; want %q", got, err, want)
	}
}

func TestTailLinesErrors(t *testing.T) {
	dir := t.TempDir()
	file := filesWrite(t, dir, "file", []byte("x\n"))
	missing := filepath.Join(dir, "missing")
	broken := filepath.Join(dir, "broken")
	if err := os.Symlink(missing, broken); err != nil {
		t.Fatal(err)
	}
	loop := filepath.Join(dir, "loop")
	if err := os.Symlink(loop, loop); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path         string
		n, chunkSize int
		kind         skyrs.Kind
		errno        syscall.Errno
		msg          string
	}{
		{missing, -1, 0, skyrs.KindAssertionError, 0, "n must be non-negative. Got -1"},
		{missing, 1, 0, skyrs.KindAssertionError, 0, "chunk_size must be positive. Got 0"},
		{missing, 0, -5, skyrs.KindAssertionError, 0, "chunk_size must be positive. Got -5"},
		{missing, 0, 1, skyrs.KindAssertionError, 0, "File not found: " + missing},
		{broken, 1, 1, skyrs.KindAssertionError, 0, "File not found: " + broken},
		{loop, 1, 1, skyrs.KindAssertionError, 0, "File not found: " + loop},
		{file + "/x", 1, 1, skyrs.KindAssertionError, 0, "File not found: " + file + "/x"},
		{"", 1, 1, skyrs.KindAssertionError, 0, "File not found: "},
		{dir, 1, 8192, skyrs.KindOSError, syscall.EISDIR, dir},
		{fifo, 1, 8192, skyrs.KindDecline, 0, ""},
		{"/dev/null", 1, 8192, skyrs.KindDecline, 0, ""},
	}
	if _, err := os.Stat("/proc/version"); err == nil {
		// seq_file /proc files refuse SEEK_END; upstream reports it.
		tests = append(tests, struct {
			path         string
			n, chunkSize int
			kind         skyrs.Kind
			errno        syscall.Errno
			msg          string
		}{"/proc/version", 1, 8192, skyrs.KindOSError, syscall.EINVAL, ""})
	}
	for _, tt := range tests {
		got, err := skyrs.TailLines(tt.path, tt.n, tt.chunkSize)
		if err == nil {
			t.Errorf("TailLines(%q, %d, %d) = %q; want %s", tt.path, tt.n, tt.chunkSize, got, tt.kind)
			continue
		}
		e := filesError(t, err)
		if e.Kind != tt.kind || e.Errno != tt.errno || (tt.kind != skyrs.KindDecline && e.Msg != tt.msg) {
			t.Errorf("TailLines(%q, %d, %d) error %+v; want %s %d %q", tt.path, tt.n, tt.chunkSize, e, tt.kind, tt.errno, tt.msg)
		}
	}
	// n == 0 returns before the file is opened, so a directory or a FIFO
	// gives no lines; a /proc file reporting size 0 gives none either.
	for _, path := range []string{dir, fifo, "/proc/sys/kernel/ostype"} {
		if _, err := os.Stat(path); err != nil {
			continue
		}
		n := 1
		if path != "/proc/sys/kernel/ostype" {
			n = 0
		}
		got, err := skyrs.TailLines(path, n, 8192)
		if err != nil || len(got) != 0 {
			t.Errorf("TailLines(%q, %d) = %q, %v; want no lines", path, n, got, err)
		}
	}
}

func TestDecodeUTF8Replace(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain ascii", "plain ascii"},
		{"é日😀", "é日😀"},
		{"\xe2\x82", "\uFFFD"},
		{"\xff\xfe", "\uFFFD\uFFFD"},
		{"\xed\xa0\x80", "\uFFFD\uFFFD\uFFFD"},
		{"\xc0\x80", "\uFFFD\uFFFD"},
		{"\xf4\x90\x80\x80", "\uFFFD\uFFFD\uFFFD\uFFFD"},
		{"\xf0\x9f\x98", "\uFFFD"},
		{"\xf0\x9f\x98a", "\uFFFDa"},
		{"\xe0\x80\x80", "\uFFFD\uFFFD\uFFFD"},
		{"\xe0\xa0", "\uFFFD"},
		{"\xf0\x8f\xbf\xbf", "\uFFFD\uFFFD\uFFFD\uFFFD"},
		{"\xf8\x88\x80\x80\x80", "\uFFFD\uFFFD\uFFFD\uFFFD\uFFFD"},
		{"a\x80b\xbfc", "a\uFFFDb\uFFFDc"},
		{"\xc2\xc2\x85", "\uFFFD\u0085"},
		{"\xef\xbf\xbd", "\uFFFD"},
		{"\xf4\x8f\xbf\xbf", "\U0010FFFF"},
		{"\xe2\x82\xac\xe2\x82", "€\uFFFD"},
	}
	for _, tt := range tests {
		if got := skyrs.DecodeUTF8Replace([]byte(tt.in)); got != tt.want {
			t.Errorf("DecodeUTF8Replace(%q) = %q; want %q", tt.in, got, tt.want)
		}
		if got := filesReferenceDecode([]byte(tt.in)); got != tt.want {
			t.Errorf("reference decode(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

// filesAsNobody runs fn with the effective user id 65534 on one locked OS
// thread, so that root meets permission checks. The raw setresuid call
// changes that thread only; the rest of the test binary stays root. If the
// credentials cannot be restored, the thread is never unlocked and dies with
// its goroutine.
func filesAsNobody(t *testing.T, fn func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		fn()
		return
	}
	const keep = ^uintptr(0) // -1: leave unchanged
	skipped := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if _, _, errno := syscall.RawSyscall(syscall.SYS_SETRESUID, keep, 65534, keep); errno != 0 {
			runtime.UnlockOSThread()
			skipped <- errno
			return
		}
		func() {
			defer func() {
				if _, _, errno := syscall.RawSyscall(syscall.SYS_SETRESUID, keep, 0, keep); errno == 0 {
					runtime.UnlockOSThread()
				}
			}()
			fn()
		}()
		skipped <- nil
	}()
	if err := <-skipped; err != nil {
		t.Skipf("cannot drop privileges: %v", err)
	}
}

func TestFilesPermissionDenied(t *testing.T) {
	dir := t.TempDir()
	// The temporary directory and its parent are private to root; open them
	// up so that only the modes below decide.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	locked := filepath.Join(dir, "locked")
	if err := os.Mkdir(locked, 0o700); err != nil {
		t.Fatal(err)
	}
	filesWrite(t, locked, "inside", []byte("x\n"))
	unreadable := filesWrite(t, dir, "unreadable", []byte("x\n"))
	for path, mode := range map[string]os.FileMode{locked: 0o300, unreadable: 0o200} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { os.Chmod(locked, 0o700) })

	var tailUnreadable, tailInside, hashUnreadable, hashInside, countLocked error
	filesAsNobody(t, func() {
		_, tailUnreadable = skyrs.TailLines(unreadable, 1, 8192)
		_, tailInside = skyrs.TailLines(filepath.Join(locked, "inside"), 1, 8192)
		_, hashUnreadable = skyrs.HashFile(unreadable, "md5")
		_, hashInside = skyrs.HashFile(filepath.Join(locked, "x", "..", "inside"), "md5")
		_, countLocked = skyrs.CountDirEntries(locked)
	})
	checks := []struct {
		name  string
		err   error
		kind  skyrs.Kind
		errno syscall.Errno
		msg   string
	}{
		{"TailLines(unreadable)", tailUnreadable, skyrs.KindOSError, syscall.EACCES, unreadable},
		{"TailLines(locked/inside)", tailInside, skyrs.KindAssertionError, 0, "File not found: " + filepath.Join(locked, "inside")},
		{"HashFile(unreadable)", hashUnreadable, skyrs.KindOSError, syscall.EACCES, unreadable},
		{"HashFile(locked/x/../inside)", hashInside, skyrs.KindOSError, syscall.EACCES, filepath.Join(locked, "x", "..", "inside")},
		{"CountDirEntries(locked)", countLocked, skyrs.KindOSError, syscall.EACCES, locked},
	}
	for _, c := range checks {
		if c.err == nil {
			t.Errorf("%s succeeded; want %s", c.name, c.kind)
			continue
		}
		if e := filesError(t, c.err); e.Kind != c.kind || e.Errno != c.errno || e.Msg != c.msg {
			t.Errorf("%s error %+v; want %s %d %q", c.name, e, c.kind, c.errno, c.msg)
		}
	}
}

// filesBindRaw binds an IPv4 TCP socket to addr:port without SO_REUSEADDR
// and without listening, and returns it with the port it got.
func filesBindRaw(t *testing.T, addr [4]byte, port int) (fd, bound int, err error) {
	t.Helper()
	fd, err = syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: addr, Port: port}); err != nil {
		syscall.Close(fd)
		return -1, 0, err
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	return fd, sa.(*syscall.SockaddrInet4).Port, nil
}

func TestFindFreePort(t *testing.T) {
	if got, err := skyrs.FindFreePort(0); got != 0 || err != nil {
		t.Errorf("FindFreePort(0) = %d, %v; want 0", got, err)
	}

	_, bound, err := filesBindRaw(t, [4]byte{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := skyrs.FindFreePort(bound); err != nil || got <= bound {
		t.Errorf("FindFreePort(%d) = %d, %v with the port bound; want a later port", bound, got, err)
	}

	listener, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	listening := listener.Addr().(*net.TCPAddr).Port
	if got, err := skyrs.FindFreePort(listening); err != nil || got <= listening {
		t.Errorf("FindFreePort(%d) = %d, %v with 127.0.0.1:%d listening; want a later port", listening, got, err, listening)
	}

	// The last port tried is 65534: hold it, and nothing is left.
	if fd, _, err := filesBindRaw(t, [4]byte{}, 65534); err == nil {
		syscall.Close(fd)
		if got, err := skyrs.FindFreePort(65534); err != nil || got != 65534 {
			t.Logf("FindFreePort(65534) = %d, %v right after it was free", got, err)
		}
		if _, _, err := filesBindRaw(t, [4]byte{}, 65534); err != nil {
			t.Logf("could not hold port 65534 again: %v", err)
		}
	}
	for _, start := range []int{65534, 65535, 70000} {
		got, err := skyrs.FindFreePort(start)
		if err == nil {
			t.Errorf("FindFreePort(%d) = %d; want no free ports", start, got)
			continue
		}
		if e := filesError(t, err); e.Kind != skyrs.KindOSError || e.Errno != 0 || e.Msg != "No free ports available." {
			t.Errorf("FindFreePort(%d) error %+v; want OSError No free ports available.", start, e)
		}
	}

	for _, start := range []int{-1, -70000} {
		_, err := skyrs.FindFreePort(start)
		if e := filesError(t, err); e.Kind != skyrs.KindOverflowError || e.Msg != "bind(): port must be 0-65535." {
			t.Errorf("FindFreePort(%d) error %+v; want OverflowError", start, e)
		}
	}
	_, err = pyexport.FindFreePort(-1)
	if want := "skyrs\x1fOverflowError\x1f0\x1fbind(): port must be 0-65535."; err == nil || err.Error() != want {
		t.Errorf("pyexport.FindFreePort(-1) error %v; want %q", err, want)
	}
}

// TestFindFreePortTimeWait is why FindFreePort does not use net.Listen: a
// port whose closed connection lingers in TIME_WAIT cannot be bound without
// SO_REUSEADDR, so upstream moves on.
func TestFindFreePortTimeWait(t *testing.T) {
	listener, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := listener.Addr().(*net.TCPAddr).Port
	client, err := net.Dial("tcp4", listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err := listener.Accept()
	if err != nil {
		t.Fatal(err)
	}
	listener.Close()
	server.Close() // the server side closes first and keeps the port
	buf := make([]byte, 1)
	client.Read(buf) // wait for the server's FIN
	client.Close()
	if got, err := skyrs.FindFreePort(port); err != nil || got == port {
		t.Errorf("FindFreePort(%d) = %d, %v with the port in TIME_WAIT; want a later port", port, got, err)
	}
}

func TestCountDirEntries(t *testing.T) {
	dir := t.TempDir()
	mkdir := func(parts ...string) string {
		path := filepath.Join(append([]string{dir}, parts...)...)
		if err := os.MkdirAll(path, 0o755); err != nil {
			t.Fatal(err)
		}
		return path
	}
	empty := mkdir("empty")
	mixed := mkdir("mixed")
	filesWrite(t, mixed, "a", nil)
	filesWrite(t, mixed, ".hidden", nil)
	mkdir("mixed", "sub")
	filesWrite(t, filepath.Join(mixed, "sub"), "not counted", nil)
	if err := os.Symlink("a", filepath.Join(mixed, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("missing", filepath.Join(mixed, "broken")); err != nil {
		t.Fatal(err)
	}
	linkToDir := filepath.Join(dir, "link-to-mixed")
	if err := os.Symlink(mixed, linkToDir); err != nil {
		t.Fatal(err)
	}
	many := mkdir("many")
	for i := range 3000 {
		// Long names make getdents64 take several calls.
		filesWrite(t, many, fmt.Sprintf("%04d-%s", i, strings.Repeat("n", 120)), nil)
	}
	file := filesWrite(t, dir, "file", nil)
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")

	tests := []struct {
		path  string
		want  int
		errno syscall.Errno
	}{
		{empty, 0, 0},
		{mixed, 5, 0},
		{mixed + "/", 5, 0},
		{linkToDir, 5, 0},
		{many, 3000, 0},
		{dir, 6, 0},
		{missing, 0, syscall.ENOENT},
		{"", 0, syscall.ENOENT},
		{file, 0, syscall.ENOTDIR},
		{file + "/", 0, syscall.ENOTDIR},
		{fifo, 0, syscall.ENOTDIR},
	}
	for _, tt := range tests {
		got, err := skyrs.CountDirEntries(tt.path)
		fd, fdErr := skyrs.EstimateFDForDirectory(tt.path)
		fdExport, exportErr := pyexport.EstimateFDForDirectory(tt.path)
		if tt.errno == 0 {
			if err != nil || got != tt.want || fdErr != nil || fd != 5*tt.want || exportErr != nil || fdExport != 5*tt.want {
				t.Errorf("CountDirEntries(%q) = %d, %v; EstimateFDForDirectory = %d, %v; pyexport %d, %v; want %d",
					tt.path, got, err, fd, fdErr, fdExport, exportErr, tt.want)
			}
			continue
		}
		if err == nil || fdErr == nil || exportErr == nil {
			t.Errorf("CountDirEntries(%q) = %d, %v (estimate %v, pyexport %v); want errno %d", tt.path, got, err, fdErr, exportErr, tt.errno)
			continue
		}
		for _, err := range []error{err, fdErr} {
			if e := filesError(t, err); e.Kind != skyrs.KindOSError || e.Errno != tt.errno || e.Msg != tt.path {
				t.Errorf("CountDirEntries(%q) error %+v; want errno %d", tt.path, e, tt.errno)
			}
		}
		want := fmt.Sprintf("skyrs\x1fOSError\x1f%d\x1f%s", int(tt.errno), tt.path)
		if exportErr.Error() != want {
			t.Errorf("pyexport.EstimateFDForDirectory(%q) error %q; want %q", tt.path, exportErr, want)
		}
	}
}

// filesTailCall is one read_last_n_lines call for the upstream oracle.
type filesTailCall struct {
	Path      string `json:"path"`
	N         int    `json:"n"`
	ChunkSize int    `json:"chunk_size"`
}

// filesHashCall is one hash_file call for the upstream oracle.
type filesHashCall struct {
	Path string `json:"path"`
	Alg  string `json:"alg"`
}

// filesOracleRequest is what TestFilesAgainstUpstream asks upstream.
type filesOracleRequest struct {
	Tail    []filesTailCall `json:"tail"`
	Hash    []filesHashCall `json:"hash"`
	Listdir []string        `json:"listdir"`
	Decode  [][]byte        `json:"decode"`
}

// filesOracleAnswer is one upstream result: a value or an exception.
type filesOracleAnswer struct {
	Lines    []string `json:"lines"`
	Hex      string   `json:"hex"`
	Count    int      `json:"count"`
	Text     string   `json:"text"`
	Exc      string   `json:"exc"`
	Msg      string   `json:"msg"`
	Errno    int      `json:"errno"`
	Filename string   `json:"filename"`
}

const upstreamFilesScript = `
import base64, json, os, sys
from sky.utils import common_utils

def oserror(e, answer):
    answer['errno'] = e.errno or 0
    answer['filename'] = e.filename if e.filename is not None else ''

def call(fn):
    try:
        return fn()
    except BaseException as e:
        answer = {'exc': type(e).__name__, 'msg': str(e)}
        cause = e if isinstance(e, OSError) else e.__cause__
        if isinstance(cause, OSError):
            oserror(cause, answer)
        return answer

request = json.load(sys.stdin)
answers = {
    'tail': [call(lambda r=r: {'lines': common_utils.read_last_n_lines(
        r['path'], r['n'], r['chunk_size'])}) for r in request['tail']],
    'hash': [call(lambda r=r: {'hex': common_utils.hash_file(
        r['path'], r['alg']).hexdigest()}) for r in request['hash']],
    'listdir': [call(lambda p=p: {'count': len(os.listdir(p))})
                for p in request['listdir']],
    'decode': [],
}
for b64 in request['decode']:
    text = base64.b64decode(b64 or '').decode('utf-8', 'replace')
    answers['decode'].append({'text': text})
json.dump(answers, sys.stdout, ensure_ascii=True)
`

// TestFilesAgainstUpstream runs a few hundred random files through upstream
// SkyPilot in the project venv, in one Python process, and compares.
func TestFilesAgainstUpstream(t *testing.T) {
	python, err := filepath.Abs(filepath.Join("..", ".venv", "bin", "python"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(python); err != nil {
		t.Skipf("no upstream oracle: %v", err)
	}
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(7, 8))
	var req filesOracleRequest
	addTail := func(path string, n, chunkSize int) {
		req.Tail = append(req.Tail, filesTailCall{path, n, chunkSize})
	}
	addHash := func(path, alg string) {
		req.Hash = append(req.Hash, filesHashCall{path, alg})
	}
	var files []string
	for i := range 300 {
		data := filesRandomContent(r, 80)
		path := filesWrite(t, dir, fmt.Sprintf("random-%d", i), data)
		files = append(files, path)
		chunkSize := 1 + r.IntN(24)
		if r.IntN(5) == 0 {
			chunkSize = 8192
		}
		addTail(path, r.IntN(14), chunkSize)
		req.Decode = append(req.Decode, data)
	}
	for i := range 400 {
		req.Decode = append(req.Decode, filesRandomContent(r, 6+i%10))
	}
	missing := filepath.Join(dir, "missing")
	addTail(missing, 1, 8192)
	addTail(missing, -1, 8192)
	addTail(missing, 1, 0)
	addTail(dir, 0, 8192)
	addTail(dir, 3, 8192)
	addTail(files[0]+"/x", 3, 8192)
	for _, special := range []string{"/proc/version", "/proc/sys/kernel/ostype",
		"/sys/kernel/mm/transparent_hugepage/enabled", "/sys/devices/system/cpu/online"} {
		if _, err := os.Stat(special); err == nil {
			addTail(special, 2, 8192)
			addTail(special, 1, 3)
		}
	}
	for i, alg := range []string{"md5", "sha1", "sha224", "sha256", "sha384", "sha512"} {
		addHash(files[i], alg)
		addHash(files[len(files)-1-i], alg)
	}
	addHash(missing, "bogus")
	addHash(dir, "bogus")
	addHash(files[0], "bogus")
	addHash(files[0], "sha3_256")
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	filesWrite(t, sub, ".hidden", nil)
	link := filepath.Join(dir, "link")
	if err := os.Symlink(sub, link); err != nil {
		t.Fatal(err)
	}
	req.Listdir = []string{dir, sub, link, missing, files[0], ""}

	input, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, "-c", upstreamFilesScript)
	cmd.Stdin = bytes.NewReader(input)
	cmd.Stderr = os.Stderr
	output, err := cmd.Output()
	if err != nil {
		t.Fatalf("upstream oracle failed: %v", err)
	}
	var answers struct {
		Tail, Hash, Listdir, Decode []filesOracleAnswer
	}
	if err := json.Unmarshal(output, &answers); err != nil {
		t.Fatalf("upstream oracle output: %v", err)
	}
	if len(answers.Tail) != len(req.Tail) || len(answers.Hash) != len(req.Hash) ||
		len(answers.Listdir) != len(req.Listdir) || len(answers.Decode) != len(req.Decode) {
		t.Fatalf("upstream oracle answered %d/%d/%d/%d calls", len(answers.Tail), len(answers.Hash), len(answers.Listdir), len(answers.Decode))
	}

	// sameError compares a Go error with an upstream exception: the
	// assertion message, or the errno and file name of the OSError that
	// upstream raised or wrapped into its RuntimeError.
	sameError := func(err error, want filesOracleAnswer) bool {
		var e *skyrs.Error
		if !errors.As(err, &e) {
			return false
		}
		switch e.Kind {
		case skyrs.KindAssertionError:
			return want.Exc == "AssertionError" && want.Msg == e.Msg
		case skyrs.KindOSError:
			return want.Errno != 0 && int(e.Errno) == want.Errno && e.Msg == want.Filename
		}
		return false
	}

	for i, call := range req.Tail {
		want := answers.Tail[i]
		got, err := skyrs.ReadLastNLines(call.Path, call.N, call.ChunkSize)
		desc := fmt.Sprintf("ReadLastNLines(%q, %d, %d)", call.Path, call.N, call.ChunkSize)
		if want.Exc == "" {
			if err != nil || !slices.Equal(got, want.Lines) {
				t.Errorf("%s = %q, %v; upstream %q", desc, got, err, want.Lines)
			}
			continue
		}
		if !sameError(err, want) {
			t.Errorf("%s = %q, %v; upstream %s: %s", desc, got, err, want.Exc, want.Msg)
		}
		if want.Exc == "RuntimeError" && !strings.HasPrefix(want.Msg, fmt.Sprintf("Failed to read last %d lines from %s: ", call.N, call.Path)) {
			t.Errorf("%s: upstream message %q", desc, want.Msg)
		}
	}

	for i, call := range req.Hash {
		want := answers.Hash[i]
		got, err := pyexport.HashFile(call.Path, call.Alg, 0)
		desc := fmt.Sprintf("HashFile(%q, %q)", call.Path, call.Alg)
		var e *skyrs.Error
		switch {
		case want.Exc == "" && err == nil:
			if got != want.Hex {
				t.Errorf("%s = %s; upstream %s", desc, got, want.Hex)
			}
		case want.Exc == "" || want.Exc == "ValueError":
			// Left to hashlib: declining is the contract.
			got, err := skyrs.HashFile(call.Path, call.Alg)
			if !errors.As(err, &e) || e.Kind != skyrs.KindDecline {
				t.Errorf("%s = %x, %v; want Decline (upstream %s %s)", desc, got, err, want.Exc, want.Hex)
			}
		default:
			_, err := skyrs.HashFile(call.Path, call.Alg)
			if !sameError(err, want) {
				t.Errorf("%s error %v; upstream %s: %s", desc, err, want.Exc, want.Msg)
			}
		}
	}

	for i, path := range req.Listdir {
		want := answers.Listdir[i]
		got, err := skyrs.CountDirEntries(path)
		if want.Exc == "" {
			if err != nil || got != want.Count {
				t.Errorf("CountDirEntries(%q) = %d, %v; upstream %d", path, got, err, want.Count)
			}
		} else if !sameError(err, want) {
			t.Errorf("CountDirEntries(%q) error %v; upstream %s: %s", path, err, want.Exc, want.Msg)
		}
	}

	for i, data := range req.Decode {
		want := answers.Decode[i]
		if got := skyrs.DecodeUTF8Replace(data); got != want.Text {
			t.Errorf("DecodeUTF8Replace(%q) = %q; upstream %q", data, got, want.Text)
		}
	}
}

func ExampleReadLastNLines() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "log")
	os.WriteFile(path, []byte("l1\nl2\r\nl3\n"), 0o644)
	lines, _ := skyrs.ReadLastNLines(path, 2, 8192)
	fmt.Printf("%q\n", lines)
	// Output: ["l2\n" "l3"]
}

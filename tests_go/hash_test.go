package tests_go

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/skypilot-org/sky_rs/skyrs"
	"github.com/skypilot-org/sky_rs/skyrs/pyexport"
)

// hashOpenFiles counts this process's open file descriptors, to show that no
// path of the hashing code leaves a file open.
func hashOpenFiles(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count open files: %v", err)
	}
	return len(entries)
}

// hashRandom returns n random bytes from a fixed seed.
func hashRandom(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed+1))
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	return data
}

// hashDigests computes each digest with the standard library's one-shot
// functions, independently of skyrs.NewHash's name table.
var hashDigests = map[string]func([]byte) []byte{
	"md5":    func(b []byte) []byte { s := md5.Sum(b); return s[:] },
	"sha1":   func(b []byte) []byte { s := sha1.Sum(b); return s[:] },
	"sha224": func(b []byte) []byte { s := sha256.Sum224(b); return s[:] },
	"sha256": func(b []byte) []byte { s := sha256.Sum256(b); return s[:] },
	"sha384": func(b []byte) []byte { s := sha512.Sum384(b); return s[:] },
	"sha512": func(b []byte) []byte { s := sha512.Sum512(b); return s[:] },
}

func TestHashFile(t *testing.T) {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(5, 6))
	big := make([]byte, 3<<20+12345)
	for i := range big {
		big[i] = byte(r.Uint32())
	}
	files := map[string][]byte{
		"empty":   nil,
		"abc":     []byte("abc"),
		"256KiB":  big[:256<<10],
		"256KiB1": big[:256<<10+1],
		"big":     big,
	}
	for name, data := range files {
		path := filesWrite(t, dir, name, data)
		for alg, digest := range hashDigests {
			got, err := skyrs.HashFile(path, alg)
			if want := digest(data); err != nil || !bytes.Equal(got, want) {
				t.Errorf("HashFile(%s, %s) = %x, %v; want %x", name, alg, got, err, want)
			}
		}
	}
	// Published test vectors.
	vectors := []struct{ name, alg, hex string }{
		{"empty", "md5", "d41d8cd98f00b204e9800998ecf8427e"},
		{"abc", "sha256", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{"abc", "sha1", "a9993e364706816aba3e25717850c26c9cd0d89d"},
	}
	for _, v := range vectors {
		got, err := pyexport.HashFile(filepath.Join(dir, v.name), v.alg, 1)
		if err != nil || got != v.hex {
			t.Errorf("pyexport.HashFile(%s, %s) = %s, %v; want %s", v.name, v.alg, got, err, v.hex)
		}
	}
}

func TestHashFileErrors(t *testing.T) {
	dir := t.TempDir()
	file := filesWrite(t, dir, "file", []byte("x"))
	missing := filepath.Join(dir, "missing")
	broken := filepath.Join(dir, "broken")
	if err := os.Symlink(missing, broken); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path, alg string
		kind      skyrs.Kind
		errno     syscall.Errno
		msg       string
	}{
		// The file is opened before the algorithm is looked at.
		{missing, "bogus", skyrs.KindOSError, syscall.ENOENT, missing},
		{broken, "md5", skyrs.KindOSError, syscall.ENOENT, broken},
		{file + "/x", "md5", skyrs.KindOSError, syscall.ENOTDIR, file + "/x"},
		{dir, "bogus", skyrs.KindOSError, syscall.EISDIR, dir},
		{file, "bogus", skyrs.KindDecline, 0, "unsupported hash type bogus"},
		{file, "sha3_256", skyrs.KindDecline, 0, "unsupported hash type sha3_256"},
		{file, "SHA256", skyrs.KindDecline, 0, "unsupported hash type SHA256"},
		{fifo, "md5", skyrs.KindDecline, 0, "hash_file of a non-regular file"},
		{"/dev/null", "md5", skyrs.KindDecline, 0, "hash_file of a non-regular file"},
	}
	for _, tt := range tests {
		got, err := skyrs.HashFile(tt.path, tt.alg)
		if err == nil {
			t.Errorf("HashFile(%q, %q) = %x; want %s", tt.path, tt.alg, got, tt.kind)
			continue
		}
		if e := filesError(t, err); e.Kind != tt.kind || e.Errno != tt.errno || e.Msg != tt.msg {
			t.Errorf("HashFile(%q, %q) error %+v; want %s %d %q", tt.path, tt.alg, e, tt.kind, tt.errno, tt.msg)
		}
	}
}

func TestNewHash(t *testing.T) {
	tests := []struct {
		alg             string
		size, blockSize int
	}{
		{"md5", 16, 64}, {"sha1", 20, 64}, {"sha224", 28, 64},
		{"sha256", 32, 64}, {"sha384", 48, 128}, {"sha512", 64, 128},
	}
	for _, tt := range tests {
		h, ok := skyrs.NewHash(tt.alg)
		if !ok || h.Size() != tt.size || h.BlockSize() != tt.blockSize {
			t.Errorf("NewHash(%q) = %v, %v; want size %d block %d", tt.alg, h, ok, tt.size, tt.blockSize)
			continue
		}
		h.Write([]byte("abc"))
		if got, want := h.Sum(nil), hashDigests[tt.alg]([]byte("abc")); !bytes.Equal(got, want) {
			t.Errorf("NewHash(%q) digest %x; want %x", tt.alg, got, want)
		}
	}
	for _, alg := range []string{"", "MD5", "sha3_256", "blake2b", "sha512_256", "shake_128"} {
		if _, ok := skyrs.NewHash(alg); ok {
			t.Errorf("NewHash(%q) accepted", alg)
		}
	}
}

func ExampleHashFile() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "data")
	os.WriteFile(path, []byte("abc"), 0o644)
	digest, _ := skyrs.HashFile(path, "sha256")
	fmt.Println(hex.EncodeToString(digest))
	// Output: ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
}

func TestFileHasherSteps(t *testing.T) {
	dir := t.TempDir()
	data := hashRandom(9, 1<<20+3)
	cases := map[string][]byte{
		"empty":      nil,
		"one buffer": data[:256<<10], // the EOF read is skipped at exactly the size
		"buffer+1":   data[:256<<10+1],
		"four":       data[:1<<20],
		"odd":        data,
	}
	before := hashOpenFiles(t)
	for name, content := range cases {
		path := filesWrite(t, dir, name, content)
		for _, step := range []int64{1, 1000, 256 << 10, 300 << 10, 1 << 30} {
			h, err := skyrs.OpenFileHasher(path, "sha256")
			if err != nil {
				t.Fatalf("OpenFileHasher(%s): %v", name, err)
			}
			steps := 0
			for {
				done, err := h.Step(step)
				if err != nil {
					t.Fatalf("Step(%d) of %s: %v", step, name, err)
				}
				steps++
				if done {
					break
				}
				if steps > len(content)+2 {
					t.Fatalf("Step(%d) of %s never finishes", step, name)
				}
			}
			// Every step but the last reads at least its share.
			if maxSteps := int64(len(content))/step + 2; int64(steps) > maxSteps {
				t.Errorf("Step(%d) of %s took %d steps; want at most %d", step, name, steps, maxSteps)
			}
			if done, err := h.Step(step); !done || err != nil {
				t.Errorf("Step after the end of %s = %v, %v; want true, nil", name, done, err)
			}
			want := sha256.Sum256(content)
			if got := h.Sum(); !bytes.Equal(got, want[:]) {
				t.Errorf("%s in steps of %d = %x; want %x", name, step, got, want)
			}
			if err := h.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			if err := h.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
		}
	}
	if after := hashOpenFiles(t); after != before {
		t.Errorf("%d files open after hashing; %d before", after, before)
	}
}

func TestFileHasherGrowingFile(t *testing.T) {
	// The size stat gave at open only lets a short read end early when it
	// reaches exactly that size; data appended before the read is hashed, as
	// upstream's read-until-empty loop hashes it.
	dir := t.TempDir()
	path := filesWrite(t, dir, "log", []byte("first line\n"))
	h, err := skyrs.OpenFileHasher(path, "md5")
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("second line\n")
	f.Close()
	if done, err := h.Step(1 << 30); !done || err != nil {
		t.Fatalf("Step = %v, %v", done, err)
	}
	want := md5.Sum([]byte("first line\nsecond line\n"))
	if got := h.Sum(); !bytes.Equal(got, want[:]) {
		t.Errorf("digest %x; want %x (the appended line too)", got, want)
	}
}

func TestFileHasherLargeFile(t *testing.T) {
	// Large files are read ahead by a goroutine of their own (in steps that
	// end mid-buffer too); data appended after the open is hashed as well.
	dir := t.TempDir()
	data := hashRandom(11, 21<<20+123)
	path := filesWrite(t, dir, "large", data[:20<<20+7])
	before := hashOpenFiles(t)
	for _, step := range []int64{1, 3 << 20, 1 << 40} {
		for _, alg := range []string{"md5", "sha256", "sha512"} {
			if err := os.WriteFile(path, data[:20<<20+7], 0o644); err != nil {
				t.Fatal(err)
			}
			h, err := skyrs.OpenFileHasher(path, alg)
			if err != nil {
				t.Fatal(err)
			}
			done, err := h.Step(step)
			// Appended after the first step: hashed, as upstream reads it,
			// unless that step found the end already.
			content := data[:20<<20+7]
			if !done {
				content = data
			}
			f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
			f.Write(data[20<<20+7:])
			f.Close()
			for err == nil && !done {
				done, err = h.Step(step)
			}
			if want := hashDigests[alg](content); err != nil || !bytes.Equal(h.Sum(), want) {
				t.Errorf("%s of 21 MiB in steps of %d = %x, %v; want %x", alg, step, h.Sum(), err, want)
			}
			h.Close()
		}
	}
	if after := hashOpenFiles(t); after != before {
		t.Errorf("%d files open after hashing; %d before", after, before)
	}
}

func TestFileHasherTruncatedFile(t *testing.T) {
	// A file that shrinks while it is hashed gives the digest of what was
	// read, as upstream's read loop does, and no error.
	dir := t.TempDir()
	data := hashRandom(12, 32<<20)
	for _, newSize := range []int{0, 1 << 20, 9<<20 + 5} {
		path := filesWrite(t, dir, "shrinks", data)
		h, err := skyrs.OpenFileHasher(path, "sha256")
		if err != nil {
			t.Fatal(err)
		}
		if done, err := h.Step(1); done || err != nil { // one read of 1 MiB
			t.Fatalf("first Step = %v, %v", done, err)
		}
		if err := os.Truncate(path, int64(newSize)); err != nil {
			t.Fatal(err)
		}
		done, err := h.Step(1 << 40)
		want := sha256.Sum256(data[:max(newSize, 1<<20)])
		if !done || err != nil || !bytes.Equal(h.Sum(), want[:]) {
			t.Errorf("after truncating to %d: %v, %v, %x; want done, %x", newSize, done, err, h.Sum(), want)
		}
		h.Close()
	}
}

func TestHashFiles(t *testing.T) {
	dir := t.TempDir()
	var paths []string
	var want [][]byte // nil: left to the caller
	add := func(path string, digest []byte) {
		paths = append(paths, path)
		want = append(want, digest)
	}
	for i := range 300 {
		data := hashRandom(uint64(i), i*97%4000)
		sum := sha256.Sum256(data)
		add(filesWrite(t, dir, fmt.Sprintf("f%d", i), data), sum[:])
		switch i {
		case 10:
			add(filepath.Join(dir, "missing"), nil)
		case 20:
			add(dir, nil) // a directory
		case 30:
			fifo := filepath.Join(dir, "fifo")
			if err := syscall.Mkfifo(fifo, 0o644); err != nil {
				t.Fatal(err)
			}
			add(fifo, nil)
		case 40:
			add("", nil)
		case 50:
			large := hashRandom(50, 5000)
			add(filesWrite(t, dir, "large", large), nil) // above MaxFileSize below
		}
	}
	before := hashOpenFiles(t)
	for _, workers := range []int{0, 1, 2, 7, 1000} {
		got, err := skyrs.HashFiles(paths, "sha256", skyrs.HashFilesOptions{Workers: workers, MaxFileSize: 4096})
		if err != nil || len(got) != len(paths) {
			t.Fatalf("HashFiles(workers %d) = %d digests, %v; want %d", workers, len(got), err, len(paths))
		}
		for i := range paths {
			if !bytes.Equal(got[i], want[i]) || (got[i] == nil) != (want[i] == nil) {
				t.Errorf("HashFiles(workers %d)[%d] (%s) = %x; want %x", workers, i, paths[i], got[i], want[i])
			}
		}
	}
	// Without MaxFileSize the large file is hashed too.
	got, err := skyrs.HashFiles(paths[55:57], "sha256", skyrs.HashFilesOptions{})
	if large := sha256.Sum256(hashRandom(50, 5000)); err != nil || len(got) != 2 || !bytes.Equal(got[0], large[:]) {
		t.Errorf("HashFiles without MaxFileSize = %x, %v; want the large file hashed", got, err)
	}
	// A deadline already past still starts a file per worker at most.
	for _, workers := range []int{1, 4} {
		got, err := skyrs.HashFiles(paths, "sha256", skyrs.HashFilesOptions{Workers: workers, Deadline: time.Now()})
		if err != nil || len(got) < 1 || len(got) > workers {
			t.Errorf("HashFiles(past deadline, %d workers) = %d digests, %v; want 1..%d", workers, len(got), err, workers)
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Errorf("HashFiles(past deadline)[%d] = %x; want %x", i, got[i], want[i])
			}
		}
	}
	if after := hashOpenFiles(t); after != before {
		t.Errorf("%d files open after hashing; %d before", after, before)
	}
	if got, err := skyrs.HashFiles(nil, "md5", skyrs.HashFilesOptions{}); err != nil || len(got) != 0 {
		t.Errorf("HashFiles(nil) = %v, %v; want none", got, err)
	}
	// An unknown algorithm is declined, whatever the files.
	for _, alg := range []string{"bogus", "SHA256", "sha3_256"} {
		_, err := skyrs.HashFiles(paths[:1], alg, skyrs.HashFilesOptions{})
		if e := filesError(t, err); e.Kind != skyrs.KindDecline {
			t.Errorf("HashFiles(%q) error %+v; want Decline", alg, e)
		}
	}
}

func TestPyexportHashFiles(t *testing.T) {
	dir := t.TempDir()
	a := filesWrite(t, dir, "a", []byte("abc"))
	b := filesWrite(t, dir, "b", nil)
	missing := filepath.Join(dir, "missing")
	abc := "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	empty := "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	tests := []struct {
		paths []string
		start int
		want  string
	}{
		{[]string{a}, 0, abc},
		{[]string{a, b, a}, 0, abc + "\n" + empty + "\n" + abc},
		{[]string{a, b, a}, 2, abc},
		{[]string{missing, a, dir}, 0, "\n" + abc + "\n"},
		{[]string{missing}, 0, ""},
		{[]string{""}, 0, ""},
	}
	for _, tt := range tests {
		got, err := pyexport.HashFiles(strings.Join(tt.paths, "\n"), "sha256", tt.start)
		if err != nil || got != tt.want {
			t.Errorf("HashFiles(%q, %d) = %q, %v; want %q", tt.paths, tt.start, got, err, tt.want)
		}
	}
	for _, start := range []int{-1, 3} {
		_, err := pyexport.HashFiles(strings.Join([]string{a, b, a}, "\n"), "md5", start)
		if err == nil || !strings.HasPrefix(err.Error(), "skyrs\x1fValueError\x1f") {
			t.Errorf("HashFiles(start %d) error %v; want ValueError", start, err)
		}
	}
	_, err := pyexport.HashFiles(a, "blake2b", 0)
	if err == nil || !strings.HasPrefix(err.Error(), "skyrs\x1fDecline\x1f") {
		t.Errorf("HashFiles(blake2b) error %v; want Decline", err)
	}
}

// hashSparseFile creates a file of size bytes that takes no disk space; it
// reads as zeros, quickly, but hashing it still takes a while.
func hashSparseFile(t *testing.T, size int64) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sparse")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	return path
}

// hashZeros returns the digest of n zero bytes.
func hashZeros(n int64) []byte {
	h := sha256.New()
	zeros := make([]byte, 1<<20)
	for ; n > 0; n -= int64(len(zeros)) {
		h.Write(zeros[:min(n, int64(len(zeros)))])
	}
	return h.Sum(nil)
}

func TestPyexportHashFileInSteps(t *testing.T) {
	if testing.Short() {
		t.Skip("hashes 512 MiB")
	}
	const size = 512 << 20 // more than one call's worth at any realistic speed
	path := hashSparseFile(t, size)
	want := hex.EncodeToString(hashZeros(size))
	before := hashOpenFiles(t)

	const token = 1001
	got, err := pyexport.HashFile(path, "sha256", token)
	if err != nil || got != "" {
		t.Fatalf("HashFile(512 MiB) = %q, %v; want \"\" (not done in one call)", got, err)
	}
	if open := hashOpenFiles(t); open != before+1 {
		t.Errorf("%d files open while parked; want %d", open, before+1)
	}
	// A token in use is an internal fault, and the new file is not left open.
	if _, err := pyexport.HashFile(path, "sha256", token); err == nil || !strings.HasPrefix(err.Error(), "skyrs\x1fPanic\x1f") {
		t.Errorf("HashFile(token in use) error %v; want Panic", err)
	}
	steps := 0
	for got == "" && err == nil {
		got, err = pyexport.HashFileStep(token)
		steps++
	}
	if err != nil || got != want {
		t.Errorf("HashFileStep x%d = %q, %v; want %s", steps, got, err, want)
	}
	if open, _ := pyexport.HashFileClose(token); open {
		t.Errorf("HashFileClose after the digest = true; want false (closed already)")
	}
	if _, err := pyexport.HashFileStep(token); err == nil || !strings.HasPrefix(err.Error(), "skyrs\x1fRuntimeError\x1f") {
		t.Errorf("HashFileStep(finished token) error %v; want RuntimeError", err)
	}

	// Abandoned half-way: HashFileClose closes the file.
	if got, err := pyexport.HashFile(path, "md5", token); err != nil || got != "" {
		t.Fatalf("HashFile(512 MiB, md5) = %q, %v; want \"\"", got, err)
	}
	if open, err := pyexport.HashFileClose(token); !open || err != nil {
		t.Errorf("HashFileClose(parked) = %v, %v; want true", open, err)
	}
	if open, err := pyexport.HashFileClose(token); open || err != nil {
		t.Errorf("second HashFileClose = %v, %v; want false", open, err)
	}
	if after := hashOpenFiles(t); after != before {
		t.Errorf("%d files open after hashing; %d before", after, before)
	}
}

func TestPyexportHashFileErrors(t *testing.T) {
	dir := t.TempDir()
	before := hashOpenFiles(t)
	tests := []struct {
		path, alg string
		want      string
	}{
		{filepath.Join(dir, "missing"), "bogus", "skyrs\x1fOSError\x1f2\x1f" + filepath.Join(dir, "missing")},
		{dir, "md5", "skyrs\x1fOSError\x1f21\x1f" + dir},
		{filesWrite(t, dir, "f", nil), "sha3_256", "skyrs\x1fDecline\x1f0\x1funsupported hash type sha3_256"},
		{"/dev/null", "md5", "skyrs\x1fDecline\x1f0\x1fhash_file of a non-regular file"},
	}
	for i, tt := range tests {
		got, err := pyexport.HashFile(tt.path, tt.alg, i)
		if err == nil || err.Error() != tt.want {
			t.Errorf("HashFile(%q, %q) = %q, %v; want error %q", tt.path, tt.alg, got, err, tt.want)
		}
		if open, _ := pyexport.HashFileClose(i); open {
			t.Errorf("HashFile(%q, %q) parked a file after an error", tt.path, tt.alg)
		}
	}
	if after := hashOpenFiles(t); after != before {
		t.Errorf("%d files open after the errors; %d before", after, before)
	}
}

func TestHashFileReadError(t *testing.T) {
	// Reading a directory that was opened fails like Python's read(): an
	// OSError without a file name. /proc/self/mem fails to read at offset 0.
	path := "/proc/self/mem"
	if _, err := os.Stat(path); err != nil {
		t.Skip("no /proc/self/mem")
	}
	_, err := skyrs.HashFile(path, "md5")
	var e *skyrs.Error
	if !errors.As(err, &e) || e.Kind != skyrs.KindOSError || e.Errno != syscall.EIO || e.Msg != "" {
		t.Errorf("HashFile(%s) error %+v; want OSError EIO without a file name", path, err)
	}
}

// HashFiles opens the files of a directory relative to it (dirCache): every
// way of naming a file must give what HashFile of the whole path gives.
func TestHashFilesNamesAsHashFile(t *testing.T) {
	dir := t.TempDir()
	for _, sub := range []string{"a", "b", "a/deep"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for i, name := range []string{"a/x", "a/y", "b/z", "a/deep/w"} {
		filesWrite(t, dir, name, hashRandom(uint64(100+i), 1000+i))
	}
	for link, target := range map[string]string{
		"la": "a", "a/lx": "x", "a/broken": "nothing", "b/up": "../a/y", "b/loop": "loop",
	} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
	names := []string{
		"a/x", "b/z", "a/y", "a/x", "la/x", "la/lx", "a/lx", "a/broken", "b/up",
		"b/loop", "a/", "a/./x", "a/../b/z", "a/deep/w", "la/deep/w", "a/x/",
		"a/missing", "missing/x", "x", "a//y", "./b/z",
	}
	var paths []string
	for _, name := range names {
		paths = append(paths, filepath.Join(dir, name), name) // absolute, relative
	}
	paths = append(paths, dir+"/a/x/", dir+"/la/")
	before := hashOpenFiles(t)
	for _, workers := range []int{1, 2} {
		got, err := skyrs.HashFiles(paths, "sha256", skyrs.HashFilesOptions{Workers: workers})
		if err != nil || len(got) != len(paths) {
			t.Fatalf("HashFiles(workers %d) = %d digests, %v", workers, len(got), err)
		}
		for i, path := range paths {
			want, err := skyrs.HashFile(path, "sha256")
			if err != nil {
				want = nil
			}
			if !bytes.Equal(got[i], want) || (got[i] == nil) != (want == nil) {
				t.Errorf("HashFiles(workers %d)[%q] = %x; HashFile: %x, %v", workers, path, got[i], want, err)
			}
		}
	}
	if after := hashOpenFiles(t); after != before {
		t.Errorf("%d files open after hashing; %d before", after, before)
	}
}

// BenchmarkHashFilesWorkdir hashes a tree like the benchmark's config-hash
// workdir (sky_fallback/_bench_load.make_workdir: 20,000 files of 200 B to
// 8 KB in 40 x 7 directories) with one worker and with one per CPU: the
// floor of the batch under SkyPilot's config hash, four system calls and a
// hash a file.
// benchWorkdir makes the workdir of the config-hash benchmark (make bench):
// 20,000 small files in 40 x 7 directories. It returns its root and the
// files' paths, directory by directory, as a walk gives them.
func benchWorkdir(b *testing.B) (string, []string) {
	root := b.TempDir()
	block := bytes.Repeat(func() []byte {
		var all [256]byte
		for i := range all {
			all[i] = byte(i)
		}
		return all[:]
	}(), 64)
	paths := make([]string, 0, 20000)
	for i := range 20000 {
		dir := filepath.Join(root, fmt.Sprintf("pkg%d", i%40), fmt.Sprintf("sub%d", i%7))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		data := block[i%997:]
		paths = append(paths, filesWrite(b, dir, fmt.Sprintf("module_%d.py", i), data[:200+(i*131)%7800]))
	}
	sort.Strings(paths)
	return root, paths
}

func BenchmarkHashFilesWorkdir(b *testing.B) {
	_, paths := benchWorkdir(b)
	for _, workers := range []int{1, runtime.NumCPU()} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			for b.Loop() {
				if _, err := skyrs.HashFiles(paths, "sha256", skyrs.HashFilesOptions{Workers: workers}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

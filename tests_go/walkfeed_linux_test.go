package tests_go

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/skypilot-org/sky_rs/skyrs"
)

// walkFeedAll runs WalkFeed from top to the end, maxFiles a step, and
// returns the steps' feeds joined, the holes' paths and their offsets in it.
func walkFeedAll(t *testing.T, top string, skip map[string]bool, maxFiles int) ([]byte, []string, []int, int) {
	t.Helper()
	var (
		feed  []byte
		paths []string
		at    []int
		steps int
	)
	for stack := []string{top}; len(stack) > 0; steps++ {
		step, err := skyrs.WalkFeed(top, stack, skip, skyrs.WalkFeedOptions{MaxFiles: maxFiles, MaxDepth: 100})
		if err != nil {
			t.Fatalf("WalkFeed: %v", err)
		}
		for _, hole := range step.Holes {
			paths = append(paths, hole.Path)
			at = append(at, len(feed)+hole.At)
		}
		feed = append(feed, step.Feed...)
		stack = step.Stack
	}
	return feed, paths, at, steps
}

func TestWalkFeedIsWhatUpstreamFeedsForAnOsWalk(t *testing.T) {
	top := t.TempDir()
	digest := func(data string) string { d := sha256.Sum256([]byte(data)); return string(d[:]) }
	filesWrite(t, top, "b.txt", []byte("b"))
	filesWrite(t, top, "a.txt", []byte("a"))
	filesWrite(t, top, "credentials.db", []byte("skipped"))
	for _, dir := range []string{"sub", "empty"} {
		if err := os.Mkdir(filepath.Join(top, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	filesWrite(t, filepath.Join(top, "sub"), "x", []byte("x"))
	for link, target := range map[string]string{"link": "sub", "flink": "a.txt", "broken": "missing"} {
		if err := os.Symlink(filepath.Join(top, target), filepath.Join(top, link)); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(top, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	// os.walk(top): top lists empty, link (a link to a directory: listed, not
	// entered) and sub; the files sorted, each name then its digest; a file
	// Go does not hash (a broken link, a FIFO) is a hole, left to the caller.
	var want strings.Builder
	var wantAt []int
	hole := func() { wantAt = append(wantAt, want.Len()) }
	want.WriteString(top + "\x00empty\x00link\x00sub\x00\x00")
	want.WriteString("a.txt\x00" + digest("a") + "b.txt\x00" + digest("b") + "broken\x00")
	hole()
	want.WriteString("credentials.db\x00fifo\x00")
	hole()
	want.WriteString("flink\x00" + digest("a") + "\x00")
	want.WriteString(top + "/empty\x00\x00\x00")
	want.WriteString(top + "/sub\x00\x00x\x00" + digest("x") + "\x00")
	wantPaths := []string{filepath.Join(top, "broken"), filepath.Join(top, "fifo")}
	skip := map[string]bool{"credentials.db": true}
	for _, maxFiles := range []int{0, 1} {
		feed, paths, at, steps := walkFeedAll(t, top, skip, maxFiles)
		if string(feed) != want.String() {
			t.Errorf("MaxFiles %d: feed\n%q\nwant\n%q", maxFiles, feed, want.String())
		}
		if strings.Join(paths, "|") != strings.Join(wantPaths, "|") || len(at) != 2 || at[0] != wantAt[0] || at[1] != wantAt[1] {
			t.Errorf("MaxFiles %d: holes %q at %v, want %q at %v", maxFiles, paths, at, wantPaths, wantAt)
		}
		if wantSteps := map[int]int{0: 1, 1: 2}[maxFiles]; steps != wantSteps {
			t.Errorf("MaxFiles %d: %d steps, want %d", maxFiles, steps, wantSteps)
		}
	}
	// A top ending in '/' is joined as os.path.join joins it.
	feed, _, _, _ := walkFeedAll(t, top+"/", skip, 0)
	if !bytes.Contains(feed, []byte(top+"/sub\x00")) || bytes.Contains(feed, []byte("//")) {
		t.Errorf("top with a slash: %q", feed)
	}
}

func TestWalkFeedDeclinesWhatItCannotGiveExactly(t *testing.T) {
	declined := func(top string, opts skyrs.WalkFeedOptions) bool {
		t.Helper()
		for stack := []string{top}; len(stack) > 0; {
			step, err := skyrs.WalkFeed(top, stack, nil, opts)
			var e *skyrs.Error
			if errors.As(err, &e) && e.Kind == skyrs.KindDecline {
				return true
			} else if err != nil {
				t.Fatalf("WalkFeed: %v", err)
			}
			stack = step.Stack
		}
		return false
	}
	// A name that is not UTF-8: upstream's encode('utf-8') raises.
	notUTF8 := t.TempDir()
	filesWrite(t, notUTF8, "b_\xff", []byte("x"))
	// A file Go leaves whose path has a newline: it cannot go back as a line.
	newline := t.TempDir()
	if err := os.Symlink("missing", filepath.Join(newline, "new\nline")); err != nil {
		t.Fatal(err)
	}
	// Deeper than MaxDepth: os.walk recursed before Python 3.12.
	deep := t.TempDir()
	if err := os.MkdirAll(filepath.Join(deep, "a", "b", "c"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		top      string
		maxDepth int
		want     bool
	}{
		{notUTF8, 100, true},
		{newline, 100, true},
		{deep, 2, true},
		{deep, 3, false},
		{deep + "/", 2, true},
		{deep + "/", 3, false},
	} {
		if got := declined(tt.top, skyrs.WalkFeedOptions{MaxDepth: tt.maxDepth}); got != tt.want {
			t.Errorf("%q, MaxDepth %d: declined %v, want %v", tt.top, tt.maxDepth, got, tt.want)
		}
	}
}

// A directory that cannot be listed is left out, as os.walk leaves it out.
func TestWalkFeedLeavesOutWhatItCannotList(t *testing.T) {
	top := t.TempDir()
	feed, paths, _, _ := walkFeedAll(t, filepath.Join(top, "missing"), nil, 0)
	if len(feed) != 0 || len(paths) != 0 {
		t.Errorf("a missing top: %q, holes %q", feed, paths)
	}
}

func BenchmarkWalkFeedWorkdir(b *testing.B) {
	top, _ := benchWorkdir(b)
	for b.Loop() {
		for stack := []string{top}; len(stack) > 0; {
			step, err := skyrs.WalkFeed(top, stack, nil, skyrs.WalkFeedOptions{MaxFiles: 8192, MaxDepth: 100})
			if err != nil {
				b.Fatal(err)
			}
			stack = step.Stack
		}
	}
}

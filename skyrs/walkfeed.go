package skyrs

import (
	"math"
	"slices"
	"strings"
	"time"
)

// WalkFeedOptions bounds one WalkFeed step.
type WalkFeedOptions struct {
	// MaxFiles: no directory is listed once this many files to hash are
	// (0: no bound). At least one directory is listed.
	MaxFiles int
	// MaxDepth: a directory more than this many levels below top is
	// declined (os.walk recursed before Python 3.12: a deep enough tree
	// raises RecursionError there, which only Python can reproduce).
	MaxDepth int
	// MaxFileSize and Deadline are HashFiles' options for the files listed;
	// no directory is listed after Deadline either.
	MaxFileSize int64
	Deadline    time.Time
}

// FeedStep is what one WalkFeed step feeds the config hash.
type FeedStep struct {
	// Feed is the bytes fed, but for the digests of Holes.
	Feed []byte
	// Holes are the files whose digests Feed lacks, in order: each one's
	// digest goes at Feed[At], before the digest of the next.
	Holes []FeedHole
	// Stack is the directories still to walk, the next one last.
	Stack []string
}

// FeedHole is a file WalkFeed left to the caller: an error, a file that is
// not regular or is larger than MaxFileSize, or one not started before the
// deadline (see HashFiles).
type FeedHole struct {
	At   int
	Path string
}

// WalkFeed is the part of SkyPilot's cluster-config hash
// (sky.backends.backend_utils._deterministic_cluster_yaml_hash) that a file
// mount's directory top contributes, a step at a time: for each directory
// os.walk(top) yields, in its order, with its dirnames and filenames sorted,
//
//	dirpath NUL, each dirname NUL, NUL,
//	each filename NUL and, unless skip has the filename, the sha256 of the
//	file, then NUL.
//
// Pass stack = [top] first, then the Stack of the last step, until it is
// empty. The caller hashes the Holes, in order: a file's error is then
// raised where upstream raises it.
//
// It walks as os.walk(top) does by default: a directory that cannot be
// listed is left out silently, an entry is a directory if it is one or is a
// symbolic link to one (the link is listed, not followed), and dirpaths are
// joined as os.path.join joins them. It declines (KindDecline) what it
// cannot give exactly: a name that is not UTF-8 (upstream's encode raises),
// a path with a newline (the facade cannot carry it back), a tree deeper
// than MaxDepth, a system other than Linux.
func WalkFeed(top string, stack []string, skip map[string]bool, opts WalkFeedOptions) (FeedStep, error) {
	var (
		feed  []byte
		files []string               // to hash, in order
		kinds []uint32               // as listed (HashFilesOptions.Kinds)
		at    []int                  // where each file's digest goes in feed
		buf   = make([]byte, 64<<10) // for getdents64: a few calls a directory
	)
	stack = slices.Clone(stack)
	for listed := 0; len(stack) > 0; listed++ {
		if listed > 0 && ((opts.MaxFiles > 0 && len(files) >= opts.MaxFiles) ||
			(!opts.Deadline.IsZero() && time.Now().After(opts.Deadline))) {
			break
		}
		dir := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if walkDepth(top, dir) > opts.MaxDepth {
			return FeedStep{}, Decline("WalkFeed of a tree deeper than %d", opts.MaxDepth)
		}
		dirs, names, ok, err := listForWalk(dir, buf)
		if err != nil {
			return FeedStep{}, err
		}
		if !ok {
			continue // os.walk leaves out a directory it cannot list
		}
		slices.SortFunc(dirs, func(a, b walkDir) int { return strings.Compare(a.name, b.name) })
		slices.SortFunc(names, func(a, b walkFile) int { return strings.Compare(a.name, b.name) })
		feed = append(append(feed, dir...), 0)
		for _, d := range dirs {
			feed = append(append(feed, d.name...), 0)
		}
		feed = append(feed, 0)
		prefix := joinPath(dir, "")
		for _, name := range names {
			feed = append(append(feed, name.name...), 0)
			if !skip[name.name] {
				files = append(files, prefix+name.name)
				kinds = append(kinds, name.kind)
				at = append(at, len(feed))
			}
		}
		feed = append(feed, 0)
		for _, d := range slices.Backward(dirs) {
			if !d.link {
				stack = append(stack, prefix+d.name)
			}
		}
	}
	for _, path := range stack {
		if strings.Contains(path, "\n") {
			return FeedStep{}, Decline("WalkFeed of a path with a newline")
		}
	}
	digests, err := HashFiles(files, "sha256", HashFilesOptions{
		MaxFileSize: opts.MaxFileSize, Deadline: opts.Deadline, Kinds: kinds})
	if err != nil {
		return FeedStep{}, err
	}
	step := FeedStep{Stack: stack}
	step.Feed = make([]byte, 0, len(feed)+len(files)*32)
	from := 0
	for i, path := range files {
		step.Feed = append(step.Feed, feed[from:at[i]]...)
		from = at[i]
		if i < len(digests) && digests[i] != nil {
			step.Feed = append(step.Feed, digests[i]...)
			continue
		}
		if strings.Contains(path, "\n") {
			return FeedStep{}, Decline("WalkFeed of a path with a newline")
		}
		step.Holes = append(step.Holes, FeedHole{At: len(step.Feed), Path: path})
	}
	step.Feed = append(step.Feed, feed[from:]...)
	return step, nil
}

// walkDir is a name os.walk lists among a directory's dirnames; link: it
// is a symbolic link (to a directory), which os.walk does not enter.
type walkDir struct {
	name string
	link bool
}

// walkFile is a name os.walk lists among a directory's filenames, and its
// kind if getdents64 said it is a regular file (S_IFREG; otherwise 0).
type walkFile struct {
	name string
	kind uint32
}

// walkDepth is how many levels below top dir is, for a dir WalkFeed put on
// its stack (top, or a path under it joined by joinPath); MaxInt otherwise.
func walkDepth(top, dir string) int {
	if dir == top {
		return 0
	}
	prefix := joinPath(top, "")
	if !strings.HasPrefix(dir, prefix) {
		return math.MaxInt
	}
	return strings.Count(dir[len(prefix):], "/") + 1
}

// joinPath is os.path.join(dir, name) on POSIX, for a name without '/'.
func joinPath(dir, name string) string {
	if dir == "" || strings.HasSuffix(dir, "/") {
		return dir + name
	}
	return dir + "/" + name
}

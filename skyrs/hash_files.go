package skyrs

import (
	"fmt"
	"hash"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// HashFilesOptions bounds one HashFiles call.
type HashFilesOptions struct {
	// Workers is how many files are hashed at once (0: one per CPU, the
	// worker budget), as far as the process-wide worker budget allows
	// (workers.go).
	Workers int
	// MaxFileSize leaves larger files to the caller, who can hash them in
	// steps (FileHasher); 0 means no limit.
	MaxFileSize int64
	// Deadline: no file is started after it, though files already started
	// are finished; the zero time means none.
	Deadline time.Time
	// Kinds, when not nil, is the type the caller's listing of its
	// directory gave each path (getdents64's d_type as S_IFREG or S_IFDIR;
	// 0: none): such a file is opened without a stat or a listing first.
	Kinds []uint32
}

// HashFiles hashes the files at paths as HashFile(path, alg) does, several
// at once: SkyPilot hashes every file of every file-mount directory on each
// launch, thousands of small files, each mostly system calls.
//
// Files are started in order, at least one, until the deadline; the digests
// returned are those of that prefix of paths. A nil digest marks a file left
// to the caller: one that failed (missing, unreadable, a directory), is not a
// regular file, or is larger than opts.MaxFileSize. The caller hashes it with
// HashFile or a FileHasher, which report the error; taking the files in order
// then raises the first error exactly where upstream's loop would. An
// algorithm NewHash does not know is declined.
func HashFiles(paths []string, alg string, opts HashFilesOptions) ([][]byte, error) {
	if _, ok := NewHash(alg); !ok {
		return nil, Decline("unsupported hash type %s", alg)
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = WorkerBudget()
	}
	workers = min(workers, len(paths))
	digests := make([][]byte, len(paths))
	var (
		next    atomic.Int64 // the index of the next file to start
		faultMu sync.Mutex
		fault   any
	)
	work := func() {
		// A panic in a goroutine of its own would end the process: carry it
		// to the caller's goroutine, where the boundary recovers it.
		defer func() {
			if r := recover(); r != nil {
				faultMu.Lock()
				fault = r
				faultMu.Unlock()
			}
		}()
		h, _ := NewHash(alg)
		bufp := hashBuffers.Get().(*[]byte)
		defer hashBuffers.Put(bufp)
		dirs := newDirCache(*bufp)
		defer dirs.Close()
		for {
			if !opts.Deadline.IsZero() && next.Load() > 0 && time.Now().After(opts.Deadline) {
				return
			}
			i := int(next.Add(1)) - 1
			if i >= len(paths) {
				return
			}
			var kind uint32
			if opts.Kinds != nil {
				kind = opts.Kinds[i]
			}
			digests[i] = hashWholeFile(dirs, paths[i], kind, h, *bufp, opts.MaxFileSize)
		}
	}
	var wg sync.WaitGroup
	for range workers - 1 {
		if !goWorker(&wg, work) {
			break // the process-wide budget is spent: fewer helpers
		}
	}
	work()
	wg.Wait()
	if fault != nil {
		panic(fmt.Sprint("HashFiles: ", fault))
	}
	return digests[:min(int(next.Load()), len(paths))], nil
}

// hashWholeFile returns the digest of the file at path (of the listed kind,
// if known: dirCache.openHashSource) with h, or nil if it fails, is not a
// regular file or is larger than maxSize (when maxSize > 0).
func hashWholeFile(dirs *dirCache, path string, kind uint32, h hash.Hash, buf []byte, maxSize int64) []byte {
	src, size, err := dirs.openHashSource(path, kind)
	if err != nil {
		return nil
	}
	defer src.Close()
	if maxSize > 0 && size > maxSize {
		return nil
	}
	h.Reset()
	if _, done, err := hashReads(src, h, buf, size, 0, math.MaxInt64); err != nil || !done {
		return nil
	}
	return h.Sum(nil)
}

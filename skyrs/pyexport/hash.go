package pyexport

import (
	"encoding/hex"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/skypilot-org/sky_rs/skyrs"
)

// Python runs signal handlers only between bytecodes of its main thread, so
// Ctrl-C waits for a native call to return. Every hashing call therefore
// returns within about hashStepTime (plus one read), and the facade goes on
// with another call until the work is done.
const (
	hashStepTime = 100 * time.Millisecond
	// hashStepBytes is how much is read between looks at the clock.
	hashStepBytes = 32 << 20
	// hashFilesMaxFileSize: larger files of a batch are hashed one by one in
	// steps; smaller ones are finished even after hashStepTime.
	hashFilesMaxFileSize = 32 << 20
)

// fileHashers holds the files whose hashing did not finish within one call,
// by the token the facade chose for the call. The facade closes a token it
// abandons (HashFileClose), so no file stays open.
var fileHashers = struct {
	sync.Mutex
	open map[int]*skyrs.FileHasher
}{open: map[int]*skyrs.FileHasher{}}

// HashFile is skyrs.HashFile for sky_rs.hash_file: the lower-case hex digest,
// or "" when the file is not hashed yet after one step. The file then stays
// open under token (a number the facade never used before) and HashFileStep
// goes on with it. A small file, the common case, costs one call.
func HashFile(path string, alg string, token int) (string, error) {
	return guard(func() (string, error) {
		h, err := skyrs.OpenFileHasher(path, alg)
		if err != nil {
			return "", err
		}
		return stepFileHasher(h, token)
	})
}

// HashFileStep hashes the file parked under token for one more step, as
// HashFile: the hex digest when done, else "". An error closes the file.
func HashFileStep(token int) (string, error) {
	return guard(func() (string, error) {
		fileHashers.Lock()
		h := fileHashers.open[token]
		delete(fileHashers.open, token)
		fileHashers.Unlock()
		if h == nil {
			return "", skyrs.Errorf(skyrs.KindRuntimeError, "no file is being hashed under token %d", token)
		}
		return stepFileHasher(h, token)
	})
}

// HashFileClose closes the file parked under token, if any, and reports
// whether there was one: the facade calls it when it stops hashing early
// (KeyboardInterrupt), which may be before or after the file was parked.
func HashFileClose(token int) (bool, error) {
	return guard(func() (bool, error) {
		fileHashers.Lock()
		h := fileHashers.open[token]
		delete(fileHashers.open, token)
		fileHashers.Unlock()
		if h == nil {
			return false, nil
		}
		h.Close()
		return true, nil
	})
}

// stepFileHasher hashes for one step and returns the hex digest, or parks h
// under token and returns "". h is closed unless parked, on every path.
func stepFileHasher(h *skyrs.FileHasher, token int) (string, error) {
	parked := false
	defer func() {
		if !parked {
			h.Close()
		}
	}()
	deadline := time.Now().Add(hashStepTime)
	for {
		done, err := h.Step(hashStepBytes)
		if err != nil {
			return "", err
		}
		if done {
			return hex.EncodeToString(h.Sum()), nil
		}
		if time.Now().After(deadline) {
			break
		}
	}
	fileHashers.Lock()
	defer fileHashers.Unlock()
	if _, taken := fileHashers.open[token]; taken {
		return "", skyrs.Errorf(skyrs.KindPanic, "hash token %d is in use", token)
	}
	fileHashers.open[token] = h
	parked = true
	return "", nil
}

// HashFiles is skyrs.HashFiles for sky_rs.hash_files over the paths joined by
// '\n', from the index start on: the hex digests of the files it got to, one
// line each, in order, at least one line. An empty line is a file the facade
// must hash with HashFile (an error, a file too large for one call, a
// non-regular file). The call returns after about hashStepTime, and all
// cores hash at once.
func HashFiles(paths string, alg string, start int) (string, error) {
	return guard(func() (string, error) {
		list := strings.Split(paths, "\n")
		if start < 0 || start >= len(list) {
			return "", skyrs.Errorf(skyrs.KindValueError, "start %d is not an index of %d paths", start, len(list))
		}
		digests, err := skyrs.HashFiles(list[start:], alg, skyrs.HashFilesOptions{
			MaxFileSize: hashFilesMaxFileSize,
			Deadline:    time.Now().Add(hashStepTime),
		})
		if err != nil {
			return "", err
		}
		var out []byte
		for i, d := range digests {
			if i == 0 {
				out = make([]byte, 0, len(digests)*(2*len(d)+1))
			} else {
				out = append(out, '\n')
			}
			out = hex.AppendEncode(out, d)
		}
		return string(out), nil
	})
}

// walkFeedMaxFiles bounds the files one WalkFeed step lists (a few tens of
// milliseconds of hashing), and walkFeedMaxDepth the depth it walks
// (sky_fallback/_config_hash.py's GO_WALK_MAX_DEPTH).
const (
	walkFeedMaxFiles = 8192
	walkFeedMaxDepth = 100
)

// WalkFeed is skyrs.WalkFeed for the config hash (sky_fallback._config_hash)
// of the mount directory top, the directories still to walk and the names
// not to hash joined by '\n'. It returns lines: the hex of the bytes fed,
// the comma-separated offsets of the holes in them, a line per hole (the
// path the facade hashes, in order, for the digest at that offset), then a
// line per directory still to walk, the next one last. Like HashFiles it
// returns after about hashStepTime.
func WalkFeed(top string, stack string, skip string) (string, error) {
	return guard(func() (string, error) {
		skipped := map[string]bool{}
		for _, name := range strings.Split(skip, "\n") {
			skipped[name] = true
		}
		step, err := skyrs.WalkFeed(top, strings.Split(stack, "\n"), skipped, skyrs.WalkFeedOptions{
			MaxFiles:    walkFeedMaxFiles,
			MaxDepth:    walkFeedMaxDepth,
			MaxFileSize: hashFilesMaxFileSize,
			Deadline:    time.Now().Add(hashStepTime),
		})
		if err != nil {
			return "", err
		}
		var out strings.Builder
		out.Grow(2*len(step.Feed) + 64)
		out.WriteString(hex.EncodeToString(step.Feed))
		out.WriteByte('\n')
		for i, hole := range step.Holes {
			if i > 0 {
				out.WriteByte(',')
			}
			out.WriteString(strconv.Itoa(hole.At))
		}
		for _, hole := range step.Holes {
			out.WriteByte('\n')
			out.WriteString(hole.Path)
		}
		for _, dir := range step.Stack {
			out.WriteByte('\n')
			out.WriteString(dir)
		}
		return out.String(), nil
	})
}

package skyrs

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"hash"
	"io"
	"math"
	"sync"
)

// Read buffers: upstream's 2**18 bytes, and four times that for a large
// file, whose hashing costs a few per cent less CPU with fewer, larger reads
// (measured with sha256 and md5 on a cached file).
const (
	hashBufferSize      = 256 << 10
	largeHashBufferSize = 1 << 20
)

// hashBuffers and largeHashBuffers recycle read buffers: SkyPilot hashes
// thousands of small files per launch, and a fresh zeroed buffer per file
// would cost more than hashing most of them.
var (
	hashBuffers = sync.Pool{New: func() any {
		b := make([]byte, hashBufferSize)
		return &b
	}}
	largeHashBuffers = sync.Pool{New: func() any {
		b := make([]byte, largeHashBufferSize)
		return &b
	}}
)

// NewHash returns a new hash for one of the names hashlib.new accepts that
// the standard library implements: md5, sha1, sha224, sha256, sha384 and
// sha512, lower case only. ok is false for anything else.
func NewHash(alg string) (h hash.Hash, ok bool) {
	switch alg {
	case "md5":
		return md5.New(), true
	case "sha1":
		return sha1.New(), true
	case "sha224":
		return sha256.New224(), true
	case "sha256":
		return sha256.New(), true
	case "sha384":
		return sha512.New384(), true
	case "sha512":
		return sha512.New(), true
	}
	return nil, false
}

// HashFile returns the digest of the contents of the file at path, as upstream
// SkyPilot's hash_file(path, alg).digest(). Like upstream it opens the file
// before it looks at the algorithm, so a missing file is ENOENT and a
// directory EISDIR even when alg is bad; an algorithm NewHash does not know is
// declined, for hashlib to accept or reject. The file is streamed, so it may
// be larger than memory. A FIFO or device is declined without being opened.
func HashFile(path, alg string) ([]byte, error) {
	h, err := OpenFileHasher(path, alg)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	if _, err := h.Step(math.MaxInt64); err != nil {
		return nil, err
	}
	return h.Sum(), nil
}

// hashSource is an open regular file to hash (openHashSource).
type hashSource interface {
	// readAt reads once at offset, into p; io.EOF when there is nothing.
	readAt(p []byte, offset int64) (int, error)
	Close() error
}

// FileHasher is a file being hashed, in steps: a caller that must stay
// responsive (Python runs signal handlers only between native calls, so a
// Ctrl-C waits for the call to return) hashes a large file one bounded step at
// a time. It must be closed.
type FileHasher struct {
	src    hashSource
	size   int64 // at open; see readChunk
	offset int64 // bytes hashed so far
	hash   hash.Hash
	done   bool
}

// OpenFileHasher opens the file at path for hashing with alg, with the errors
// of HashFile.
func OpenFileHasher(path, alg string) (*FileHasher, error) {
	src, size, err := openHashSource(path)
	if err != nil {
		return nil, err
	}
	h, ok := NewHash(alg)
	if !ok {
		src.Close()
		return nil, Decline("unsupported hash type %s", alg)
	}
	return &FileHasher{src: src, size: size, hash: h}, nil
}

// Step hashes about maxBytes more bytes of the file (at least one read
// when maxBytes > 0) and reports whether the whole file has been hashed. An
// error is that of the read, as Python's read() reports it.
func (h *FileHasher) Step(maxBytes int64) (done bool, err error) {
	if h.done {
		return true, nil
	}
	if h.src == nil {
		return false, Errorf(KindRuntimeError, "Step after Close")
	}
	pool := &hashBuffers
	if h.size-h.offset >= largeHashBufferSize {
		pool = &largeHashBuffers
	}
	bufp := pool.Get().(*[]byte)
	h.offset, h.done, err = hashReads(h.src, h.hash, *bufp, h.size, h.offset, maxBytes)
	pool.Put(bufp)
	return h.done, err
}

// Sum returns the digest of what has been hashed so far: of the whole file
// once Step has reported done.
func (h *FileHasher) Sum() []byte { return h.hash.Sum(nil) }

// Close closes the file. It may be called more than once.
func (h *FileHasher) Close() error {
	if h.src == nil {
		return nil
	}
	err := h.src.Close()
	h.src = nil
	return err
}

// readChunk reads once at offset into buf and reports whether that was
// the end of the file.
//
// A regular file is read until a read returns nothing, as upstream does; a
// short read that brings the offset to size, the size stat reported at open,
// is the end too, which saves a system call per small file: the file cannot
// have grown before that read, or the read would have returned more.
func readChunk(src hashSource, buf []byte, size, offset int64) (n int, end bool, err error) {
	n, err = src.readAt(buf, offset)
	switch {
	case err == io.EOF:
		return n, true, nil
	case err != nil:
		return n, false, osErrorWithoutPath(err)
	}
	return n, n < len(buf) && offset+int64(n) == size, nil
}

// hashReads feeds h the file from offset on, read into buf, until about
// maxBytes more were read or the end of the file. It returns the new offset
// and whether the end was reached.
func hashReads(src hashSource, h hash.Hash, buf []byte, size, offset, maxBytes int64) (int64, bool, error) {
	for stepped := int64(0); stepped < maxBytes; {
		n, end, err := readChunk(src, buf, size, offset)
		h.Write(buf[:n])
		offset += int64(n)
		stepped += int64(n)
		if end || err != nil {
			return offset, end, err
		}
	}
	return offset, false, nil
}

package skyrs

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"hash"
	"io"
	"os"
	"sync"
)

// hashBufferSize matches upstream's 2**18-byte read buffer.
const hashBufferSize = 256 << 10

// hashBuffers recycles read buffers: SkyPilot hashes thousands of small files
// per launch, and a fresh zeroed 256 KiB buffer per file would cost more than
// hashing most of them.
var hashBuffers = sync.Pool{New: func() any {
	b := make([]byte, hashBufferSize)
	return &b
}}

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
// be larger than memory. A FIFO or device is declined without reading it.
func HashFile(path, alg string) ([]byte, error) {
	// Stat first so that a FIFO is never opened: even a non-blocking open
	// would release a writer waiting for a reader.
	info, err := os.Stat(path)
	if err != nil {
		return nil, OSErrorFrom(err)
	}
	if !info.Mode().IsRegular() && !info.IsDir() {
		return nil, Decline("hash_file of a non-regular file")
	}
	f, err := openRegularFile(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h, ok := NewHash(alg)
	if !ok {
		return nil, Decline("unsupported hash type %s", alg)
	}
	bufp := hashBuffers.Get().(*[]byte)
	defer hashBuffers.Put(bufp)
	// A read loop rather than io.CopyBuffer: *os.File implements WriterTo,
	// which makes io.CopyBuffer ignore the buffer and copy 32 KiB at a time.
	buf := *bufp
	for {
		got, err := f.Read(buf)
		h.Write(buf[:got])
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, osErrorWithoutPath(err)
		}
	}
	return h.Sum(nil), nil
}

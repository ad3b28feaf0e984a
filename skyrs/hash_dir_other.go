//go:build !linux

package skyrs

// dirCache opens every path whole where there is no O_PATH and no
// getdents64 (see hash_dir_linux.go).
type dirCache struct{}

func newDirCache([]byte) *dirCache { return &dirCache{} }

func (c *dirCache) openHashSource(path string, _ uint32) (hashSource, int64, error) {
	return openHashSource(path)
}

func (c *dirCache) Close() {}

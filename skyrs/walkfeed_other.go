//go:build !linux

package skyrs

// listForWalk declines where there is no getdents64 (see walkfeed_linux.go).
func listForWalk(string, []byte) ([]walkDir, []walkFile, bool, error) {
	return nil, nil, false, Decline("WalkFeed needs Linux")
}

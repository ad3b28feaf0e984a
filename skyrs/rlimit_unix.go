//go:build unix

package skyrs

import "golang.org/x/sys/unix"

// RlimitNofileSoft returns the soft RLIMIT_NOFILE as Python's
// resource.getrlimit reports it: the rlim_t reinterpreted as a signed long,
// so RLIM_INFINITY is -1. Should getrlimit fail (it cannot for a valid
// resource), it reports -1 as well.
//
// Beware that the Go runtime raises this soft limit for the whole process
// when it starts (package syscall, go.dev/issue/46279); in the extension,
// package hoststate puts it back right after.
func RlimitNofileSoft() int64 {
	var limit unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &limit); err != nil {
		return -1
	}
	return int64(limit.Cur)
}

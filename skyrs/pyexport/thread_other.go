//go:build !linux

package pyexport

// callingThread reports no thread id outside Linux: results are then not
// reused across calls (see resultBuffers), which costs an allocation a call.
func callingThread() (id int, ok bool) { return 0, false }

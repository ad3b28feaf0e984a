// Package hoststate keeps the Go runtime of the extension from changing
// process state that belongs to its host, the Python interpreter.
//
// When the extension is loaded, the Go runtime installs signal handlers
// (SIGPIPE, SIGURG, and the synchronous SIGBUS, SIGFPE, SIGSEGV) from the
// library's constructor, and package syscall's init raises the soft
// RLIMIT_NOFILE to the hard limit (go.dev/issue/46279). A C constructor of
// this package, ordered before the runtime's, records the host's signal
// actions and RLIMIT_NOFILE, and puts back what changed:
//
//   - every signal action but those of SIGBUS, SIGFPE and SIGSEGV, from a
//     second constructor that runs after the runtime's, inside dlopen. Go
//     keeps those three: it turns a fault in Go code into a panic that the
//     boundary recovers, and hands a fault elsewhere to the handler that was
//     there before (Python's faulthandler, or the default action);
//   - RLIMIT_NOFILE, as it was, from this package's init, which runs right
//     after syscall's (it imports nothing else that waits on other
//     packages): the next system calls after the raise.
//
// SA_ONSTACK, which the runtime adds to handlers the host installed, stays:
// a handler that runs on a thread the runtime created needs it, and CPython
// sets it itself.
//
// The restore (restore_cgo.go) needs cgo, as the extension itself does.
package hoststate

// Restored says what was put back: the signals whose handler the runtime had
// replaced (bit n for signal n), and whether RLIMIT_NOFILE had changed.
var Restored struct {
	Signals uint64
	Nofile  bool
}

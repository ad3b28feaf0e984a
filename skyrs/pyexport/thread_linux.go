package pyexport

import "golang.org/x/sys/unix"

// callingThread returns the id of the OS thread running the call; ok is false
// where it cannot be had cheaply. Go runs a call from C on the calling
// thread, locked to it for the call's duration.
func callingThread() (id int, ok bool) { return unix.Gettid(), true }

package skyrs

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
)

// Kind names the Python exception class an Error becomes at the boundary.
// The facade in sky_rs/__init__.py turns each kind into that exception.
type Kind string

// The kinds the boundary knows. Decline is not a failure: it marks input the
// native side deliberately leaves to the pure-Python reference.
const (
	KindValueError     Kind = "ValueError"
	KindOverflowError  Kind = "OverflowError"
	KindTypeError      Kind = "TypeError"
	KindAssertionError Kind = "AssertionError"
	KindOSError        Kind = "OSError"
	KindRuntimeError   Kind = "RuntimeError"
	KindDecline        Kind = "Decline"
	KindPanic          Kind = "Panic"
)

// Error is an error that carries the Python exception it must become, so the
// caller sees upstream SkyPilot's exception type rather than a RuntimeError.
type Error struct {
	Kind  Kind
	Errno syscall.Errno // set for KindOSError
	Msg   string        // for KindOSError with Errno set: the file name, if any
}

func (e *Error) Error() string { return string(e.Kind) + ": " + e.Msg }

// Errorf returns an *Error of the given kind.
func Errorf(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// Decline reports input the native side deliberately does not handle.
func Decline(format string, args ...any) *Error {
	return Errorf(KindDecline, format, args...)
}

// OSErrorFrom wraps a system error as KindOSError, keeping its errno so that
// Python can raise the matching OSError subclass (FileNotFoundError, ...).
// The file name of an *fs.PathError travels along, as Python's OSError keeps
// it. It returns err unchanged when it is already an *Error.
func OSErrorFrom(err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var path string
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) {
		path = pathErr.Path
	}
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		errno = syscall.EIO
	}
	return &Error{Kind: KindOSError, Errno: errno, Msg: path}
}

package pyexport

import (
	"runtime"

	"github.com/skypilot-org/sky_rs/skyrs"
	"github.com/skypilot-org/sky_rs/skyrs/guest"
)

// GoVersion returns the Go release the extension was built with, for
// sky_fallback.get_backend_info().
func GoVersion() string { return runtime.Version() }

// Procs returns how many CPUs the extension computes on (guest.Procs, the
// worker budget): the facade lets that many hashing calls into Go at once.
func Procs() int { return skyrs.WorkerBudget() }

// SelfTestPanic panics inside guard. The test suite calls it to prove that a Go
// panic reaches Python as an exception and never aborts the interpreter.
func SelfTestPanic(message string) (int, error) {
	return guard(func() (int, error) { panic(message) })
}

// GuestReport describes what loading did to settle the Go runtime in the
// process (package guest), for tests and diagnostics.
func GuestReport() string { return guest.Report() }

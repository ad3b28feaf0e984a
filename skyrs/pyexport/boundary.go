// Package pyexport is the boundary between Python and the Go core in skyrs.
// gopy wraps every exported function of this package into the extension module
// sky_rs._sky_rs, so this package holds nothing else. Each function takes and
// returns only types gopy carries cheaply (int, float64, bool, string, []byte,
// error) and runs its body through guard.
package pyexport

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/skypilot-org/sky_rs/skyrs"
)

// errorSep separates the fields of an encoded error. It cannot occur in a kind
// or an errno, and the message is the last field, so it may contain it.
const errorSep = "\x1f"

// encode formats err as "skyrs<sep>Kind<sep>errno<sep>message", the form the
// facade in sky_rs/__init__.py parses out of gopy's RuntimeError.
func encode(err error) error {
	if err == nil {
		return nil
	}
	var e *skyrs.Error
	if !errors.As(err, &e) {
		e = &skyrs.Error{Kind: skyrs.KindRuntimeError, Msg: err.Error()}
	}
	return errors.New("skyrs" + errorSep + string(e.Kind) + errorSep +
		strconv.Itoa(int(e.Errno)) + errorSep + e.Msg)
}

// guard runs body and returns its result, with any error encoded for the
// facade. A panic becomes an error of kind Panic: gopy does not recover panics,
// and an unrecovered one aborts the Python process.
func guard[T any](body func() (T, error)) (result T, err error) {
	defer func() {
		if r := recover(); r != nil {
			var zero T
			result = zero
			err = encode(&skyrs.Error{Kind: skyrs.KindPanic, Msg: fmt.Sprint(r)})
		}
	}()
	result, err = body()
	return result, encode(err)
}

package skyrs

import (
	"math"
	"strconv"
)

// maxFormatPrecision bounds the precision FormatFloat writes itself. Python
// accepts up to 2**31-1 digits and builds the whole string; above this bound
// the call is declined so that Python, which must hold the result anyway,
// does the work.
const maxFormatPrecision = 1 << 20

// FormatFloat formats num as upstream SkyPilot's format_float does for a
// float: a whole number as Python's '{:.0f}' (every digit, no point, -0.0 as
// "-0"), anything else as f'{num:.{precision}f}'. SkyPilot builds instance
// names such as '{cpus}CPU--{mem}GB' from it, so the digits must be Python's.
//
// strconv's 'f' format rounds the exact binary value half to even, exactly as
// CPython's dtoa does (2.25 gives "2.2" at precision 1). Only the names of the
// special values differ: Python writes "nan" (for either sign), "inf", "-inf".
//
// A whole number never reads precision, as upstream. Otherwise a negative
// precision is a ValueError "Format specifier missing precision" (Python sees
// '.-1f'), and one of 2**31 or more is a ValueError "precision too big".
func FormatFloat(num float64, precision int) (string, error) {
	if num == math.Trunc(num) && !math.IsInf(num, 0) {
		return strconv.FormatFloat(num, 'f', 0, 64), nil
	}
	if precision < 0 {
		return "", Errorf(KindValueError, "Format specifier missing precision")
	}
	if int64(precision) > math.MaxInt32 {
		return "", Errorf(KindValueError, "precision too big")
	}
	switch {
	case math.IsNaN(num):
		return "nan", nil
	case math.IsInf(num, 1):
		return "inf", nil
	case math.IsInf(num, -1):
		return "-inf", nil
	}
	if precision > maxFormatPrecision {
		return "", Decline("precision %d above %d", precision, maxFormatPrecision)
	}
	return strconv.FormatFloat(num, 'f', precision, 64), nil
}

package pyexport

import "github.com/skypilot-org/sky_rs/skyrs"

// Base36Encode is skyrs.Base36Encode for sky_rs.base36_encode.
func Base36Encode(hexStr string) (string, error) {
	return guard(func() (string, error) { return skyrs.Base36Encode(hexStr) })
}

// FormatFloat is skyrs.FormatFloat for the float branch of
// sky_rs.format_float; the facade answers int and bool arguments itself.
func FormatFloat(num float64, precision int) (string, error) {
	return guard(func() (string, error) { return skyrs.FormatFloat(num, precision) })
}

// TruncateLongString is skyrs.TruncateLongString for
// sky_rs.truncate_long_string.
func TruncateLongString(s string, maxLength int, truncateMiddle bool) (string, error) {
	return guard(func() (string, error) { return skyrs.TruncateLongString(s, maxLength, truncateMiddle), nil })
}

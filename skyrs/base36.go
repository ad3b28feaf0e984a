package skyrs

import (
	"math/big"
	"math/bits"
	"strings"
)

// base36Alphabet is the digit set of upstream's _base36_encode.
const base36Alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"

// base36Chunk is 36**12, the largest power of 36 below 2**64. A 128-bit value
// is cut into chunks of twelve base-36 digits with one 128-by-64-bit division
// per chunk.
const base36Chunk = 4738381338321616896

// Base36Encode parses hexStr as Python's int(hexStr, 16) does and writes the
// value in base 36 with the digits 0-9a-z, as upstream SkyPilot's
// base36_encode does for cluster-name and run-id hashes.
//
// The accepted syntax is CPython's: optional ASCII whitespace around the
// number, one optional sign, an optional 0x or 0X prefix that may be followed
// by one underscore, and hex digits with single underscores between them; there
// is no length limit. Input that int() rejects gives an error of kind
// ValueError with the message "invalid". A negative value gives kind ValueError
// with the message "negative": upstream loops forever there, so this is the one
// deliberate difference. Any non-ASCII input is declined, because int() also
// accepts Unicode whitespace and the decimal digits of every script, and which
// characters count depends on the Unicode version of the calling Python.
func Base36Encode(hexStr string) (string, error) {
	digits, negative, err := scanHexLiteral(hexStr)
	if err != nil {
		return "", err
	}
	digits = strings.TrimLeft(digits, "0_")
	if digits == "" {
		return "0", nil // also "-0", which is zero in Python
	}
	if negative {
		return "", Errorf(KindValueError, "negative")
	}
	// SkyPilot's hashes have 32 hex digits, so a 128-bit value covers them
	// without math/big. Underscores do not count toward the 32.
	if len(digits)-strings.Count(digits, "_") <= 32 {
		hi, lo := parseHex128(digits)
		return formatBase36x128(hi, lo), nil
	}
	value, ok := new(big.Int).SetString(strings.ReplaceAll(digits, "_", ""), 16)
	if !ok {
		// scanHexLiteral accepted only hex digits and underscores.
		panic("skyrs: Base36Encode: validated digits did not parse: " + digits)
	}
	return value.Text(36), nil
}

// scanHexLiteral checks s against the grammar of CPython's PyLong_FromString
// for base 16 and returns the run of digits (still holding its single
// underscores) and whether a minus sign was present.
func scanHexLiteral(s string) (digits string, negative bool, err error) {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return "", false, Decline("non-ASCII input to int(x, 16)")
		}
	}
	i, n := 0, len(s)
	for i < n && isIntLiteralSpace(s[i]) {
		i++
	}
	if i < n && (s[i] == '+' || s[i] == '-') {
		negative = s[i] == '-'
		i++
	}
	// CPython takes the prefix greedily: "0x" alone is invalid, not zero.
	if i+1 < n && s[i] == '0' && (s[i+1] == 'x' || s[i+1] == 'X') {
		i += 2
		if i < n && s[i] == '_' {
			i++ // one underscore is allowed right after the prefix
		}
	}
	start := i
	var previous byte
	for ; i < n; i++ {
		c := s[i]
		if c == '_' {
			if i == start || previous == '_' {
				return "", false, errInvalidHexLiteral()
			}
		} else if hexDigitValues[c] < 0 {
			break
		}
		previous = c
	}
	if i == start || previous == '_' {
		return "", false, errInvalidHexLiteral()
	}
	digits = s[start:i]
	for i < n && isIntLiteralSpace(s[i]) {
		i++
	}
	if i != n {
		return "", false, errInvalidHexLiteral()
	}
	return digits, negative, nil
}

// errInvalidHexLiteral is the error for input int(x, 16) rejects; the facade
// builds Python's message, which quotes the input. It is made on demand so
// that valid input costs no allocation.
func errInvalidHexLiteral() error {
	return &Error{Kind: KindValueError, Msg: "invalid"}
}

// isIntLiteralSpace reports whether c is whitespace for C's isspace in the "C"
// locale, which is what PyLong_FromString skips. The other ASCII characters
// that str.isspace() accepts (0x1c-0x1f) are not skipped by int().
func isIntLiteralSpace(c byte) bool {
	return c == ' ' || ('\t' <= c && c <= '\r')
}

// hexDigitValues maps a byte to its value as a hex digit, or -1.
var hexDigitValues = func() (values [256]int8) {
	for i := range values {
		values[i] = -1
	}
	for i := range 10 {
		values['0'+i] = int8(i)
	}
	for i := range 6 {
		values['a'+i] = int8(10 + i)
		values['A'+i] = int8(10 + i)
	}
	return values
}()

// parseHex128 returns the value of at most 32 validated hex digits, possibly
// separated by underscores, as a high and a low 64-bit word.
func parseHex128(digits string) (hi, lo uint64) {
	for i := 0; i < len(digits); i++ {
		value := hexDigitValues[digits[i]]
		if value < 0 {
			continue // an underscore
		}
		hi = hi<<4 | lo>>60
		lo = lo<<4 | uint64(value)
	}
	return hi, lo
}

// formatBase36x128 writes the 128-bit value hi<<64|lo in base 36.
func formatBase36x128(hi, lo uint64) string {
	var buf [32]byte // a value below 2**128 has at most 25 base-36 digits
	pos := len(buf)
	for hi != 0 {
		// Divide by 36**12 and write the remainder as exactly twelve digits:
		// the quotient is not zero, so the zeros inside the number are kept.
		var rem uint64
		hi, rem = bits.Div64(0, hi, base36Chunk)
		lo, rem = bits.Div64(rem, lo, base36Chunk)
		for range 12 {
			pos--
			buf[pos] = base36Alphabet[rem%36]
			rem /= 36
		}
	}
	for {
		pos--
		buf[pos] = base36Alphabet[lo%36]
		lo /= 36
		if lo == 0 {
			break
		}
	}
	return string(buf[pos:])
}

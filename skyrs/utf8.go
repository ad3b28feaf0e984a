package skyrs

import (
	"encoding/binary"
	"unicode/utf8"
)

// replacementChar is U+FFFD encoded as UTF-8.
const replacementChar = "\uFFFD"

// DecodeUTF8Replace returns b decoded as CPython's b.decode('utf-8', 'replace')
// does. CPython writes one U+FFFD per maximal invalid subpart (the Unicode
// Standard's recommended practice, chapter 3 "U+FFFD Substitution of Maximal
// Subparts"): a truncated but otherwise well-formed sequence such as E2 82 is
// one U+FFFD, while a byte that can never start or continue the sequence at
// hand is one U+FFFD on its own (ED A0 80, a surrogate, is three). Go's
// strings.ToValidUTF8 merges whole runs into one U+FFFD and utf8.DecodeRune
// gives one per byte, so neither can be used.
func DecodeUTF8Replace(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	// An invalid byte grows to at most three bytes of U+FFFD.
	return string(AppendUTF8Replace(make([]byte, 0, len(b)+len(b)/2+3), b))
}

// AppendUTF8Replace appends b to out as DecodeUTF8Replace decodes it.
func AppendUTF8Replace(out, b []byte) []byte {
	for i := 0; i < len(b); {
		if ascii := asciiPrefix(b[i:]); ascii > 0 {
			out = append(out, b[i:i+ascii]...)
			i += ascii
			continue
		}
		size, valid := utf8Sequence(b[i:])
		if valid {
			out = append(out, b[i:i+size]...)
		} else {
			out = append(out, replacementChar...)
		}
		i += size
	}
	return out
}

// asciiPrefix returns the length of the ASCII bytes that b starts with,
// looking at 32 bytes at a time: logs are mostly ASCII.
func asciiPrefix(b []byte) int {
	const highBits = 0x8080808080808080
	i := 0
	for ; i+32 <= len(b); i += 32 {
		w := binary.LittleEndian.Uint64(b[i:]) | binary.LittleEndian.Uint64(b[i+8:]) |
			binary.LittleEndian.Uint64(b[i+16:]) | binary.LittleEndian.Uint64(b[i+24:])
		if w&highBits != 0 {
			break
		}
	}
	for i < len(b) && b[i] < utf8.RuneSelf {
		i++
	}
	return i
}

// utf8Sequence looks at the sequence starting with the non-ASCII byte b[0]. It
// returns the length of the well-formed sequence there (valid true), or the
// length of the maximal invalid subpart to replace by one U+FFFD (valid false):
// the lead byte plus the continuation bytes that were acceptable in their
// position before the sequence broke off. The ranges are Table 3-7
// ("Well-Formed UTF-8 Byte Sequences") of the Unicode Standard.
func utf8Sequence(b []byte) (size int, valid bool) {
	lead := b[0]
	var need int
	lo, hi := byte(0x80), byte(0xBF) // range of the first continuation byte
	switch {
	case lead >= 0xC2 && lead <= 0xDF:
		need = 1
	case lead == 0xE0:
		need, lo = 2, 0xA0 // no overlong forms
	case lead == 0xED:
		need, hi = 2, 0x9F // no surrogates
	case lead >= 0xE1 && lead <= 0xEF:
		need = 2
	case lead == 0xF0:
		need, lo = 3, 0x90 // no overlong forms
	case lead >= 0xF1 && lead <= 0xF3:
		need = 3
	case lead == 0xF4:
		need, hi = 3, 0x8F // nothing above U+10FFFF
	default:
		// 80..BF (a stray continuation byte), C0, C1 and F5..FF never start a
		// sequence.
		return 1, false
	}
	for k := 1; k <= need; k++ {
		if k >= len(b) || b[k] < lo || b[k] > hi {
			return k, false
		}
		lo, hi = 0x80, 0xBF
	}
	return need + 1, true
}

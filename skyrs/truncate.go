package skyrs

import (
	"strings"
	"unicode/utf8"
)

// TruncateLongString shortens s to about maxLength code points for CLI tables,
// following upstream SkyPilot's truncate_long_string step by step. Lengths and
// positions count code points (runes), as Python's str does, never bytes; s
// must be valid UTF-8.
//
// A string no longer than maxLength is returned unchanged. In middle mode the
// start and the end of s are kept around "...". In end mode upstream walks
// the words of s, split on single spaces; its quirks are kept on purpose, so
// the result can be longer than maxLength+3, and a negative maxLength cuts
// the first word from its end, as a Python slice does.
func TruncateLongString(s string, maxLength int, truncateMiddle bool) string {
	length := utf8.RuneCountInString(s)
	if length <= maxLength {
		return s
	}

	if truncateMiddle {
		if maxLength <= 3 {
			return "..."
		}
		// One more code point at the start when maxLength-3 is odd.
		endLength := (maxLength - 3) / 2
		startLength := maxLength - 3 - endLength
		start := s[:runeOffset(s, startLength)]
		if endLength == 0 {
			return start + "..."
		}
		return start + "..." + s[runeOffset(s, length-endLength):]
	}

	words := strings.Split(s, " ")
	first := words[0]
	if firstLength := utf8.RuneCountInString(first); firstLength > maxLength {
		return first[:runeOffset(first, pythonIndex(maxLength, firstLength))] + "..."
	}
	// Add word lengths, spaces not counted, until they reach maxLength; the
	// words before the one that reached it are kept. If none does, every word
	// but the last is kept.
	kept, total := 0, 0
	for kept = 0; kept < len(words)-1; kept++ {
		total += utf8.RuneCountInString(words[kept])
		if total >= maxLength {
			break
		}
	}
	// The kept words joined by spaces are the start of s itself.
	prefix := strings.Join(words[:kept], " ")
	if prefixLength := utf8.RuneCountInString(prefix); prefixLength < maxLength {
		prefix += s[len(prefix):runeOffset(s, maxLength)]
	}
	return prefix + "..."
}

// pythonIndex turns a Python slice bound into an index in [0, length]: a
// negative index counts from the end, and both ends are clamped.
func pythonIndex(index, length int) int {
	if index < 0 {
		index += length
	}
	return min(max(index, 0), length)
}

// runeOffset returns the byte offset in s of the code point at index n, or
// len(s) when s has n or fewer code points.
func runeOffset(s string, n int) int {
	if n <= 0 {
		return 0
	}
	for offset := range s {
		if n == 0 {
			return offset
		}
		n--
	}
	return len(s)
}

package skyrs

import (
	"errors"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"
)

// DefaultCgroupRoot is where Linux mounts the cgroup file system. Upstream
// SkyPilot reads only this root; the functions here take it as an argument so
// that tests can point them at fake trees.
const DefaultCgroupRoot = "/sys/fs/cgroup"

// CgroupCPULimit returns the CPU limit of the cgroup mounted at root, in cores,
// as upstream's _get_cgroup_cpu_limit computes it; ok is false when there is
// no limit or a file cannot be read or parsed.
//
// Cgroup v2 (root/cgroup.controllers is a regular file) reads cpu.max, which
// must hold exactly two fields, "quota period"; a quota of "max" or <= 0 means
// no limit. Cgroup v1 reads cpu/cpu.cfs_quota_us and cpu/cpu.cfs_period_us,
// both of which must be > 0. Fields are parsed as Python's float() parses them.
//
// The limit is quota/period in float64 arithmetic, so it may be infinite or
// NaN where upstream goes on to fail: a v2 period of 0 makes upstream raise
// ZeroDivisionError (here: ±Inf), and an infinite or NaN limit makes its
// caller's int() raise. CPUCount declines such limits so that Python raises.
func CgroupCPULimit(root string) (limit float64, ok bool) {
	if isCgroupV2(root) {
		content, ok := readCgroupFile(filepath.Join(root, "cpu.max"))
		if !ok {
			return 0, false
		}
		fields := pySplit(content)
		if len(fields) != 2 || fields[0] == "max" {
			return 0, false
		}
		quota, ok := parsePyFloat(fields[0])
		if !ok {
			return 0, false
		}
		period, ok := parsePyFloat(fields[1])
		if !ok || !(quota > 0) {
			return 0, false
		}
		return quota / period, true
	}
	quota, ok := readCgroupFloat(filepath.Join(root, "cpu", "cpu.cfs_quota_us"))
	if !ok {
		return 0, false
	}
	period, ok := readCgroupFloat(filepath.Join(root, "cpu", "cpu.cfs_period_us"))
	if !ok || !(quota > 0 && period > 0) {
		return 0, false
	}
	return quota / period, true
}

// CgroupMemoryLimit returns the memory limit of the cgroup mounted at root, in
// bytes, as upstream's _get_cgroup_memory_limit computes it: cgroup v2 reads
// memory.max, v1 memory/memory.limit_in_bytes; "max", an empty file, a value
// <= 0, or a read or parse error mean no limit (ok false).
//
// A value beyond int64 also reports no limit. Upstream keeps it as a Python
// int, but its only use is min(total memory, limit), which then picks the
// total memory exactly as no limit does.
func CgroupMemoryLimit(root string) (limit int64, ok bool) {
	path := filepath.Join(root, "memory", "memory.limit_in_bytes")
	if isCgroupV2(root) {
		path = filepath.Join(root, "memory.max")
	}
	content, ok := readCgroupFile(path)
	if !ok {
		return 0, false
	}
	value := pyStrip(content)
	if value == "max" || value == "" {
		return 0, false
	}
	limit, ok = parsePyInt(value)
	if !ok || limit <= 0 {
		return 0, false
	}
	return limit, true
}

// isCgroupV2 reports whether root/cgroup.controllers is a regular file,
// following symbolic links, as os.path.isfile does.
func isCgroupV2(root string) bool {
	return isRegularFile(filepath.Join(root, "cgroup.controllers"))
}

// readCgroupFile reads a cgroup file the way upstream's
// open(path, encoding='utf-8').read() does, where a read error (OSError) and
// invalid UTF-8 (UnicodeDecodeError, a ValueError) both mean "no limit".
func readCgroupFile(path string) (string, bool) {
	data, err := readSmallFile(path)
	if err != nil || !utf8.Valid(data) {
		return "", false
	}
	return string(data), true
}

// readCgroupFloat reads a v1 file holding one number: float(f.read().strip()).
func readCgroupFloat(path string) (float64, bool) {
	content, ok := readCgroupFile(path)
	if !ok {
		return 0, false
	}
	return parsePyFloat(pyStrip(content))
}

// The rest of this file parses numbers as CPython 3.11 does, because cgroup
// files are parsed with str.strip(), str.split(), float() and int(), and
// "Any read or parse error means no limit" only holds if both sides agree on
// what parses.

// isPySpace reports whether r is whitespace to Python's str.isspace(), which
// str.strip() and str.split() use. It differs from unicode.IsSpace: U+001C to
// U+001F are whitespace to Python.
func isPySpace(r rune) bool {
	switch {
	case r >= '\t' && r <= '\r', r >= 0x1C && r <= ' ':
		return true
	case r < 0x80:
		return false
	}
	switch r {
	case 0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
		return true
	}
	return r >= 0x2000 && r <= 0x200A
}

// pyStrip is Python's str.strip() with no argument.
func pyStrip(s string) string {
	return strings.TrimFunc(s, isPySpace)
}

// pySplit is Python's str.split() with no argument.
func pySplit(s string) []string {
	return strings.FieldsFunc(s, isPySpace)
}

// pyDecimalZeros lists the code points above ASCII that are the digit zero of
// a run of ten decimal digits (Unicode category Nd) in Unicode 14.0, the
// version CPython 3.11 uses. Python's float() and int() accept these digits;
// the table is fixed rather than taken from package unicode, whose newer
// Unicode version has digits that CPython 3.11 rejects.
var pyDecimalZeros = [...]rune{
	0x660, 0x6F0, 0x7C0, 0x966, 0x9E6, 0xA66, 0xAE6, 0xB66, 0xBE6, 0xC66,
	0xCE6, 0xD66, 0xDE6, 0xE50, 0xED0, 0xF20, 0x1040, 0x1090, 0x17E0, 0x1810,
	0x1946, 0x19D0, 0x1A80, 0x1A90, 0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620,
	0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0, 0xFF10, 0x104A0, 0x10D30,
	0x11066, 0x110F0, 0x11136, 0x111D0, 0x112F0, 0x11450, 0x114D0, 0x11650,
	0x116C0, 0x11730, 0x118E0, 0x11950, 0x11C50, 0x11D50, 0x11DA0, 0x16A60,
	0x16AC0, 0x16B50, 0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6, 0x1E140,
	0x1E2F0, 0x1E950, 0x1FBF0,
}

// pyToASCII does what CPython's _PyUnicode_TransformDecimalAndSpaceToASCII
// does before float() and int() parse a str: non-ASCII whitespace becomes a
// space, a non-ASCII decimal digit becomes its ASCII digit, and any other
// non-ASCII character becomes '?', which no number contains.
func pyToASCII(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r < utf8.RuneSelf:
			b.WriteRune(r)
		case isPySpace(r):
			b.WriteByte(' ')
		default:
			b.WriteByte(pyDecimalDigit(r))
		}
	}
	return b.String()
}

// pyDecimalDigit returns the ASCII digit for a non-ASCII decimal digit, or
// '?' for any other rune.
func pyDecimalDigit(r rune) byte {
	for _, zero := range pyDecimalZeros {
		if r >= zero && r < zero+10 {
			return byte('0' + r - zero)
		}
	}
	return '?'
}

// isASCIISpace is CPython's Py_ISSPACE, the whitespace that float() and int()
// strip after pyToASCII.
func isASCIISpace(c byte) bool {
	return c == ' ' || (c >= '\t' && c <= '\r')
}

// removePyUnderscores checks the rule CPython applies to underscores in
// numbers (each one sits between two ASCII digits) and removes them.
func removePyUnderscores(s string) (string, bool) {
	if !strings.Contains(s, "_") {
		return s, true
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '_' {
			b.WriteByte(s[i])
			continue
		}
		if i == 0 || i == len(s)-1 || !isDigit(s[i-1]) || !isDigit(s[i+1]) {
			return "", false
		}
	}
	return b.String(), true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// parsePyFloat parses s as Python's float(s) does: surrounding whitespace, a
// sign, digits with single underscores between them, an optional fraction and
// exponent, or inf, infinity and nan in any case. Hexadecimal, which
// strconv.ParseFloat would accept, is rejected, as in Python. Out-of-range
// values round to ±Inf or zero, as in Python.
func parsePyFloat(s string) (float64, bool) {
	s = strings.TrimFunc(pyToASCII(s), func(r rune) bool {
		return r < utf8.RuneSelf && isASCIISpace(byte(r))
	})
	s, ok := removePyUnderscores(s)
	if !ok || !isPyFloatSyntax(s) {
		return 0, false
	}
	if strings.EqualFold(strings.TrimLeft(s, "+-"), "nan") {
		// strconv.ParseFloat takes no sign on NaN; Python ignores it.
		return math.NaN(), true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, false
	}
	return f, true
}

// isPyFloatSyntax reports whether s, free of underscores and whitespace, is
// [sign] (digits [. [digits]] | . digits) [(e|E) [sign] digits], or
// [sign] (inf | infinity | nan) in any case.
func isPyFloatSyntax(s string) bool {
	if s != "" && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	switch strings.ToLower(s) {
	case "inf", "infinity", "nan":
		return true
	}
	i := 0
	digits := 0
	for i < len(s) && isDigit(s[i]) {
		i++
		digits++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && isDigit(s[i]) {
			i++
			digits++
		}
	}
	if digits == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		start := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if i == start {
			return false
		}
	}
	return i == len(s)
}

// parsePyInt parses s as Python's int(s) does: surrounding whitespace, a
// sign, decimal digits with single underscores between them, leading zeros
// allowed. A value beyond int64 is reported as not parsed; for a memory limit
// that gives the same result as Python's big int (see CgroupMemoryLimit).
func parsePyInt(s string) (int64, bool) {
	s = strings.TrimFunc(pyToASCII(s), func(r rune) bool {
		return r < utf8.RuneSelf && isASCIISpace(byte(r))
	})
	s, ok := removePyUnderscores(s)
	if !ok {
		return 0, false
	}
	digits := s
	if digits != "" && (digits[0] == '+' || digits[0] == '-') {
		digits = digits[1:]
	}
	if digits == "" {
		return 0, false
	}
	for i := 0; i < len(digits); i++ {
		if !isDigit(digits[i]) {
			return 0, false
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil
}

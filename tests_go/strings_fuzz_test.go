package tests_go

import (
	"math"
	"math/big"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/skypilot-org/sky_rs/skyrs"
)

// hexLiteralPattern is the grammar of int(x, 16) for ASCII x, written
// independently of the scanner in skyrs: C-locale whitespace around one
// optional sign, an optional 0x prefix with one optional underscore, and hex
// digits with single underscores between them.
var hexLiteralPattern = regexp.MustCompile(
	`^[ \t\n\v\f\r]*([+-]?)(?:0[xX]_?)?([0-9a-fA-F](?:_?[0-9a-fA-F])*)[ \t\n\v\f\r]*$`)

func FuzzBase36Encode(f *testing.F) {
	for _, seed := range []string{
		"ff", "deadbeef", "0x10", "-0", "-ff", " 0X_f_f\t", "0x", "0x_", "_1",
		"1__2", strings.Repeat("f", 32), strings.Repeat("9", 80), "\u00a0ff", "\u0661",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, hex string) {
		got, err := skyrs.Base36Encode(hex)
		kind, msg := stringsErrorKind(err)
		if !isASCII(hex) {
			if kind != skyrs.KindDecline {
				t.Fatalf("Base36Encode(%q) = %q, %v; want Decline for non-ASCII", hex, got, err)
			}
			return
		}
		match := hexLiteralPattern.FindStringSubmatch(hex)
		if match == nil {
			if kind != skyrs.KindValueError || msg != "invalid" {
				t.Fatalf("Base36Encode(%q) = %q, %v; want ValueError invalid", hex, got, err)
			}
			return
		}
		want, ok := new(big.Int).SetString(strings.ReplaceAll(match[2], "_", ""), 16)
		if !ok {
			t.Fatalf("test bug: %q did not parse", match[2])
		}
		if match[1] == "-" && want.Sign() != 0 {
			if kind != skyrs.KindValueError || msg != "negative" {
				t.Fatalf("Base36Encode(%q) = %q, %v; want ValueError negative", hex, got, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("Base36Encode(%q) error %v; want %s in base 36", hex, err, want.Text(36))
		}
		if strings.Trim(got, "0123456789abcdefghijklmnopqrstuvwxyz") != "" ||
			(len(got) > 1 && got[0] == '0') {
			t.Fatalf("Base36Encode(%q) = %q: not canonical base 36", hex, got)
		}
		back, ok := new(big.Int).SetString(got, 36)
		if !ok || back.Cmp(want) != 0 {
			t.Fatalf("Base36Encode(%q) = %q, which is %v; want %v", hex, got, back, want)
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func FuzzFormatFloat(f *testing.F) {
	for _, seed := range []struct {
		num       float64
		precision int
	}{
		{1, 1}, {2.25, 1}, {0.125, 2}, {1e300, 1}, {math.Copysign(0, -1), 1}, {1e-7, 10},
		{5e-324, 1074}, {math.NaN(), 1}, {math.Inf(-1), 0}, {1.5, -1}, {0.1, 30},
	} {
		f.Add(seed.num, seed.precision)
	}
	f.Fuzz(func(t *testing.T, num float64, precision int) {
		precision %= 2000 // keep the strings small; the bound is tested by table
		got, err := skyrs.FormatFloat(num, precision)
		if !math.IsInf(num, 0) && num == math.Trunc(num) {
			if err != nil || strings.ContainsAny(got, ".e") {
				t.Fatalf("FormatFloat(%v, %d) = %q, %v; want digits without a point", num, precision, got, err)
			}
			if exact, _ := new(big.Float).SetFloat64(num).Int(nil); got != exact.String() &&
				!(got == "-0" && math.Signbit(num)) {
				t.Fatalf("FormatFloat(%v, %d) = %q; want %v", num, precision, got, exact)
			}
			return
		}
		if precision < 0 {
			if kind, _ := stringsErrorKind(err); kind != skyrs.KindValueError {
				t.Fatalf("FormatFloat(%v, %d) error %v; want ValueError", num, precision, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("FormatFloat(%v, %d) error %v", num, precision, err)
		}
		if special := math.IsNaN(num) || math.IsInf(num, 0); special || got == "nan" || strings.Contains(got, "inf") {
			want := "nan"
			switch {
			case math.IsInf(num, 1):
				want = "inf"
			case math.IsInf(num, -1):
				want = "-inf"
			}
			if !special || got != want {
				t.Fatalf("FormatFloat(%v, %d) = %q; want %q", num, precision, got, want)
			}
			return
		}
		// Exactly precision digits after the point, none when it is zero.
		point := strings.IndexByte(got, '.')
		if (precision == 0 && point >= 0) || (precision > 0 && len(got)-point-1 != precision) {
			t.Fatalf("FormatFloat(%v, %d) = %q: wrong number of decimals", num, precision, got)
		}
		// Correct rounding: within half a unit in the last place of the exact
		// binary value.
		value, ok := new(big.Rat).SetString(got)
		if !ok {
			t.Fatalf("FormatFloat(%v, %d) = %q: not a decimal", num, precision, got)
		}
		diff := new(big.Rat).Sub(value, new(big.Rat).SetFloat64(num))
		halfUnit := new(big.Rat).SetFrac(big.NewInt(1), new(big.Int).Mul(big.NewInt(2),
			new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(precision)), nil)))
		if diff.Abs(diff).Cmp(halfUnit) > 0 {
			t.Fatalf("FormatFloat(%v, %d) = %q: not the nearest decimal", num, precision, got)
		}
	})
}

func FuzzTruncateLongString(f *testing.F) {
	for _, seed := range []struct {
		s         string
		maxLength int
		middle    bool
	}{
		{"abc", -1, false}, {"a  b  c  d  e  f", 5, false}, {"abcdefghijklmnopqrstuvwxyz", 10, true},
		{"hello world foo bar", 8, false}, {"日本語 テキスト です", 5, false}, {" abc", 0, false},
		{"😀😀😀 😀😀", 4, true}, {"", -1, false},
	} {
		f.Add(seed.s, seed.maxLength, seed.middle)
	}
	f.Fuzz(func(t *testing.T, s string, maxLength int, middle bool) {
		if !utf8.ValidString(s) {
			return // the facade passes valid UTF-8 only
		}
		got := skyrs.TruncateLongString(s, maxLength, middle)
		length := utf8.RuneCountInString(s)
		if length <= maxLength {
			if got != s {
				t.Fatalf("TruncateLongString(%q, %d, %v) = %q; want it unchanged", s, maxLength, middle, got)
			}
			return
		}
		if middle {
			if maxLength <= 3 {
				if got != "..." {
					t.Fatalf("TruncateLongString(%q, %d, true) = %q; want ...", s, maxLength, got)
				}
				return
			}
			start, end := (maxLength-2)/2, (maxLength-3)/2
			runes := []rune(s)
			want := string(runes[:start]) + "..." + string(runes[length-end:])
			if got != want || utf8.RuneCountInString(got) != maxLength {
				t.Fatalf("TruncateLongString(%q, %d, true) = %q; want %q", s, maxLength, got, want)
			}
			return
		}
		// End mode keeps a proper prefix of s (or nothing of an empty s): at
		// least maxLength code points when maxLength >= 0, else the first word
		// less -maxLength.
		kept, found := strings.CutSuffix(got, "...")
		keptLength := utf8.RuneCountInString(kept)
		if !found || !strings.HasPrefix(s, kept) || (keptLength >= length && length > 0) {
			t.Fatalf("TruncateLongString(%q, %d, false) = %q; want a proper prefix of s then ...", s, maxLength, got)
		}
		if maxLength >= 0 && keptLength < maxLength {
			t.Fatalf("TruncateLongString(%q, %d, false) = %q; kept fewer than %d code points", s, maxLength, got, maxLength)
		}
		if first, _, _ := strings.Cut(s, " "); maxLength < 0 &&
			keptLength != max(utf8.RuneCountInString(first)+maxLength, 0) {
			t.Fatalf("TruncateLongString(%q, %d, false) = %q; want the first word cut from its end", s, maxLength, got)
		}
	})
}

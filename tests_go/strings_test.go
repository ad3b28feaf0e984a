package tests_go

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skypilot-org/sky_rs/skyrs"
)

// The expectations in these tables were produced by upstream SkyPilot 0.14
// (sky.utils.common_utils) on CPython 3.11; TestStringsAgainstUpstream checks
// random inputs against it live.

// stringsErrorKind returns the kind and message of an *skyrs.Error, "" and
// the error text for any other error, and "", "" for nil.
func stringsErrorKind(err error) (skyrs.Kind, string) {
	if err == nil {
		return "", ""
	}
	var e *skyrs.Error
	if errors.As(err, &e) {
		return e.Kind, e.Msg
	}
	return "", err.Error()
}

func TestBase36Encode(t *testing.T) {
	tests := []struct {
		hex  string
		want string
		err  string // "" for success, else the ValueError message
	}{
		{"ff", "73", ""},
		{"deadbeef", "1ps9wxb", ""},
		{"0x10", "g", ""},
		{"0", "0", ""},
		{"00", "0", ""},
		{"-0", "0", ""},
		{"-0x0", "0", ""},
		{"+0x_f", "f", ""},
		{" \t0X_DEAD_beef\n\u000b\f\r", "1ps9wxb", ""},
		{"1_0", "g", ""},
		{"0b1", "4x", ""}, // 0xb1, not a binary prefix
		{"0_0_1", "1", ""},
		{"ffffffffffffffffffffffffffffffff", "f5lxx1zz5pnorynqglhzmsp33", ""},
		{"fffffffffffffffffffffffffffffffe", "f5lxx1zz5pnorynqglhzmsp32", ""},
		{"fffffffffffffffffffffffffffffffff", "6qhr2ovzmjej0fejrdjzu4r5dr", ""},
		{"100000000000000000000000000000000", "f5lxx1zz5pnorynqglhzmsp34", ""},
		{"f_fff_fffff_fffff_ffffffffffffffffff", "f5lxx1zz5pnorynqglhzmsp33", ""},
		{"00000000000000000000000000000000000000001", "1", ""},
		{"ffffffffffffffff", "3w5e11264sgsf", ""},
		{"10000000000000000", "3w5e11264sgsg", ""},
		{"0123456789abcdefABCDEF0123456789", "2fapl4n1azs860ic1ny6791l", ""},
		{"24", "10", ""},
		{"23", "z", ""},
		{"a", "a", ""},
		{strings.Repeat("1", 64), "fb9zctjc61gxtdl09e42fmewy7uxlt63xgyuy3m1jh0vewis1", ""},
		{"", "", "invalid"},
		{" \t", "", "invalid"},
		{"g", "", "invalid"},
		{"0x", "", "invalid"},
		{"0x_", "", "invalid"},
		{"0x__f", "", "invalid"},
		{"_f", "", "invalid"},
		{"f_", "", "invalid"},
		{"f__f", "", "invalid"},
		{"- 1", "", "invalid"},
		{"+-1", "", "invalid"},
		{"--1", "", "invalid"},
		{"\x1cff", "", "invalid"}, // str.isspace() but not skipped by int()
		{"ff\x1c", "", "invalid"},
		{"0o1", "", "invalid"},
		{"1 1", "", "invalid"},
		{"ff\x00", "", "invalid"},
		{"0x0x1", "", "invalid"},
		{"-ff", "", "negative"}, // upstream loops forever
		{"-0x1", "", "negative"},
		{"-0_1", "", "negative"},
	}
	for _, tt := range tests {
		got, err := skyrs.Base36Encode(tt.hex)
		if tt.err == "" {
			if err != nil || got != tt.want {
				t.Errorf("Base36Encode(%q) = %q, %v; want %q", tt.hex, got, err, tt.want)
			}
			continue
		}
		kind, msg := stringsErrorKind(err)
		if kind != skyrs.KindValueError || msg != tt.err {
			t.Errorf("Base36Encode(%q) = %q, %v; want ValueError %q", tt.hex, got, err, tt.err)
		}
	}
}

// TestBase36EncodeDeclinesNonASCII covers input that int() may accept through
// Unicode whitespace or digits of other scripts: Python answers it.
func TestBase36EncodeDeclinesNonASCII(t *testing.T) {
	for _, hex := range []string{"\u00a0ff", "ff\u3000", "\u0661\u0662", "\uff11", "\uff21", "g\u00e9"} {
		_, err := skyrs.Base36Encode(hex)
		if kind, _ := stringsErrorKind(err); kind != skyrs.KindDecline {
			t.Errorf("Base36Encode(%q) error = %v; want Decline", hex, err)
		}
	}
}

func TestFormatFloat(t *testing.T) {
	tests := []struct {
		num       float64
		precision int
		want      string
		err       string // "" for success, else the ValueError message
	}{
		{1.0, 1, "1", ""},
		{math.Copysign(0, -1), 1, "-0", ""},
		{0.0, 3, "0", ""},
		{1e+300, 1, "1000000000000000052504760255204420248704468581108159154915854115511802457988908195786371375080447864043704443832883878176942523235360430575644792184786706982848387200926575803737830233794788090059368953234970799945081119038967640880074652742780142494579258788820056842838115669472196386865459400540160", ""},
		{-1e+300, 1, "-1000000000000000052504760255204420248704468581108159154915854115511802457988908195786371375080447864043704443832883878176942523235360430575644792184786706982848387200926575803737830233794788090059368953234970799945081119038967640880074652742780142494579258788820056842838115669472196386865459400540160", ""},
		{1e+22, 3, "10000000000000000000000", ""},
		{1.7976931348623157e+308, 2, "179769313486231570814527423731704356798070567525844996598917476803157260780028538760589558632766878171540458953514382464234321326889464182768467546703537516986049910576551282076245490090389328944075868508455133942304583236903222948165808559332123348274797826204144723168738177180919299881250404026184124858368", ""},
		{2.25, 1, "2.2", ""},
		{2.35, 1, "2.4", ""},
		{0.125, 2, "0.12", ""},
		{0.375, 2, "0.38", ""},
		{0.1, 1, "0.1", ""},
		{0.05, 1, "0.1", ""},
		{0.15, 1, "0.1", ""},
		{0.25, 1, "0.2", ""},
		{33.3333, 1, "33.3", ""},
		{7.5, 1, "7.5", ""},
		{-1.5, 2, "-1.50", ""},
		{1e-07, 1, "0.0", ""},
		{1e-07, 10, "0.0000001000", ""},
		{2.5e-05, 4, "0.0000", ""},
		{0.1, 30, "0.100000000000000005551115123126", ""},
		{1.2345678901234567, 17, "1.23456789012345669", ""},
		{1.5, 0, "2", ""},
		{2.5, 0, "2", ""},
		{0.5, 0, "0", ""},
		{-0.5, 0, "-0", ""},
		{-0.04, 1, "-0.0", ""},
		{123456789.5, 0, "123456790", ""},
		{4503599627370495.5, 0, "4503599627370496", ""},
		{4503599627370495.5, 1, "4503599627370495.5", ""},
		{5e-324, 0, "0", ""},
		{5e-324, 1074, "0." + strings.Repeat("0", 323) + "4940656458412465441765687928682213723650598026143247644255856825006755072702087518652998363616359923797965646954457177309266567103559397963987747960107818781263007131903114045278458171678489821036887186360569987307230500063874091535649843873124733972731696151400317153853980741262385655911710266585566867681870395603106249319452715914924553293054565444011274801297099995419319894090804165633245247571478690147267801593552386115501348035264934720193790268107107491703332226844753335720832431936092382893458368060106011506169809753078342277318329247904982524730776375927247874656084778203734469699533647017972677717585125660551199131504891101451037862738167250955837389733598993664809941164205702637090279242767544565229087538682506419718265533447265625", ""},
		{1.0, -1, "1", ""}, // a whole number never reads precision
		{3.0, 1 << 40, "3", ""},
		{math.NaN(), 1, "nan", ""},
		{math.Copysign(math.NaN(), -1), 1, "nan", ""},
		{math.Inf(1), 1, "inf", ""},
		{math.Inf(-1), 0, "-inf", ""},
		{math.NaN(), math.MaxInt32, "nan", ""},
		{1.5, -1, "", "Format specifier missing precision"},
		{1.5, -5, "", "Format specifier missing precision"},
		{math.NaN(), -1, "", "Format specifier missing precision"},
		{1.5, math.MaxInt32 + 1, "", "precision too big"},
		{math.NaN(), math.MaxInt32 + 1, "", "precision too big"},
		{math.Inf(1), math.MaxInt64, "", "precision too big"},
	}
	for _, tt := range tests {
		got, err := skyrs.FormatFloat(tt.num, tt.precision)
		if tt.err == "" {
			if err != nil || got != tt.want {
				t.Errorf("FormatFloat(%v, %d) = %q, %v; want %q", tt.num, tt.precision, got, err, tt.want)
			}
			continue
		}
		kind, msg := stringsErrorKind(err)
		if kind != skyrs.KindValueError || msg != tt.err {
			t.Errorf("FormatFloat(%v, %d) = %q, %v; want ValueError %q", tt.num, tt.precision, got, err, tt.err)
		}
	}
}

// TestFormatFloatDeclinesHugePrecision checks that a precision Python accepts
// but that would build a string of megabytes is left to Python.
func TestFormatFloatDeclinesHugePrecision(t *testing.T) {
	_, err := skyrs.FormatFloat(1.5, math.MaxInt32)
	if kind, _ := stringsErrorKind(err); kind != skyrs.KindDecline {
		t.Errorf("FormatFloat(1.5, MaxInt32) error = %v; want Decline", err)
	}
}

func TestTruncateLongString(t *testing.T) {
	az := "abcdefghijklmnopqrstuvwxyz"
	tests := []struct {
		s         string
		maxLength int
		middle    bool
		want      string
	}{
		{"abc", 35, false, "abc"},
		{"abc", 3, false, "abc"},
		{"abc", 2, false, "ab..."},
		{"abc", -1, false, "ab..."}, // Python slice: 'abc'[:-1]
		{"abc", -3, false, "..."},
		{"abc", -5, false, "..."},
		{"", 0, false, ""},
		{"", -1, false, "..."},
		{"abcde", 4, true, "a..."},
		{az, 10, true, "abcd...xyz"},
		{az, 11, true, "abcd...wxyz"},
		{az, 3, true, "..."},
		{az, 4, true, "a..."},
		{az, 5, true, "a...z"},
		{az, -2, true, "..."},
		{"a  b  c  d  e  f", 5, false, "a  b  c  d ..."}, // longer than maxLength+3
		{"hello world foo bar", 8, false, "hello wo..."},
		{"hello world foo bar", 11, false, "hello world..."},
		{"hello world foo bar", 5, false, "hello..."},
		{"hello world", 5, false, "hello..."},
		{"hello world", 4, false, "hell..."},
		{" abc", 0, false, "..."},
		{"  abc def", 2, false, "  ..."},
		{"a b", 2, false, "a ..."},
		{"a b c", 1, false, "a..."},
		{"ab cd ef", 4, false, "ab c..."},
		{"ab cd ef", 3, false, "ab ..."},
		{"a b c d e f g h i j", 3, false, "a b..."},
		{"aaaa bbbb", 100, false, "aaaa bbbb"},
		{strings.Repeat("x", 40), 35, false, strings.Repeat("x", 35) + "..."},
		{"héllo wörld ünïcode", 9, false, "héllo wör..."},
		{"日本語 テキスト です", 5, false, "日本語 テ..."},
		{"日本語テキストです", 5, true, "日...す"},
		{"😀😀😀 😀😀", 4, false, "😀😀😀 ..."},
		{"éééééééééé", 6, true, "éé...é"},
		{"sky-cluster-name-that-is-very-long-indeed", 20, true, "sky-clust...g-indeed"},
	}
	for _, tt := range tests {
		if got := skyrs.TruncateLongString(tt.s, tt.maxLength, tt.middle); got != tt.want {
			t.Errorf("TruncateLongString(%q, %d, %v) = %q; want %q", tt.s, tt.maxLength, tt.middle, got, tt.want)
		}
	}
}

// upstreamStringsScript answers a JSON list of calls with upstream's results,
// one {"ok": result} or {"err": "Type: message"} per call. It never calls
// base36_encode on a negative value, where upstream loops forever.
const upstreamStringsScript = `
import json, struct, sys
from sky.utils import common_utils as cu
out = []
for c in json.load(sys.stdin):
    try:
        if c['fn'] == 'base36':
            if int(c['s'], 16) < 0:
                out.append({'err': 'negative'})
                continue
            out.append({'ok': cu.base36_encode(c['s'])})
        elif c['fn'] == 'format':
            num = struct.unpack('<d', struct.pack('<Q', c['bits']))[0]
            out.append({'ok': cu.format_float(num, c['p'])})
        else:
            out.append({'ok': cu.truncate_long_string(c['s'], c['m'], c['mid'])})
    except ValueError as e:
        out.append({'err': type(e).__name__ + ': ' + str(e)})
json.dump(out, sys.stdout)
`

type stringsCall struct {
	Fn     string `json:"fn"`
	S      string `json:"s"`
	Bits   uint64 `json:"bits"`
	P      int    `json:"p"`
	M      int    `json:"m"`
	Middle bool   `json:"mid"`
}

type stringsAnswer struct {
	OK  *string `json:"ok"`
	Err string  `json:"err"`
}

func stringsRandomFrom(r *rand.Rand, pieces []string, maxLen int) string {
	var b strings.Builder
	for range r.IntN(maxLen + 1) {
		b.WriteString(pieces[r.IntN(len(pieces))])
	}
	return b.String()
}

// stringsRandomCalls builds a deterministic mix of inputs that reach every
// branch: hex literals with signs, prefixes, underscores and whitespace, and
// noise near them; floats of every magnitude, halfway cases and specials;
// strings of spaces, words and multi-byte code points.
func stringsRandomCalls() []stringsCall {
	r := rand.New(rand.NewPCG(36, 2025))
	var calls []stringsCall
	hexDigits := strings.Split("0123456789abcdefABCDEF", "")
	for range 150 {
		var s string
		if r.IntN(3) == 0 {
			s = stringsRandomFrom(r, []string{"0", "f", "A", "_", "x", "X", "+", "-", " ", "\t", "g", "__"}, 8)
		} else {
			s = stringsRandomFrom(r, []string{"", " ", "\n", "\v"}, 2) +
				[]string{"", "", "+", "-"}[r.IntN(4)] +
				[]string{"", "", "0x", "0X", "0x_"}[r.IntN(5)]
			for i := range 1 + r.IntN(70) {
				if i > 0 && r.IntN(8) == 0 {
					s += "_"
				}
				s += hexDigits[r.IntN(len(hexDigits))]
			}
			s += stringsRandomFrom(r, []string{"", "", " ", "\r", "\f", "_"}, 2)
		}
		calls = append(calls, stringsCall{Fn: "base36", S: s})
	}
	for range 200 {
		var num float64
		switch r.IntN(5) {
		case 0:
			num = math.Float64frombits(r.Uint64())
		case 1:
			num = float64(r.IntN(200001)-100000) / 1000
		case 2:
			num = float64(r.IntN(1<<20)) / float64(uint64(1)<<r.IntN(30)) // exact halfway cases
		case 3:
			num = r.NormFloat64() * math.Pow(10, float64(r.IntN(40)-20))
		default:
			num = []float64{math.NaN(), math.Inf(1), math.Inf(-1), 0, math.Copysign(0, -1), 1e16, 0.5, 2.5}[r.IntN(8)]
		}
		p := r.IntN(20)
		switch r.IntN(10) {
		case 0:
			p = -1 - r.IntN(3)
		case 1:
			p = 300 + r.IntN(800)
		}
		calls = append(calls, stringsCall{Fn: "format", Bits: math.Float64bits(num), P: p})
	}
	for range 250 {
		s := stringsRandomFrom(r, []string{"a", "b", "cd", " ", " ", "  ", "é", "日", "😀"}, 16)
		calls = append(calls, stringsCall{Fn: "truncate", S: s, M: r.IntN(22) - 4, Middle: r.IntN(3) == 0})
	}
	return calls
}

// TestStringsAgainstUpstream runs a few hundred random calls through upstream
// SkyPilot in the project venv, in one Python process, and compares.
func TestStringsAgainstUpstream(t *testing.T) {
	python, err := filepath.Abs(filepath.Join("..", ".venv", "bin", "python"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(python); err != nil {
		t.Skipf("no upstream oracle: %v", err)
	}
	calls := stringsRandomCalls()
	input, err := json.Marshal(calls)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, "-c", upstreamStringsScript)
	cmd.Stdin = strings.NewReader(string(input))
	cmd.Stderr = os.Stderr
	output, err := cmd.Output()
	if err != nil {
		t.Fatalf("upstream oracle failed: %v", err)
	}
	var answers []stringsAnswer
	if err := json.Unmarshal(output, &answers); err != nil {
		t.Fatalf("upstream oracle output: %v", err)
	}
	if len(answers) != len(calls) {
		t.Fatalf("upstream oracle answered %d of %d calls", len(answers), len(calls))
	}
	for i, call := range calls {
		var got string
		var err error
		var desc string
		switch call.Fn {
		case "base36":
			got, err = skyrs.Base36Encode(call.S)
			desc = fmt.Sprintf("Base36Encode(%q)", call.S)
		case "format":
			num := math.Float64frombits(call.Bits)
			got, err = skyrs.FormatFloat(num, call.P)
			desc = fmt.Sprintf("FormatFloat(%v [%#x], %d)", num, call.Bits, call.P)
		default:
			got = skyrs.TruncateLongString(call.S, call.M, call.Middle)
			desc = fmt.Sprintf("TruncateLongString(%q, %d, %v)", call.S, call.M, call.Middle)
		}
		want := answers[i]
		errKind, msg := stringsErrorKind(err)
		kind := string(errKind)
		switch {
		case want.OK != nil:
			if err != nil || got != *want.OK {
				t.Errorf("%s = %q, %v; upstream %q", desc, got, err, *want.OK)
			}
		case want.Err == "negative":
			if kind != string(skyrs.KindValueError) || msg != "negative" {
				t.Errorf("%s = %q, %v; want ValueError negative", desc, got, err)
			}
		case call.Fn == "base36":
			if kind != string(skyrs.KindValueError) || msg != "invalid" ||
				!strings.HasPrefix(want.Err, "ValueError: invalid literal for int() with base 16: ") {
				t.Errorf("%s = %q, %v; upstream %s", desc, got, err, want.Err)
			}
		default:
			if kind+": "+msg != want.Err {
				t.Errorf("%s = %q, %v; upstream %s", desc, got, err, want.Err)
			}
		}
	}
}

func ExampleBase36Encode() {
	name, _ := skyrs.Base36Encode("deadbeef")
	fmt.Println(name)
	name, _ = skyrs.Base36Encode("0x10")
	fmt.Println(name)
	_, err := skyrs.Base36Encode("0x")
	fmt.Println(err)
	// Output:
	// 1ps9wxb
	// g
	// ValueError: invalid
}

func ExampleFormatFloat() {
	for _, num := range []float64{4, 2.25, 0.5, math.Copysign(0, -1)} {
		s, _ := skyrs.FormatFloat(num, 1)
		fmt.Println(s)
	}
	// Output:
	// 4
	// 2.2
	// 0.5
	// -0
}

func ExampleTruncateLongString() {
	fmt.Println(skyrs.TruncateLongString("abcdefghijklmnopqrstuvwxyz", 10, true))
	fmt.Println(skyrs.TruncateLongString("hello world foo bar", 8, false))
	fmt.Println(skyrs.TruncateLongString("a  b  c  d  e  f", 5, false))
	// Output:
	// abcd...xyz
	// hello wo...
	// a  b  c  d ...
}

// BenchmarkBase36Encode measures the shape SkyPilot uses: a 32-digit hash.
func BenchmarkBase36Encode(b *testing.B) {
	for b.Loop() {
		if _, err := skyrs.Base36Encode("a3f2c9e17b4d6058e1f2a3b4c5d6e7f8"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFormatFloat(b *testing.B) {
	for b.Loop() {
		if _, err := skyrs.FormatFloat(33.3333, 1); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTruncateLongString(b *testing.B) {
	for b.Loop() {
		skyrs.TruncateLongString("sky-serve-controller-a3f2c9e1 on kubernetes cluster", 35, false)
	}
}

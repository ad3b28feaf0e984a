package tests_go

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/skypilot-org/sky_rs/skyrs"
)

// FuzzCountCPUList feeds CountCPUList both arbitrary bytes (it must not panic
// and the count fits glibc's int) and well-formed lists built from the fuzzed
// ranges, whose count is known: the sum of the range sizes.
func FuzzCountCPUList(f *testing.F) {
	for _, seed := range []string{"0", "0-3", "0-3,8,10-11\n", "", "-", "0-", "3-1", " 1", "+2",
		"18446744073709551615", "0-18446744073709551616", "1,,2", "0-3\n5"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got := skyrs.CountCPUList(data)
		if got < math.MinInt32 || got > math.MaxInt32 {
			t.Fatalf("CountCPUList(%q) = %d: beyond a C int", data, got)
		}
		// The same bytes read as (start, length) pairs of a canonical list.
		var parts []string
		want := 0
		next := 0
		for i := 0; i+1 < len(data) && len(parts) < 64; i += 2 {
			start := next + int(data[i]%8)
			size := int(data[i+1]%16) + 1
			if size == 1 {
				parts = append(parts, strconv.Itoa(start))
			} else {
				parts = append(parts, fmt.Sprintf("%d-%d", start, start+size-1))
			}
			want += size
			next = start + size + 1
		}
		if len(parts) == 0 {
			return
		}
		list := strings.Join(parts, ",") + "\n"
		if got := skyrs.CountCPUList([]byte(list)); got != want {
			t.Fatalf("CountCPUList(%q) = %d; want %d", list, got, want)
		}
	})
}

// plainDecimal is a field whose value Python's float() and Go's
// strconv.ParseFloat agree on without any of float()'s extras.
var plainDecimal = regexp.MustCompile(`^[0-9]{1,15}(\.[0-9]{1,6})?$`)

// FuzzCgroupLimits writes fuzzed cpu.max and memory.max files into a fake
// cgroup v2 tree. The parsers must not panic, must report a limit only when
// upstream would (a positive quota; a positive memory value), and must agree
// with strconv on plain decimal fields.
func FuzzCgroupLimits(f *testing.F) {
	for _, seed := range [][2]string{
		{"max 100000\n", "max\n"}, {"150000 100000\n", "1073741824\n"}, {"50000 100000", ""},
		{" 1_0 2 ", " 12 "}, {"1e3 nan", "-5"}, {"inf 1", "0x10"}, {"\u0661 1", "\u0662"},
		{"1 0", "99999999999999999999"}, {"1 2 3", "1 2"}, {"\xff 1", "\xff"},
	} {
		f.Add(seed[0], seed[1])
	}
	root := f.TempDir()
	if err := os.WriteFile(filepath.Join(root, "cgroup.controllers"), []byte("cpu memory\n"), 0o644); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, cpuMax, memoryMax string) {
		if err := os.WriteFile(filepath.Join(root, "cpu.max"), []byte(cpuMax), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "memory.max"), []byte(memoryMax), 0o644); err != nil {
			t.Fatal(err)
		}
		limit, ok := skyrs.CgroupCPULimit(root)
		fields := strings.Fields(cpuMax)
		if len(fields) == 2 && plainDecimal.MatchString(fields[0]) && plainDecimal.MatchString(fields[1]) {
			quota, _ := strconv.ParseFloat(fields[0], 64)
			period, _ := strconv.ParseFloat(fields[1], 64)
			if ok != (quota > 0) || (ok && limit != quota/period) {
				t.Fatalf("CgroupCPULimit(cpu.max=%q) = %v, %v; want %v, %v", cpuMax, limit, ok, quota/period, quota > 0)
			}
		}
		if ok && len(fields) == 2 && fields[0] == "max" {
			t.Fatalf("CgroupCPULimit(cpu.max=%q) = %v: a limit for max", cpuMax, limit)
		}
		memory, ok := skyrs.CgroupMemoryLimit(root)
		if ok && memory <= 0 {
			t.Fatalf("CgroupMemoryLimit(memory.max=%q) = %d: not positive", memoryMax, memory)
		}
		if value := strings.TrimSpace(memoryMax); regexp.MustCompile(`^[0-9]{1,18}$`).MatchString(value) {
			want, _ := strconv.ParseInt(value, 10, 64)
			if ok != (want > 0) || (ok && memory != want) {
				t.Fatalf("CgroupMemoryLimit(memory.max=%q) = %d, %v; want %d", memoryMax, memory, ok, want)
			}
		}
	})
}

package tests_go

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode"

	"github.com/skypilot-org/sky_rs/skyrs"
	"github.com/skypilot-org/sky_rs/skyrs/pyexport"
)

// cgroupCase is one fake cgroup tree under testdata/cgroup and what upstream's
// _get_cgroup_cpu_limit and _get_cgroup_memory_limit return for it, worked
// out by hand from common_utils.py.
type cgroupCase struct {
	name     string
	cpuLimit float64 // NaN means NaN; ignored when !cpuOK
	cpuOK    bool
	memLimit int64
	memOK    bool
}

var cgroupCases = []cgroupCase{
	{name: "v2_quota", cpuLimit: 1.5, cpuOK: true, memLimit: 1 << 30, memOK: true},
	{name: "v2_max"},
	{name: "v2_garbage"},
	{name: "v2_one_field"},    // one field: upstream's tuple unpacking fails; empty memory.max
	{name: "v2_three_fields"}, // three fields; memory.max "1 2" is no int
	{name: "v2_zero"},
	{name: "v2_negative"},
	// Upstream raises ZeroDivisionError; Go's float division gives +Inf.
	{name: "v2_zero_period", cpuLimit: math.Inf(1), cpuOK: true},
	{name: "v2_nan_period", cpuLimit: math.NaN(), cpuOK: true},
	{name: "v2_inf_quota", cpuLimit: math.Inf(1), cpuOK: true},
	{name: "v2_half_core", cpuLimit: 0.5, cpuOK: true, memLimit: 512 << 20, memOK: true},
	{name: "v2_negative_period", cpuLimit: -2.5, cpuOK: true},
	{name: "v2_python_syntax", cpuLimit: 1.5, cpuOK: true, memLimit: 1 << 30, memOK: true},
	{name: "v2_unicode", cpuLimit: 1.5, cpuOK: true, memLimit: 1024, memOK: true},
	{name: "v2_hex"}, // float() and int() take no hexadecimal
	{name: "v2_huge_memory"},
	{name: "v2_invalid_utf8"},
	{name: "v1_quota", cpuLimit: 0.5, cpuOK: true, memLimit: 2 << 30, memOK: true},
	{name: "v1_unlimited", memLimit: 9223372036854771712, memOK: true},
	{name: "v1_zero_period"},
	{name: "v1_inner_space"},
	{name: "v1_quota_only"},
	{name: "controllers_dir", cpuLimit: 2.5, cpuOK: true, memLimit: 8192, memOK: true},
	{name: "missing"},
	{name: "does_not_exist"},
}

func cgroupRoot(name string) string {
	return filepath.Join("testdata", "cgroup", name)
}

func sameFloat(a, b float64) bool {
	return a == b && math.Signbit(a) == math.Signbit(b) || math.IsNaN(a) && math.IsNaN(b)
}

func TestCgroupCPULimit(t *testing.T) {
	for _, c := range cgroupCases {
		got, ok := skyrs.CgroupCPULimit(cgroupRoot(c.name))
		if ok != c.cpuOK || ok && !sameFloat(got, c.cpuLimit) {
			t.Errorf("CgroupCPULimit(%s) = %v, %v; want %v, %v", c.name, got, ok, c.cpuLimit, c.cpuOK)
		}
	}
}

func TestCgroupMemoryLimit(t *testing.T) {
	for _, c := range cgroupCases {
		got, ok := skyrs.CgroupMemoryLimit(cgroupRoot(c.name))
		if ok != c.memOK || ok && got != c.memLimit {
			t.Errorf("CgroupMemoryLimit(%s) = %v, %v; want %v, %v", c.name, got, ok, c.memLimit, c.memOK)
		}
	}
}

func TestCPUCountUnderFakeCgroups(t *testing.T) {
	host := min(skyrs.LogicalCPUs(), mustAffinity(t))
	for _, c := range cgroupCases {
		got, err := skyrs.CPUCount(cgroupRoot(c.name))
		switch {
		case c.cpuOK && (math.IsNaN(c.cpuLimit) || math.IsInf(c.cpuLimit, 0)):
			if kind := errorKind(err); kind != skyrs.KindDecline {
				t.Errorf("CPUCount(%s) = %v, %v; want Decline", c.name, got, err)
			}
		case err != nil:
			t.Errorf("CPUCount(%s): %v", c.name, err)
		default:
			want := host
			if c.cpuOK {
				want = min(host, int(c.cpuLimit))
			}
			if got != want {
				t.Errorf("CPUCount(%s) = %d; want %d", c.name, got, want)
			}
		}
	}
}

func TestMemSizeGBUnderFakeCgroups(t *testing.T) {
	total, err := skyrs.TotalMemoryBytes()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cgroupCases {
		want := float64(total) / (1 << 30)
		if c.memOK && uint64(c.memLimit) < total {
			want = float64(c.memLimit) / (1 << 30)
		}
		got, err := skyrs.MemSizeGB(cgroupRoot(c.name))
		if err != nil || got != want {
			t.Errorf("MemSizeGB(%s) = %v, %v; want %v", c.name, got, err, want)
		}
	}
}

// TestCgroupControllersSymlink checks that cgroup.controllers counts as a file
// through a symbolic link (os.path.isfile follows it) and a dangling link does
// not.
func TestCgroupControllersSymlink(t *testing.T) {
	for _, dangling := range []bool{false, true} {
		root := t.TempDir()
		writeFile(t, filepath.Join(root, "cpu.max"), "200000 100000\n")
		writeFile(t, filepath.Join(root, "cpu", "cpu.cfs_quota_us"), "300000\n")
		writeFile(t, filepath.Join(root, "cpu", "cpu.cfs_period_us"), "100000\n")
		target := filepath.Join(root, "real_controllers")
		if !dangling {
			writeFile(t, target, "cpu\n")
		}
		if err := os.Symlink(target, filepath.Join(root, "cgroup.controllers")); err != nil {
			t.Fatal(err)
		}
		want := 2.0 // v2's cpu.max
		if dangling {
			want = 3.0 // v1's files
		}
		if got, ok := skyrs.CgroupCPULimit(root); !ok || got != want {
			t.Errorf("dangling=%v: CgroupCPULimit = %v, %v; want %v", dangling, got, ok, want)
		}
	}
}

// TestCountCPUList follows glibc's get_nprocs_cpu_online line by line.
func TestCountCPUList(t *testing.T) {
	for _, c := range []struct {
		list string
		want int
	}{
		{"0-1\n", 2},
		{"0\n", 1},
		{"0-3,8,10-11\n", 7},
		{"0-63", 64},
		{" 0-1\n", 2},      // strtoul skips leading white space
		{"+1\n", 1},        // and takes a sign
		{"3-1\n", 0},       // a backwards range adds nothing
		{"0-1,3-1,5\n", 3}, // even in the middle
		{"0-1,,2\n", 0},    // an empty item voids the count
		{"0-1 ,2\n", 0},    // as does anything else strtoul cannot read
		{"0-x\n", 0},
		{"x\n", 0},
		{"", 0},
		{"0-1\n5-9\n", 2},                 // only the first line counts
		{"0-4294967295\n", 0},             // 2**32 CPUs wrap glibc's int to 0
		{"0-4294967296\n", 1},             // and 2**32 + 1 to 1
		{"0-2147483647\n", math.MinInt32}, // 2**31 wraps negative
	} {
		if got := skyrs.CountCPUList([]byte(c.list)); got != c.want {
			t.Errorf("CountCPUList(%q) = %d; want %d", c.list, got, c.want)
		}
	}
}

func TestProcessAliveInFakeProc(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("process states are read from /proc on Linux only")
	}
	// The stat files are installed under this process's own pid, so that
	// kill(pid, 0) succeeds and the state decides.
	pid := os.Getpid()
	for _, c := range []struct {
		fixture string // testdata/proc/<fixture>.stat; "" installs none
		want    bool
	}{
		{"sleeping", true},
		{"zombie", false},
		{"dead", false},
		{"paren_name_alive", true},     // "(evil) Z (name) S": the state is S
		{"paren_name_zombie", false},   // "(a) R (b) Z": the state is Z
		{"nested_paren_zombie", false}, // "(x (y)) Z"
		{"no_paren", true},             // unreadable state: kill's answer stands
		{"nothing_after_name", true},
		{"empty", true},
		{"", true},
	} {
		procRoot := t.TempDir()
		if c.fixture != "" {
			stat, err := os.ReadFile(filepath.Join("testdata", "proc", c.fixture+".stat"))
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(procRoot, strconv.Itoa(pid), "stat"), string(stat))
		}
		if got := skyrs.ProcessAliveIn(procRoot, pid); got != c.want {
			t.Errorf("ProcessAliveIn(%q) = %v; want %v", c.fixture, got, c.want)
		}
	}
}

func TestIsProcessAlive(t *testing.T) {
	for _, c := range []struct {
		pid  int
		want bool
	}{
		{0, false},  // kill(0, 0) would address our process group
		{-1, false}, // and kill(-1, 0) every process we may signal
		{-os.Getpid(), false},
		{math.MaxInt32, false}, // above any pid_max
		{math.MaxInt32 + 1, false},
		{1 << 40, false},
		{1, true},
		{os.Getpid(), true},
	} {
		if got := skyrs.IsProcessAlive(c.pid); got != c.want {
			t.Errorf("IsProcessAlive(%d) = %v; want %v", c.pid, got, c.want)
		}
	}
}

func TestIsProcessAliveChildren(t *testing.T) {
	live := exec.Command("sleep", "10")
	if err := live.Start(); err != nil {
		t.Skip("cannot start sleep:", err)
	}
	defer live.Wait()
	defer live.Process.Kill()
	if !skyrs.IsProcessAlive(live.Process.Pid) {
		t.Errorf("IsProcessAlive(running child) = false")
	}

	exited := exec.Command("sleep", "0")
	if err := exited.Start(); err != nil {
		t.Fatal(err)
	}
	defer exited.Wait()
	// Nothing reaps the child before Wait, so once it has exited it stays a
	// zombie, which kill(pid, 0) still finds. Wait (bounded) for the exit.
	deadline := time.Now().Add(10 * time.Second)
	for skyrs.IsProcessAlive(exited.Process.Pid) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if skyrs.IsProcessAlive(exited.Process.Pid) {
		t.Errorf("IsProcessAlive(zombie child) = true")
	}
	if err := syscall.Kill(exited.Process.Pid, 0); err != nil {
		t.Errorf("kill(zombie, 0) = %v; the child should still be an unreaped zombie", err)
	}
}

func TestFileMountCost(t *testing.T) {
	dir := t.TempDir()
	three := makeDirWithEntries(t, filepath.Join(dir, "three"), 3) // 15
	seven := makeDirWithEntries(t, filepath.Join(dir, "seven"), 7) // 35
	one := makeDirWithEntries(t, filepath.Join(dir, "one"), 1)     // 5
	empty := makeDirWithEntries(t, filepath.Join(dir, "empty"), 0)
	link := filepath.Join(dir, "link_to_seven")
	if err := os.Symlink(seven, link); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(three, "entry0")
	for _, c := range []struct {
		sources []string
		want    int
	}{
		{nil, 5},
		{[]string{""}, 5},
		{[]string{empty}, 5},
		{[]string{one}, 5},
		{[]string{three}, 15},
		{[]string{three, seven, one}, 35},
		{[]string{link}, 35}, // isdir follows the link
		{[]string{link + "/"}, 35},
		{[]string{file}, 5}, // a file is skipped
		{[]string{filepath.Join(dir, "missing"), three}, 15},
		{[]string{"s3://bucket/" + seven, "gs://x"}, 5}, // URLs are never directories
		{[]string{"~"}, 5}, // no ~ expansion (unless ./~ exists)
	} {
		got, err := skyrs.FileMountCost(c.sources)
		if err != nil || got != c.want {
			t.Errorf("FileMountCost(%q) = %d, %v; want %d", c.sources, got, err, c.want)
		}
	}
	if os.Geteuid() != 0 {
		locked := makeDirWithEntries(t, filepath.Join(dir, "locked"), 2)
		if err := os.Chmod(locked, 0); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(locked, 0o755)
		_, err := skyrs.FileMountCost([]string{three, locked})
		var e *skyrs.Error
		if !errors.As(err, &e) || e.Kind != skyrs.KindOSError || e.Errno != syscall.EACCES {
			t.Errorf("FileMountCost(unreadable dir) error = %v; want OSError EACCES", err)
		}
	}
}

func TestEstimatedFileMountCost(t *testing.T) {
	for _, c := range []struct {
		numSources, filesPerSource, want int
	}{
		{0, 100, 5},
		{3, 100, 500},
		{3, 0, 5},
		{3, 1, 5},
		{3, 2, 10},
		{-1, 10, 50},
		{3, -5, 5},
		{3, math.MinInt, 5}, // 5 * MinInt must not wrap to a positive cost
		{3, math.MaxInt / 5, 5 * (math.MaxInt / 5)},
		{3, math.MaxInt/5 + 1, math.MaxInt},
		{3, math.MaxInt, math.MaxInt},
	} {
		if got := skyrs.EstimatedFileMountCost(c.numSources, c.filesPerSource); got != c.want {
			t.Errorf("EstimatedFileMountCost(%d, %d) = %d; want %d", c.numSources, c.filesPerSource, got, c.want)
		}
	}
	if got := skyrs.MaxWorkersForCost(math.MaxInt, true); got != 1 {
		t.Errorf("MaxWorkersForCost(MaxInt) = %d; want 1", got)
	}
}

func TestPyexportSystem(t *testing.T) {
	dir := t.TempDir()
	seven := makeDirWithEntries(t, filepath.Join(dir, "seven"), 7)
	for _, sources := range []string{"", "\n", seven, "s3://b\n" + seven + "\n"} {
		var paths []string
		if sources != "" {
			paths = strings.Split(sources, "\n")
		}
		want, _ := skyrs.MaxWorkersForFileMounts(paths, true)
		got, err := pyexport.MaxWorkersForFileMounts(sources, true)
		if err != nil || got != want {
			t.Errorf("pyexport.MaxWorkersForFileMounts(%q) = %d, %v; want %d", sources, got, err, want)
		}
	}
	if alive, err := pyexport.IsProcessAlive(-1); alive || err != nil {
		t.Errorf("pyexport.IsProcessAlive(-1) = %v, %v", alive, err)
	}
}

// The tests below compare with upstream SkyPilot in the project's venv.

// upstreamCgroupScript runs upstream's cgroup functions with every path under
// /sys/fs/cgroup redirected to each root given on the command line, by
// patching the open and os.path.isfile that common_utils calls, and prints a
// JSON object per root.
const upstreamCgroupScript = `
import builtins, json, os, struct, sys
from unittest import mock
from sky.utils import common_utils as cu

real_open, real_isfile = builtins.open, os.path.isfile
PREFIX = '/sys/fs/cgroup'

def encode(v):
    if v is None:
        return {'none': True}
    if isinstance(v, float):
        return {'float_bits': str(struct.unpack('<Q', struct.pack('<d', v))[0])}
    return {'int': str(v)}

def run(root):
    def redirect(p):
        p = os.fspath(p)
        return root + p[len(PREFIX):] if p.startswith(PREFIX + '/') else p
    out = {}
    with mock.patch.object(builtins, 'open', lambda p, *a, **k: real_open(redirect(p), *a, **k)), \
         mock.patch('os.path.isfile', lambda p: real_isfile(redirect(p))):
        for name, fn in [('cpu_limit', cu._get_cgroup_cpu_limit),
                         ('mem_limit', cu._get_cgroup_memory_limit),
                         ('cpu_count', cu._cpu_count),
                         ('mem_gb', cu._mem_size_gb)]:
            try:
                out[name] = encode(fn())
            except Exception as e:
                out[name] = {'raises': type(e).__name__}
    return out

print(json.dumps({root: run(root) for root in sys.stdin.read().split('\n') if root}))
`

type upstreamValue struct {
	None      bool   `json:"none"`
	FloatBits string `json:"float_bits"`
	Int       string `json:"int"`
	Raises    string `json:"raises"`
}

func (v upstreamValue) float(t *testing.T) float64 {
	bits, err := strconv.ParseUint(v.FloatBits, 10, 64)
	if err != nil {
		t.Fatalf("upstream gave no float: %+v", v)
	}
	return math.Float64frombits(bits)
}

// TestCgroupAgainstUpstream runs upstream on every testdata tree and on
// generated trees that put unusual numbers through float() and int().
func TestCgroupAgainstUpstream(t *testing.T) {
	roots := []string{}
	for _, c := range cgroupCases {
		abs, err := filepath.Abs(cgroupRoot(c.name))
		if err != nil {
			t.Fatal(err)
		}
		roots = append(roots, abs)
	}
	roots = append(roots, generatedCgroupTrees(t)...)

	var results map[string]map[string]upstreamValue
	out := runUpstream(t, upstreamCgroupScript, strings.Join(roots, "\n"))
	if err := json.Unmarshal(out, &results); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for _, root := range roots {
		up, ok := results[root]
		if !ok {
			t.Fatalf("no upstream result for %s", root)
		}
		name := filepath.Base(root)

		limit, limitOK := skyrs.CgroupCPULimit(root)
		switch want := up["cpu_limit"]; {
		case want.Raises == "ZeroDivisionError":
			if !limitOK || !math.IsInf(limit, 0) {
				t.Errorf("%s: CgroupCPULimit = %v, %v; upstream raises ZeroDivisionError, want ±Inf", name, limit, limitOK)
			}
		case want.None:
			if limitOK {
				t.Errorf("%s: CgroupCPULimit = %v; upstream None", name, limit)
			}
		default:
			if w := want.float(t); !limitOK || !sameFloat(limit, w) {
				t.Errorf("%s: CgroupCPULimit = %v, %v; upstream %v", name, limit, limitOK, w)
			}
		}

		mem, memOK := skyrs.CgroupMemoryLimit(root)
		switch want := up["mem_limit"]; {
		case want.None:
			if memOK {
				t.Errorf("%s: CgroupMemoryLimit = %v; upstream None", name, mem)
			}
		case want.Int != "":
			w, err := strconv.ParseInt(want.Int, 10, 64)
			if err != nil { // beyond int64: reported as no limit
				if memOK {
					t.Errorf("%s: CgroupMemoryLimit = %v; upstream %s, want no limit", name, mem, want.Int)
				}
			} else if !memOK || mem != w {
				t.Errorf("%s: CgroupMemoryLimit = %v, %v; upstream %d", name, mem, memOK, w)
			}
		default:
			t.Errorf("%s: upstream memory limit %+v", name, want)
		}

		count, err := skyrs.CPUCount(root)
		switch want := up["cpu_count"]; {
		case want.Raises != "":
			if errorKind(err) != skyrs.KindDecline {
				t.Errorf("%s: CPUCount = %d, %v; upstream raises %s, want Decline", name, count, err, want.Raises)
			}
		case err != nil || strconv.Itoa(count) != want.Int:
			t.Errorf("%s: CPUCount = %d, %v; upstream %s", name, count, err, want.Int)
		}

		gb, err := skyrs.MemSizeGB(root)
		if w := up["mem_gb"].float(t); err != nil || !sameFloat(gb, w) {
			t.Errorf("%s: MemSizeGB = %v, %v; upstream %v", name, gb, err, w)
		}
	}
}

// generatedCgroupTrees writes one v2 and one v1 tree per number spelling, and
// one tree per run of Unicode decimal digits, and returns their roots.
func generatedCgroupTrees(t *testing.T) []string {
	tokens := []string{
		"1", "1.5", "+2", "-0", "0", "3e5", "1E-3", "1_000", "1__000", "_1", "1_",
		"1_.5", "1._5", "1.5_0", ".5", "5.", ".", "1e1_0", "1e_10", "inf", "-inf",
		"Infinity", "INFINITY", "infinit", "nan", "-NaN", "nan(1)", "0x10", "0x1p4",
		"1e", "1e+", "1e+5", "1e400", "-1e400", "1e-400", "0e99999999999999999999",
		"1d", "1f", "\u0661\u0662", "\U0001D7CF", "1\u00a0", "\uff11_\uff10",
		"12345678901234567890123", "9223372036854775807", "9223372036854775808",
		"-9223372036854775809", "00017", "+_1", "1+", "--1", "+-1", "\x00", "1\x002",
		"\u221e", "\u00bd", "\u00b2", "\u2167", "1\u200b", "\ufeff1", "1\x1c", "\x1f1",
		"99999999999999999999999999999999999999999999999999e-30", "4.9e-324", "2.5e-324",
		"\u0e50\u0e55", "\U00011F51", "\U0001E4F1", "\U000116D1",
	}
	dir := t.TempDir()
	var roots []string
	tree := func(name string, files map[string]string) {
		root := filepath.Join(dir, name)
		for rel, content := range files {
			writeFile(t, filepath.Join(root, rel), content)
		}
		roots = append(roots, root)
	}
	for i, token := range tokens {
		tree(fmt.Sprintf("v2_quota_%d", i), map[string]string{
			"cgroup.controllers": "", "cpu.max": token + " 100000\n", "memory.max": token + "\n"})
		tree(fmt.Sprintf("v2_period_%d", i), map[string]string{
			"cgroup.controllers": "", "cpu.max": "150000 " + token, "memory.max": " " + token + "0 "})
		tree(fmt.Sprintf("v1_%d", i), map[string]string{
			"cpu/cpu.cfs_quota_us": token, "cpu/cpu.cfs_period_us": "100000\n",
			"memory/memory.limit_in_bytes": "+" + token})
	}
	for i, sep := range []string{" ", "\t", "\x1c", "\x1f", "\x85", "\u00a0", "\u1680", "\u2000",
		"\u200a", "\u200b", "\u2028", "\u202f", "\u205f", "\u3000", "\ufeff", "\x00", ",", "\v\f"} {
		tree(fmt.Sprintf("v2_separator_%d", i), map[string]string{
			"cgroup.controllers": "", "cpu.max": sep + "250000" + sep + "100000" + sep,
			"memory.max": sep + "4096" + sep})
	}
	// Every run of decimal digits in package unicode's tables (Unicode 15):
	// the runs CPython 3.11 (Unicode 14) knows parse, the newer ones do not.
	for i, zero := range unicodeDigitZeros() {
		tree(fmt.Sprintf("v2_digits_%d", i), map[string]string{
			"cgroup.controllers": "", "cpu.max": "max",
			"memory.max": string([]rune{zero + 9, zero + 3, zero, zero + 7})})
	}
	return roots
}

// unicodeDigitZeros returns the digit zero of every run of ten code points
// in Unicode category Nd above ASCII, by package unicode's tables.
func unicodeDigitZeros() []rune {
	isNd := func(r rune) bool { return unicode.Is(unicode.Nd, r) }
	var zeros []rune
	for r := rune(0x80); r <= 0x10FFFF; r++ {
		if isNd(r) && !isNd(r-1) {
			for z := r; isNd(z); z += 10 {
				zeros = append(zeros, z)
			}
		}
	}
	return zeros
}

func TestRealMachineAgainstUpstream(t *testing.T) {
	const script = `
import json, os, resource, struct, psutil
from sky.utils import common_utils as cu, subprocess_utils as su
def bits(v):
    return None if v is None else str(struct.unpack('<Q', struct.pack('<d', v))[0])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
print(json.dumps({
    'cpu_limit': bits(cu._get_cgroup_cpu_limit()),
    'mem_limit': cu._get_cgroup_memory_limit(),
    'cpu_count': cu._cpu_count(),
    'mem_gb': bits(cu._mem_size_gb()),
    'total': psutil.virtual_memory().total,
    'os_cpu_count': os.cpu_count(),
    'psutil_cpu_count': psutil.cpu_count(),
    'affinity': len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else None,
    'threads': su.get_parallel_threads(),
    'threads_k8s': su.get_parallel_threads('kubernetes'),
    'soft': soft, 'hard': hard,
}))
`
	var up struct {
		CPULimit       *string `json:"cpu_limit"`
		MemLimit       *int64  `json:"mem_limit"`
		CPUCount       int     `json:"cpu_count"`
		MemGB          string  `json:"mem_gb"`
		Total          uint64  `json:"total"`
		OSCPUCount     int     `json:"os_cpu_count"`
		PsutilCPUCount int     `json:"psutil_cpu_count"`
		Affinity       *int    `json:"affinity"`
		Threads        int     `json:"threads"`
		ThreadsK8s     int     `json:"threads_k8s"`
		Soft           int64   `json:"soft"`
		Hard           int64   `json:"hard"`
	}
	out := runUpstream(t, script, "")
	if err := json.Unmarshal(out, &up); err != nil {
		t.Fatalf("%v: %s", err, out)
	}

	limit, ok := skyrs.CgroupCPULimit(skyrs.DefaultCgroupRoot)
	if (up.CPULimit != nil) != ok || ok && strconv.FormatUint(math.Float64bits(limit), 10) != *up.CPULimit {
		t.Errorf("CgroupCPULimit = %v, %v; upstream %v", limit, ok, up.CPULimit)
	}
	mem, ok := skyrs.CgroupMemoryLimit(skyrs.DefaultCgroupRoot)
	if (up.MemLimit != nil) != ok || ok && mem != *up.MemLimit {
		t.Errorf("CgroupMemoryLimit = %v, %v; upstream %v", mem, ok, up.MemLimit)
	}
	if got, err := skyrs.CPUCount(skyrs.DefaultCgroupRoot); err != nil || got != up.CPUCount {
		t.Errorf("CPUCount = %d, %v; upstream %d", got, err, up.CPUCount)
	}
	if got, err := skyrs.MemSizeGB(skyrs.DefaultCgroupRoot); err != nil ||
		strconv.FormatUint(math.Float64bits(got), 10) != up.MemGB {
		t.Errorf("MemSizeGB = %v, %v; upstream bits %s", got, err, up.MemGB)
	}
	if got, err := skyrs.TotalMemoryBytes(); err != nil || got != up.Total {
		t.Errorf("TotalMemoryBytes = %d, %v; upstream %d", got, err, up.Total)
	}
	if got := skyrs.OnlineCPUs(); got != up.OSCPUCount {
		t.Errorf("OnlineCPUs = %d; os.cpu_count() = %d", got, up.OSCPUCount)
	}
	if got := skyrs.LogicalCPUs(); got != up.PsutilCPUCount {
		t.Errorf("LogicalCPUs = %d; psutil.cpu_count() = %d", got, up.PsutilCPUCount)
	}
	if up.Affinity != nil {
		if got := mustAffinity(t); got != *up.Affinity {
			t.Errorf("AffinityCPUs = %d; upstream %d", got, *up.Affinity)
		}
	}
	if got := skyrs.ParallelThreads(false); got != up.Threads {
		t.Errorf("ParallelThreads(false) = %d; upstream %d", got, up.Threads)
	}
	if got := skyrs.ParallelThreads(true); got != up.ThreadsK8s {
		t.Errorf("ParallelThreads(true) = %d; upstream %d", got, up.ThreadsK8s)
	}
	if got := skyrs.RlimitNofileSoft(); got != up.Soft {
		if got == up.Hard-1 {
			t.Skipf("RlimitNofileSoft = %d, Python child %d: the Go runtime raised this process's soft limit", got, up.Soft)
		}
		t.Errorf("RlimitNofileSoft = %d; upstream %d", got, up.Soft)
	}
}

// TestMaxWorkersAgainstUpstream compares with upstream's
// get_max_workers_for_file_mounts and, for the keyword form, its formula.
func TestMaxWorkersAgainstUpstream(t *testing.T) {
	dir := t.TempDir()
	sources := []string{
		makeDirWithEntries(t, filepath.Join(dir, "small"), 2),
		makeDirWithEntries(t, filepath.Join(dir, "big"), 300),
		"s3://bucket/path",
		filepath.Join(dir, "missing"),
	}
	const script = `
import json, resource, sys
from sky.utils import subprocess_utils as su
sources = [s for s in sys.stdin.read().split('\n') if s]
out = {}
for k8s, cloud in ((False, 'aws'), (True, 'Kubernetes')):
    for n in range(len(sources) + 1):
        out['mounts %s %d' % (k8s, n)] = su.get_max_workers_for_file_mounts(
            {str(i): s for i, s in enumerate(sources[:n])}, cloud)
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    for num, files in ((0, 10**6), (3, 0), (3, 1), (3, 40), (3, 10**6), (2, 2**62), (1, -7)):
        cost = 5 if num == 0 else max(5, 5 * files)
        out['estimate %s %d %d' % (k8s, num, files)] = min(
            max((soft - 100) // cost, 1), su.get_parallel_threads(cloud))
out['soft'] = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
print(json.dumps(out))
`
	var up map[string]int64
	out := runUpstream(t, script, strings.Join(sources, "\n"))
	if err := json.Unmarshal(out, &up); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if soft := skyrs.RlimitNofileSoft(); soft != up["soft"] {
		t.Skipf("soft RLIMIT_NOFILE differs (Go %d, Python %d): the Go runtime raised it", soft, up["soft"])
	}
	for _, k8s := range []bool{false, true} {
		for n := 0; n <= len(sources); n++ {
			key := fmt.Sprintf("mounts %s %d", pyBool(k8s), n)
			got, err := skyrs.MaxWorkersForFileMounts(sources[:n], k8s)
			if err != nil || int64(got) != up[key] {
				t.Errorf("%s: MaxWorkersForFileMounts = %d, %v; upstream %d", key, got, err, up[key])
			}
		}
		for _, c := range [][2]int{{0, 1e6}, {3, 0}, {3, 1}, {3, 40}, {3, 1e6}, {2, 1 << 62}, {1, -7}} {
			key := fmt.Sprintf("estimate %s %d %d", pyBool(k8s), c[0], c[1])
			got, err := pyexport.MaxWorkersForEstimate(c[0], c[1], k8s)
			if err != nil || int64(got) != up[key] {
				t.Errorf("%s: MaxWorkersForEstimate = %d, %v; upstream %d", key, got, err, up[key])
			}
		}
	}
}

// Helpers.

func pyBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

// runUpstream runs script with the project's venv Python, stdin as its input,
// and returns its standard output; it skips the test when there is no venv.
func runUpstream(t *testing.T, script, stdin string) []byte {
	t.Helper()
	python, err := filepath.Abs(filepath.Join("..", ".venv", "bin", "python"))
	if err == nil {
		_, err = os.Stat(python)
	}
	if err != nil {
		t.Skip("no upstream SkyPilot venv:", err)
	}
	cmd := exec.Command(python, "-c", script)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("upstream script: %v", err)
	}
	return out
}

func errorKind(err error) skyrs.Kind {
	var e *skyrs.Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return ""
}

func mustAffinity(t *testing.T) int {
	t.Helper()
	n, err := skyrs.AffinityCPUs()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// makeDirWithEntries creates dir holding n entries: files, a hidden file and
// a subdirectory (whose own entries do not count).
func makeDirWithEntries(t *testing.T, dir string, n int) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		switch {
		case i == 1:
			writeFile(t, filepath.Join(dir, ".hidden"), "")
		case i == 2:
			writeFile(t, filepath.Join(dir, "subdir", "nested"), "")
		default:
			writeFile(t, filepath.Join(dir, fmt.Sprintf("entry%d", i)), "")
		}
	}
	return dir
}

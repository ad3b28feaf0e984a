package tests_go

import (
	"encoding/binary"
	"encoding/hex"
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

	"github.com/skypilot-org/sky_rs/skyrs"
	"github.com/skypilot-org/sky_rs/skyrs/pyexport"
)

// batchFreePid returns a pid no process has right now.
func batchFreePid(t *testing.T) int {
	t.Helper()
	for pid := 4_000_000; pid > 3_000_000; pid -= 7 {
		if err := syscall.Kill(pid, 0); err == syscall.ESRCH {
			return pid
		}
	}
	t.Fatal("no free pid")
	return 0
}

// batchZombie starts a child that exits at once and is not reaped until the
// test ends.
func batchZombie(t *testing.T) int {
	t.Helper()
	child := exec.Command("true")
	if err := child.Start(); err != nil {
		t.Skip("cannot start true:", err)
	}
	t.Cleanup(func() { child.Wait() })
	pid := child.Process.Pid
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err == nil && strings.Contains(string(stat), ") Z ") {
			return pid
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the child never became a zombie")
	return 0
}

func TestAreProcessesAlive(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("zombies are told apart through /proc on Linux")
	}
	zombie, dead := batchZombie(t), batchFreePid(t)
	kinds := []int{os.Getpid(), 1, zombie, dead, 0, -1, math.MaxInt32 + 1}
	want := map[int]bool{os.Getpid(): true, 1: true}
	for _, size := range []int{0, 1, 7, 63, 64, 65, 1000, 4099} {
		pids := make([]int, size)
		for i := range pids {
			pids[i] = kinds[(i*31)%len(kinds)]
		}
		got := skyrs.AreProcessesAlive(skyrs.DefaultProcRoot, pids)
		if len(got) != size {
			t.Fatalf("AreProcessesAlive(%d pids) gave %d answers", size, len(got))
		}
		for i, pid := range pids {
			if got[i] != want[pid] || got[i] != skyrs.IsProcessAlive(pid) {
				t.Errorf("AreProcessesAlive(%d pids)[%d] (pid %d) = %v; want %v", size, i, pid, got[i], want[pid])
			}
		}
	}
}

// TestProcessAliveInFakeProcReaped: a pid whose stat file is gone while the
// proc root has a "self" directory was reaped between kill(2) and the read,
// as the reference concludes too.
func TestProcessAliveInFakeProcReaped(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("process states are read from /proc on Linux only")
	}
	procRoot := t.TempDir()
	if skyrs.ProcessAliveIn(procRoot, os.Getpid()) != true {
		t.Errorf("ProcessAliveIn(no stat, no self) = false; want true (kill's answer)")
	}
	if err := os.Mkdir(filepath.Join(procRoot, "self"), 0o755); err != nil {
		t.Fatal(err)
	}
	if skyrs.ProcessAliveIn(procRoot, os.Getpid()) != false {
		t.Errorf("ProcessAliveIn(no stat, self present) = true; want false (reaped)")
	}
}

// batchPack is the facade's array('q', pids).tobytes().hex().
func batchPack(pids ...int64) string {
	raw := make([]byte, 8*len(pids))
	for i, pid := range pids {
		binary.NativeEndian.PutUint64(raw[8*i:], uint64(pid))
	}
	return hex.EncodeToString(raw)
}

func TestPyexportAreProcessesAlive(t *testing.T) {
	tests := []struct {
		packed string
		want   string
	}{
		{"", ""},
		{batchPack(int64(os.Getpid())), "1"},
		{batchPack(int64(os.Getpid()), 0, -1, math.MaxInt64, math.MinInt64, 1), "100001"},
	}
	for _, tt := range tests {
		got, err := pyexport.AreProcessesAlive(tt.packed)
		if err != nil || got != tt.want {
			t.Errorf("pyexport.AreProcessesAlive(%q) = %q, %v; want %q", tt.packed, got, err, tt.want)
		}
	}
	for _, bad := range []string{"0", "zz00000000000000", batchPack(1)[:14]} {
		_, err := pyexport.AreProcessesAlive(bad)
		if err == nil || !strings.HasPrefix(err.Error(), "skyrs\x1fDecline\x1f") {
			t.Errorf("pyexport.AreProcessesAlive(%q) error %v; want a decline", bad, err)
		}
	}
}

// TestTotalMemoryBytesMatchesMeminfo: the sysinfo(2) shortcut gives what
// psutil reads from /proc/meminfo.
func TestTotalMemoryBytesMatchesMeminfo(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Linux only")
	}
	meminfo, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Skip(err)
	}
	var want uint64
	for _, line := range strings.Split(string(meminfo), "\n") {
		fields := strings.Fields(line)
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kib, err := strconv.ParseUint(fields[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			want = kib * 1024
		}
	}
	got, err := skyrs.TotalMemoryBytes()
	if err != nil || got != want {
		t.Errorf("TotalMemoryBytes() = %d, %v; want %d from /proc/meminfo", got, err, want)
	}
}

func BenchmarkAreProcessesAlive(b *testing.B) {
	pids := make([]int, 1000)
	for i := range pids {
		pids[i] = []int{os.Getpid(), 1, 4_000_001}[i%3]
	}
	for range b.N {
		skyrs.AreProcessesAlive(skyrs.DefaultProcRoot, pids)
	}
}

package tests_go

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/skypilot-org/sky_rs/skyrs"
)

// The Go runtime sets up its network poller (an epoll instance and an
// eventfd) the first time the process opens a file through package os. If
// the process has no descriptor left at that moment, the runtime throws
// "netpollinit failed" and the whole process, Python and all, aborts. Every
// skyrs function must therefore open files without the poller, and fail
// with EMFILE like Python when the descriptors run out.
//
// Each case runs in a fresh process (this test binary, re-executed), which
// uses up its descriptors but `free` before making its one call.

const fdLimitHelperEnv = "SKYRS_FD_LIMIT_HELPER"

// fdLimitCalls are the calls the helper process can make, by name.
var fdLimitCalls = map[string]func(dir string) (string, error){
	// The control: what every call here must not do.
	"os.Open": func(dir string) (string, error) {
		f, err := os.Open(filepath.Join(dir, "log.txt"))
		if err == nil {
			f.Close()
		}
		return "", err
	},
	"TailLines": func(dir string) (string, error) {
		b, err := skyrs.TailLines(filepath.Join(dir, "log.txt"), 2, 8192)
		return string(b), err
	},
	"HashFile": func(dir string) (string, error) {
		b, err := skyrs.HashFile(filepath.Join(dir, "log.txt"), "sha256")
		return fmt.Sprintf("%x", b), err
	},
	"CountDirEntries": func(dir string) (string, error) {
		n, err := skyrs.CountDirEntries(dir)
		return strconv.Itoa(n), err
	},
	"MaxWorkersForFileMounts": func(dir string) (string, error) {
		n, err := skyrs.MaxWorkersForFileMounts([]string{dir}, false)
		return strconv.Itoa(n), err
	},
	"CPUCount": func(dir string) (string, error) {
		n, err := skyrs.CPUCount(skyrs.DefaultCgroupRoot)
		return strconv.Itoa(n), err
	},
	"MemSizeGB": func(dir string) (string, error) {
		v, err := skyrs.MemSizeGB(skyrs.DefaultCgroupRoot)
		return fmt.Sprint(v), err
	},
	"FindFreePort": func(dir string) (string, error) {
		n, err := skyrs.FindFreePort(0)
		return strconv.Itoa(n), err
	},
	"IsProcessAlive": func(dir string) (string, error) {
		return strconv.FormatBool(skyrs.IsProcessAlive(os.Getpid())), nil
	},
}

// withoutDescriptor is what the calls that need a descriptor give when none
// is left: EMFILE, as Python's open() and socket() raise it; MemSizeGB
// declines (psutil, which reads /proc/meminfo, raises its own error). The
// others fall back to what needs none (sched_getaffinity, kill(2)).
var withoutDescriptor = map[string]string{
	"TailLines":               "RESULT error OSError errno=24",
	"HashFile":                "RESULT error OSError errno=24",
	"CountDirEntries":         "RESULT error OSError errno=24",
	"MaxWorkersForFileMounts": "RESULT error OSError errno=24",
	"FindFreePort":            "RESULT error OSError errno=24",
	"MemSizeGB":               "RESULT error Decline errno=0",
}

// TestFDLimitHelper is the helper process; it does nothing in a normal run.
func TestFDLimitHelper(t *testing.T) {
	spec := os.Getenv(fdLimitHelperEnv)
	if spec == "" {
		t.Skip("helper process for TestNoAbortAtDescriptorLimit")
	}
	name, rest, _ := strings.Cut(spec, ":")
	freeText, dir, _ := strings.Cut(rest, ":")
	free, _ := strconv.Atoi(freeText)
	var limit syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &limit); err != nil {
		t.Fatal(err)
	}
	// Use up every descriptor below a lowered limit with raw system calls
	// (no poller), then give back `free` of them.
	low := limit
	low.Cur = 256
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	var held []int
	for {
		fd, err := syscall.Open("/dev/null", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			break
		}
		held = append(held, fd)
	}
	for i := 0; i < free && len(held) > 0; i++ {
		syscall.Close(held[len(held)-1])
		held = held[:len(held)-1]
	}
	result, err := fdLimitCalls[name](dir)
	for _, fd := range held {
		syscall.Close(fd)
	}
	var e *skyrs.Error
	switch {
	case err == nil:
		fmt.Printf("RESULT ok %q\n", result)
	case errors.As(err, &e):
		fmt.Printf("RESULT error %s errno=%d\n", e.Kind, int(e.Errno))
	default:
		fmt.Printf("RESULT error %v\n", err)
	}
}

func runFDLimitHelper(t *testing.T, name string, free int, dir string) (string, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestFDLimitHelper$", "-test.v")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s:%d:%s", fdLimitHelperEnv, name, free, dir))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestNoAbortAtDescriptorLimit(t *testing.T) {
	if os.Getenv(fdLimitHelperEnv) != "" {
		t.Skip("in the helper process")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "log.txt"), []byte("one\ntwo\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The control shows that the helper starts without a poller, so that the
	// cases below can fail: os.Open with one descriptor left aborts.
	out, err := runFDLimitHelper(t, "os.Open", 1, dir)
	if err == nil || !strings.Contains(out, "netpollinit failed") {
		t.Skipf("this Go runtime does not abort when its poller lacks descriptors; nothing to test:\n%s", out)
	}
	for name := range fdLimitCalls {
		if name == "os.Open" {
			continue
		}
		for free := 0; free <= 3; free++ {
			out, err := runFDLimitHelper(t, name, free, dir)
			want := "RESULT ok "
			if free == 0 && withoutDescriptor[name] != "" {
				want = withoutDescriptor[name]
			}
			if err != nil || !strings.Contains(out, want) {
				t.Errorf("%s with %d descriptors left: want %q, got %v\n%s", name, free, want, err, out)
			}
		}
	}
}

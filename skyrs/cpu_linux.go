package skyrs

import (
	"bufio"
	"bytes"
	"math/bits"
	"unsafe"

	"golang.org/x/sys/unix"
)

// LogicalCPUs returns psutil.cpu_count(), which on Linux is
// sysconf(_SC_NPROCESSORS_ONLN): the same number as OnlineCPUs.
func LogicalCPUs() int {
	return OnlineCPUs()
}

// OnlineCPUs returns Python's os.cpu_count(): sysconf(_SC_NPROCESSORS_ONLN),
// computed as glibc (2.35 and later) computes it: the CPUs listed in
// /sys/devices/system/cpu/online, else the cpuN lines of /proc/stat, else the
// size of the CPU affinity set, else 2. It ignores affinity and cgroups
// whenever the first source is readable, unlike runtime.NumCPU.
func OnlineCPUs() int {
	if n := countOnlineFile("/sys/devices/system/cpu/online"); n != 0 {
		return n
	}
	if n := countProcStatCPUs("/proc/stat"); n != 0 {
		return n
	}
	if n, err := AffinityCPUs(); err == nil && n != 0 {
		return n
	}
	return 2
}

// countOnlineFile counts the CPUs in a CPU list file, or returns 0 when it
// cannot be read or parsed. Like glibc it reads once into a 1024-byte buffer
// and, when that holds no newline, parses only the first 768 bytes.
func countOnlineFile(path string) int {
	var fd int
	err := retryOnEINTR(func() (err error) {
		fd, err = unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		return err
	})
	if err != nil {
		return 0
	}
	defer unix.Close(fd)
	var buf [1024]byte
	var n int
	if retryOnEINTR(func() (err error) {
		n, err = unix.Read(fd, buf[:])
		return err
	}) != nil {
		n = 0
	}
	data := buf[:n]
	if n == len(buf) && bytes.IndexByte(data, '\n') < 0 {
		data = data[:768]
	}
	return CountCPUList(data)
}

// countProcStatCPUs counts the lines of /proc/stat that start with "cpu" and
// a digit, stopping at the first line that does not start with "cpu", as
// glibc does.
func countProcStatCPUs(path string) int {
	f, err := openReadOnly(path, 0)
	if err != nil {
		return 0
	}
	defer f.Close()
	count := 0
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		line := scanner.Bytes()
		if !bytes.HasPrefix(line, []byte("cpu")) {
			break
		}
		if len(line) > 3 && isDigit(line[3]) {
			count++
		}
	}
	return count
}

// AffinityCPUs returns len(os.sched_getaffinity(0)): the number of CPUs this
// process may run on. Like CPython it retries with a larger CPU set while the
// kernel answers EINVAL, so it works beyond the 1024 CPUs of unix.CPUSet.
func AffinityCPUs() (int, error) {
	for words := 1; ; words *= 2 {
		mask := make([]uint64, words)
		n, _, errno := unix.RawSyscall(unix.SYS_SCHED_GETAFFINITY, 0,
			uintptr(len(mask)*8), uintptr(unsafe.Pointer(&mask[0])))
		if errno == unix.EINVAL && words < 1<<16 {
			continue
		}
		if errno != 0 {
			return 0, OSErrorFrom(errno)
		}
		count := 0
		for _, word := range mask[:min(int(n)/8, len(mask))] {
			count += bits.OnesCount64(word)
		}
		return count, nil
	}
}

package skyrs

import (
	"bufio"
	"bytes"
	"math/bits"
	"strconv"

	"golang.org/x/sys/unix"
)

// TotalMemoryBytes returns psutil.virtual_memory().total, which on Linux is
// the MemTotal line of /proc/meminfo times 1024.
//
// When /proc/meminfo is the kernel's own (it lives on procfs), MemTotal is
// the kernel's count of usable pages, the very number sysinfo(2) reports as
// totalram: the file is opened (so that a process out of descriptors fails
// as psutil does) but not read, sparing the kernel the formatting of fifty
// lines and this code their parsing. Where something else answers for the
// file (LXCFS mounts its own meminfo over it in containers, showing the
// container's limit while sysinfo(2) shows the host's), the file is parsed
// as psutil parses it. When it cannot be opened or has no plain MemTotal
// line, the call is declined: psutil's own exception is best raised by
// psutil, through the pure-Python reference.
func TotalMemoryBytes() (uint64, error) {
	meminfo := DefaultProcRoot + "/meminfo"
	var fd int
	err := retryOnEINTR(func() (err error) {
		fd, err = unix.Open(meminfo, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		return err
	})
	if err != nil {
		return 0, Decline("cannot open %s: %v", meminfo, err)
	}
	total, ok := kernelMemTotal(fd)
	unix.Close(fd)
	if ok {
		return total, nil
	}
	return totalMemoryFromMeminfo(meminfo)
}

// kernelMemTotal returns MemTotal times 1024 from sysinfo(2), when fd is a
// file of procfs. The kernel writes MemTotal as totalram pages in kB, so the
// result is rounded down to whole kB as the file's value is.
func kernelMemTotal(fd int) (uint64, bool) {
	var fs unix.Statfs_t
	if err := unix.Fstatfs(fd, &fs); err != nil || fs.Type != unix.PROC_SUPER_MAGIC {
		return 0, false
	}
	var info unix.Sysinfo_t
	if err := unix.Sysinfo(&info); err != nil {
		return 0, false
	}
	high, total := bits.Mul64(info.Totalram, uint64(max(info.Unit, 1)))
	if high != 0 || total/1024 > 1<<54 {
		return 0, false
	}
	return total / 1024 * 1024, true
}

func totalMemoryFromMeminfo(path string) (uint64, error) {
	f, err := openReadOnly(path, 0)
	if err != nil {
		return 0, Decline("cannot open %s: %v", path, err)
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		fields := bytes.Fields(scanner.Bytes())
		if len(fields) < 2 || string(fields[0]) != "MemTotal:" {
			continue
		}
		kib, err := strconv.ParseUint(string(fields[1]), 10, 64)
		if err != nil || kib > 1<<54 {
			break
		}
		return kib * 1024, nil
	}
	if err := scanner.Err(); err != nil {
		return 0, Decline("cannot read %s: %v", path, err)
	}
	return 0, Decline("no usable MemTotal line in %s", path)
}

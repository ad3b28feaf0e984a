package skyrs

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
)

// TotalMemoryBytes returns psutil.virtual_memory().total, which on Linux is
// the MemTotal line of /proc/meminfo times 1024. It reads that file rather
// than calling sysinfo(2) because that is what psutil does, and the two may
// disagree inside sandboxes. When the file cannot be read or has no plain
// MemTotal line, the call is declined: psutil's own exception is best raised
// by psutil, through the pure-Python reference.
func TotalMemoryBytes() (uint64, error) {
	return totalMemoryFromMeminfo(DefaultProcRoot + "/meminfo")
}

func totalMemoryFromMeminfo(path string) (uint64, error) {
	f, err := os.Open(path)
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

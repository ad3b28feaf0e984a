package skyrs

import "golang.org/x/sys/unix"

// LogicalCPUs returns psutil.cpu_count(), which on macOS is the sysctl
// hw.logicalcpu, or 0 when that fails (psutil: None).
func LogicalCPUs() int {
	n, err := unix.SysctlUint32("hw.logicalcpu")
	if err != nil {
		return 0
	}
	return int(n)
}

// OnlineCPUs returns Python's os.cpu_count(), which on macOS is
// sysconf(_SC_NPROCESSORS_ONLN), the sysctl hw.activecpu; 0 when that fails
// (Python: None).
func OnlineCPUs() int {
	n, err := unix.SysctlUint32("hw.activecpu")
	if err != nil {
		return 0
	}
	return int(n)
}

// AffinityCPUs returns LogicalCPUs: macOS has no CPU affinity sets (Python
// has no os.sched_getaffinity there), so every CPU is usable.
func AffinityCPUs() (int, error) {
	return LogicalCPUs(), nil
}

package skyrs

import "math"

// CPUCount returns the number of CPUs SkyPilot may use, as upstream's
// _cpu_count computes it: the smallest of LogicalCPUs, AffinityCPUs and the
// integer part of the cgroup CPU limit under cgroupRoot, when there is one.
// A limit of half a core therefore gives 0.
//
// A limit that is infinite or NaN (see CgroupCPULimit), or a logical CPU
// count upstream would see as None, makes upstream raise; such calls are
// declined, so that the pure-Python reference raises the same exception.
func CPUCount(cgroupRoot string) (int, error) {
	cpus := LogicalCPUs()
	if cpus < 1 {
		return 0, Decline("the number of logical CPUs is unknown")
	}
	affinity, err := AffinityCPUs()
	if err != nil {
		return 0, OSErrorFrom(err)
	}
	cpus = min(cpus, affinity)
	limit, ok := CgroupCPULimit(cgroupRoot)
	if !ok {
		return cpus, nil
	}
	if math.IsNaN(limit) || math.IsInf(limit, 0) {
		return 0, Decline("int() of cgroup CPU limit %v raises", limit)
	}
	if limit >= float64(cpus) {
		return cpus, nil
	}
	// limit < cpus, so int(limit) < cpus as well: int() truncates towards
	// zero, and a negative limit truncates to at most 0.
	whole := math.Trunc(limit)
	if whole < math.MinInt {
		return 0, Decline("cgroup CPU limit %v is beyond int", limit)
	}
	return int(whole), nil
}

// CountCPUList counts the CPUs in a kernel CPU list such as "0-3,8,10-11"
// (the format of /sys/devices/system/cpu/online) exactly as glibc's
// get_nprocs does, quirks included, so that OnlineCPUs agrees with
// sysconf(_SC_NPROCESSORS_ONLN): numbers are read with strtoul, a range whose
// end is below its start adds nothing, parsing stops at a newline or the end
// of data, and a missing number makes the whole count 0 (glibc then falls
// back to /proc/stat). The count wraps as glibc's C int does.
func CountCPUList(data []byte) int {
	var result int32
	i := 0
	for {
		first, end, ok := strtoul(data, i)
		if !ok {
			return 0
		}
		last := first
		if end < len(data) && data[end] == '-' {
			last, end, ok = strtoul(data, end+1)
			if !ok {
				return 0
			}
		}
		if last >= first {
			result = int32(uint64(result) + (last - first + 1))
		}
		i = end
		if i < len(data) && data[i] == ',' {
			i++
		}
		if i >= len(data) || data[i] == '\n' {
			return int(result)
		}
	}
}

// strtoul is C's strtoul(data+i, &end, 10) for an unsigned long of 64 bits:
// leading white space and a sign are skipped, overflow gives the maximum and
// a minus sign negates modulo 2**64. ok is false when there are no digits.
func strtoul(data []byte, i int) (value uint64, end int, ok bool) {
	for i < len(data) && isASCIISpace(data[i]) {
		i++
	}
	negative := false
	if i < len(data) && (data[i] == '+' || data[i] == '-') {
		negative = data[i] == '-'
		i++
	}
	start := i
	overflow := false
	for ; i < len(data) && isDigit(data[i]); i++ {
		digit := uint64(data[i] - '0')
		if value > (math.MaxUint64-digit)/10 {
			overflow = true
		}
		value = value*10 + digit
	}
	if i == start {
		return 0, 0, false
	}
	if overflow {
		return math.MaxUint64, i, true
	}
	if negative {
		value = -value
	}
	return value, i, true
}

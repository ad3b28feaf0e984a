package skyrs

// bytesPerGB is upstream's 1024**3.
const bytesPerGB = 1 << 30

// MemSizeGB returns upstream's _mem_size_gb(): the smaller of
// TotalMemoryBytes and the cgroup memory limit under cgroupRoot, divided by
// 1024**3. Python's int / int is correctly rounded, and so is this: the
// conversion to float64 rounds to nearest even, and dividing by a power of
// two is exact.
func MemSizeGB(cgroupRoot string) (float64, error) {
	total, err := TotalMemoryBytes()
	if err != nil {
		return 0, err
	}
	if limit, ok := CgroupMemoryLimit(cgroupRoot); ok && uint64(limit) < total {
		total = uint64(limit)
	}
	return float64(total) / bytesPerGB, nil
}

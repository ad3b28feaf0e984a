package pyexport

import (
	"strings"

	"github.com/skypilot-org/sky_rs/skyrs"
)

// CPUCount is skyrs.CPUCount over /sys/fs/cgroup for get_cpu_count, once the
// facade has found SKYPILOT_POD_CPU_CORE_LIMIT unset.
func CPUCount() (int, error) {
	return guard(func() (int, error) { return skyrs.CPUCount(skyrs.DefaultCgroupRoot) })
}

// MemSizeGB is skyrs.MemSizeGB over /sys/fs/cgroup for get_mem_size_gb, once
// the facade has found both SKYPILOT_POD_MEMORY_* variables unset.
func MemSizeGB() (float64, error) {
	return guard(func() (float64, error) { return skyrs.MemSizeGB(skyrs.DefaultCgroupRoot) })
}

// ParallelThreads is skyrs.ParallelThreads for get_parallel_threads; the
// facade passes whether cloud_str.lower() == 'kubernetes'.
func ParallelThreads(kubernetes bool) (int, error) {
	return guard(func() (int, error) { return skyrs.ParallelThreads(kubernetes), nil })
}

// IsProcessAlive is skyrs.IsProcessAlive for is_process_alive.
func IsProcessAlive(pid int) (bool, error) {
	return guard(func() (bool, error) { return skyrs.IsProcessAlive(pid), nil })
}

// MaxWorkersForFileMounts is skyrs.MaxWorkersForFileMounts for
// get_max_workers_for_file_mounts: sources are the mount sources joined with
// '\n', the empty string for none. The facade declines a source that contains
// '\n', which this encoding cannot carry.
func MaxWorkersForFileMounts(sources string, kubernetes bool) (int, error) {
	return guard(func() (int, error) {
		var paths []string
		if sources != "" {
			paths = strings.Split(sources, "\n")
		}
		return skyrs.MaxWorkersForFileMounts(paths, kubernetes)
	})
}

// MaxWorkersForEstimate is the keyword form of
// get_max_workers_for_file_mounts(num_sources=..., estimated_files_per_source=...),
// which touches no file system.
func MaxWorkersForEstimate(numSources int, filesPerSource int, kubernetes bool) (int, error) {
	return guard(func() (int, error) {
		cost := skyrs.EstimatedFileMountCost(numSources, filesPerSource)
		return skyrs.MaxWorkersForCost(cost, kubernetes), nil
	})
}

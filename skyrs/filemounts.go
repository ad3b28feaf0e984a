package skyrs

import (
	"math"
	"os"
)

// minFDsPerRsync is upstream's fd_per_rsync: the file descriptors budgeted
// for one rsync of a file mount, and the floor of every cost.
const minFDsPerRsync = 5

// reservedFDs is upstream's fd_reserve: descriptors kept for everything else.
const reservedFDs = 100

// FileMountCost returns the file descriptors upstream budgets per rsync for
// these file mount sources: max(5, 5 * len(os.listdir(src))) over the
// sources that are directories. A source is a directory when os.Stat, which
// follows symbolic links as os.path.isdir does, says so; any stat error (a
// URL, a missing path) means it is not. An error listing a directory
// (PermissionError upstream) is returned as the OSError it is.
func FileMountCost(sources []string) (int, error) {
	cost := minFDsPerRsync
	for _, src := range sources {
		info, err := os.Stat(src)
		if err != nil || !info.IsDir() {
			continue
		}
		entries, err := CountDirEntries(src)
		if err != nil {
			return 0, err
		}
		cost = max(cost, fdsPerDirectoryEntry*entries)
	}
	return cost, nil
}

// MaxWorkersForCost returns upstream's worker count for a per-rsync cost,
// which must be positive (every cost upstream computes is at least 5):
// min(max((soft RLIMIT_NOFILE - 100) // cost, 1), ParallelThreads).
// Python's floor division of a negative number (a soft limit below 100, or
// RLIM_INFINITY, which Python reports as -1) is at most -1, so those cases
// give one worker, and only non-negative numbers are divided here.
func MaxWorkersForCost(cost int, kubernetes bool) int {
	workers := int64(1)
	if soft := RlimitNofileSoft(); soft > reservedFDs {
		workers = max((soft-reservedFDs)/int64(cost), 1)
	}
	return int(min(workers, int64(ParallelThreads(kubernetes))))
}

// MaxWorkersForFileMounts returns upstream's
// get_max_workers_for_file_mounts() for these sources. The warning upstream
// logs for a low limit is the Python facade's to log.
func MaxWorkersForFileMounts(sources []string, kubernetes bool) (int, error) {
	cost, err := FileMountCost(sources)
	if err != nil {
		return 0, err
	}
	return MaxWorkersForCost(cost, kubernetes), nil
}

// EstimatedFileMountCost returns the cost of the seed's keyword form of
// get_max_workers_for_file_mounts, which estimates instead of listing: 5 when
// there are no sources, else max(5, 5 * filesPerSource). A product beyond
// int saturates; any cost above the soft limit gives one worker, as Python's
// exact big product would.
func EstimatedFileMountCost(numSources, filesPerSource int) int {
	switch {
	case numSources == 0 || filesPerSource < 1:
		return minFDsPerRsync
	case filesPerSource > math.MaxInt/fdsPerDirectoryEntry:
		return math.MaxInt
	}
	return max(minFDsPerRsync, fdsPerDirectoryEntry*filesPerSource)
}

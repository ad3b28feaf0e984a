//go:build !linux && !darwin

package skyrs

import "runtime"

// LogicalCPUs returns runtime.NumCPU(). Linux and macOS are the platforms
// SkyPilot runs on; elsewhere this is a best effort, not psutil's method.
func LogicalCPUs() int {
	return runtime.NumCPU()
}

// OnlineCPUs returns runtime.NumCPU(), a best effort for os.cpu_count() on
// platforms SkyPilot does not run on.
func OnlineCPUs() int {
	return runtime.NumCPU()
}

// AffinityCPUs returns runtime.NumCPU(), a best effort on platforms SkyPilot
// does not run on.
func AffinityCPUs() (int, error) {
	return runtime.NumCPU(), nil
}

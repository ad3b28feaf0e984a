package pyexport

import "github.com/skypilot-org/sky_rs/skyrs"

// FindFreePort is skyrs.FindFreePort for sky_rs.find_free_port.
func FindFreePort(startPort int) (int, error) {
	return guard(func() (int, error) { return skyrs.FindFreePort(startPort) })
}

// EstimateFDForDirectory is skyrs.EstimateFDForDirectory for
// sky_rs.estimate_fd_for_directory.
func EstimateFDForDirectory(path string) (int, error) {
	return guard(func() (int, error) { return skyrs.EstimateFDForDirectory(path) })
}

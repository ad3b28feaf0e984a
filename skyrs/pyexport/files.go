package pyexport

import "github.com/skypilot-org/sky_rs/skyrs"

// Flag bytes that end the result of ReadLastNLines.
const (
	// splitlinesSafe: the lines hold no line boundary of str.splitlines()
	// but '\n', so the facade may split the decoded text with splitlines().
	splitlinesSafe = 'S'
	// splitOnNewline: the facade must split the decoded text on '\n' only.
	splitOnNewline = 'N'
)

// ReadLastNLines is skyrs.TailLines for sky_rs.read_last_n_lines: the selected
// lines as raw bytes, each ending in '\n', followed by one flag byte, 'S' when
// str.splitlines() may split them or 'N' when only split('\n') is right. The
// flag also keeps the result from being empty, which gopy cannot return.
func ReadLastNLines(path string, n int, chunkSize int) ([]byte, error) {
	return guard(func() ([]byte, error) {
		lines, err := skyrs.TailLines(path, n, chunkSize)
		if err != nil {
			return nil, err
		}
		flag := byte(splitlinesSafe)
		if skyrs.NeedsNewlineSplit(lines) {
			flag = splitOnNewline
		}
		return append(lines, flag), nil
	})
}

// FindFreePort is skyrs.FindFreePort for sky_rs.find_free_port.
func FindFreePort(startPort int) (int, error) {
	return guard(func() (int, error) { return skyrs.FindFreePort(startPort) })
}

// EstimateFDForDirectory is skyrs.EstimateFDForDirectory for
// sky_rs.estimate_fd_for_directory.
func EstimateFDForDirectory(path string) (int, error) {
	return guard(func() (int, error) { return skyrs.EstimateFDForDirectory(path) })
}

package skyrs

// fdsPerDirectoryEntry is the number of file descriptors SkyPilot budgets
// for each entry of a directory it rsyncs.
const fdsPerDirectoryEntry = 5

// EstimateFDForDirectory returns 5 * len(os.listdir(path)): the file
// descriptors SkyPilot budgets for rsyncing the directory at path. Errors are
// those of CountDirEntries.
func EstimateFDForDirectory(path string) (int, error) {
	count, err := CountDirEntries(path)
	if err != nil {
		return 0, err
	}
	return fdsPerDirectoryEntry * count, nil
}

// osErrorWithPath is OSErrorFrom with path as the file name, for system
// calls that return a bare errno where Python's OSError names the file.
func osErrorWithPath(err error, path string) error {
	e := *OSErrorFrom(err).(*Error)
	if e.Kind == KindOSError && e.Errno != 0 {
		e.Msg = path
	}
	return &e
}

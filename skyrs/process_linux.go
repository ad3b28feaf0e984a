package skyrs

import (
	"bytes"
	"strconv"

	"golang.org/x/sys/unix"
)

// hasExited reports whether the process pid, which kill(2) has just found,
// has exited since: procRoot/<pid>/stat shows the state Z (zombie) or X
// (dead), or the file is gone while procRoot/self exists (the process was
// reaped in between; without a mounted /proc nothing can be told). It reads
// the file with bare system calls: os.ReadFile costs twice as much here,
// and a batch of pids repeats this thousands of times.
//
// The state is the byte two after the last ')', exactly where the reference
// (sky_fallback._reference._has_exited) looks: the command name before it is
// in parentheses and may itself contain ") Z (".
func hasExited(procRoot string, pid int) bool {
	stat, err := readSmallFile(procRoot + "/" + strconv.Itoa(pid) + "/stat")
	if err == unix.ENOENT {
		return isDirectory(procRoot + "/self")
	}
	if err != nil {
		return false
	}
	// Python's stat[stat.rfind(b')') + 2:][:1], also when there is no ')'.
	i := bytes.LastIndexByte(stat, ')') + 2
	return i < len(stat) && (stat[i] == 'Z' || stat[i] == 'X')
}

package skyrs

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
)

// isZombie reports whether procRoot/<pid>/stat shows the state Z (zombie) or
// X (dead). The state is the field after the last ')', because the command
// name before it is in parentheses and may itself contain ") Z (".
func isZombie(procRoot string, pid int) bool {
	stat, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	end := bytes.LastIndexByte(stat, ')')
	if end < 0 {
		return false
	}
	fields := bytes.Fields(stat[end+1:])
	if len(fields) == 0 {
		return false
	}
	state := string(fields[0])
	return state == "Z" || state == "X"
}

package pyexport

import (
	"encoding/binary"
	"encoding/hex"

	"github.com/skypilot-org/sky_rs/skyrs"
)

// AreProcessesAlive is skyrs.AreProcessesAlive over /proc for
// sky_rs.are_processes_alive: a whole batch in one crossing. pids is the
// hexadecimal text of the pids as native-endian int64s, which the facade
// makes in two C-level passes (array('q', pids).tobytes().hex()), several
// times faster than formatting each pid. The result has one byte per pid,
// '1' alive or '0' not.
func AreProcessesAlive(pids string) (string, error) {
	return guard(func() (string, error) {
		raw, err := hex.DecodeString(pids)
		if err != nil || len(raw)%8 != 0 {
			return "", skyrs.Decline("pids must be hex-encoded int64 values")
		}
		numbers := make([]int, len(raw)/8)
		for i := range numbers {
			numbers[i] = int(int64(binary.NativeEndian.Uint64(raw[8*i:])))
		}
		alive := skyrs.AreProcessesAlive(skyrs.DefaultProcRoot, numbers)
		out := make([]byte, len(alive))
		for i, a := range alive {
			out[i] = '0'
			if a {
				out[i] = '1'
			}
		}
		return string(out), nil
	})
}

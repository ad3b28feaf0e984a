//go:build linux

package skyrs

import "golang.org/x/sys/unix"

// canBindTCP4 reports whether a new IPv4 TCP socket binds to 0.0.0.0:port.
// It uses raw socket calls because net.Listen sets SO_REUSEADDR, which would
// report ports in TIME_WAIT as free where upstream does not. A failure to
// create the socket is an error, as in upstream, where socket.socket() raises
// outside the try; any bind failure only means the port is busy. As in Python,
// the socket exists before the port is range-checked.
func canBindTCP4(port int) (bool, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false, OSErrorFrom(err)
	}
	defer unix.Close(fd)
	if port < 0 || port > 65535 {
		return false, errPortRange
	}
	return unix.Bind(fd, &unix.SockaddrInet4{Port: port}) == nil, nil
}

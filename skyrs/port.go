package skyrs

// lastPortTried is one past the last port FindFreePort tries: upstream loops
// over range(start_port, 65535), so 65535 itself is never tried.
const lastPortTried = 65535

// FindFreePort returns the first port from startPort up to 65534 that a fresh
// IPv4 TCP socket can bind on all interfaces, as upstream SkyPilot's
// find_free_port does: no SO_REUSEADDR (so a port in TIME_WAIT counts as
// busy), no listen, the socket closed again at once. startPort 0 returns 0,
// since binding port 0 always succeeds.
//
// No free port, or startPort >= 65535, is KindOSError with errno 0 and the
// message "No free ports available." (upstream's OSError). A negative port is
// KindOverflowError with the message of Python's socket.bind.
func FindFreePort(startPort int) (int, error) {
	for port := startPort; port < lastPortTried; port++ {
		free, err := canBindTCP4(port)
		if err != nil {
			return 0, err
		}
		if free {
			return port, nil
		}
	}
	return 0, &Error{Kind: KindOSError, Msg: "No free ports available."}
}

// errPortRange is what Python's socket.bind raises for a port out of range.
var errPortRange = Errorf(KindOverflowError, "bind(): port must be 0-65535.")

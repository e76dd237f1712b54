package host

import (
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// transparentControl lets a socket bind an address this host does not own
// (IP_TRANSPARENT, IPV6_TRANSPARENT), for a source address of the dialer.
// Without CAP_NET_ADMIN the option cannot be set, and the bind then works
// only for this host's own addresses, as without it.
func transparentControl(network, _ string, c syscall.RawConn) error {
	return c.Control(func(fd uintptr) {
		if strings.HasSuffix(network, "6") {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_IPV6, unix.IPV6_TRANSPARENT, 1)
			return
		}
		_ = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_TRANSPARENT, 1)
	})
}

//go:build linux

package tproxy

import (
	"context"
	"fmt"
	"net"
	"syscall"
)

// listenTransparent opens a TCP listener that accepts connections for any
// destination the TPROXY rules steer to it (IP_TRANSPARENT).
func listenTransparent(addr string) (net.Listener, error) {
	lc := net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_IP, syscall.IP_TRANSPARENT, 1)
		}); err != nil {
			return err
		}
		if serr != nil {
			return fmt.Errorf("set IP_TRANSPARENT (needs CAP_NET_ADMIN): %w", serr)
		}
		return nil
	}}
	return lc.Listen(context.Background(), "tcp4", addr)
}

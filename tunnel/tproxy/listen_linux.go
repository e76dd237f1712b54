//go:build linux

package tproxy

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// sockopt is one integer socket option.
type sockopt struct {
	level, name int
	what        string
}

var (
	optTransparent = sockopt{syscall.SOL_IP, syscall.IP_TRANSPARENT, "IP_TRANSPARENT (needs CAP_NET_ADMIN)"}
	optRecvOrigDst = sockopt{syscall.SOL_IP, syscall.IP_RECVORIGDSTADDR, "IP_RECVORIGDSTADDR"}
	optReuseAddr   = sockopt{syscall.SOL_SOCKET, syscall.SO_REUSEADDR, "SO_REUSEADDR"}
)

// withOptions is a ListenConfig that sets opts to 1 before binding.
func withOptions(opts ...sockopt) net.ListenConfig {
	return net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			for _, o := range opts {
				if err := syscall.SetsockoptInt(int(fd), o.level, o.name, 1); err != nil {
					serr = fmt.Errorf("set %s: %w", o.what, err)
					return
				}
			}
		}); err != nil {
			return err
		}
		return serr
	}}
}

// listenTransparent opens a TCP listener that accepts connections for any
// destination the TPROXY rules steer to it (IP_TRANSPARENT).
func listenTransparent(addr string) (net.Listener, error) {
	lc := withOptions(optTransparent)
	return lc.Listen(context.Background(), "tcp4", addr)
}

// listenTransparentUDP opens the UDP socket the TPROXY rules steer
// datagrams to; each datagram comes with its original destination
// (IP_RECVORIGDSTADDR, read by parseOrigDst).
func listenTransparentUDP(addr string) (*net.UDPConn, error) {
	lc := withOptions(optTransparent, optRecvOrigDst)
	pc, err := lc.ListenPacket(context.Background(), "udp4", addr)
	if err != nil {
		return nil, err
	}
	return pc.(*net.UDPConn), nil
}

// listenReply opens a UDP socket bound to from, an address that need not be
// local, so that datagrams written on it reach the client as coming from the
// address the client sent to. Several flows may share one from.
func listenReply(from netip.AddrPort) (*net.UDPConn, error) {
	lc := withOptions(optTransparent, optReuseAddr)
	pc, err := lc.ListenPacket(context.Background(), "udp4", from.String())
	if err != nil {
		return nil, err
	}
	return pc.(*net.UDPConn), nil
}

// parseOrigDst finds the original destination (an IP_ORIGDSTADDR message
// holding a sockaddr_in) among the control messages of one datagram.
func parseOrigDst(oob []byte) (netip.AddrPort, error) {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("parse control messages: %w", err)
	}
	for _, m := range msgs {
		if m.Header.Level == syscall.SOL_IP && m.Header.Type == syscall.IP_ORIGDSTADDR {
			return parseSockaddrInet4(m.Data)
		}
	}
	return netip.AddrPort{}, errors.New("no original destination among the control messages")
}

// parseSockaddrInet4 reads a struct sockaddr_in: the family in host byte
// order, then port and address in network byte order.
func parseSockaddrInet4(b []byte) (netip.AddrPort, error) {
	if len(b) < 8 {
		return netip.AddrPort{}, fmt.Errorf("original destination of %d bytes is too short for sockaddr_in", len(b))
	}
	if family := binary.NativeEndian.Uint16(b); family != syscall.AF_INET {
		return netip.AddrPort{}, fmt.Errorf("original destination has address family %d, want AF_INET", family)
	}
	port := binary.BigEndian.Uint16(b[2:4])
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[4:8])), port), nil
}

// BypassControl returns the socket hook (for net.Dialer.Control or
// sdk.Options.Control) that marks a socket with s.BypassMark, so that the
// rules leave its packets alone. Setting the mark needs CAP_NET_ADMIN, which
// transparent interception needs anyway. It returns nil when the bypass is
// off.
func (s Settings) BypassControl() func(network, address string, c syscall.RawConn) error {
	if s.BypassMark == 0 {
		return nil
	}
	mark := int(s.BypassMark)
	return func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_MARK, mark)
		}); err != nil {
			return err
		}
		if serr != nil {
			return fmt.Errorf("set SO_MARK 0x%x (needs CAP_NET_ADMIN): %w", mark, serr)
		}
		return nil
	}
}

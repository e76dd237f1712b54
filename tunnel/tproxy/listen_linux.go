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

// The IPv6 options of linux/in6.h that package syscall lacks; their values
// are the same on every architecture.
const (
	ipv6OrigDstAddr     = 74 // IPV6_ORIGDSTADDR, also IPV6_RECVORIGDSTADDR
	ipv6RecvOrigDstAddr = 74
	ipv6Transparent     = 75 // IPV6_TRANSPARENT
)

var (
	optTransparent  = sockopt{syscall.SOL_IP, syscall.IP_TRANSPARENT, "IP_TRANSPARENT (needs CAP_NET_ADMIN)"}
	optRecvOrigDst  = sockopt{syscall.SOL_IP, syscall.IP_RECVORIGDSTADDR, "IP_RECVORIGDSTADDR"}
	optTransparent6 = sockopt{syscall.SOL_IPV6, ipv6Transparent, "IPV6_TRANSPARENT (needs CAP_NET_ADMIN)"}
	optRecvOrigDst6 = sockopt{syscall.SOL_IPV6, ipv6RecvOrigDstAddr, "IPV6_RECVORIGDSTADDR"}
	optReuseAddr    = sockopt{syscall.SOL_SOCKET, syscall.SO_REUSEADDR, "SO_REUSEADDR"}
)

// familyOf is the network suffix ("4" or "6") and the transparency option
// of addr's address family. IPv6 sockets are IPv6-only (Go sets
// IPV6_V6ONLY for tcp6 and udp6), so IPv4 traffic never reaches them.
func familyOf(addr netip.AddrPort) (string, sockopt) {
	if addr.Addr().Is4() {
		return "4", optTransparent
	}
	return "6", optTransparent6
}

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

// listenTransparent opens a TCP listener on addr (IPv4 or IPv6) that
// accepts connections for any destination the TPROXY rules steer to it
// (IP_TRANSPARENT or IPV6_TRANSPARENT).
func listenTransparent(addr netip.AddrPort) (net.Listener, error) {
	suffix, transparent := familyOf(addr)
	lc := withOptions(transparent)
	return lc.Listen(context.Background(), "tcp"+suffix, addr.String())
}

// listenTransparentUDP opens the UDP socket on addr (IPv4 or IPv6) the
// TPROXY rules steer datagrams to; each datagram comes with its original
// destination (IP_RECVORIGDSTADDR or IPV6_RECVORIGDSTADDR, read by
// parseOrigDst).
func listenTransparentUDP(addr netip.AddrPort) (*net.UDPConn, error) {
	suffix, transparent := familyOf(addr)
	recv := optRecvOrigDst
	if suffix == "6" {
		recv = optRecvOrigDst6
	}
	lc := withOptions(transparent, recv)
	pc, err := lc.ListenPacket(context.Background(), "udp"+suffix, addr.String())
	if err != nil {
		return nil, err
	}
	return pc.(*net.UDPConn), nil
}

// listenReply opens a UDP socket bound to from, an address (IPv4 or IPv6)
// that need not be local, so that datagrams written on it reach the client
// as coming from the address the client sent to. Several flows may share
// one from.
func listenReply(from netip.AddrPort) (*net.UDPConn, error) {
	suffix, transparent := familyOf(from)
	lc := withOptions(transparent, optReuseAddr)
	pc, err := lc.ListenPacket(context.Background(), "udp"+suffix, from.String())
	if err != nil {
		return nil, err
	}
	return pc.(*net.UDPConn), nil
}

// ipv6Unavailable tells whether err says this host has no IPv6: the kernel
// has none (no address family) or it is disabled (no ::1 to bind).
func ipv6Unavailable(err error) bool {
	return errors.Is(err, syscall.EAFNOSUPPORT) || errors.Is(err, syscall.EADDRNOTAVAIL) ||
		errors.Is(err, syscall.EPROTONOSUPPORT)
}

// parseOrigDst finds the original destination among the control messages
// of one datagram: an IP_ORIGDSTADDR message holding a sockaddr_in or an
// IPV6_ORIGDSTADDR message holding a sockaddr_in6.
func parseOrigDst(oob []byte) (netip.AddrPort, error) {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("parse control messages: %w", err)
	}
	for _, m := range msgs {
		switch {
		case m.Header.Level == syscall.SOL_IP && m.Header.Type == syscall.IP_ORIGDSTADDR:
			return parseSockaddrInet4(m.Data)
		case m.Header.Level == syscall.SOL_IPV6 && m.Header.Type == ipv6OrigDstAddr:
			return parseSockaddrInet6(m.Data)
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

// sizeofSockaddrInet6 is the size of struct sockaddr_in6: family, port,
// flow info, address and scope id.
const sizeofSockaddrInet6 = 28

// parseSockaddrInet6 reads a struct sockaddr_in6: the family in host byte
// order, then port, flow info and address in network byte order, then the
// scope id. The scope id is not kept: link-local destinations, the only
// ones that have one, are not intercepted.
func parseSockaddrInet6(b []byte) (netip.AddrPort, error) {
	if len(b) < sizeofSockaddrInet6 {
		return netip.AddrPort{}, fmt.Errorf("original destination of %d bytes is too short for sockaddr_in6", len(b))
	}
	if family := binary.NativeEndian.Uint16(b); family != syscall.AF_INET6 {
		return netip.AddrPort{}, fmt.Errorf("original destination has address family %d, want AF_INET6", family)
	}
	port := binary.BigEndian.Uint16(b[2:4])
	return netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[8:24])), port), nil
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

//go:build !linux

package tproxy

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
)

var errNotLinux = errors.New("transparent proxying needs Linux")

func listenTransparent(netip.AddrPort) (net.Listener, error) { return nil, errNotLinux }

func listenTransparentUDP(netip.AddrPort) (*net.UDPConn, error) { return nil, errNotLinux }

func listenReply(netip.AddrPort) (*net.UDPConn, error) { return nil, errNotLinux }

func ipv6Unavailable(error) bool { return false }

func parseOrigDst([]byte) (netip.AddrPort, error) { return netip.AddrPort{}, errNotLinux }

// BypassControl is nil off Linux: there are no rules to bypass.
func (Settings) BypassControl() func(network, address string, c syscall.RawConn) error { return nil }

//go:build linux

package tproxy

import (
	"context"
	"encoding/hex"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// cmsg builds one control message as the kernel lays it out.
func cmsg(level, typ int32, data []byte) []byte {
	b := make([]byte, syscall.CmsgSpace(len(data)))
	h := (*syscall.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = level, typ
	h.SetLen(syscall.CmsgLen(len(data)))
	copy(b[syscall.CmsgLen(0):], data)
	return b
}

// kernelOrigDst is the sockaddr_in a 6.18 kernel delivered for a datagram
// sent to 10.99.0.7:53 (family AF_INET in host order on little-endian).
func kernelOrigDst(t testing.TB) []byte {
	b, err := hex.DecodeString("020000350a6300070000000000000000")
	if err != nil {
		t.Fatal(err)
	}
	if *(*uint16)(unsafe.Pointer(&b[0])) != syscall.AF_INET { // big-endian host
		b[0], b[1] = b[1], b[0]
	}
	return b
}

// kernelOrigDst6 is a sockaddr_in6 laid out as the kernel delivers it for a
// datagram sent to [2001:db8:99::7]:53 (family AF_INET6 in host order);
// TestParseOrigDstFromKernel and TestManagerInNetworkNamespace check the
// layout against a running kernel.
func kernelOrigDst6(t testing.TB) []byte {
	b, err := hex.DecodeString("0a0000350000000020010db800990000000000000000000700000000")
	if err != nil {
		t.Fatal(err)
	}
	if *(*uint16)(unsafe.Pointer(&b[0])) != syscall.AF_INET6 { // big-endian host
		b[0], b[1] = b[1], b[0]
	}
	return b
}

func TestParseOrigDst6(t *testing.T) {
	sa := kernelOrigDst6(t)
	want := netip.MustParseAddrPort("[2001:db8:99::7]:53")
	got, err := parseOrigDst(cmsg(syscall.SOL_IPV6, ipv6OrigDstAddr, sa))
	if err != nil || got != want {
		t.Fatalf("parseOrigDst = %v, %v; want %v", got, err, want)
	}
	// The scope id is not part of the address.
	scoped := append([]byte(nil), sa...)
	scoped[24] = 3
	if got, err := parseOrigDst(cmsg(syscall.SOL_IPV6, ipv6OrigDstAddr, scoped)); err != nil || got != want {
		t.Fatalf("with a scope id: %v, %v", got, err)
	}
	inet := append([]byte(nil), sa...)
	*(*uint16)(unsafe.Pointer(&inet[0])) = syscall.AF_INET
	for name, oob := range map[string][]byte{
		"short":       cmsg(syscall.SOL_IPV6, ipv6OrigDstAddr, sa[:24]),
		"not inet6":   cmsg(syscall.SOL_IPV6, ipv6OrigDstAddr, inet),
		"truncated":   cmsg(syscall.SOL_IPV6, ipv6OrigDstAddr, sa)[:30],
		"other level": cmsg(syscall.SOL_IP, ipv6OrigDstAddr, sa),
	} {
		if got, err := parseOrigDst(oob); err == nil {
			t.Errorf("%s: parsed %v, want an error", name, got)
		}
	}
}

// TestParseOrigDstFromKernel reads the original destination of datagrams
// the kernel delivers to sockets asking for it (which needs no privilege),
// over IPv4 and IPv6.
func TestParseOrigDstFromKernel(t *testing.T) {
	for _, tc := range []struct {
		network, addr string
		opt           sockopt
	}{
		{"udp4", "127.0.0.1:0", optRecvOrigDst},
		{"udp6", "[::1]:0", optRecvOrigDst6},
	} {
		lc := withOptions(tc.opt)
		pc, err := lc.ListenPacket(context.Background(), tc.network, tc.addr)
		if tc.network == "udp6" && err != nil && ipv6Unavailable(err) {
			t.Logf("no IPv6 on this host (%v): only IPv4 is checked", err)
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.network, err)
		}
		defer pc.Close()
		conn := pc.(*net.UDPConn)
		to := conn.LocalAddr().(*net.UDPAddr).AddrPort()
		client, err := net.DialUDP(tc.network, nil, net.UDPAddrFromAddrPort(to))
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		if _, err := client.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf, oob := make([]byte, 16), make([]byte, oobSize)
		_, oobn, _, _, err := conn.ReadMsgUDPAddrPort(buf, oob)
		if err != nil {
			t.Fatalf("%s: read: %v", tc.network, err)
		}
		got, err := parseOrigDst(oob[:oobn])
		if err != nil || got != to {
			t.Errorf("%s: original destination %v, %v; want %v (control messages %x)", tc.network, got, err, to, oob[:oobn])
		}
	}
}

func TestParseOrigDst(t *testing.T) {
	sa := kernelOrigDst(t)
	want := netip.MustParseAddrPort("10.99.0.7:53")
	got, err := parseOrigDst(cmsg(syscall.SOL_IP, syscall.IP_ORIGDSTADDR, sa))
	if err != nil || got != want {
		t.Fatalf("parseOrigDst = %v, %v; want %v", got, err, want)
	}
	// Another message first (IP_TTL) does not hide it.
	two := append(cmsg(syscall.SOL_IP, syscall.IP_TTL, []byte{64, 0, 0, 0}), cmsg(syscall.SOL_IP, syscall.IP_ORIGDSTADDR, sa)...)
	if got, err := parseOrigDst(two); err != nil || got != want {
		t.Fatalf("after another message: %v, %v", got, err)
	}
	inet6 := append([]byte(nil), sa...)
	*(*uint16)(unsafe.Pointer(&inet6[0])) = syscall.AF_INET6
	for name, oob := range map[string][]byte{
		"none":        nil,
		"other type":  cmsg(syscall.SOL_IP, syscall.IP_TTL, []byte{64, 0, 0, 0}),
		"short":       cmsg(syscall.SOL_IP, syscall.IP_ORIGDSTADDR, sa[:6]),
		"not inet":    cmsg(syscall.SOL_IP, syscall.IP_ORIGDSTADDR, inet6),
		"truncated":   cmsg(syscall.SOL_IP, syscall.IP_ORIGDSTADDR, sa)[:10],
		"other level": cmsg(syscall.SOL_SOCKET, syscall.IP_ORIGDSTADDR, sa),
	} {
		if got, err := parseOrigDst(oob); err == nil {
			t.Errorf("%s: parsed %v, want an error", name, got)
		}
	}
}

func FuzzParseOrigDst(f *testing.F) {
	sa := kernelOrigDst(f)
	f.Add(cmsg(syscall.SOL_IP, syscall.IP_ORIGDSTADDR, sa))
	f.Add(append(cmsg(syscall.SOL_IP, syscall.IP_TTL, []byte{1, 0, 0, 0}), cmsg(syscall.SOL_IP, syscall.IP_ORIGDSTADDR, sa)...))
	f.Add(cmsg(syscall.SOL_IP, syscall.IP_ORIGDSTADDR, sa[:7]))
	f.Add(cmsg(syscall.SOL_IP, syscall.IP_ORIGDSTADDR, sa)[:20])
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0x14, 0, 0, 0})
	sa6 := kernelOrigDst6(f)
	f.Add(cmsg(syscall.SOL_IPV6, ipv6OrigDstAddr, sa6))
	f.Add(append(cmsg(syscall.SOL_IPV6, syscall.IPV6_HOPLIMIT, []byte{64, 0, 0, 0}), cmsg(syscall.SOL_IPV6, ipv6OrigDstAddr, sa6)...))
	f.Add(cmsg(syscall.SOL_IPV6, ipv6OrigDstAddr, sa6[:27]))
	f.Add(cmsg(syscall.SOL_IPV6, ipv6OrigDstAddr, sa6)[:40])
	f.Add(cmsg(syscall.SOL_IP, ipv6OrigDstAddr, sa6))
	f.Fuzz(func(t *testing.T, oob []byte) {
		got, err := parseOrigDst(oob)
		if err != nil {
			return
		}
		// What parsed must be what an equal message carries.
		if got.Addr().Is4() {
			var data [8]byte
			*(*uint16)(unsafe.Pointer(&data[0])) = syscall.AF_INET
			data[2], data[3] = byte(got.Port()>>8), byte(got.Port())
			a4 := got.Addr().As4()
			copy(data[4:], a4[:])
			again, err := parseOrigDst(cmsg(syscall.SOL_IP, syscall.IP_ORIGDSTADDR, data[:]))
			if err != nil || again != got {
				t.Fatalf("rebuilt message parsed as %v, %v; want %v", again, err, got)
			}
			return
		}
		if !got.Addr().Is6() || got.Addr().Zone() != "" {
			t.Fatalf("parsed %v, neither IPv4 nor a plain IPv6 address", got)
		}
		var data [sizeofSockaddrInet6]byte
		*(*uint16)(unsafe.Pointer(&data[0])) = syscall.AF_INET6
		data[2], data[3] = byte(got.Port()>>8), byte(got.Port())
		a16 := got.Addr().As16()
		copy(data[8:], a16[:])
		again, err := parseOrigDst(cmsg(syscall.SOL_IPV6, ipv6OrigDstAddr, data[:]))
		if err != nil || again != got {
			t.Fatalf("rebuilt message parsed as %v, %v; want %v", again, err, got)
		}
	})
}

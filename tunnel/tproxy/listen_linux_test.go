//go:build linux

package tproxy

import (
	"encoding/hex"
	"net/netip"
	"syscall"
	"testing"
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
	f.Fuzz(func(t *testing.T, oob []byte) {
		got, err := parseOrigDst(oob)
		if err != nil {
			return
		}
		if !got.Addr().Is4() {
			t.Fatalf("parsed %v, not an IPv4 address", got)
		}
		// What parsed must be what an equal message carries.
		var data [8]byte
		*(*uint16)(unsafe.Pointer(&data[0])) = syscall.AF_INET
		data[2], data[3] = byte(got.Port()>>8), byte(got.Port())
		a4 := got.Addr().As4()
		copy(data[4:], a4[:])
		again, err := parseOrigDst(cmsg(syscall.SOL_IP, syscall.IP_ORIGDSTADDR, data[:]))
		if err != nil || again != got {
			t.Fatalf("rebuilt message parsed as %v, %v; want %v", again, err, got)
		}
	})
}

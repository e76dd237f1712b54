package e2e

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ostium-net/ostium/sdk"
	"github.com/ostium-net/ostium/sdk/identity"
	"github.com/ostium-net/ostium/tests/harness"
	"github.com/ostium-net/ostium/tunnel"
)

// plainEchoServer is a TCP echo server that knows nothing of Ostium: it
// sends back what it reads and half-closes when the client does.
func plainEchoServer(t *testing.T) *net.TCPAddr {
	t.Helper()
	return plainEchoServerOn(t, "127.0.0.1:0")
}

// freePort finds a TCP port on 127.0.0.1 that nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// tunnelService creates a service with an intercept.v1 config on
// 127.0.0.1:interceptPort and a host.v1 config to target.
func tunnelService(n *harness.Network, name string, interceptPort int, target *net.TCPAddr) {
	n.T.Helper()
	id := n.Service(name, false)
	icfg := n.Create("/configs", map[string]any{"name": name + "-intercept", "configTypeId": "intercept.v1",
		"data": map[string]any{"protocols": []string{"tcp"}, "addresses": []string{"127.0.0.1"},
			"portRanges": []map[string]int{{"low": interceptPort, "high": interceptPort}}}})
	hcfg := n.Create("/configs", map[string]any{"name": name + "-host", "configTypeId": "host.v1",
		"data": map[string]any{"protocol": "tcp", "address": target.IP.String(), "port": target.Port}})
	n.Mgmt("PATCH", "/services/"+id, map[string]any{"configs": []string{icfg, hcfg}}, nil)
}

// tunnelContext is an sdk Context that receives the tunneler's configs.
func tunnelContext(t testing.TB, n *harness.Network, id *identity.Identity) *sdk.Context {
	t.Helper()
	c, err := sdk.New(id, sdk.Options{Logger: n.Log, ConfigTypes: tunnel.ConfigTypes})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// runTunneler runs a tunneler until the test ends.
func runTunneler(t testing.TB, c *sdk.Context, n *harness.Network, name string) *tunnel.Tunneler {
	t.Helper()
	tun := tunnel.New(c, tunnel.Options{Poll: 200 * time.Millisecond, Logger: n.Log.With("tunneler", name)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = tun.Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return tun
}

// plainRoundTrip sends size bytes to addr as a plain TCP client, half-closes,
// and checks that exactly the same bytes come back.
func plainRoundTrip(addr string, size int64, seed uint64) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	var wg sync.WaitGroup
	wg.Add(1)
	var got [32]byte
	var gotN int64
	var readErr error
	go func() {
		defer wg.Done()
		h := sha256.New()
		gotN, readErr = io.Copy(h, c)
		copy(got[:], h.Sum(nil))
	}()
	_, writeErr := io.Copy(c, io.LimitReader(newPattern(seed), size))
	if writeErr == nil {
		writeErr = c.(*net.TCPConn).CloseWrite()
	}
	wg.Wait()
	if writeErr != nil {
		return fmt.Errorf("write: %w", writeErr)
	}
	if readErr != nil {
		return fmt.Errorf("read: %w", readErr)
	}
	if gotN != size || got != patternSum(seed, size) {
		return fmt.Errorf("got %d bytes back of %d, checksum ok=%v", gotN, size, got == patternSum(seed, size))
	}
	return nil
}

// eventually retries f until it succeeds or the time is up.
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestTunnelInterceptToHost(t *testing.T) {
	n := harness.Start(t)
	n.OpenPolicies()
	n.Router("router-1")
	echo := plainEchoServer(t)
	port := freePort(t)
	tunnelService(n, "echo", port, echo)

	hostSide := runTunneler(t, tunnelContext(t, n, n.Identity("host-tunneler", "echo-bind", "late-bind")), n, "host")
	clientSide := runTunneler(t, tunnelContext(t, n, n.Identity("client-tunneler", "echo-dial", "late-dial")), n, "client")

	addr := fmt.Sprintf("127.0.0.1:%d", port)
	eventually(t, "plain client → intercept → router → host → plain server", func() error {
		return plainRoundTrip(addr, 4096, 1)
	})
	// Bigger payloads, several at once, each checked byte for byte.
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- plainRoundTrip(addr, 2<<20, uint64(10+i))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	cs, hs := clientSide.Stats(), hostSide.Stats()
	if len(cs.Intercepted) != 1 || cs.Intercepted[0] != "echo" || cs.Listeners != 1 {
		t.Fatalf("client tunneler stats: %+v", cs)
	}
	if len(hs.Hosted) != 1 || hs.Hosted[0] != "echo" {
		t.Fatalf("host tunneler stats: %+v", hs)
	}
	if cs.Intercept.Opened < 5 || hs.Host.Opened < 5 {
		t.Fatalf("connections counted: client %+v, host %+v", cs.Intercept, hs.Host)
	}

	// A service added while both tunnelers run becomes reachable without a
	// restart.
	latePort := freePort(t)
	tunnelService(n, "late", latePort, echo)
	lateAddr := fmt.Sprintf("127.0.0.1:%d", latePort)
	eventually(t, "service added while running", func() error {
		return plainRoundTrip(lateAddr, 64<<10, 2)
	})
	if s := clientSide.Stats(); len(s.Intercepted) != 2 {
		t.Fatalf("client tunneler intercepts %v, want echo and late", s.Intercepted)
	}

	// A service deleted while running stops its listener.
	var svcs []struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	n.Mgmt("GET", `/services?filter=name="late"`, nil, &svcs)
	if len(svcs) != 1 {
		t.Fatalf("found %d services named late", len(svcs))
	}
	n.Mgmt("DELETE", "/services/"+svcs[0].ID, nil, nil)
	eventually(t, "listener of a deleted service closes", func() error {
		c, err := net.DialTimeout("tcp", lateAddr, time.Second)
		if err == nil {
			_ = c.Close()
			return fmt.Errorf("%s still accepts connections", lateAddr)
		}
		return nil
	})
	if s := clientSide.Stats(); len(s.Intercepted) != 1 {
		t.Fatalf("client tunneler intercepts %v after the deletion, want echo only", s.Intercepted)
	}
}

func TestProxyModeReachesService(t *testing.T) {
	n := harness.Start(t)
	n.OpenPolicies()
	n.Router("router-1")
	echo := plainEchoServer(t)
	tunnelService(n, "proxied", freePort(t), echo)
	runTunneler(t, tunnelContext(t, n, n.Identity("host-tunneler", "proxied-bind")), n, "host")

	client := n.Context(n.Identity("proxy-client", "proxied-dial"))
	m, err := tunnel.ParseMapping("proxied:127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p, err := tunnel.StartProxy(client, []tunnel.Mapping{m}, n.Log)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	addr := p.Addrs()[0].String()
	eventually(t, "plain client → proxy → router → host → plain server", func() error {
		return plainRoundTrip(addr, 256<<10, 3)
	})
	if s := p.Stats(); s.Opened < 1 || s.BytesSent < 256<<10 || s.BytesReceived < 256<<10 {
		t.Fatalf("proxy stats: %+v", s)
	}
}

// plainUDPEchoServer sends every datagram back to its sender.
func plainUDPEchoServer(t *testing.T) *net.UDPAddr {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	go func() {
		buf := make([]byte, 65535)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo(buf[:n], from)
		}
	}()
	return pc.LocalAddr().(*net.UDPAddr)
}

func TestTunnelInterceptUDP(t *testing.T) {
	n := harness.Start(t)
	n.OpenPolicies()
	n.Router("router-1")
	echo := plainUDPEchoServer(t)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	_ = pc.Close()
	id := n.Service("dgram", false)
	icfg := n.Create("/configs", map[string]any{"name": "dgram-intercept", "configTypeId": "intercept.v1",
		"data": map[string]any{"protocols": []string{"udp"}, "addresses": []string{"127.0.0.1"},
			"portRanges": []map[string]int{{"low": port, "high": port}}}})
	hcfg := n.Create("/configs", map[string]any{"name": "dgram-host", "configTypeId": "host.v1",
		"data": map[string]any{"protocol": "udp", "address": "127.0.0.1", "port": echo.Port}})
	n.Mgmt("PATCH", "/services/"+id, map[string]any{"configs": []string{icfg, hcfg}}, nil)
	runTunneler(t, tunnelContext(t, n, n.Identity("host-tunneler", "dgram-bind")), n, "host")
	runTunneler(t, tunnelContext(t, n, n.Identity("client-tunneler", "dgram-dial")), n, "client")

	addr := fmt.Sprintf("127.0.0.1:%d", port)
	eventually(t, "plain UDP client → intercept → router → host → plain UDP server", func() error {
		// A new socket per attempt is a new flow, dialed afresh.
		c, err := net.Dial("udp", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		buf := make([]byte, 2048)
		for i := range 5 {
			msg := fmt.Appendf(nil, "datagram %d %s", i, bytesOf(byte(i), 1000))
			if _, err := c.Write(msg); err != nil {
				return err
			}
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			n, err := c.Read(buf)
			if err != nil {
				return err
			}
			if string(buf[:n]) != string(msg) {
				return fmt.Errorf("datagram %d came back as %d different bytes", i, n)
			}
		}
		return nil
	})
}

func bytesOf(b byte, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = 'a' + (b+byte(i))%26
	}
	return out
}

// sdkExposesAppData reports whether connections a host accepts carry the
// dialer's application data, which host.v1 forward* settings need.
func sdkExposesAppData(t *testing.T, n *harness.Network) bool {
	t.Helper()
	n.Service("probe", false)
	host := n.Context(n.Identity("probe-host", "probe-bind"))
	client := n.Context(n.Identity("probe-client", "probe-dial"))
	ln, err := host.Listen("probe")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c, err := client.DialWithOptions(ctx, "probe", &sdk.DialOptions{AppData: []byte(`{"dst_port":"1"}`)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case hc := <-accepted:
		defer hc.Close()
		ad, ok := hc.(interface{ AppData() []byte })
		return ok && string(ad.AppData()) == `{"dst_port":"1"}`
	case <-ctx.Done():
		t.Fatal("the probe connection was not accepted")
	}
	return false
}

func TestTunnelHostForwardsDialerPort(t *testing.T) {
	n := harness.Start(t)
	n.OpenPolicies()
	n.Router("router-1")
	if !sdkExposesAppData(t, n) {
		t.Fatal("connections accepted through the sdk must expose the dialer's AppData: host.v1 forwardPort depends on it")
	}
	// The server listens on 127.0.0.3:P; the intercept on 127.0.0.2:P and on
	// 127.0.0.2:Q. The host forwards the port the client asked for, within
	// allowedPortRanges, which holds P only.
	ln, err := net.Listen("tcp", "127.0.0.3:0")
	if err != nil {
		t.Fatal(err)
	}
	_ = ln.Close()
	echo := plainEchoServerOn(t, ln.Addr().String())
	p := echo.Port
	q := freePort(t)
	id := n.Service("fwd", false)
	icfg := n.Create("/configs", map[string]any{"name": "fwd-intercept", "configTypeId": "intercept.v1",
		"data": map[string]any{"protocols": []string{"tcp"}, "addresses": []string{"127.0.0.2"},
			"portRanges": []map[string]int{{"low": p, "high": p}, {"low": q, "high": q}}}})
	hcfg := n.Create("/configs", map[string]any{"name": "fwd-host", "configTypeId": "host.v1",
		"data": map[string]any{"protocol": "tcp", "address": "127.0.0.3",
			"forwardPort": true, "allowedPortRanges": []map[string]int{{"low": p, "high": p}}}})
	n.Mgmt("PATCH", "/services/"+id, map[string]any{"configs": []string{icfg, hcfg}}, nil)
	runTunneler(t, tunnelContext(t, n, n.Identity("host-tunneler", "fwd-bind")), n, "host")
	client := runTunneler(t, tunnelContext(t, n, n.Identity("client-tunneler", "fwd-dial")), n, "client")
	eventually(t, "forwarded port", func() error {
		return plainRoundTrip(fmt.Sprintf("127.0.0.2:%d", p), 32<<10, 4)
	})
	if err := plainRoundTrip(fmt.Sprintf("127.0.0.2:%d", q), 1024, 5); err == nil {
		t.Fatalf("port %d, outside allowedPortRanges, was forwarded", q)
	}
	if s := client.Stats(); s.Listeners != 2 {
		t.Fatalf("client listeners %d, want 2", s.Listeners)
	}
}

// plainEchoServerOn is plainEchoServer on a given address.
func plainEchoServerOn(t *testing.T, addr string) *net.TCPAddr {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
				_ = c.(*net.TCPConn).CloseWrite()
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr)
}

// TestTunnelHostWithTargetDownRefusesTheDial covers a hosted application
// that is down: the hosting tunneler refuses each dial with the reason, which
// the dialer's error carries, instead of accepting and closing (an empty
// reply).
func TestTunnelHostWithTargetDownRefusesTheDial(t *testing.T) {
	n := harness.Start(t)
	n.OpenPolicies()
	n.Router("router-1")
	down := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: freePort(t)}
	tunnelService(n, "down", freePort(t), down)
	host := runTunneler(t, tunnelContext(t, n, n.Identity("host-tunneler", "down-bind")), n, "host")
	client := n.Context(n.Identity("down-client", "down-dial"))
	want := fmt.Sprintf("cannot reach the target tcp:%s: connection refused", down)
	eventually(t, "a dial of a service whose target is down is refused with the reason", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		c, err := client.Dial(ctx, "down")
		if err == nil {
			_ = c.Close()
			return errors.New("the dial succeeded")
		}
		if !strings.Contains(err.Error(), want) {
			return fmt.Errorf("dial error %q does not say %q", err, want)
		}
		return nil
	})
	if s := host.Stats(); s.Host.Failed == 0 {
		t.Fatalf("the host counted no failed connection: %+v", s.Host)
	}
	// Once the application is up, the same service works.
	plainEchoServerOn(t, down.String())
	eventually(t, "the service works once its target is up", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		c, err := client.Dial(ctx, "down")
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write([]byte("up")); err != nil {
			return err
		}
		buf := make([]byte, 2)
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "up" {
			return fmt.Errorf("read %q, %v", buf, err)
		}
		return nil
	})
}

// sourceRecordingEcho is an echo server on 127.0.0.1 that records the address
// each connection comes from.
func sourceRecordingEcho(t *testing.T) (*net.TCPAddr, <-chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	from := make(chan string, 64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			select {
			case from <- c.RemoteAddr().(*net.TCPAddr).IP.String():
			default:
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
				_ = c.(*net.TCPConn).CloseWrite()
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr), from
}

// TestTunnelSourceAddressFollowsAllowedSourceAddresses: an intercept.v1
// sourceIp asks the host to connect from 127.0.0.5; the target sees that
// address while host.v1 allowedSourceAddresses allows it, and the host
// refuses the dials once the list no longer does.
func TestTunnelSourceAddressFollowsAllowedSourceAddresses(t *testing.T) {
	n := harness.Start(t)
	n.OpenPolicies()
	n.Router("router-1")
	target, from := sourceRecordingEcho(t)
	port := freePort(t)
	id := n.Service("sourced", false)
	icfg := n.Create("/configs", map[string]any{"name": "sourced-intercept", "configTypeId": "intercept.v1",
		"data": map[string]any{"protocols": []string{"tcp"}, "addresses": []string{"127.0.0.1"},
			"portRanges": []map[string]int{{"low": port, "high": port}}, "sourceIp": "127.0.0.5"}})
	hostData := func(allowed string) map[string]any {
		return map[string]any{"protocol": "tcp", "address": "127.0.0.1", "port": target.Port, "allowedSourceAddresses": []string{allowed}}
	}
	hcfg := n.Create("/configs", map[string]any{"name": "sourced-host", "configTypeId": "host.v1", "data": hostData("127.0.0.0/24")})
	n.Mgmt("PATCH", "/services/"+id, map[string]any{"configs": []string{icfg, hcfg}}, nil)
	host := runTunneler(t, tunnelContext(t, n, n.Identity("host-tunneler", "sourced-bind")), n, "host")
	runTunneler(t, tunnelContext(t, n, n.Identity("client-tunneler", "sourced-dial")), n, "client")
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	eventually(t, "a connection from the allowed source address", func() error {
		return plainRoundTrip(addr, 16<<10, 6)
	})
	if got := <-from; got != "127.0.0.5" {
		t.Fatalf("the target saw a connection from %s, want the source address asked for, 127.0.0.5", got)
	}
	// The list changes: the host takes the new config and refuses.
	n.Mgmt("PATCH", "/configs/"+hcfg, map[string]any{"data": hostData("10.0.0.0/8")}, nil)
	before := host.Stats().Host.Failed
	eventually(t, "the host to refuse a source address no longer allowed", func() error {
		if err := plainRoundTrip(addr, 1024, 7); err == nil {
			return errors.New("still carried")
		}
		if host.Stats().Host.Failed == before {
			return errors.New("the host has not refused yet")
		}
		return nil
	})
}

//go:build linux

package tproxy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ostium-net/ostium/sdk"
	"github.com/ostium-net/ostium/tunnel/config"
	"github.com/ostium-net/ostium/tunnel/dns"
	"github.com/ostium-net/ostium/tunnel/relay"
)

// namespaceChildEnv marks the copy of the test binary that runs inside a
// fresh network namespace; its value is the parent's namespace, which the
// child checks it has left.
const namespaceChildEnv = "OSTIUM_TPROXY_TEST_PARENT_NETNS"

// TestManagerInNetworkNamespace runs the real Manager (nft, ip rule/route,
// IP_TRANSPARENT sockets) in a private network namespace, so the host's
// rules and routes are never touched: the test binary runs itself again
// under unshare -n and relays the result.
func TestManagerInNetworkNamespace(t *testing.T) {
	if parent := os.Getenv(namespaceChildEnv); parent != "" {
		if self, err := os.Readlink("/proc/self/ns/net"); err != nil || self == parent {
			t.Fatalf("refusing to change the network namespace %s (%v): not a private one", self, err)
		}
		managerInNamespace(t)
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: it installs nftables rules, policy routing and IP_TRANSPARENT sockets (in a private network namespace)")
	}
	for _, tool := range []string{"unshare", "nft", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s in PATH: %v", tool, err)
		}
	}
	if _, err := os.Stat("/proc/sys/net/ipv6"); err != nil {
		t.Skipf("the kernel has no IPv6 (booted with ipv6.disable=1?), which this test exercises alongside IPv4: %v", err)
	}
	if out, err := exec.Command("unshare", "-n", "true").CombinedOutput(); err != nil {
		t.Skipf("cannot create a network namespace with unshare -n: %v: %s", err, out)
	}
	cmd := exec.Command("unshare", "-n", os.Args[0], "-test.run=^TestManagerInNetworkNamespace$", "-test.v", "-test.count=1", "-test.timeout=2m")
	netns, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Skipf("cannot read this process's network namespace: %v", err)
	}
	cmd.Env = append(os.Environ(), namespaceChildEnv+"="+netns)
	out, err := cmd.CombinedOutput()
	t.Logf("in the network namespace:\n%s", out)
	if err != nil {
		t.Fatalf("the run in the network namespace failed: %v", err)
	}
	if bytes.Contains(out, []byte("--- SKIP: TestManagerInNetworkNamespace")) {
		t.Skip("skipped in the network namespace (reason above)")
	}
	if !bytes.Contains(out, []byte("--- PASS: TestManagerInNetworkNamespace")) {
		t.Fatal("the run in the network namespace did not report a pass")
	}
}

func sh(t *testing.T, argv ...string) string {
	t.Helper()
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}

// echoTCP serves connections by answering name:<everything the client sent>
// once the client has finished sending.
func echoTCP(t *testing.T, name string) string {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
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
				b, err := io.ReadAll(c)
				if err != nil {
					return
				}
				_, _ = c.Write(append([]byte(name+":"), b...))
			}()
		}
	}()
	return ln.Addr().String()
}

// echoUDP answers each datagram with name:<datagram>.
func echoUDP(t *testing.T, name string) string {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	go func() {
		buf := make([]byte, relay.MaxDatagram)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo(append([]byte(name+":"), buf[:n]...), from)
		}
	}()
	return pc.LocalAddr().String()
}

// dial is one dial the Manager made.
type dial struct {
	service string
	dst     config.Destination
}

// echoDialer stands in for the overlay and the hosting tunneler: it
// connects each dial to the backend of its service and protocol, carrying
// UDP as relay frames the way a host does.
type echoDialer struct {
	backends map[string]string // service/protocol → address

	mu    sync.Mutex
	dials []dial
}

func (d *echoDialer) DialWithOptions(ctx context.Context, service string, opts *sdk.DialOptions) (net.Conn, error) {
	dst, err := config.DecodeDestination(opts.AppData)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.dials = append(d.dials, dial{service, dst})
	d.mu.Unlock()
	addr, ok := d.backends[service+"/"+dst.Protocol]
	if !ok {
		return nil, fmt.Errorf("no backend for %s/%s", service, dst.Protocol)
	}
	var nd net.Dialer
	if dst.Protocol == "tcp" {
		return nd.DialContext(ctx, "tcp4", addr)
	}
	udp, err := nd.DialContext(ctx, "udp4", addr)
	if err != nil {
		return nil, err
	}
	framed, hostSide := net.Pipe()
	go func() { // frames from the intercept → datagrams to the backend
		defer udp.Close()
		buf := make([]byte, relay.MaxDatagram)
		for {
			n, err := relay.ReadDatagram(hostSide, buf)
			if err != nil {
				return
			}
			if _, err := udp.Write(buf[:n]); err != nil {
				return
			}
		}
	}()
	go func() { // datagrams from the backend → frames to the intercept
		defer hostSide.Close()
		buf := make([]byte, relay.MaxDatagram)
		for {
			n, err := udp.Read(buf)
			if err != nil {
				return
			}
			if relay.WriteDatagram(hostSide, buf[:n]) != nil {
				return
			}
		}
	}()
	return framed, nil
}

func (d *echoDialer) dialsOf(service string) []dial {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []dial
	for _, x := range d.dials {
		if x.service == service {
			out = append(out, x)
		}
	}
	return out
}

// deadline bounds every network wait so that a broken path fails the test
// instead of hanging it.
const deadline = 10 * time.Second

// tcpNetwork is tcp4 or tcp6, as dst's address family.
func tcpNetwork(dst netip.AddrPort) string {
	if dst.Addr().Is4() {
		return "tcp4"
	}
	return "tcp6"
}

func tcpExchange(t *testing.T, dst netip.AddrPort, msg string) string {
	t.Helper()
	c, err := net.DialTimeout(tcpNetwork(dst), dst.String(), deadline)
	if err != nil {
		t.Fatalf("connect to %s: %v", dst, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(deadline))
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatalf("write to %s: %v", dst, err)
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read from %s: %v", dst, err)
	}
	return string(b)
}

// udpExchange sends msg from c to dst and returns the reply and where it
// came from.
func udpExchange(t *testing.T, c *net.UDPConn, dst netip.AddrPort, msg string) (string, netip.AddrPort) {
	t.Helper()
	if _, err := c.WriteToUDPAddrPort([]byte(msg), dst); err != nil {
		t.Fatalf("send to %s: %v", dst, err)
	}
	_ = c.SetReadDeadline(time.Now().Add(deadline))
	buf := make([]byte, 2048)
	n, from, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("reply from %s: %v", dst, err)
	}
	return string(buf[:n]), netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
}

func udpClient(t *testing.T) *net.UDPConn {
	t.Helper()
	return udpClientOn(t, "udp4")
}

// udpClientOn opens a client socket of network udp4 or udp6.
func udpClientOn(t *testing.T, network string) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP(network, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// oneUDPFlow sends msgs from c to dst and checks that each reply comes back
// from dst through service, and that they all rode one flow (one dial).
func oneUDPFlow(t *testing.T, d *echoDialer, c *net.UDPConn, service string, dst netip.AddrPort, msgs ...string) {
	t.Helper()
	for _, msg := range msgs {
		got, from := udpExchange(t, c, dst, msg)
		if got != service+":"+msg || from != dst {
			t.Errorf("udp %q to %s: got %q from %s", msg, dst, got, from)
		}
	}
	want := config.Destination{Protocol: "udp", IP: dst.Addr().String(), Port: strconv.Itoa(int(dst.Port()))}
	client := strconv.Itoa(c.LocalAddr().(*net.UDPAddr).Port)
	if got := d.dialsOf(service); len(got) != 1 || destinationOnly(got[0].dst) != want ||
		got[0].dst.SrcProtocol != "udp" || got[0].dst.SrcIP == "" || got[0].dst.SrcPort != client || got[0].dst.SourceAddr != "" {
		t.Errorf("dials of %s after one flow: %+v", service, got)
	}
}

// destinationOnly is d without the client's side.
func destinationOnly(d config.Destination) config.Destination {
	d.SrcProtocol, d.SrcIP, d.SrcPort, d.SourceAddr = "", "", "", ""
	return d
}

func managerInNamespace(t *testing.T) {
	// Refuse to touch a namespace that has more than lo: this must be the
	// fresh one unshare made.
	if links := strings.TrimSpace(sh(t, "ip", "-o", "link", "show")); strings.Count(links, "\n") != 0 || !strings.Contains(links, " lo:") {
		t.Fatalf("not a fresh network namespace:\n%s", links)
	}
	// A new namespace has IPv6 unless the host turned it off for new ones.
	sh(t, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=0", "net.ipv6.conf.default.disable_ipv6=0")
	sh(t, "ip", "link", "set", "lo", "up")
	// An uplink with a default route, as on a real host: a client's first
	// route lookup for 10.99.0.7 picks it, and only the output chain's mark
	// with the Manager's policy routing brings the packets back through lo
	// to the TPROXY rules.
	if out, err := exec.Command("ip", "link", "add", "uplink0", "type", "veth", "peer", "name", "uplink1").CombinedOutput(); err == nil {
		sh(t, "ip", "link", "set", "uplink0", "up")
		sh(t, "ip", "link", "set", "uplink1", "up")
		sh(t, "ip", "addr", "add", "192.0.2.1/24", "dev", "uplink0")
		sh(t, "ip", "route", "add", "default", "via", "192.0.2.2", "dev", "uplink0")
		sh(t, "ip", "-6", "addr", "add", "2001:db8:1::1/64", "dev", "uplink0", "nodad")
		sh(t, "ip", "-6", "route", "add", "default", "via", "2001:db8:1::2", "dev", "uplink0")
	} else {
		t.Logf("no veth (%v: %s); the default route goes through lo instead", err, bytes.TrimSpace(out))
		sh(t, "ip", "addr", "add", "192.0.2.1/32", "dev", "lo")
		sh(t, "ip", "route", "add", "default", "dev", "lo", "src", "192.0.2.1")
		sh(t, "ip", "-6", "addr", "add", "2001:db8:1::1/128", "dev", "lo", "nodad")
		sh(t, "ip", "-6", "route", "add", "default", "dev", "lo", "src", "2001:db8:1::1")
	}
	// A table of family ip, as an earlier version of the tunneler left
	// it: Start replaces it.
	leftover := exec.Command("nft", "-f", "-")
	leftover.Stdin = strings.NewReader("table ip " + DefaultSettings.Table + " {\n\tchain output {\n\t\ttype route hook output priority mangle; policy accept;\n\t}\n}\n")
	if out, err := leftover.CombinedOutput(); err != nil {
		t.Fatalf("install an old table: %v: %s", err, out)
	}

	d := &echoDialer{backends: map[string]string{
		"cidr-tcp/tcp":  echoTCP(t, "cidr-tcp"),
		"wide/tcp":      echoTCP(t, "wide"),
		"cidr-udp/udp":  echoUDP(t, "cidr-udp"),
		"named/tcp":     echoTCP(t, "named-tcp"),
		"named/udp":     echoUDP(t, "named-udp"),
		"cidr6-tcp/tcp": echoTCP(t, "cidr6-tcp"),
		"cidr6-udp/udp": echoUDP(t, "cidr6-udp"),
	}}
	counters := &relay.Counters{}
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	m, err := Start(Options{DNSListen: "127.0.0.1:0", Dialer: d, Counters: counters, Logger: log, MaxUDPFlows: 5})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	closed := false
	defer func() {
		if !closed {
			_ = m.Close()
		}
	}()
	ports := func(lo, hi uint16) []config.PortRange { return []config.PortRange{{Low: lo, High: hi}} }
	for name, cfg := range map[string]*config.Intercept{
		"cidr-tcp":  {Protocols: []string{"tcp"}, Addresses: []string{"10.99.0.0/24"}, PortRanges: ports(80, 80), SourceIP: "$src_ip:$src_port"},
		"wide":      {Protocols: []string{"tcp"}, Addresses: []string{"10.0.0.0/8"}, PortRanges: ports(80, 90)},
		"cidr-udp":  {Protocols: []string{"udp"}, Addresses: []string{"10.99.0.0/24"}, PortRanges: ports(53, 53)},
		"named":     {Protocols: []string{"tcp", "udp"}, Addresses: []string{"echo.test"}, PortRanges: ports(7000, 7000)},
		"local":     {Protocols: []string{"tcp", "udp"}, Addresses: []string{"192.0.2.1"}, PortRanges: ports(9000, 9000)},
		"cidr6-tcp": {Protocols: []string{"tcp"}, Addresses: []string{"2001:db8:99::/64"}, PortRanges: ports(80, 80)},
		"cidr6-udp": {Protocols: []string{"udp"}, Addresses: []string{"2001:db8:99::/64"}, PortRanges: ports(53, 53)},
	} {
		if err := m.Set(name, cfg); err != nil {
			t.Fatalf("set %s: %v", name, err)
		}
	}
	if tables := sh(t, "nft", "list", "tables"); strings.TrimSpace(tables) != "table inet "+DefaultSettings.Table {
		t.Errorf("tables after Start:\n%s", tables)
	}
	table := sh(t, "nft", "list", "table", "inet", DefaultSettings.Table)
	for _, want := range []string{
		"ip daddr 10.99.0.0/24 udp dport 53 fib daddr type != local tproxy ip to 127.0.0.1:15001",
		"ip daddr 10.99.0.0/24 tcp dport 80 fib daddr type != local tproxy ip to 127.0.0.1:15001",
		"ip daddr 100.64.0.0/10 udp dport 7000 fib daddr type != local meta mark set",
		"ip6 daddr 2001:db8:99::/64 tcp dport 80 fib daddr type != local tproxy ip6 to [::1]:15001",
		"ip6 daddr 2001:db8:99::/64 udp dport 53 fib daddr type != local tproxy ip6 to [::1]:15001",
		"ip6 daddr 2001:db8:99::/64 tcp dport 80 fib daddr type != local meta mark set",
	} {
		if !strings.Contains(table, want) {
			t.Errorf("the installed table lacks %q:\n%s", want, table)
		}
	}
	for _, rules := range []string{sh(t, "ip", "rule", "show"), sh(t, "ip", "-6", "rule", "show")} {
		if !strings.Contains(rules, "fwmark 0x1 lookup 100") {
			t.Errorf("no fwmark rule:\n%s", rules)
		}
	}

	// TCP to a CIDR address: the most specific service gets it.
	cidrTCP := netip.MustParseAddrPort("10.99.0.7:80")
	if got := tcpExchange(t, cidrTCP, "hello"); got != "cidr-tcp:hello" {
		t.Errorf("tcp to %s got %q", cidrTCP, got)
	}
	// The dial carries the client's address, and the source address its
	// sourceIp asks the host to connect from.
	if got := d.dialsOf("cidr-tcp"); len(got) != 1 || destinationOnly(got[0].dst) != (config.Destination{Protocol: "tcp", IP: "10.99.0.7", Port: "80"}) ||
		got[0].dst.SrcProtocol != "tcp" || got[0].dst.SrcIP != "192.0.2.1" || got[0].dst.SourceAddr != "192.0.2.1:"+got[0].dst.SrcPort {
		t.Errorf("dials of cidr-tcp: %+v", got)
	}
	if got := tcpExchange(t, netip.MustParseAddrPort("10.5.5.5:85"), "wider"); got != "wide:wider" {
		t.Errorf("tcp to 10.5.5.5:85 got %q", got)
	}

	// A hostname: the Manager's DNS server hands out a pool address, and
	// connections to it reach the named service.
	resolver := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var nd net.Dialer
		return nd.DialContext(ctx, "udp4", m.dns.Addr().String())
	}}
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	addrs, err := resolver.LookupNetIP(ctx, "ip4", "echo.test")
	if err != nil || len(addrs) != 1 || !dns.DefaultPool.Contains(addrs[0]) {
		t.Fatalf("resolve echo.test: %v, %v", addrs, err)
	}
	named := netip.AddrPortFrom(addrs[0].Unmap(), 7000)
	if got := tcpExchange(t, named, "by name"); got != "named-tcp:by name" {
		t.Errorf("tcp to echo.test (%s) got %q", named, got)
	}

	// UDP to a CIDR address: the reply comes from the address the client
	// sent to, and a second datagram rides the same flow.
	cidrUDP := netip.MustParseAddrPort("10.99.0.7:53")
	c1 := udpClient(t)
	oneUDPFlow(t, d, c1, "cidr-udp", cidrUDP, "ping", "again")
	// A second client to the same destination gets its own flow (and its
	// own reply socket bound to the same address).
	c2 := udpClient(t)
	if got, from := udpExchange(t, c2, cidrUDP, "second"); got != "cidr-udp:second" || from != cidrUDP {
		t.Errorf("second client: got %q from %s", got, from)
	}
	if got, from := udpExchange(t, c1, cidrUDP, "first again"); got != "cidr-udp:first again" || from != cidrUDP {
		t.Errorf("first client after the second: got %q from %s", got, from)
	}
	if got := len(d.dialsOf("cidr-udp")); got != 2 {
		t.Errorf("cidr-udp dialled %d times for two clients", got)
	}
	// UDP to the hostname's pool address.
	c3 := udpClient(t)
	if got, from := udpExchange(t, c3, named, "dgram"); got != "named-udp:dgram" || from != named {
		t.Errorf("udp to echo.test (%s): got %q from %s", named, got, from)
	}
	if got := d.dialsOf("named"); len(got) != 2 || destinationOnly(got[1].dst) != (config.Destination{Protocol: "udp", IP: named.Addr().String(), Port: "7000", Hostname: "echo.test"}) {
		t.Errorf("dials of named: %+v", got)
	}
	// IPv6: TCP and UDP to a CIDR address reach its services with the
	// destination the client used, and UDP replies come from it.
	cidr6TCP := netip.MustParseAddrPort("[2001:db8:99::7]:80")
	if got := tcpExchange(t, cidr6TCP, "hello6"); got != "cidr6-tcp:hello6" {
		t.Errorf("tcp to %s got %q", cidr6TCP, got)
	}
	if got := d.dialsOf("cidr6-tcp"); len(got) != 1 || destinationOnly(got[0].dst) != (config.Destination{Protocol: "tcp", IP: "2001:db8:99::7", Port: "80"}) {
		t.Errorf("dials of cidr6-tcp: %+v", got)
	}
	cidr6UDP := netip.MustParseAddrPort("[2001:db8:99::7]:53")
	oneUDPFlow(t, d, udpClientOn(t, "udp6"), "cidr6-udp", cidr6UDP, "ping6", "again6")

	// Flows are capped (at 5 here): a fifth flow fits, a sixth is refused
	// without dialling.
	c4 := udpClient(t)
	if got, _ := udpExchange(t, c4, cidrUDP, "fifth"); got != "cidr-udp:fifth" {
		t.Errorf("fifth flow got %q", got)
	}
	failedBefore := counters.Snapshot().Failed
	c5 := udpClient(t)
	if _, err := c5.WriteToUDPAddrPort([]byte("over the cap"), cidrUDP); err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(deadline); counters.Snapshot().Failed == failedBefore; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("a datagram over the flow cap was not refused")
		}
	}
	if got := len(d.dialsOf("cidr-udp")); got != 3 {
		t.Errorf("cidr-udp dialled %d times; the flow over the cap must not dial", got)
	}

	// An address of this host is left to the plain listeners bound on it
	// (as the intercept package opens for IP addresses), for TCP and UDP.
	local := netip.MustParseAddrPort("192.0.2.1:9000")
	plainTCP, err := net.Listen("tcp4", local.String())
	if err != nil {
		t.Fatal(err)
	}
	defer plainTCP.Close()
	go func() {
		for {
			c, err := plainTCP.Accept()
			if err != nil {
				return
			}
			b, _ := io.ReadAll(c)
			_, _ = c.Write(append([]byte("plain:"), b...))
			_ = c.Close()
		}
	}()
	plainUDP, err := net.ListenPacket("udp4", local.String())
	if err != nil {
		t.Fatal(err)
	}
	defer plainUDP.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := plainUDP.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = plainUDP.WriteTo(append([]byte("plain:"), buf[:n]...), from)
		}
	}()
	if got := tcpExchange(t, local, "mine"); got != "plain:mine" {
		t.Errorf("tcp to this host's %s got %q", local, got)
	}
	if got, from := udpExchange(t, udpClient(t), local, "mine"); got != "plain:mine" || from != local {
		t.Errorf("udp to this host's %s: got %q from %s", local, got, from)
	}
	if got := d.dialsOf("local"); len(got) != 0 {
		t.Errorf("this host's address was carried into the service: %+v", got)
	}

	// The tunneler's own sockets carry the bypass mark and are never
	// steered: a connection to an intercepted CIDR goes out the uplink
	// (where nothing answers) instead of into the service.
	dialsBefore := len(d.dialsOf("cidr-tcp"))
	bypass := net.Dialer{Timeout: time.Second, Control: DefaultSettings.BypassControl()}
	if c, err := bypass.Dial("tcp4", cidrTCP.String()); err == nil {
		_ = c.Close()
		t.Error("a socket with the bypass mark was intercepted")
	}
	if got := len(d.dialsOf("cidr-tcp")); got != dialsBefore {
		t.Errorf("a socket with the bypass mark reached the service (%d dials, had %d)", got, dialsBefore)
	}
	if c, err := bypass.Dial("tcp6", cidr6TCP.String()); err == nil {
		_ = c.Close()
		t.Error("an IPv6 socket with the bypass mark was intercepted")
	}
	if got := len(d.dialsOf("cidr6-tcp")); got != 1 {
		t.Errorf("an IPv6 socket with the bypass mark reached the service (%d dials)", got)
	}

	// Close removes the table and the policy routing.
	closed = true
	if err := m.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	assertCleanedUp(t)
	for _, dst := range []netip.AddrPort{cidrTCP, cidr6TCP} {
		if c, err := net.DialTimeout(tcpNetwork(dst), dst.String(), time.Second); err == nil {
			_ = c.Close()
			t.Errorf("a connection to the CIDR address %s still succeeds after Close", dst)
		}
	}

	// With IPv6 turned off on the host, Start still intercepts IPv4 and
	// writes no IPv6 rules.
	sh(t, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1")
	m, err = Start(Options{DNSListen: "127.0.0.1:0", Dialer: d, Counters: counters, Logger: log})
	if err != nil {
		t.Fatalf("start without IPv6: %v", err)
	}
	for _, name := range []string{"cidr-tcp", "cidr6-tcp"} {
		if err := m.Set(name, &config.Intercept{Protocols: []string{"tcp"}, Addresses: []string{map[string]string{
			"cidr-tcp": "10.99.0.0/24", "cidr6-tcp": "2001:db8:99::/64"}[name]}, PortRanges: ports(80, 80)}); err != nil {
			_ = m.Close()
			t.Fatalf("set %s without IPv6: %v", name, err)
		}
	}
	if table := sh(t, "nft", "list", "table", "inet", DefaultSettings.Table); strings.Contains(table, "ip6") || !strings.Contains(table, "tproxy ip to 127.0.0.1:15001") {
		t.Errorf("the table without IPv6:\n%s", table)
	}
	if got := tcpExchange(t, cidrTCP, "v4 only"); got != "cidr-tcp:v4 only" {
		t.Errorf("tcp to %s without IPv6 got %q", cidrTCP, got)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("close without IPv6: %v", err)
	}
	assertCleanedUp(t)
}

// assertCleanedUp checks that no table of either family, no fwmark rule
// and no route of the routing table are left.
func assertCleanedUp(t *testing.T) {
	t.Helper()
	if tables := sh(t, "nft", "list", "tables"); strings.Contains(tables, DefaultSettings.Table) {
		t.Errorf("a table is still there after Close:\n%s", tables)
	}
	for _, family := range []string{"-4", "-6"} {
		if out, err := exec.Command("ip", family, "rule", "show").CombinedOutput(); strings.Contains(string(out), "fwmark") {
			t.Errorf("the fwmark rule (%s) is still there after Close (%v):\n%s", family, err, out)
		}
		if out, err := exec.Command("ip", family, "route", "show", "table", fmt.Sprint(DefaultSettings.RouteTable)).CombinedOutput(); err == nil && len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("routing table %d (%s) is not empty after Close:\n%s", DefaultSettings.RouteTable, family, out)
		}
	}
}

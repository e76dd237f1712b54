package e2e

import (
	"fmt"
	"net"
	"testing"

	"github.com/ostium-net/ostium/internal/ops"
	"github.com/ostium-net/ostium/internal/ops/opstest"
	"github.com/ostium-net/ostium/tests/harness"
)

// TestTunnelerMetrics carries plain TCP connections through two tunnelers (intercept on one,
// host on the other) and one to a target that is down, and scrapes each tunneler's counters
// from an ops listener over HTTP.
func TestTunnelerMetrics(t *testing.T) {
	n := harness.Start(t)
	n.OpenPolicies()
	n.Router("router-1")
	echo := plainEchoServer(t)
	port, downPort := freePort(t), freePort(t)
	tunnelService(n, "ops-echo", port, echo)
	tunnelService(n, "ops-down", downPort, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: freePort(t)})

	hostSide := runTunneler(t, tunnelContext(t, n, n.Identity("ops-host-tunneler", "ops-echo-bind", "ops-down-bind")), n, "host")
	clientSide := runTunneler(t, tunnelContext(t, n, n.Identity("ops-client-tunneler", "ops-echo-dial", "ops-down-dial")), n, "client")
	clientReg, hostReg := ops.NewRegistry(), ops.NewRegistry()
	clientReg.MustRegister(clientSide.Collector())
	hostReg.MustRegister(hostSide.Collector())
	clientOps, err := ops.Start(ops.Config{Listen: "127.0.0.1:0"}, clientReg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = clientOps.Close() })
	hostOps, err := ops.Start(ops.Config{Listen: "127.0.0.1:0"}, hostReg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = hostOps.Close() })

	addr := fmt.Sprintf("127.0.0.1:%d", port)
	eventually(t, "plain client → intercept → router → host → plain server", func() error {
		return plainRoundTrip(addr, 4096, 1)
	})
	for i := range 3 {
		if err := plainRoundTrip(addr, 64<<10, uint64(20+i)); err != nil {
			t.Fatal(err)
		}
	}
	downAddr := fmt.Sprintf("127.0.0.1:%d", downPort)
	eventually(t, "the intercept of a service whose target is down", func() error {
		c, err := net.Dial("tcp", downAddr)
		if err != nil {
			return err
		}
		_ = c.Close()
		return nil
	})
	_ = plainRoundTrip(downAddr, 16, 3) // refused by the host: its target is down

	eventually(t, "the counters of both tunnelers", func() error {
		cm, hm := opstest.Scrape(t, clientOps.Addr()), opstest.Scrape(t, hostOps.Addr())
		for _, c := range []struct {
			m      opstest.Metrics
			name   string
			labels []string
			min    float64
		}{
			{cm, "ostium_tunnel_connections_total", []string{"side", "intercept"}, 4},
			{cm, "ostium_tunnel_bytes_total", []string{"side", "intercept", "direction", "sent"}, 3 * 64 << 10},
			{cm, "ostium_tunnel_bytes_total", []string{"side", "intercept", "direction", "received"}, 3 * 64 << 10},
			{cm, "ostium_tunnel_dial_failures_total", []string{"side", "intercept"}, 1},
			{cm, "ostium_tunnel_services", []string{"side", "intercept"}, 2},
			{cm, "ostium_tunnel_listeners", nil, 2},
			{hm, "ostium_tunnel_connections_total", []string{"side", "host"}, 4},
			{hm, "ostium_tunnel_bytes_total", []string{"side", "host", "direction", "received"}, 3 * 64 << 10},
			{hm, "ostium_tunnel_dial_failures_total", []string{"side", "host"}, 1},
			{hm, "ostium_tunnel_services", []string{"side", "host"}, 2},
		} {
			if got := c.m.Value(t, c.name, c.labels...); got < c.min {
				return fmt.Errorf("%s%v = %v, want at least %v", c.name, c.labels, got, c.min)
			}
		}
		for _, m := range []opstest.Metrics{cm, hm} {
			m.CheckBounded(t, []string{"side", "direction"}, "ops-echo", "ops-down", "ops-host-tunneler", "ops-client-tunneler")
		}
		return nil
	})
}

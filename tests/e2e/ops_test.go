package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/ostium-net/ostium/controller"
	"github.com/ostium-net/ostium/internal/ops"
	"github.com/ostium-net/ostium/internal/ops/opstest"
	"github.com/ostium-net/ostium/router"
	"github.com/ostium-net/ostium/tests/harness"
)

// TestOpsMetricsAfterRealTraffic runs a controller and two linked routers with their ops
// listeners, carries bytes across both routers and fails a dial, then scrapes each /metrics
// over HTTP: the counters moved, and no id of an identity, service, session, circuit or router
// is a label value.
func TestOpsMetricsAfterRealTraffic(t *testing.T) {
	n := harness.StartWith(t, func(c *controller.Config) { c.Ops = ops.Config{Listen: "127.0.0.1:0"} })
	serviceID := n.Service("ops-echo", false)
	emptyID := n.Service("ops-empty", false)
	n.Create("/service-edge-router-policies", map[string]any{"name": "all", "semantic": "AnyOf", "serviceRoles": []string{"#all"}, "edgeRouterRoles": []string{"#all"}})
	a := n.RouterWith("ops-a", func(c *router.Config) { c.Ops = ops.Config{Listen: "127.0.0.1:0"}; harness.LinkListen(c) })
	b := n.RouterWith("ops-b", func(c *router.Config) { c.Ops = ops.Config{Listen: "127.0.0.1:0", Pprof: true} })
	n.Create("/edge-router-policies", map[string]any{"name": "client-on-a", "semantic": "AnyOf", "identityRoles": []string{"#ops-client"}, "edgeRouterRoles": []string{"@" + a.ID}})
	n.Create("/edge-router-policies", map[string]any{"name": "host-on-b", "semantic": "AnyOf", "identityRoles": []string{"#ops-host"}, "edgeRouterRoles": []string{"@" + b.ID}})
	host := n.Context(n.Identity("ops-host", "ops-echo-bind", "ops-host"))
	client := n.Context(n.Identity("ops-client", "ops-echo-dial", "ops-empty-dial", "ops-client"))
	ln, err := host.Listen("ops-echo")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go serveEcho(ln)
	aOps, bOps := a.Running().OpsAddr(), b.Running().OpsAddr()
	if aOps == "" || bOps == "" || n.Ctl.OpsAddr() == "" {
		t.Fatalf("ops listeners: router a %q, router b %q, controller %q", aOps, bOps, n.Ctl.OpsAddr())
	}
	waitFor(t, "a terminator of ops-echo on router a", func() bool { return len(a.Running().Mesh().Terminators(serviceID)) > 0 })

	// A circuit from a client on A to the host on B, across their link.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := client.Dial(ctx, "ops-echo")
	if err != nil {
		t.Fatal(err)
	}
	const msg = "bytes counted by the routers"
	for range 10 {
		if err := echoOnce(conn, msg); err != nil {
			t.Fatal(err)
		}
	}
	var circuitIDs []string
	for _, c := range a.Running().Edge().Circuits() {
		circuitIDs = append(circuitIDs, c.ID)
	}
	// A dial of a service nobody hosts fails on router A.
	if c, err := client.Dial(ctx, "ops-empty"); err == nil {
		_ = c.Close()
		t.Fatal("dialed a service nobody hosts")
	}

	ma := opstest.Scrape(t, aOps)
	for _, want := range []struct {
		name   string
		labels []string
		min    float64
	}{
		{"ostium_router_circuits_total", nil, 1},
		{"ostium_router_circuits", nil, 1},
		{"ostium_router_dial_duration_seconds", nil, 1},
		{"ostium_router_dial_failures_total", []string{"reason", "no_terminator"}, 1},
		{"ostium_router_circuit_bytes_total", []string{"direction", "up"}, 10 * float64(len(msg))},
		{"ostium_router_circuit_bytes_total", []string{"direction", "down"}, 10 * float64(len(msg))},
		{"ostium_router_edge_connections", nil, 1},
		{"ostium_router_links", nil, 1},
		{"ostium_router_link_circuits", nil, 1},
		{"ostium_router_control_channel_up", nil, 1},
		{"ostium_router_control_channel_synced", nil, 1},
		{"ostium_router_control_channel_connects_total", nil, 1},
	} {
		if got := ma.Value(t, want.name, want.labels...); got < want.min {
			t.Errorf("router a: %s%v = %v, want at least %v", want.name, want.labels, got, want.min)
		}
	}
	if got := ma.Value(t, "ostium_router_dial_failures_total", "reason", "host_refused"); got != 0 {
		t.Errorf("router a counted %v host refusals", got)
	}
	mb := opstest.Scrape(t, bOps)
	if got := mb.Value(t, "ostium_router_terminators"); got != 1 {
		t.Errorf("router b: %v terminators, want 1", got)
	}
	if got := mb.Value(t, "ostium_router_circuits_total"); got < 1 {
		t.Errorf("router b counted no circuit arriving over the link")
	}
	// Links are probed every couple of seconds.
	waitFor(t, "a measured link round trip", func() bool {
		v, _ := opstest.Scrape(t, aOps).Sum("ostium_router_link_latency_seconds")
		return v >= 1
	})

	// The controller saw the routers, the sessions and the logins.
	mc := opstest.Scrape(t, n.Ctl.OpsAddr())
	for _, want := range []struct {
		name   string
		labels []string
		min    float64
	}{
		{"ostium_routers_online", nil, 2},
		{"ostium_api_sessions", nil, 3},
		{"ostium_sessions", nil, 2},
		{"ostium_authentications_total", []string{"method", "cert", "result", "success"}, 2},
		{"ostium_api_requests_total", []string{"api", "client", "operation", "createSession"}, 2},
	} {
		if got := mc.Value(t, want.name, want.labels...); got < want.min {
			t.Errorf("controller: %s%v = %v, want at least %v", want.name, want.labels, got, want.min)
		}
	}

	// No id is a label value anywhere.
	forbidden := append([]string{serviceID, emptyID, a.ID, b.ID, "ops-a", "ops-b", "ops-echo", "ops-client", "ops-host"}, circuitIDs...)
	for _, kind := range []string{"/identities", "/api-sessions", "/sessions"} {
		var list []struct {
			ID string `json:"id"`
		}
		n.Mgmt("GET", kind, nil, &list)
		for _, e := range list {
			forbidden = append(forbidden, e.ID)
		}
	}
	labels := []string{"api", "operation", "status", "method", "result", "role", "reason", "direction"}
	for _, m := range []opstest.Metrics{ma, mb, mc} {
		m.CheckBounded(t, labels, forbidden...)
	}

	// Health and the profiler, on the routers' ops listeners.
	for _, addr := range []string{aOps, bOps} {
		status, rep := opstest.Health(t, addr)
		if status != 200 || rep["status"] != "ok" || rep["controlChannel"] != "connected" || rep["synced"] != true {
			t.Errorf("router /health at %s: %d %v", addr, status, rep)
		}
	}
	if status, _ := opstest.Get(t, aOps, "/debug/pprof/"); status != 404 {
		t.Errorf("router a serves pprof without ops.pprof: %d", status)
	}
	if status, _ := opstest.Get(t, bOps, "/debug/pprof/"); status != 200 {
		t.Errorf("router b does not serve pprof with ops.pprof: %d", status)
	}

	// Closed circuits keep their bytes in the counters.
	_ = conn.Close()
	waitFor(t, "the circuit to close on router a", func() bool { return len(a.Running().Edge().Circuits()) == 0 })
	after := opstest.Scrape(t, aOps)
	if got := after.Value(t, "ostium_router_circuit_bytes_total", "direction", "up"); got < 10*float64(len(msg)) {
		t.Errorf("bytes up fell to %v once the circuit closed", got)
	}
	if got := after.Value(t, "ostium_router_circuits"); got != 0 {
		t.Errorf("%v circuits open after the close", got)
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

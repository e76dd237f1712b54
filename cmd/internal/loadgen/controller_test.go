package loadgen_test

import (
	"context"
	"crypto/tls"
	"log/slog"
	"testing"
	"time"

	"github.com/ostium-net/ostium/cmd/internal/loadgen"
	"github.com/ostium-net/ostium/internal/gcfloor"
	"github.com/ostium-net/ostium/tests/harness"
)

// network starts a controller and a router with one dialable service, and
// returns a load generator for it: an enrolled identity's certificate and
// an administrator's session.
func network(t testing.TB) loadgen.Controller {
	n := harness.Start(t)
	n.OpenPolicies()
	n.Service("bench-svc", false)
	n.Router("bench-router")
	id := n.Identity("bench-client", "bench-svc-dial")
	var admin struct {
		Token string `json:"token"`
	}
	n.Mgmt("POST", "/authenticate?method=password", map[string]string{"username": "admin", "password": harness.AdminPassword}, &admin)
	cert := &tls.Certificate{PrivateKey: id.Key}
	for _, c := range id.Chain {
		cert.Certificate = append(cert.Certificate, c.Raw)
	}
	return loadgen.Controller{URL: n.URL(), CAs: id.CAs, Cert: cert, Service: "bench-svc", AdminToken: admin.Token}
}

// TestControllerScenarios runs every controller scenario briefly against a
// real controller and router: each completes operations and none fails. The
// runs count operations, not time, so a slow machine only makes them slower.
func TestControllerScenarios(t *testing.T) {
	c := network(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, s := range []struct {
		name string
		op   loadgen.Scenario
	}{
		{"cert-auth", c.CertAuth},
		{"cycle", c.Cycle},
		{"create", c.Create},
		{"list-contains", c.List(`name contains "loadgen"`)},
	} {
		r := c.RunN(ctx, s.name, 2, 6, s.op)
		t.Log(r)
		if r.Ops != 6 || r.Errors != 0 || r.P50 <= 0 || r.Scenario != s.name {
			t.Errorf("%s: %+v", s.name, r)
		}
	}
	// A timed run ends its clients' requests at its end without counting them as failures.
	if r := c.Run(ctx, "cert-auth-timed", 4, 300*time.Millisecond, c.CertAuth); r.Ops == 0 || r.Errors != 0 {
		t.Errorf("a timed run: %+v", r)
	}
	// RunN makes exactly the operations asked for, whatever the clients.
	if r := c.RunN(ctx, "create-n", 3, 7, c.Create); r.Ops+r.Errors != 7 || r.Errors != 0 {
		t.Errorf("RunN of 7 creates at 3 clients: %+v", r)
	}
	// A scenario that fails is counted as failing, not as done.
	bad := c
	bad.Service = "no-such-service"
	if r := bad.RunN(ctx, "cycle-bad", 1, 2, bad.Cycle); r.Ops != 0 || r.Errors != 2 {
		t.Errorf("a cycle towards a missing service: %+v", r)
	}
}

// BenchmarkController measures the controller's hot paths at 8 clients on
// this machine (load generator included): certificate sign-ins, whole
// client cycles, management creates and filtered lists. Rates are reported
// per second; the benchmark's own ns/op is the duration of one pass.
func BenchmarkController(b *testing.B) {
	// The controller measured runs in this process: its collector is paced
	// as a controller's is (see ostium-controller run).
	floor, err := gcfloor.FloorFromEnv()
	if err != nil {
		b.Fatal(err)
	}
	gcfloor.Keep(b.Context(), floor, slog.New(slog.DiscardHandler))
	c := network(b)
	ctx := context.Background()
	const clients = 8
	for b.Loop() {
		for _, s := range []struct {
			name string
			op   loadgen.Scenario
		}{
			{"cert-auth", c.CertAuth},
			{"cycle", c.Cycle},
			{"create", c.Create},
			{"list-contains", c.List(`name contains "loadgen-1"`)},
		} {
			r := c.Run(ctx, s.name, clients, 3*time.Second, s.op)
			b.Log(r)
			b.ReportMetric(r.Rate(), s.name+"/s")
			b.ReportMetric(float64(r.P99.Microseconds())/1000, s.name+"-p99-ms")
			if r.Errors > 0 {
				b.Errorf("%s: %d errors", s.name, r.Errors)
			}
		}
	}
}

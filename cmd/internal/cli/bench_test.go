package cli_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ostium-net/ostium/cmd/internal/cli"
	"github.com/ostium-net/ostium/cmd/internal/loadgen"
	"github.com/ostium-net/ostium/tests/harness"
)

// TestBenchDataplane runs `ostium bench dataplane` against a real network,
// hosting the echo itself: it prints the Ostium path's and the TLS relay
// chain's results as JSON, all with work done and none failed, and in
// text the ratios between them.
func TestBenchDataplane(t *testing.T) {
	n := harness.Start(t)
	n.OpenPolicies()
	n.Service("bench-echo", false)
	n.Router("bench-router")
	dir := t.TempDir()
	clientFile, hostFile := filepath.Join(dir, "client.json"), filepath.Join(dir, "host.json")
	if err := n.Identity("bench-client", "bench-echo-dial").Save(clientFile); err != nil {
		t.Fatal(err)
	}
	if err := n.Identity("bench-host", "bench-echo-bind").Save(hostFile); err != nil {
		t.Fatal(err)
	}
	tm := newTerm(t)
	args := []string{"bench", "dataplane", "--identity", clientFile, "--host-identity", hostFile, "--service", "bench-echo",
		"--duration", "300ms", "--concurrency", "2"}
	var results []loadgen.Result
	if err := json.Unmarshal([]byte(tm.ok(append(args, "--json")...)), &results); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range results {
		names = append(names, r.Scenario)
		if r.Ops == 0 || r.Errors != 0 || r.Bytes == 0 || r.Concurrency != 2 {
			t.Errorf("%+v", r)
		}
	}
	if got := strings.Join(names, ","); got != "ostium-bulk,ostium-rtt,tls-relay-bulk,tls-relay-rtt" {
		t.Errorf("scenarios %s", got)
	}
	out := tm.ok(args...)
	for _, want := range []string{"ostium-bulk", "tls-relay-rtt", "MB/s", "throughput: ", "× the TLS relay chain", "round trip p50: "} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// Without a host the service has no terminator: the dial fails, once.
	tm.fails(cli.ExitError, "dial", "bench", "dataplane", "--identity", clientFile, "--service", "bench-echo", "--duration", "100ms")

	// The controller scenarios run as the identity; creates and lists as
	// the administrator logged in.
	tm.fails(cli.ExitUnauthorized, "not logged in", "bench", "controller", "--identity", clientFile, "--service", "bench-echo",
		"--duration", "100ms", "--scenarios", "create")
	if err := json.Unmarshal([]byte(tm.ok("bench", "controller", "--identity", clientFile, "--service", "bench-echo",
		"--duration", "200ms", "--concurrency", "2", "--json")), &results); err != nil {
		t.Fatal(err)
	}
	if len(results) != 2 || results[0].Scenario != "cert-auth" || results[1].Scenario != "cycle" || results[0].Ops == 0 ||
		results[1].Ops == 0 || results[0].Errors+results[1].Errors != 0 {
		t.Errorf("controller results %+v", results)
	}
}

func TestBenchUsage(t *testing.T) {
	tm := newTerm(t)
	tm.fails(cli.ExitUsage, "--identity is required", "bench", "dataplane", "--service", "s")
	tm.fails(cli.ExitUsage, "--service is required", "bench", "dataplane", "--identity", "f")
	tm.fails(cli.ExitUsage, "--concurrency", "bench", "dataplane", "--identity", "f", "--service", "s", "--concurrency", "0")
	tm.fails(cli.ExitUsage, "--duration", "bench", "controller", "--identity", "f", "--service", "s", "--duration", "-1s")
	tm.fails(cli.ExitUsage, "unknown scenario", "bench", "controller", "--identity", "f", "--service", "s", "--scenarios", "cert-auth,bogus")
}

package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ostium-net/ostium/internal/ops"
	"github.com/ostium-net/ostium/internal/ops/opstest"
	"github.com/ostium-net/ostium/tunnel"
	"github.com/ostium-net/ostium/tunnel/relay"
)

// TestExampleConfigParses keeps etc/tunnel.yml in step with the decoder.
func TestExampleConfigParses(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "..", "etc", "tunnel.yml"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := parseFileConfig(data)
	if err != nil {
		t.Fatal(err)
	}
	if c.Identity == "" || c.Poll != 5*time.Second || c.MaxPorts != 256 || c.Intercept == nil || !*c.Intercept ||
		c.TProxy.Enabled || c.TProxy.DNSPool != "100.64.0.0/10" || c.Log.Format != "text" || c.Posture == nil || !*c.Posture ||
		c.MFA.CodeFile != "" || len(c.MFA.CodeCommand) != 0 {
		t.Fatalf("decoded %+v", c)
	}
}

func TestParseFileConfigRejects(t *testing.T) {
	for _, bad := range []string{
		"unknownKey: 1\n",
		"poll: -1s\n",
		"poll: soon\n",
		"maxPorts: -3\n",
		"tproxy: {dnsPool: 100.64.0.0}\n",
		"tproxy: {listen: localhost}\n",
		"tproxy: {listen6: 127.0.0.1:15001}\n",
		"tproxy: {listen6: soon}\n",
		"proxy: [nocolon]\n",
		"log: {level: loud}\n",
		"log: {format: xml}\n",
		"mfa: {codeFile: /run/code, codeCommand: [totp]}\n",
		"mfa: {codeCommand: [\"\"]}\n",
		"mfa: {codeFile: [a]}\n",
		"posture: maybe\n",
	} {
		if _, err := parseFileConfig([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	if c, err := parseFileConfig(nil); err != nil || c.Identity != "" {
		t.Fatalf("empty file: %+v %v", c, err)
	}
}

func FuzzParseFileConfig(f *testing.F) {
	f.Add("identity: a.json\npoll: 1s\nproxy: [web:80]\n")
	f.Add("tproxy:\n  enabled: true\n  dnsPool: 10.0.0.0/8\n")
	f.Add("log: {level: debug, format: json}\n")
	f.Add("ops: {listen: 127.0.0.1:9092, pprof: true}\n")
	f.Add("posture: false\nmfa: {codeCommand: [oathtool, --totp, -b, X]}\n")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseFileConfig([]byte(s))
		if err != nil {
			return
		}
		if c.Poll < 0 || c.MaxPorts < 0 {
			t.Fatalf("accepted negative values: %+v", c)
		}
	})
}

func TestParseFileConfigOps(t *testing.T) {
	c, err := parseFileConfig([]byte("ops:\n  listen: 127.0.0.1:9092\n  pprof: true\n"))
	if err != nil || c.Ops.Listen != "127.0.0.1:9092" || !c.Ops.Pprof {
		t.Fatalf("ops = %+v, %v", c.Ops, err)
	}
	for _, bad := range []string{"ops: {listen: 9092}\n", "ops: {listen: \"127.0.0.1:\"}\n", "ops: {pprof: true}\n", "ops: {listen: 127.0.0.1:99999}\n"} {
		_, err := parseFileConfig([]byte(bad))
		if err == nil || !strings.Contains(err.Error(), "ops.") {
			t.Errorf("%q: %v, want an error naming the ops field", bad, err)
		}
	}
}

// TestOpsListener: the tunneler's ops listener answers 503 while it signs in,
// then 200 and its counters.
func TestOpsListener(t *testing.T) {
	o, err := startOps(ops.Config{Listen: "127.0.0.1:0"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer o.close()
	if status, rep := opstest.Health(t, o.srv.Addr()); status != 503 || rep["status"] != "starting" {
		t.Fatalf("health while signing in: %d %v", status, rep)
	}
	o.serve(func() tunnel.Stats {
		return tunnel.Stats{Intercepted: []string{"web"}, Listeners: 1, Intercept: relay.CounterSnapshot{Opened: 3, Failed: 1, BytesSent: 10}}
	})
	if status, rep := opstest.Health(t, o.srv.Addr()); status != 200 || rep["status"] != "ok" || rep["intercepted"] != 1.0 {
		t.Fatalf("health once running: %d %v", status, rep)
	}
	m := opstest.Scrape(t, o.srv.Addr())
	if m.Value(t, "ostium_tunnel_connections_total", "side", "intercept") != 3 || m.Value(t, "ostium_tunnel_dial_failures_total", "side", "intercept") != 1 ||
		m.Value(t, "ostium_tunnel_bytes_total", "side", "intercept", "direction", "sent") != 10 {
		t.Fatalf("metrics: %v", m)
	}
	if status, _ := opstest.Get(t, o.srv.Addr(), "/debug/pprof/"); status != 404 {
		t.Fatalf("pprof without --pprof: %d", status)
	}
	if none, err := startOps(ops.Config{}, nil); none != nil || err != nil {
		t.Fatalf("no listener configured: %v %v", none, err)
	}
}

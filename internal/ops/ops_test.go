package ops_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ostium-net/ostium/internal/ops"
	"github.com/ostium-net/ostium/internal/ops/opstest"
)

func TestServerRoutes(t *testing.T) {
	reg := ops.NewRegistry()
	hits := prometheus.NewCounter(prometheus.CounterOpts{Name: "ostium_test_hits_total", Help: "Hits."})
	if err := ops.Register(reg, hits); err != nil {
		t.Fatal(err)
	}
	if err := ops.Register(reg, hits); err == nil {
		t.Fatal("a collector registered twice was accepted")
	}
	hits.Add(3)
	healthy := true
	health := ops.HealthHandler(func(context.Context) (bool, any) { return healthy, map[string]any{"up": healthy} })
	for _, pprof := range []bool{false, true} {
		s, err := ops.Start(ops.Config{Listen: "127.0.0.1:0", Pprof: pprof}, reg, health, nil)
		if err != nil {
			t.Fatal(err)
		}
		m := opstest.Scrape(t, s.Addr())
		if got := m.Value(t, "ostium_test_hits_total"); got != 3 {
			t.Errorf("hits = %v", got)
		}
		if _, ok := m.Sum("go_goroutines"); !ok {
			t.Error("no Go runtime metrics")
		}
		healthy = true
		if status, rep := opstest.Health(t, s.Addr()); status != 200 || rep["up"] != true {
			t.Errorf("healthy: %d %v", status, rep)
		}
		healthy = false
		if status, rep := opstest.Health(t, s.Addr()); status != 503 || rep["up"] != false {
			t.Errorf("unhealthy: %d %v", status, rep)
		}
		resp, err := http.Post("http://"+s.Addr()+"/health", "application/json", strings.NewReader("{"))
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != 405 {
			t.Errorf("POST /health: %d", resp.StatusCode)
		}
		want := 404
		if pprof {
			want = 200
		}
		if status, _ := opstest.Get(t, s.Addr(), "/debug/pprof/"); status != want {
			t.Errorf("pprof %v: /debug/pprof/ answered %d, want %d", pprof, status, want)
		}
		if status, _ := opstest.Get(t, s.Addr(), "/nothing"); status != 404 {
			t.Errorf("/nothing: %d", status)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestStartRefusesBadAddresses(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	if _, err := ops.Start(ops.Config{Listen: busy.Addr().String()}, ops.NewRegistry(), nil, nil); err == nil ||
		!strings.Contains(err.Error(), busy.Addr().String()) {
		t.Fatalf("a taken port: %v", err)
	}
	if _, err := ops.Start(ops.Config{}, ops.NewRegistry(), nil, nil); err == nil {
		t.Fatal("started without an address")
	}
}

func TestConfigValidate(t *testing.T) {
	for _, good := range []ops.Config{{}, {Listen: "127.0.0.1:9090"}, {Listen: ":9090", Pprof: true}, {Listen: "[::1]:0"}, {Listen: "localhost:9090"}} {
		if err := good.Validate(); err != nil {
			t.Errorf("%+v: %v", good, err)
		}
	}
	for _, bad := range []ops.Config{{Listen: "9090"}, {Listen: "127.0.0.1"}, {Listen: "127.0.0.1:http"}, {Listen: "127.0.0.1:70000"},
		{Listen: "a/b:1"}, {Pprof: true}} {
		err := bad.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), "ops.") {
			t.Errorf("%+v: %v, want an error naming the field", bad, err)
		}
	}
}

func FuzzConfigValidate(f *testing.F) {
	for _, s := range []string{"127.0.0.1:9090", "", ":0", "[::1]:1", "x", "a:b:c", "h:-1"} {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, listen string, pprof bool) {
		c := ops.Config{Listen: listen, Pprof: pprof}
		if c.Validate() != nil {
			return
		}
		if c.Enabled() {
			if _, _, err := net.SplitHostPort(listen); err != nil {
				t.Fatalf("accepted %q: %v", listen, err)
			}
		} else if pprof {
			t.Fatal("accepted pprof without a listener")
		}
	})
}

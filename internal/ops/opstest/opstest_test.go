package opstest

import (
	"context"
	"log/slog"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ostium-net/ostium/internal/ops"
)

// recorder is a testing.TB that keeps the failures CheckBounded reports.
type recorder struct {
	testing.TB
	failures int
}

func (r *recorder) Helper()               {}
func (r *recorder) Errorf(string, ...any) { r.failures++ }

// TestScrapeAndHealthOfARealOpsListener serves a registry and a health check
// on a real ops listener and reads them back the way the tests do.
func TestScrapeAndHealthOfARealOpsListener(t *testing.T) {
	reg := ops.NewRegistry()
	reqs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ostium_demo_requests_total", Help: "demo"}, []string{"method", "status"})
	open := prometheus.NewGauge(prometheus.GaugeOpts{Name: "ostium_demo_open", Help: "demo"})
	if err := ops.Register(reg, reqs, open); err != nil {
		t.Fatal(err)
	}
	reqs.WithLabelValues("GET", "200").Add(3)
	reqs.WithLabelValues("POST", "200").Add(2)
	reqs.WithLabelValues("POST", "500").Inc()
	open.Set(7)
	var healthy atomic.Bool
	healthy.Store(true)
	health := ops.HealthHandler(func(context.Context) (bool, any) { return healthy.Load(), map[string]any{"role": "leader"} })
	srv, err := ops.Start(ops.Config{Listen: "127.0.0.1:0"}, ops.Gatherer(reg), health, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })

	ms := Scrape(t, srv.Addr())
	if got := ms.Value(t, "ostium_demo_requests_total"); got != 6 {
		t.Errorf("all requests: %v, want 6", got)
	}
	if got := ms.Value(t, "ostium_demo_requests_total", "method", "POST", "status", "200"); got != 2 {
		t.Errorf("POST 200: %v, want 2", got)
	}
	if got := ms.Value(t, "ostium_demo_open"); got != 7 {
		t.Errorf("open: %v, want 7", got)
	}
	if _, ok := ms.Sum("ostium_missing"); ok {
		t.Error("a missing family was found")
	}
	if got := ms.LabelValues("ostium_demo_requests_total", "status"); !slices.Equal(got, []string{"200", "500"}) {
		t.Errorf("status values %v", got)
	}
	if got := ms.LabelNames("ostium_demo_requests_total"); !slices.Equal(got, []string{"method", "status"}) {
		t.Errorf("label names %v", got)
	}
	ms.CheckBounded(t, []string{"method", "status"})
	r := &recorder{TB: t}
	ms.CheckBounded(r, []string{"method"}, "500")
	if r.failures == 0 {
		t.Error("an unbounded label and a forbidden value passed")
	}

	if status, data := Health(t, srv.Addr()); status != 200 || data["role"] != "leader" {
		t.Errorf("health: %d %v", status, data)
	}
	healthy.Store(false)
	if status, _ := Health(t, srv.Addr()); status != 503 {
		t.Errorf("unhealthy: %d, want 503", status)
	}
}

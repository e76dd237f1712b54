package restarts

import (
	"testing"
	"time"

	"github.com/ostium-net/ostium/controller"
	"github.com/ostium-net/ostium/internal/gcfloor"
	"github.com/ostium-net/ostium/internal/ops/opstest"
)

// TestTheControllerProcessPacesItsCollector: ostium-controller run keeps the collector's floor
// (internal/gcfloor), so its small live heap gets a GC percent well above GOGC's 100, as its
// own metrics report.
func TestTheControllerProcessPacesItsCollector(t *testing.T) {
	// The process inherits this environment: its collector settings are the defaults.
	t.Setenv("GOGC", "")
	t.Setenv(gcfloor.FloorEnv, "")
	var opsAddr string
	startNetwork(t, func(cfg *controller.Config) {
		opsAddr = freeAddr(t)
		cfg.Ops.Listen = opsAddr
	})
	var percent float64
	waitFor(t, "a GC percent above 100 in the controller's metrics", 30*time.Second, func() bool {
		v, ok := opstest.Scrape(t, opsAddr).Sum("go_gc_gogc_percent")
		percent = v
		return ok && v > 100
	})
	// The floor is 128 MiB past the live heap, and a controller that has just started holds
	// far less than 128 MiB, so the percent is at least twice GOGC's.
	if percent < 200 {
		t.Errorf("go_gc_gogc_percent = %v", percent)
	}
}

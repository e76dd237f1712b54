package restarts

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ostium-net/ostium/controller"
	"github.com/ostium-net/ostium/internal/gcfloor"
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
		v, ok := scrapeGauge("http://"+opsAddr+"/metrics", "go_gc_gogc_percent")
		percent = v
		return ok && v > 100
	})
	// The floor is 128 MiB past the live heap, and a controller that has just started holds
	// far less than 128 MiB, so the percent is at least twice GOGC's.
	if percent < 200 {
		t.Errorf("go_gc_gogc_percent = %v", percent)
	}
}

// scrapeGauge reads one unlabelled sample from a Prometheus text exposition.
func scrapeGauge(url, name string) (float64, bool) {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if value, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
			return v, err == nil
		}
	}
	return 0, false
}

package intercept

import (
	"reflect"
	"strings"
	"testing"

	"github.com/ostium-net/ostium/tunnel/config"
)

func endpointsOf(eps []Endpoint) []string {
	var out []string
	for _, e := range eps {
		out = append(out, e.String())
	}
	return out
}

func TestPlanListensOnIPs(t *testing.T) {
	cfg := &config.Intercept{Protocols: []string{"tcp", "udp"},
		Addresses:  []string{"127.0.0.1", "localhost", "::1", "db.corp", "*.web", "10.0.0.0/8"},
		PortRanges: []config.PortRange{{Low: 80, High: 81}, {Low: 81, High: 81}, {Low: 0, High: 0}}}
	eps, skipped := Plan(cfg, 0)
	want := []string{
		"tcp:127.0.0.1:80", "tcp:127.0.0.1:81", "tcp:127.0.0.1:80", "tcp:127.0.0.1:81", "tcp:[::1]:80", "tcp:[::1]:81",
		"udp:127.0.0.1:80", "udp:127.0.0.1:81", "udp:127.0.0.1:80", "udp:127.0.0.1:81", "udp:[::1]:80", "udp:[::1]:81",
	}
	if got := endpointsOf(eps); !reflect.DeepEqual(got, want) {
		t.Fatalf("endpoints %v\nwant %v", got, want)
	}
	if len(skipped) != 3 || !strings.Contains(skipped[0], "db.corp") || !strings.Contains(skipped[2], "10.0.0.0/8") {
		t.Fatalf("skipped %v", skipped)
	}
}

func TestPlanCapsPorts(t *testing.T) {
	cfg := &config.Intercept{Protocols: []string{"tcp"}, Addresses: []string{"127.0.0.1"},
		PortRanges: []config.PortRange{{Low: 1000, High: 1009}, {Low: 2000, High: 2004}}}
	eps, skipped := Plan(cfg, 8)
	if len(eps) != 8 || eps[7].Addr.Port() != 1007 {
		t.Fatalf("endpoints %v", endpointsOf(eps))
	}
	if len(skipped) != 1 || !strings.Contains(skipped[0], "7 ports beyond the first 8") {
		t.Fatalf("skipped %v", skipped)
	}
}

func TestDialOptionsCarryDestination(t *testing.T) {
	o := DialOptionsOf(config.DialOptions{Identity: "host-2", ConnectTimeoutSeconds: 3},
		config.Destination{Protocol: "tcp", IP: "127.0.0.1", Port: "80"})
	if o.TerminatorIdentity != "host-2" || o.Timeout.Seconds() != 3 {
		t.Fatalf("options %+v", o)
	}
	d, err := config.DecodeDestination(o.AppData)
	if err != nil || d.IP != "127.0.0.1" || d.Port != "80" || d.Protocol != "tcp" {
		t.Fatalf("app data %s: %+v %v", o.AppData, d, err)
	}
}

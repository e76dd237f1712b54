package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ostium-net/ostium/controller"
	"github.com/ostium-net/ostium/tests/harness"
)

// identityID looks an identity up by name.
func identityID(n *harness.Network, name string) string {
	n.T.Helper()
	var list []struct {
		ID string `json:"id"`
	}
	n.Mgmt("GET", "/identities?filter="+url.QueryEscape(`name = "`+name+`"`), nil, &list)
	if len(list) != 1 {
		n.T.Fatalf("identity %s: %d found", name, len(list))
	}
	return list[0].ID
}

// TestEventsOfRoutersLinksAndCircuits: a real SSE client sees two routers come online and
// link up, a circuit across them created and closed with its usage (bytes each way, duration,
// path, both identities), the routers go offline; the JSON-lines file has the same circuits.
func TestEventsOfRoutersLinksAndCircuits(t *testing.T) {
	eventsFile := filepath.Join(t.TempDir(), "events", "ostium.jsonl")
	n := harness.StartWith(t, func(c *controller.Config) {
		c.Events.File = &controller.EventsFileConfig{Path: eventsFile, Types: "circuit"}
	})
	stream := n.Events("router,link,circuit")
	serviceID := n.Service("usage-echo", false)
	n.Create("/service-edge-router-policies", map[string]any{"name": "all-services", "semantic": "AnyOf", "serviceRoles": []string{"#all"}, "edgeRouterRoles": []string{"#all"}})
	a := n.Router("usage-a")
	b := n.RouterWith("usage-b", harness.LinkListen)
	n.Create("/edge-router-policies", map[string]any{"name": "client-on-a", "semantic": "AnyOf", "identityRoles": []string{"#usage-client"}, "edgeRouterRoles": []string{"@" + a.ID}})
	n.Create("/edge-router-policies", map[string]any{"name": "host-on-b", "semantic": "AnyOf", "identityRoles": []string{"#usage-host"}, "edgeRouterRoles": []string{"@" + b.ID}})
	host := n.Context(n.Identity("usage-host", "usage-echo-bind", "usage-host"))
	client := n.Context(n.Identity("usage-client", "usage-echo-dial", "usage-client"))
	hostID, clientID := identityID(n, "usage-host"), identityID(n, "usage-client")

	online := map[string]bool{}
	for len(online) < 2 {
		ev := harness.AwaitEvent(t, stream, "router.online", func(ev map[string]any) bool { return ev["type"] == "router.online" })
		online[ev["routerId"].(string)] = true
	}
	if !online[a.ID] || !online[b.ID] {
		t.Fatalf("routers online: %v, want %s and %s", online, a.ID, b.ID)
	}
	up := harness.AwaitEvent(t, stream, "link.up", func(ev map[string]any) bool { return ev["type"] == "link.up" })
	if ends := []any{up["sourceRouterId"], up["destRouterId"]}; !(ends[0] == a.ID && ends[1] == b.ID) && !(ends[0] == b.ID && ends[1] == a.ID) {
		t.Fatalf("link.up = %v", up)
	}

	ln, err := host.Listen("usage-echo")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go serveEcho(ln)
	deadline := time.Now().Add(20 * time.Second)
	for len(a.Running().Mesh().Terminators(serviceID)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("router A never learned of the terminator")
		}
		time.Sleep(20 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	conn, err := client.Dial(ctx, "usage-echo")
	if err != nil {
		t.Fatal(err)
	}
	msg := strings.Repeat("usage record ", 1000)
	if err := echoOnce(conn, msg); err != nil {
		t.Fatal(err)
	}
	created := harness.AwaitEvent(t, stream, "circuit.created", func(ev map[string]any) bool { return ev["type"] == "circuit.created" })
	circuitID, _ := created["circuitId"].(string)
	if circuitID == "" || created["serviceId"] != serviceID || created["dialerIdentityId"] != clientID || created["hostIdentityId"] != hostID ||
		created["routerId"] != a.ID {
		t.Fatalf("circuit.created = %v", created)
	}
	_ = conn.Close()
	closed := harness.AwaitEvent(t, stream, "circuit.closed", func(ev map[string]any) bool {
		return ev["type"] == "circuit.closed" && ev["circuitId"] == circuitID
	})
	path, _ := closed["path"].([]any)
	up64, _ := closed["bytesUp"].(float64)
	down64, _ := closed["bytesDown"].(float64)
	if len(path) != 2 || path[0] != a.ID || path[1] != b.ID || up64 < float64(len(msg)) || down64 < float64(len(msg)) ||
		closed["durationMs"] == nil || closed["dialerIdentityId"] != clientID || closed["hostIdentityId"] != hostID {
		t.Fatalf("circuit.closed = %v (message of %d bytes)", closed, len(msg))
	}

	// The file sink holds the same two circuit events, and only circuit events.
	var lines []map[string]any
	for deadline := time.Now().Add(20 * time.Second); len(lines) < 2 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		lines = readEventsFile(t, eventsFile)
	}
	if len(lines) != 2 || lines[0]["type"] != "circuit.created" || lines[1]["type"] != "circuit.closed" || lines[1]["circuitId"] != circuitID ||
		lines[1]["bytesUp"] != closed["bytesUp"] {
		t.Fatalf("events file = %v", lines)
	}

	b.Stop()
	down := harness.AwaitEvent(t, stream, "router.offline", func(ev map[string]any) bool { return ev["type"] == "router.offline" })
	if down["routerId"] != b.ID {
		t.Fatalf("router.offline = %v", down)
	}
	harness.AwaitEvent(t, stream, "link.down", func(ev map[string]any) bool { return ev["type"] == "link.down" && ev["linkId"] == up["linkId"] })
}

func readEventsFile(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := map[string]any{}
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("events file line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

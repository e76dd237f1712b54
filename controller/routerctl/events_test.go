package routerctl

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/ostium-net/ostium/controller/events"
	"github.com/ostium-net/ostium/internal/ctrlproto"
)

func TestCircuitEventsFromUsage(t *testing.T) {
	start := time.Date(2026, 2, 1, 10, 0, 0, 0, time.UTC)
	body, _ := json.Marshal(ctrlproto.CircuitUsage{Records: []ctrlproto.CircuitRecord{
		{Event: ctrlproto.CircuitStarted, Circuit: ctrlproto.Circuit{ID: "c1", ServiceID: "s", IdentityID: "dialer", Path: []string{"r1", "r2"}, CreatedAt: start}, HostIdentityID: "host"},
		{Event: ctrlproto.CircuitEnded, Circuit: ctrlproto.Circuit{ID: "c1", ServiceID: "s", IdentityID: "dialer", Path: []string{"r1", "r2"}, CreatedAt: start,
			BytesUp: 10, BytesDown: 20}, HostIdentityID: "host", EndedAt: start.Add(1500 * time.Millisecond), Reason: "closed"},
		// Not this router's circuit, no id, an unknown event: skipped.
		{Event: ctrlproto.CircuitStarted, Circuit: ctrlproto.Circuit{ID: "c2", Path: []string{"r9"}}},
		{Event: ctrlproto.CircuitStarted, Circuit: ctrlproto.Circuit{Path: []string{"r1"}}},
		{Event: "paused", Circuit: ctrlproto.Circuit{ID: "c3", Path: []string{"r1"}}},
	}})
	evs, err := circuitEvents("r1", body)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].Type != events.CircuitCreated || evs[1].Type != events.CircuitClosed {
		t.Fatalf("events = %+v", evs)
	}
	closed := evs[1].Fields
	if closed["bytesUp"] != uint64(10) || closed["bytesDown"] != uint64(20) || closed["durationMs"] != int64(1500) ||
		closed["hostIdentityId"] != "host" || closed["dialerIdentityId"] != "dialer" || !evs[1].Time.Equal(start.Add(1500*time.Millisecond)) {
		t.Fatalf("circuit.closed = %+v", closed)
	}
	if _, err := circuitEvents("r1", []byte(`{"records":"no"}`)); err == nil {
		t.Fatal("a malformed body was taken")
	}
}

func FuzzCircuitEvents(f *testing.F) {
	f.Add([]byte(`{"records":[{"event":"started","id":"c","path":["r1"],"createdAt":"2026-01-01T00:00:00Z"}]}`))
	f.Add([]byte(`{"records":[{"event":"ended","id":"c","path":["r1","r2"],"bytesUp":1,"endedAt":"2020-01-01T00:00:00Z"}]}`))
	f.Add([]byte(`{"records":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		evs, err := circuitEvents("r1", body)
		if err != nil {
			return
		}
		for _, e := range evs {
			if e.Fields["routerId"] != "r1" || e.Fields["circuitId"] == "" {
				t.Fatalf("event of another router or no circuit: %+v", e)
			}
			if d, ok := e.Fields["durationMs"].(int64); ok && d < 0 {
				t.Fatalf("negative duration: %+v", e)
			}
			if _, err := json.Marshal(e); err != nil {
				t.Fatalf("event does not encode: %v", err)
			}
		}
	})
}

package events_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/ostium-net/ostium/controller/command"
	"github.com/ostium-net/ostium/controller/events"
	"github.com/ostium-net/ostium/controller/store"
)

func openStore(t *testing.T) *store.Store {
	t.Helper()
	s, err := store.Open(filepath.Join(t.TempDir(), "ctrl.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func apply(t *testing.T, s *store.Store, index uint64, at time.Time, c command.Command) {
	t.Helper()
	if r := s.Apply(store.Entry{Index: index, Time: at, Apply: c.Apply}); r.Err != nil {
		t.Fatalf("apply %T: %v", c, r.Err)
	}
}

func next(t *testing.T, sub *events.Subscription) events.Event {
	t.Helper()
	select {
	case e := <-sub.Events():
		return e
	default:
		t.Fatal("no event published")
		return events.Event{}
	}
}

// Changes made by an audited write become entity events naming the actor;
// the same entry applied to two stores publishes the same events.
func TestEventsFollowAppliedEntries(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	actor := command.Actor{Type: store.ActorIdentity, ID: "admin-1", Name: "Default Admin", Source: "192.0.2.7", RequestID: "req-1"}
	var streams [2][]events.Event
	for i := range streams {
		s := openStore(t)
		bus := events.NewBus()
		stop := events.Follow(s, bus)
		sub := bus.Subscribe(events.Filter{}, 64)
		create, err := command.NewCreate(store.Services, &store.Service{Meta: store.Meta{ID: "svc-1"}, Name: "web"})
		if err != nil {
			t.Fatal(err)
		}
		audited, err := command.NewAudited(actor, create, at)
		if err != nil {
			t.Fatal(err)
		}
		apply(t, s, 1, at, audited)
		// A change no actor made (the controller's own) carries none.
		create2, _ := command.NewCreate(store.Services, &store.Service{Meta: store.Meta{ID: "svc-2"}, Name: "db"})
		apply(t, s, 2, at.Add(time.Second), create2)
		del, _ := command.NewAudited(actor, &command.DeleteEntity{Kind: store.Services.Name, ID: "svc-1"}, at)
		apply(t, s, 3, at.Add(2*time.Second), del)
		apply(t, s, 4, at.Add(3*time.Second), &command.RecordAuthFailure{EventID: "ev-1", EventType: store.AuthEventPasswordFailure,
			Source: "198.51.100.1", Reason: "wrong password"})
		stop()
		for len(sub.Events()) > 0 {
			streams[i] = append(streams[i], next(t, sub))
		}
	}
	got := streams[0]
	if len(got) != 4 {
		t.Fatalf("%d events, want 4: %+v", len(got), got)
	}
	created := got[0]
	if created.Type != events.EntityCreated || created.Fields["entityType"] != "services" || created.Fields["entityId"] != "svc-1" ||
		!created.Time.Equal(at) || created.Fields["sourceAddress"] != "192.0.2.7" {
		t.Errorf("create event = %+v", created)
	}
	if a, _ := created.Fields["actor"].(map[string]any); a["id"] != "admin-1" || a["type"] != store.ActorIdentity || a["name"] != "Default Admin" {
		t.Errorf("create event actor = %v", created.Fields["actor"])
	}
	if _, has := got[1].Fields["actor"]; has || got[1].Fields["entityId"] != "svc-2" {
		t.Errorf("an unaudited change = %+v", got[1])
	}
	if got[2].Type != events.EntityDeleted || got[2].Fields["entityId"] != "svc-1" || got[2].Fields["actor"] == nil {
		t.Errorf("delete event = %+v", got[2])
	}
	if got[3].Type != events.AuthFailed || got[3].Fields["sourceAddress"] != "198.51.100.1" {
		t.Errorf("auth event = %+v", got[3])
	}
	for i := range got {
		a, _ := got[i].MarshalJSON()
		b, _ := streams[1][i].MarshalJSON()
		if string(a) != string(b) {
			t.Errorf("the two stores published different events:\n%s\n%s", a, b)
		}
	}
}

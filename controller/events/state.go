package events

import (
	"github.com/ostium-net/ostium/controller/command"
	"github.com/ostium-net/ostium/controller/store"
)

// Follow publishes on bus the events of every change the store commits from
// now on, until the returned function is called. Each node of a cluster
// applies the same entries, so each publishes the same events, stamped with
// the entry's proposal time.
func Follow(s *store.Store, bus *Bus) (stop func()) {
	return s.Listen(func(_ uint64, changes []store.Change) {
		for _, e := range FromChanges(changes) {
			bus.Publish(e)
		}
	})
}

// failedAuth lists the authentication event types that are failures.
var failedAuth = map[string]bool{
	store.AuthEventPasswordFailure: true, store.AuthEventCertFailure: true, store.AuthEventExtJWTFailure: true,
	store.AuthEventMFAFailure: true, store.AuthEventLocked: true,
}

// FromChanges turns committed changes into events. An entity change made by
// a management write carries its actor and source address, read from the
// audit record written with it.
func FromChanges(changes []store.Change) []Event {
	type key struct{ kind, id, action string }
	var audits map[key]*store.AuditEvent
	for _, c := range changes {
		if c.Kind == store.AuditEvents && c.Old == nil {
			a := c.New.(*store.AuditEvent)
			if audits == nil {
				audits = map[key]*store.AuditEvent{}
			}
			audits[key{a.EntityType, a.EntityID, a.Action}] = a
		}
	}
	var out []Event
	for _, c := range changes {
		switch {
		case c.Kind == store.APISessions:
			if e, ok := apiSessionEvent(c); ok {
				out = append(out, e)
			}
		case c.Kind == store.Sessions:
			if e, ok := sessionEvent(c); ok {
				out = append(out, e)
			}
		case c.Kind == store.AuthEvents:
			if c.Old != nil || c.New == nil {
				continue
			}
			a := c.New.(*store.AuthEvent)
			if failedAuth[a.EventType] {
				out = append(out, New(AuthFailed, c.Time, map[string]any{"identityId": a.IdentityID,
					"eventType": a.EventType, "sourceAddress": a.SourceAddress, "reason": a.Reason}))
			}
		case command.Audits(c.Kind) && c.Kind != store.AuthLocks:
			typ, action, id := EntityUpdated, store.AuditUpdate, ""
			switch {
			case c.Old == nil:
				typ, action, id = EntityCreated, store.AuditCreate, c.New.Base().ID
			case c.New == nil:
				typ, action, id = EntityDeleted, store.AuditDelete, c.Old.Base().ID
			default:
				id = c.New.Base().ID
			}
			f := map[string]any{"entityType": c.Kind.Name, "entityId": id}
			if a := audits[key{c.Kind.Name, id, action}]; a != nil {
				f["actor"] = map[string]any{"type": a.ActorType, "id": a.ActorID, "name": a.ActorName}
				f["sourceAddress"] = a.SourceAddress
			}
			out = append(out, New(typ, c.Time, f))
		}
	}
	return out
}

func apiSessionEvent(c store.Change) (Event, bool) {
	switch {
	case c.Old == nil:
		s := c.New.(*store.APISession)
		return New(APISessionCreated, c.Time, map[string]any{"apiSessionId": s.ID, "identityId": s.IdentityID,
			"authMethod": s.AuthMethod, "sourceAddress": s.IPAddress}), true
	case c.New == nil:
		s := c.Old.(*store.APISession)
		return New(APISessionDeleted, c.Time, map[string]any{"apiSessionId": s.ID, "identityId": s.IdentityID}), true
	}
	return Event{}, false
}

func sessionEvent(c store.Change) (Event, bool) {
	var s *store.Session
	typ := SessionCreated
	switch {
	case c.Old == nil:
		s = c.New.(*store.Session)
	case c.New == nil:
		s, typ = c.Old.(*store.Session), SessionDeleted
	default:
		return Event{}, false
	}
	return New(typ, c.Time, map[string]any{"sessionId": s.ID, "sessionType": s.Type, "serviceId": s.ServiceID,
		"apiSessionId": s.APISessionID, "identityId": s.IdentityID}), true
}

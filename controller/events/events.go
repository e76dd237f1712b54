// Package events owns the controller's event stream: structured events for
// what happens on the network (circuits and their usage, entity changes,
// API sessions and sessions, routers, links, failed authentications), a bus
// that hands them to subscribers without ever waiting for one, and the
// JSON-lines file sink with size-based rotation. The Server-Sent Events
// endpoint of the management API is one subscriber; the file sink another.
//
// Events derived from the replicated state (entity, session, apiSession,
// auth) come from the changes every node applies (Follow), so every
// controller of a cluster emits the same ones with the same times. Router,
// link and circuit events come from the routers' control channels, on the
// controller each router is attached to.
package events

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Namespaces of event types: an event's type is "namespace.what".
const (
	NamespaceCircuit    = "circuit"
	NamespaceEntity     = "entity"
	NamespaceAPISession = "apiSession"
	NamespaceSession    = "session"
	NamespaceRouter     = "router"
	NamespaceLink       = "link"
	NamespaceAuth       = "auth"
)

// The event types.
const (
	CircuitCreated    = "circuit.created"
	CircuitClosed     = "circuit.closed"
	EntityCreated     = "entity.created"
	EntityUpdated     = "entity.updated"
	EntityDeleted     = "entity.deleted"
	APISessionCreated = "apiSession.created"
	APISessionDeleted = "apiSession.deleted"
	SessionCreated    = "session.created"
	SessionDeleted    = "session.deleted"
	RouterOnline      = "router.online"
	RouterOffline     = "router.offline"
	LinkUp            = "link.up"
	LinkDown          = "link.down"
	AuthFailed        = "auth.failed"
)

// Types lists every event type.
var Types = []string{CircuitCreated, CircuitClosed, EntityCreated, EntityUpdated, EntityDeleted,
	APISessionCreated, APISessionDeleted, SessionCreated, SessionDeleted, RouterOnline, RouterOffline,
	LinkUp, LinkDown, AuthFailed}

// Namespaces lists every namespace.
var Namespaces = []string{NamespaceCircuit, NamespaceEntity, NamespaceAPISession, NamespaceSession,
	NamespaceRouter, NamespaceLink, NamespaceAuth}

// Event is one thing that happened. It is written as one JSON object: its
// fields, with "type", "namespace" and "timestamp" beside them.
type Event struct {
	Type   string
	Time   time.Time
	Fields map[string]any
}

// Namespace is the part of the type before the dot.
func (e Event) Namespace() string {
	ns, _, _ := strings.Cut(e.Type, ".")
	return ns
}

// MarshalJSON writes the event as one flat object.
func (e Event) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, len(e.Fields)+3)
	maps.Copy(m, e.Fields)
	m["type"] = e.Type
	m["namespace"] = e.Namespace()
	m["timestamp"] = e.Time.UTC().Format(time.RFC3339Nano)
	return json.Marshal(m)
}

// New makes an event of type t at time at.
func New(t string, at time.Time, fields map[string]any) Event {
	if fields == nil {
		fields = map[string]any{}
	}
	return Event{Type: t, Time: at.UTC(), Fields: fields}
}

// Filter selects events by namespace or type. The zero Filter selects all.
type Filter struct {
	only map[string]bool // namespaces and types; nil: all
}

// Bounds of a types filter.
const (
	maxFilterItems = 64
	maxFilterLen   = 1024
)

// ParseTypes reads a comma-separated list of namespaces ("circuit") and
// types ("circuit.closed"); empty selects every event.
func ParseTypes(s string) (Filter, error) {
	if len(s) > maxFilterLen {
		return Filter{}, fmt.Errorf("the types list is %d characters, more than %d", len(s), maxFilterLen)
	}
	var f Filter
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if !slices.Contains(Namespaces, item) && !slices.Contains(Types, item) {
			return Filter{}, fmt.Errorf("unknown event type %q; the namespaces are %s, or a type such as %s",
				item, strings.Join(Namespaces, ", "), CircuitClosed)
		}
		if f.only == nil {
			f.only = map[string]bool{}
		}
		if len(f.only) >= maxFilterItems {
			return Filter{}, fmt.Errorf("more than %d event types", maxFilterItems)
		}
		f.only[item] = true
	}
	return f, nil
}

// Match reports whether the filter selects events of type t.
func (f Filter) Match(t string) bool {
	if f.only == nil {
		return true
	}
	ns, _, _ := strings.Cut(t, ".")
	return f.only[ns] || f.only[t]
}

// DefaultBuffer is how many events a subscriber may fall behind by before
// events are dropped for it.
const DefaultBuffer = 1024

// Bus hands events to subscribers. Publish never blocks: an event that a
// subscriber's buffer has no room for is dropped for that subscriber and
// counted. A nil *Bus drops everything silently.
type Bus struct {
	mu      sync.RWMutex
	subs    map[*Subscription]struct{}
	dropped atomic.Uint64
}

// NewBus returns a bus without subscribers.
func NewBus() *Bus { return &Bus{subs: map[*Subscription]struct{}{}} }

// Publish hands e to every subscriber whose filter selects it.
func (b *Bus) Publish(e Event) {
	if b == nil {
		return
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	for s := range b.subs {
		if !s.filter.Match(e.Type) {
			continue
		}
		select {
		case s.ch <- e:
		default:
			s.dropped.Add(1)
			b.dropped.Add(1)
		}
	}
}

// Dropped is how many events were dropped for subscribers too slow to take
// them, since the bus was made (ostium_events_dropped_total).
func (b *Bus) Dropped() uint64 {
	if b == nil {
		return 0
	}
	return b.dropped.Load()
}

// Subscribers is how many subscriptions are open.
func (b *Bus) Subscribers() int {
	if b == nil {
		return 0
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	return len(b.subs)
}

// Subscribe opens a subscription to the events f selects, buffering up to
// buffer of them (DefaultBuffer when not positive). Close it when done.
func (b *Bus) Subscribe(f Filter, buffer int) *Subscription {
	if buffer <= 0 {
		buffer = DefaultBuffer
	}
	s := &Subscription{bus: b, filter: f, ch: make(chan Event, buffer)}
	if b == nil {
		return s
	}
	b.mu.Lock()
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	return s
}

// Subscription receives events from a Bus.
type Subscription struct {
	bus     *Bus
	filter  Filter
	ch      chan Event
	dropped atomic.Uint64
	once    sync.Once
}

// Events delivers the subscription's events; it is closed by Close.
func (s *Subscription) Events() <-chan Event { return s.ch }

// Dropped is how many events this subscription missed because its buffer
// was full.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// Close ends the subscription and closes its channel.
func (s *Subscription) Close() {
	s.once.Do(func() {
		if s.bus != nil {
			s.bus.mu.Lock()
			delete(s.bus.subs, s)
			s.bus.mu.Unlock()
		}
		close(s.ch)
	})
}

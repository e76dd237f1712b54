package command

import (
	"fmt"
	"time"

	"github.com/ostium-net/ostium/controller/store"
)

// Actor is who made a management write, and from where.
type Actor struct {
	// Type is store.ActorIdentity or store.ActorAPIToken.
	Type string `json:"type"`
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
	// Source is the client's IP address.
	Source string `json:"source,omitempty"`
	// RequestID is the API request that made the write.
	RequestID string `json:"requestId,omitempty"`
}

// TypeAudited wraps a command made by a management write (audited.go).
const TypeAudited Type = 17

// TypePruneAudit deletes audit records past their retention (audited.go).
const TypePruneAudit Type = 18

func init() {
	registry[TypeAudited] = func() Command { return &Audited{} }
	registry[TypePruneAudit] = func() Command { return &PruneAudit{} }
}

// Audited applies a command and records, in the same transaction, one audit
// record for every record it created, updated or deleted (cascades
// included) of a kind the audit follows. The audit records' ids and times
// derive from the entry's raft index and proposal time, so every node writes
// the same ones.
type Audited struct {
	Actor Actor  `json:"actor"`
	Entry []byte `json:"entry"`
}

// NewAudited wraps c, made by actor.
func NewAudited(actor Actor, c Command, at time.Time) (*Audited, error) {
	raw, err := Encode(c, at)
	if err != nil {
		return nil, err
	}
	return &Audited{Actor: actor, Entry: raw}, nil
}

// Type implements Command.
func (c *Audited) Type() Type { return TypeAudited }

// Apply implements Command; it returns what the wrapped command returns.
func (c *Audited) Apply(tx *store.Tx) (any, error) {
	inner, _, err := Decode(c.Entry)
	if err != nil {
		return nil, fmt.Errorf("audited entry: %w", err)
	}
	before := len(tx.Changes())
	v, err := inner.Apply(tx)
	if err != nil {
		return nil, err
	}
	changes := append([]store.Change(nil), tx.Changes()[before:]...)
	seq := 0
	for _, ch := range changes {
		if !Audits(ch.Kind) {
			continue
		}
		rec := &store.AuditEvent{Action: store.AuditUpdate, EntityType: ch.Kind.Name,
			ActorType: c.Actor.Type, ActorID: c.Actor.ID, ActorName: c.Actor.Name,
			SourceAddress: c.Actor.Source, RequestID: c.Actor.RequestID}
		switch {
		case ch.Old == nil:
			rec.Action, rec.EntityID = store.AuditCreate, ch.New.Base().ID
		case ch.New == nil:
			rec.Action, rec.EntityID = store.AuditDelete, ch.Old.Base().ID
		default:
			rec.EntityID = ch.New.Base().ID
		}
		seq++
		rec.ID = AuditID(tx.Index(), seq)
		if err := tx.Create(store.AuditEvents, rec); err != nil {
			return nil, fmt.Errorf("record audit event: %w", err)
		}
	}
	return v, nil
}

// AuditID is the id of the seq-th audit record of the entry at index: ids
// sort in the order of the writes.
func AuditID(index uint64, seq int) string {
	return fmt.Sprintf("%016x%04x", index, seq)
}

// Audits reports whether changes of kind k are audited: everything an
// administrator manages, not the bookkeeping the controller keeps for
// itself (activity, presence leases, counters) nor the audit trails.
func Audits(k *store.Kind) bool {
	switch k {
	case store.AuditEvents, store.AuthEvents, store.APISessionActivities, store.RouterPresences,
		store.PasswordFailures, store.PostureDatas, store.Revocations, store.APISessionCerts:
		return false
	}
	return true
}

// PruneAudit deletes the audit records created before Before, at most Max
// of them (oldest first), so that one entry stays small; the periodic job
// repeats it until none is left.
type PruneAudit struct {
	Before time.Time `json:"before"`
	Max    int       `json:"max"`
}

// Type implements Command.
func (c *PruneAudit) Type() Type { return TypePruneAudit }

// Apply implements Command; it returns how many records it deleted.
func (c *PruneAudit) Apply(tx *store.Tx) (any, error) {
	if c.Max <= 0 {
		return 0, nil
	}
	var old []string
	// Ids sort in the order of the writes, so the walk stops at the first
	// record young enough to keep.
	err := tx.ForEach(store.AuditEvents, func(rec store.Record) error {
		if !rec.Base().CreatedAt.Before(c.Before) || len(old) >= c.Max {
			return store.ErrStop
		}
		old = append(old, rec.Base().ID)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, id := range old {
		if err := tx.Delete(store.AuditEvents, id); err != nil {
			return nil, err
		}
	}
	return len(old), nil
}

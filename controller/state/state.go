// Package state is the controller's domain facade over the replicated store:
// reads come from the local bbolt store, and every write becomes a raft
// command (see package command) applied through the cluster node. It assigns
// ids and resolves read-modify-write updates without lost updates.
//
// Lists (List) answer filters on id, name and role attributes from the
// store's indexes rather than by reading every record: the unique name index
// (a bbolt bucket of name → id, in name order) serves name =, in, startsWith
// by seeking and contains, icontains, endsWith by walking its keys, which are
// far smaller than the records; the attribute index (attribute\0id) serves
// roleAttributes =, in and, through its distinct attributes, the string
// operators; ids are looked up or walked as keys. An and narrows to the
// intersection of its indexed terms and evaluates the rest on the narrowed
// records only; an or of indexed terms takes their union; anything else reads
// every record's stored JSON, as before. Sorting by name follows the name
// index, and only the records on the page are decoded. The indexes live in
// the bbolt file, written in the same transaction as the records by every
// write path (see package store), so every raft node and every restored
// snapshot has them with nothing to rebuild and no memory held; plan.go
// lists exactly what is indexed.
package state

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"time"

	"github.com/ostium-net/ostium/controller/cluster"
	"github.com/ostium-net/ostium/controller/command"
	"github.com/ostium-net/ostium/controller/store"
)

// State reads the store and writes through raft.
type State struct {
	Store *store.Store
	Node  *cluster.Node
	Log   *slog.Logger
}

const idAlphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// sortedAlphabet is base62 in byte order, so that encoded numbers sort as
// strings in the order of their values.
const sortedAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// timeChars is how many characters of an id encode its creation time in
// microseconds: 62^9 microseconds last until the 24th century.
const timeChars = 9

// NewID returns a new entity id: 22 base62 characters, the first 9 the
// creation time in microseconds and the other 13 random (77 bits). Ids made
// one after the other sort together, so the records of a busy bucket are
// appended to its last pages instead of landing on random ones. Ids name
// records, they are not secrets: tokens derive from them with a key.
func NewID() string {
	var b [22]byte
	t := uint64(time.Now().UnixMicro())
	for i := timeChars - 1; i >= 0; i-- {
		b[i] = sortedAlphabet[t%62]
		t /= 62
	}
	randomChars(b[timeChars:])
	return string(b[:])
}

// RandomID returns 22 random base62 characters (131 bits), for values that
// must not be guessed.
func RandomID() string {
	var b [22]byte
	randomChars(b[:])
	return string(b[:])
}

// randomChars fills b with uniformly random base62 characters.
func randomChars(b []byte) {
	r := make([]byte, len(b))
	if _, err := rand.Read(r); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	for i := range b {
		// Rejection sampling: bytes of 248 and above would bias the mapping.
		for r[i] >= 248 {
			var x [1]byte
			_, _ = rand.Read(x[:])
			r[i] = x[0]
		}
		b[i] = idAlphabet[r[i]%62]
	}
}

type actorKey struct{}

// WithActor marks every write applied with ctx as made by actor: each is
// wrapped in a command.Audited, which records what it changed in the same
// transaction.
func WithActor(ctx context.Context, actor command.Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// ActorFrom returns the actor WithActor put in ctx.
func ActorFrom(ctx context.Context) (command.Actor, bool) {
	a, ok := ctx.Value(actorKey{}).(command.Actor)
	return a, ok
}

// audited wraps c when ctx names an actor.
func audited(ctx context.Context, c command.Command) (command.Command, error) {
	a, ok := ActorFrom(ctx)
	if !ok {
		return c, nil
	}
	if _, already := c.(*command.Audited); already {
		return c, nil
	}
	return command.NewAudited(a, c, time.Now().UTC())
}

// Apply proposes a command and waits until it is applied here.
func (s *State) Apply(ctx context.Context, c command.Command) error {
	_, err := s.ApplyOutcome(ctx, c)
	return err
}

// ApplyOutcome proposes a command and returns what it produced. When the
// request was applied before (a client repeating its Idempotency-Key),
// Created names the records the first application created: those are the
// ones to answer with, not the ids this attempt picked.
func (s *State) ApplyOutcome(ctx context.Context, c command.Command) (cluster.Outcome, error) {
	c, err := audited(ctx, c)
	if err != nil {
		return cluster.Outcome{}, err
	}
	return s.Node.ApplyOutcome(ctx, c)
}

// CreatedID is the id to answer a create with: the one picked for this
// attempt, or the first application's when the request was repeated.
func CreatedID(o cluster.Outcome, picked string) string {
	if o.Repeated && len(o.Created) > 0 {
		return o.Created[0]
	}
	return picked
}

// Create stores a new record. A record without an id gets one. It returns the id.
func (s *State) Create(ctx context.Context, k *store.Kind, rec store.Record) (string, error) {
	if rec.Base().ID == "" {
		rec.Base().ID = NewID()
	}
	c, err := command.NewCreate(k, rec)
	if err != nil {
		return "", err
	}
	o, err := s.ApplyOutcome(ctx, c)
	if err != nil {
		return "", err
	}
	return CreatedID(o, rec.Base().ID), nil
}

// Update reads the record, lets mutate change it, and writes it back guarded
// by its modify index; a concurrent change makes it read and mutate again.
//
// A follower's copy may lag the leader's: after a refused attempt the next
// one first waits for a read barrier, so it reads what the leader committed
// rather than the same stale copy again.
func (s *State) Update(ctx context.Context, k *store.Kind, id string, mutate func(store.Record) error) error {
	for attempt := 0; attempt < 20; attempt++ {
		if attempt > 0 {
			if err := s.Node.ReadBarrier(ctx); err != nil {
				return err
			}
			if attempt > 2 {
				// Many writers on one record: spread the retries.
				time.Sleep(time.Duration(mrand.IntN(5*attempt)+1) * time.Millisecond)
			}
		}
		rec, err := s.Get(k, id)
		if err != nil {
			return err
		}
		if err := mutate(rec); err != nil {
			return err
		}
		rec.Base().ID = id
		c, err := command.NewUpdate(k, rec)
		if err != nil {
			return err
		}
		err = s.Apply(ctx, c)
		if errors.Is(err, command.ErrStale) {
			continue
		}
		return err
	}
	return fmt.Errorf("update %s %q: %w", k.Name, id, command.ErrStale)
}

// Delete removes a record (and what cascades from it).
func (s *State) Delete(ctx context.Context, k *store.Kind, id string) error {
	if !s.Exists(k, id) {
		return fmt.Errorf("%s %q: %w", k.Name, id, store.ErrNotFound)
	}
	return s.Apply(ctx, &command.DeleteEntity{Kind: k.Name, ID: id})
}

// Exists reports whether the record exists locally.
func (s *State) Exists(k *store.Kind, id string) bool {
	found := false
	_ = s.Store.View(func(tx *store.Tx) error { found = tx.Exists(k, id); return nil })
	return found
}

// Get reads one record.
func (s *State) Get(k *store.Kind, id string) (store.Record, error) {
	var rec store.Record
	err := s.Store.View(func(tx *store.Tx) error {
		var err error
		rec, err = tx.Get(k, id)
		return err
	})
	return rec, err
}

// View runs fn in a read transaction.
func (s *State) View(fn func(tx *store.Tx) error) error { return s.Store.View(fn) }

package oidc

import (
	"context"
	"time"

	"github.com/ostium-net/ostium/controller/command"
	"github.com/ostium-net/ostium/controller/store"
	"github.com/ostium-net/ostium/internal/apitoken"
)

// RevocationHook records, in the transaction that deletes an OIDC API
// session (a logout, a revocation, idle expiry, an administrator, the
// identity's deletion), that its signed tokens are no longer good. Routers
// verify those tokens by their signature alone, so they are told (the
// revocation is pushed to them) and refuse the tokens until the last one
// would have expired anyway. It is deterministic: it reads only the deleted
// record and the entry's time, so every node records the same.
func RevocationHook(tx *store.Tx, c store.Change) error {
	if c.Kind != store.APISessions || c.New != nil {
		return nil
	}
	as, ok := c.Old.(*store.APISession)
	if !ok || !as.OIDC || tx.Exists(store.Revocations, as.ID) {
		return nil
	}
	lifetime := as.AccessTokenLifetime
	if lifetime <= 0 || lifetime > MaxAccessTokenLifetime {
		lifetime = MaxAccessTokenLifetime
	}
	rev := &store.Revocation{Meta: store.Meta{ID: as.ID}, ExpiresAt: tx.Now().Add(lifetime + apitoken.ClockSkew)}
	return tx.Create(store.Revocations, rev)
}

// pruneBatch is how many expired revocations one raft entry deletes.
const pruneBatch = 256

// Applier writes through raft.
type Applier interface {
	Apply(ctx context.Context, c command.Command) error
	View(fn func(tx *store.Tx) error) error
}

// PruneRevocations deletes the revocations whose tokens have all expired
// by now; the leader runs it now and then. It returns how many it deleted.
func PruneRevocations(ctx context.Context, st Applier, now time.Time) (int, error) {
	var expired []string
	if err := st.View(func(tx *store.Tx) error {
		return tx.ForEach(store.Revocations, func(r store.Record) error {
			if rev := r.(*store.Revocation); !now.Before(rev.ExpiresAt) {
				expired = append(expired, rev.ID)
			}
			return nil
		})
	}); err != nil {
		return 0, err
	}
	deleted := 0
	for len(expired) > 0 {
		n := min(len(expired), pruneBatch)
		cmds := make([]command.Command, 0, n)
		for _, id := range expired[:n] {
			cmds = append(cmds, &command.DeleteEntity{Kind: store.Revocations.Name, ID: id})
		}
		expired = expired[n:]
		b, err := command.NewBatch(now.UTC(), cmds...)
		if err != nil {
			return deleted, err
		}
		if err := st.Apply(ctx, b); err != nil {
			return deleted, err
		}
		deleted += n
	}
	return deleted, nil
}

package domain

import (
	"fmt"
	"slices"
	"time"

	"github.com/ostium-net/ostium/controller/command"
	"github.com/ostium-net/ostium/controller/store"
)

// RenewRouterLeases is one controller node's report of the edge routers
// holding a control channel to it: each gets a presence lease of Lease from
// the entry's time, and the node's leases of routers it no longer names are
// released. A node sends it when a router comes or goes, and every third of
// a lease, so that every node knows which routers are online.
type RenewRouterLeases struct {
	NodeID    string        `json:"nodeId"`
	RouterIDs []string      `json:"routerIds"`
	Lease     time.Duration `json:"lease"`
}

// Type implements command.Command.
func (c *RenewRouterLeases) Type() command.Type { return command.TypeRenewRouterLeases }

// Apply implements command.Command.
func (c *RenewRouterLeases) Apply(tx *store.Tx) (any, error) {
	if c.NodeID == "" || c.Lease <= 0 {
		return nil, fmt.Errorf("renew router leases: node id and lease: %w", store.ErrInvalid)
	}
	now := tx.Now()
	for _, rid := range c.RouterIDs {
		if !tx.Exists(store.EdgeRouters, rid) {
			continue // deleted since it connected
		}
		cur, err := store.Get[*store.RouterPresence](tx, store.RouterPresences, rid)
		if err != nil {
			p := &store.RouterPresence{Meta: store.Meta{ID: rid}, NodeID: c.NodeID, Since: now, LeaseUntil: now.Add(c.Lease)}
			if err := tx.Create(store.RouterPresences, p); err != nil {
				return nil, fmt.Errorf("router presence: %w", err)
			}
			continue
		}
		if cur.NodeID != c.NodeID || !cur.LeaseUntil.After(now) {
			cur.NodeID, cur.Since = c.NodeID, now // moved here, or back after a lapse
		}
		cur.LeaseUntil = now.Add(c.Lease)
		if _, err := tx.Update(store.RouterPresences, cur); err != nil {
			return nil, fmt.Errorf("router presence: %w", err)
		}
	}
	var release []string
	err := tx.ForEach(store.RouterPresences, func(r store.Record) error {
		if p := r.(*store.RouterPresence); p.NodeID == c.NodeID && !slices.Contains(c.RouterIDs, p.ID) {
			release = append(release, p.ID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, rid := range release {
		if err := tx.Delete(store.RouterPresences, rid); err != nil {
			return nil, fmt.Errorf("release router presence: %w", err)
		}
	}
	return nil, nil
}

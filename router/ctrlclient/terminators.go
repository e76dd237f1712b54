package ctrlclient

import (
	"context"
	"fmt"

	"github.com/ostium-net/ostium/internal/ctrlproto"
	"github.com/ostium-net/ostium/router/edge"
	"github.com/ostium-net/ostium/sdk/wire"
)

// Precedence names on the control channel.
const (
	PrecedenceDefault  = "default"
	PrecedenceRequired = "required"
	PrecedenceFailed   = "failed"
)

// PrecedenceName returns the control-channel name of a precedence.
func PrecedenceName(p wire.Precedence) string {
	switch p {
	case wire.PrecedenceRequired:
		return PrecedenceRequired
	case wire.PrecedenceFailed:
		return PrecedenceFailed
	}
	return PrecedenceDefault
}

func specOf(t edge.Terminator) ctrlproto.Terminator {
	return ctrlproto.Terminator{
		LocalID:      t.ID,
		ServiceID:    t.ServiceID,
		SessionID:    t.SessionID,
		APISessionID: t.APISessionID,
		HostID:       t.HostID,
		Identity:     t.Identity,
		Cost:         t.Cost,
		Precedence:   PrecedenceName(t.Precedence),
		ListenerID:   t.ListenerID,
	}
}

// Register records t with the controller and returns the id to Unregister or Update it with.
// While the controller is unreachable (or when the connection is lost during the request) the
// terminator is kept as pending and Register returns at once: the router serves it locally,
// and the Hello of the next connection registers it with the controller.
func (c *Client) Register(ctx context.Context, t edge.Terminator) (string, error) {
	spec := specOf(t)
	var stale *wire.Conn
	for {
		c.mu.Lock()
		conn := c.conn
		if conn == nil || conn == stale {
			handle := c.pendingLocked(spec)
			c.mu.Unlock()
			return handle, nil
		}
		c.mu.Unlock()
		var created ctrlproto.TerminatorCreated
		err := c.request(ctx, conn, ctrlproto.TypeTerminatorCreate, spec, &created)
		if err != nil && lost(ctx, conn) {
			stale = conn
			continue
		}
		if err != nil {
			return "", fmt.Errorf("register terminator %s: %w", t.ID, err)
		}
		id := created.IDs[spec.LocalID]
		if id == "" {
			return "", fmt.Errorf("register terminator %s: the controller answered without its id", t.ID)
		}
		if handle, ok := c.record(conn, id, spec); ok {
			return handle, nil
		}
		// The connection was replaced between the answer and now, and the new one's Hello did
		// not carry this terminator: register it again there.
		stale = conn
	}
}

// pendingLocked remembers a terminator the controller has not recorded yet and returns its
// handle; the caller holds mu.
func (c *Client) pendingLocked(spec ctrlproto.Terminator) string {
	handle := pendingPrefix + spec.LocalID
	for n := 2; c.terms[handle] != nil; n++ {
		handle = fmt.Sprintf("%s%s.%d", pendingPrefix, spec.LocalID, n)
	}
	c.terms[handle] = &terminatorRecord{handle: handle, spec: spec}
	return handle
}

// pendingPrefix starts the handles of terminators registered while the controller was away.
const pendingPrefix = "pending:"

// record remembers a registration made on conn, if conn is still the current connection.
func (c *Client) record(conn *wire.Conn, controllerID string, spec ctrlproto.Terminator) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != conn {
		return "", false
	}
	handle := controllerID
	for n := 2; c.terms[handle] != nil; n++ {
		handle = fmt.Sprintf("%s.%d", controllerID, n)
	}
	c.terms[handle] = &terminatorRecord{handle: handle, controllerID: controllerID, spec: spec}
	return handle, true
}

// Unregister removes a terminator returned by Register. While the controller is unreachable it
// only forgets the terminator, which the next Hello then leaves out.
func (c *Client) Unregister(ctx context.Context, id string) error {
	c.mu.Lock()
	rec := c.terms[id]
	delete(c.terms, id)
	conn := c.conn
	c.mu.Unlock()
	if rec == nil {
		return fmt.Errorf("unregister terminator %s: not registered", id)
	}
	if conn == nil || rec.controllerID == "" {
		// The next Hello leaves it out (a registration in flight deletes it when answered).
		return nil
	}
	spec := rec.spec
	spec.ID = rec.controllerID
	err := c.request(ctx, conn, ctrlproto.TypeTerminatorDelete, spec, nil)
	if err != nil && !lost(ctx, conn) {
		return fmt.Errorf("unregister terminator %s: %w", id, err)
	}
	return nil
}

// Update changes the cost and precedence of a terminator returned by Register. While the
// controller is unreachable it only records them, and sends them after the next Hello.
func (c *Client) Update(ctx context.Context, id string, cost uint16, precedence wire.Precedence) error {
	c.mu.Lock()
	rec := c.terms[id]
	var spec ctrlproto.Terminator
	if rec != nil {
		rec.spec.Cost = cost
		rec.spec.Precedence = PrecedenceName(precedence)
		spec = rec.spec
		spec.ID = rec.controllerID
	}
	conn := c.conn
	if rec != nil && (conn == nil || rec.controllerID == "") {
		rec.dirty = true
	}
	c.mu.Unlock()
	if rec == nil {
		return fmt.Errorf("update terminator %s: not registered", id)
	}
	if conn == nil || spec.ID == "" {
		return nil
	}
	err := c.request(ctx, conn, ctrlproto.TypeTerminatorUpdate, spec, nil)
	if err != nil && lost(ctx, conn) {
		c.mu.Lock()
		rec.dirty = true
		c.mu.Unlock()
		return nil
	}
	if err != nil {
		return fmt.Errorf("update terminator %s: %w", id, err)
	}
	return nil
}

// Terminators returns the terminators registered now, with their current controller ids.
func (c *Client) Terminators() []ctrlproto.Terminator {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]ctrlproto.Terminator, 0, len(c.terms))
	for _, rec := range c.terms {
		spec := rec.spec
		spec.ID = rec.controllerID
		out = append(out, spec)
	}
	return out
}

// lost reports whether a request failed because its connection was lost (rather than refused,
// or given up by the caller).
func lost(ctx context.Context, conn *wire.Conn) bool {
	return ctx.Err() == nil && conn.Err() != nil
}

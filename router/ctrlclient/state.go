package ctrlclient

import (
	"bufio"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/ostium-net/ostium/internal/ctrlproto"
)

// The state the controller pushed is saved to Config.StatePath, so that a router that restarts
// while the controller is away still knows the API sessions, sessions, services, signing keys
// of access tokens, revocations and third-party CAs it had been told of, the routers,
// terminators and links of the mesh, and the controllers of the cluster: clients reconnect and
// dial with the sessions they hold. The controller's next
// Sync replaces the whole of it, and cuts what it no longer holds.
//
// The file is JSON (token hashes only, never a token), written whole to a temporary file that
// is synced and renamed over the old one, so a crash leaves either the old or the new state.
// The Events that follow it are appended to a journal beside it (journal.go), folded into a
// new file once the journal outgrows it. Changes are written at most once a second (a new
// whole file at most ten times as seldom as writing one takes, for large networks), the
// whole state every StateRefresh while the controller is connected, and when the client
// stops.

// stateFormat is the version of the saved state's layout.
const stateFormat = 1

// Defaults of the state's timing.
const (
	// DefaultStateMaxAge is how long after the router last heard from the controller a saved
	// state is still loaded.
	DefaultStateMaxAge = 24 * time.Hour
	// DefaultStateRefresh is how often the state is saved while the controller is connected
	// even when nothing changed, so that the time it was last heard from stays recent.
	DefaultStateRefresh = 10 * time.Minute
	// minStateInterval is the least time between two writes.
	minStateInterval = time.Second
	// maxClockSkew is how far in the future a saved state's HeardAt may lie and still be used.
	maxClockSkew = time.Minute
)

// savedState is the file's content.
type savedState struct {
	Format int `json:"format"`
	// RouterID is the router the state was pushed to.
	RouterID string `json:"routerId"`
	// SavedAt is when the file was written; HeardAt when the controller was last connected.
	SavedAt time.Time `json:"savedAt"`
	HeardAt time.Time `json:"heardAt"`
	// State is the controller's last state as the router holds it, in the form of a Sync.
	State    ctrlproto.Sync        `json:"state"`
	Topology []ctrlproto.LinkState `json:"topology,omitempty"`
	// Controllers are the control addresses the cluster announced.
	Controllers []string `json:"controllers,omitempty"`
}

// snapshot copies the token state into a Sync.
func (c *cache) snapshot(out *ctrlproto.Sync) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out.Index = c.index
	out.APISessions = make([]ctrlproto.APISession, 0, len(c.apiSessions))
	for _, a := range c.apiSessions {
		out.APISessions = append(out.APISessions, a)
	}
	out.Sessions = make([]ctrlproto.Session, 0, len(c.sessions))
	for _, s := range c.sessions {
		out.Sessions = append(out.Sessions, s)
	}
	out.Services = make([]ctrlproto.Service, 0, len(c.services))
	for _, s := range c.services {
		out.Services = append(out.Services, s)
	}
	out.TokenKeys = c.tokenKeysRaw
	for id, cert := range c.cas {
		out.CAs = append(out.CAs, ctrlproto.CA{ID: id, CertPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}))})
	}
	now := time.Now()
	for id, until := range c.revocations {
		if now.Before(until) {
			out.Revocations = append(out.Revocations, ctrlproto.Revocation{APISessionID: id, ExpiresAt: until})
		}
	}
}

// snapshot copies the mesh state into a Sync and returns the topology.
func (s *meshState) snapshot(out *ctrlproto.Sync) []ctrlproto.LinkState {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out.Routers = make([]ctrlproto.Router, 0, len(s.routers))
	for _, r := range s.routers {
		out.Routers = append(out.Routers, r)
	}
	out.Terminators = make([]ctrlproto.Terminator, 0, len(s.terms))
	for _, t := range s.terms {
		out.Terminators = append(out.Terminators, t)
	}
	return s.topology
}

// stateChanged asks for the state to be saved.
func (c *Client) stateChanged() {
	select {
	case c.stateDirty <- struct{}{}:
	default:
	}
}

// routerID is the router's id for the saved state.
func (c *Client) routerID() string { return c.cfg.RouterID }

// heardAt is when the controller was last connected (now while it is).
func (c *Client) heardAt() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		return time.Now()
	}
	return c.lastHeard
}

// saveState writes the whole state to the state file and empties the journal.
func (c *Client) saveState() error {
	c.journal.startSnapshot()
	st := savedState{Format: stateFormat, RouterID: c.routerID(), SavedAt: time.Now(), HeardAt: c.heardAt(),
		Controllers: c.learnedControllers()}
	c.cache.snapshot(&st.State)
	st.Topology = c.mesh.snapshot(&st.State)
	st.State.RouterID = st.RouterID
	size, err := writeJSONAtomic(c.cfg.StatePath, &st)
	return c.journal.snapshotWritten(size, err)
}

// keepState writes the state after changes, and whole every StateRefresh while connected,
// until ctx ends; it then writes it whole a last time.
func (c *Client) keepState(ctx context.Context) {
	refresh := time.NewTicker(c.cfg.StateRefresh)
	defer refresh.Stop()
	var lastWrite, lastSnapshot time.Time
	snapshotGap := minStateInterval
	// write writes the whole state when asked to (whole), or when the journal calls for it
	// and the last whole write is far enough behind; otherwise it appends to the journal.
	write := func(whole bool) {
		start := time.Now()
		lastWrite = start
		if whole || (c.journal.due() && start.Sub(lastSnapshot) >= snapshotGap) {
			if err := c.saveState(); err != nil {
				c.log.Warn("saving the router's state failed", "path", c.cfg.StatePath, "err", err)
				return
			}
			took := time.Since(start)
			lastSnapshot = time.Now()
			snapshotGap = max(minStateInterval, 10*took)
			c.log.Debug("router state saved", "path", c.cfg.StatePath, "took", took)
			return
		}
		if c.journal.due() {
			// Too soon for another whole write: append now, and write whole once the gap has
			// passed.
			time.AfterFunc(snapshotGap-start.Sub(lastSnapshot), c.stateChanged)
		}
		if err := c.journal.flush(); err != nil {
			c.log.Warn("appending to the router's state journal failed; the whole state is written next",
				"path", c.journal.path, "err", err)
			c.stateChanged()
		}
	}
	for {
		select {
		case <-ctx.Done():
			write(true)
			return
		case <-refresh.C:
			if c.Connected() {
				write(true)
			}
		case <-c.stateDirty:
			if wait := minStateInterval - time.Since(lastWrite); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-ctx.Done():
					t.Stop()
					write(true)
					return
				case <-t.C:
				}
			}
			write(false)
		}
	}
}

// loadState reads the state file, if there is one recent enough for this router, and the
// journal after it into the cache and the mesh state. It reports what it loaded.
func (c *Client) loadState() (*savedState, error) {
	f, err := os.Open(c.cfg.StatePath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var st savedState
	if err := json.NewDecoder(bufio.NewReader(f)).Decode(&st); err != nil {
		return nil, fmt.Errorf("read %s: %w", c.cfg.StatePath, err)
	}
	if st.Format != stateFormat {
		return nil, fmt.Errorf("%s has format %d, not %d", c.cfg.StatePath, st.Format, stateFormat)
	}
	if c.cfg.RouterID != "" && st.RouterID != c.cfg.RouterID {
		return nil, fmt.Errorf("%s is the state of router %s, not of this router (%s)", c.cfg.StatePath, st.RouterID, c.cfg.RouterID)
	}
	var size int64
	if info, err := f.Stat(); err == nil {
		size = info.Size()
	}
	records, cut, jerr := c.journal.load(size)
	switch {
	case jerr != nil:
		c.log.Warn("reading the router's state journal failed; the whole state is written next", "err", jerr)
	case cut > 0:
		// What a crash in the middle of an append leaves.
		c.log.Info("cut the unfinished end of the router's state journal", "path", c.journal.path, "bytes", cut,
			"records", len(records))
	}
	// The controller was connected when the last record arrived.
	for _, r := range records {
		if r.at.After(st.HeardAt) {
			st.HeardAt = r.at
		}
	}
	switch {
	case st.HeardAt.After(time.Now().Add(maxClockSkew)):
		// A clock set back since, or a file not written by a router: its age is unknown.
		c.journal.replaced(true)
		return nil, fmt.Errorf("%s says the controller was last heard at %s, later than now", c.cfg.StatePath,
			st.HeardAt.Format(time.RFC3339))
	case time.Since(st.HeardAt) > c.cfg.StateMaxAge:
		c.journal.replaced(true)
		return nil, fmt.Errorf("%s was last confirmed by the controller at %s, more than %s ago", c.cfg.StatePath,
			st.HeardAt.Format(time.RFC3339), c.cfg.StateMaxAge)
	}
	c.cache.applySync(&st.State)
	c.mesh.applySync(&st.State)
	c.mesh.setTopology(st.Topology)
	c.controllers.learnAddresses(st.Controllers)
	for i, r := range records {
		var ev ctrlproto.Events
		if err := ctrlproto.Decode(r.body, &ev); err != nil {
			c.log.Warn("the router's state journal holds a record it cannot read; using the records before it",
				"record", i, "err", err)
			c.journal.replaced(true)
			break
		}
		if _, applied := c.cache.applyEvents(&ev); applied {
			c.mesh.applyEvents(&ev)
		}
	}
	c.mu.Lock()
	c.lastHeard = st.HeardAt
	c.mu.Unlock()
	return &st, nil
}

// writeJSONAtomic writes v as JSON to path through a synced temporary file renamed over it,
// and returns the file's size.
func writeJSONAtomic(path string, v any) (int64, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name())
	counted := &countingWriter{w: tmp}
	w := bufio.NewWriterSize(counted, 1<<16)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		_ = tmp.Close()
		return 0, err
	}
	if err := w.Flush(); err != nil {
		_ = tmp.Close()
		return 0, err
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return 0, err
	}
	if err := tmp.Close(); err != nil {
		return 0, err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return 0, err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return counted.n, nil
}

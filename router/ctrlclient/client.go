package ctrlclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ostium-net/ostium/internal/buildinfo"
	"github.com/ostium-net/ostium/internal/ctrlproto"
	"github.com/ostium-net/ostium/router/edge"
	"github.com/ostium-net/ostium/sdk/wire"
)

// Defaults of Config.
const (
	DefaultDialTimeout  = 10 * time.Second
	DefaultHelloTimeout = 30 * time.Second
	DefaultPingInterval = 15 * time.Second
	DefaultPingTimeout  = 10 * time.Second
	DefaultMinBackoff   = 100 * time.Millisecond
	DefaultMaxBackoff   = 5 * time.Second
	DefaultExpirySweep  = 5 * time.Second
)

// Config configures a Client.
type Config struct {
	// Address is the controller's control endpoint, host:port. Required.
	Address string
	// TLS holds the router's enrolled client certificate and the roots that verify the
	// controller. Required. ServerName defaults to the host of Address.
	TLS *tls.Config
	// Version is sent in the Hello; empty takes the binary's build version.
	Version string
	// MoreAddresses are more controllers of the same cluster, tried in turn when Address
	// cannot be reached. Once connected, the client also learns every member's address from
	// the controller.
	MoreAddresses []string
	// Listeners are the edge addresses the router advertises to clients, by protocol:
	// {"tls": "tls://host:port"}. They are sent in the Hello.
	Listeners map[string]string
	// Logger receives the client's logs. Nil discards.
	Logger *slog.Logger

	// OnAPISessionsRemoved is called with the ids of API sessions that were deleted or that a
	// Sync no longer holds. It runs on the goroutine that reads the control channel, after the
	// change is applied, so it must return quickly. Optional.
	OnAPISessionsRemoved func(ids []string)
	// OnSessionsRemoved is the same for sessions. Optional.
	OnSessionsRemoved func(ids []string)
	// OnCAsRemoved is called when a third-party CA stops being trusted (deleted, no longer
	// verified or enabled for authentication), after the change is applied, on the same
	// goroutine as the other hooks. Optional.
	OnCAsRemoved func()
	// Link is the router's link listener, told to the controller in the Hello (nil: the
	// router only dials links).
	Link *ctrlproto.LinkListener
	// OnMeshChanged is called when the routers, terminators or links the controller pushes
	// change (on the read goroutine: it must return quickly). Optional.
	OnMeshChanged func()
	// Circuits lists the circuits that start on the router, for the controller. Optional.
	Circuits func() []ctrlproto.Circuit
	// CloseCircuit closes a circuit on the controller's request; it reports whether the
	// router held it. Optional.
	CloseCircuit func(id, reason string) bool
	// ActiveAPISessions lists the API sessions that have a channel open on the router. They
	// are reported to the controller as often as its Sync asks, so that connected clients'
	// API sessions do not time out. Optional.
	ActiveAPISessions func() []string

	// RouterID is the router's id, recorded in the saved state (a state saved by another
	// router is not loaded).
	RouterID string
	// StatePath, when set, is the file the state the controller pushed is saved to and loaded
	// from at New, so that a router restarted while the controller is away keeps serving the
	// clients it served (see state.go).
	StatePath string
	// StateMaxAge is how long after the router last heard from the controller a saved state
	// is still loaded (default 24 h).
	StateMaxAge time.Duration
	// StateRefresh is how often the state is saved while the controller is connected, changed
	// or not (default 10 min).
	StateRefresh time.Duration

	// DialTimeout bounds the TCP and TLS handshake (default 10 s).
	DialTimeout time.Duration
	// HelloTimeout bounds the wait for the answer to the Hello (default 30 s).
	HelloTimeout time.Duration
	// PingInterval is the time between two Pings (default 15 s).
	PingInterval time.Duration
	// PingTimeout is how long a Ping may go unanswered before the connection is dropped and
	// dialed again (default 10 s).
	PingTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait between two dials (defaults 100 ms and 5 s);
	// it doubles after each failure, with jitter.
	MinBackoff, MaxBackoff time.Duration
	// ExpirySweep is how often API sessions past the end of their lifetime are dropped and
	// reported removed, whether or not the controller is reachable (default 5 s).
	ExpirySweep time.Duration
}

func (c Config) withDefaults() Config {
	if c.Version == "" {
		c.Version = buildinfo.Version
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.HelloTimeout <= 0 {
		c.HelloTimeout = DefaultHelloTimeout
	}
	if c.PingInterval <= 0 {
		c.PingInterval = DefaultPingInterval
	}
	if c.PingTimeout <= 0 {
		c.PingTimeout = DefaultPingTimeout
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = DefaultMinBackoff
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	if c.StateMaxAge <= 0 {
		c.StateMaxAge = DefaultStateMaxAge
	}
	if c.StateRefresh <= 0 {
		c.StateRefresh = DefaultStateRefresh
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = c.MinBackoff
	}
	if c.ExpirySweep <= 0 {
		c.ExpirySweep = DefaultExpirySweep
	}
	return c
}

// ErrRefused wraps the error message of a request the controller answered with a failure.
var ErrRefused = errors.New("controller refused the request")

// Client is the router's control channel client. Create it with New and start it with Run.
type Client struct {
	cfg         Config
	log         *slog.Logger
	cache       *cache
	mesh        *meshState
	controllers *controllerSet

	mu sync.Mutex
	// conn is the connection whose Hello succeeded, nil while there is none.
	conn *wire.Conn
	// changed is closed, and replaced, whenever conn changes.
	changed chan struct{}
	// terms are the terminators registered, by the handle Register returned.
	terms map[string]*terminatorRecord
	// running is true while Run runs.
	running bool
	// linkReport is the last link report, sent again after every Hello.
	linkReport *ctrlproto.LinkReport
	reportMu   sync.Mutex

	// lastHeard is when the last connection to the controller ended (or the saved state's).
	lastHeard time.Time
	// stateDirty asks for the state to be saved.
	stateDirty chan struct{}
	// journal holds the Events to append to the saved state (nil when none is saved).
	journal *journal

	// heartbeatEvery is how often the controller wants API-session heartbeats (0: never);
	// heartbeatSet is signalled when a Sync changes it.
	heartbeatEvery atomic.Int64
	heartbeatSet   chan struct{}

	// connects counts the connections whose Hello succeeded.
	connects atomic.Uint64
	// usage holds circuit records for the controller (usage.go).
	usage usageQueue
}

// terminatorRecord is a terminator the Client registered.
type terminatorRecord struct {
	// handle is the id Register returned: the controller id of the first registration.
	handle string
	// controllerID is the id of the current registration.
	controllerID string
	spec         ctrlproto.Terminator
	// dirty is set when an Update could not reach the controller: a controller that keeps the
	// terminator across the reconnect then still has the old cost and precedence.
	dirty bool
}

var (
	_ edge.Tokens             = (*Client)(nil)
	_ edge.TerminatorRegistry = (*Client)(nil)
	_ edge.TerminatorUpdater  = (*Client)(nil)
)

// New checks cfg and returns a Client that is not connected yet.
func New(cfg Config) (*Client, error) {
	if cfg.Address == "" {
		return nil, errors.New("ctrlclient: no controller address")
	}
	if _, _, err := net.SplitHostPort(cfg.Address); err != nil {
		return nil, fmt.Errorf("ctrlclient: controller address %q: %w", cfg.Address, err)
	}
	if cfg.TLS == nil || (len(cfg.TLS.Certificates) == 0 && cfg.TLS.GetClientCertificate == nil) {
		return nil, errors.New("ctrlclient: no client certificate")
	}
	cfg = cfg.withDefaults()
	cfg.Listeners = maps.Clone(cfg.Listeners)
	c := &Client{
		cfg:   cfg,
		log:   cfg.Logger,
		cache: newCache(),
		mesh:  newMeshState(),

		controllers: newControllerSet(cfg.Address, cfg.MoreAddresses),
		changed:     make(chan struct{}),
		terms:       map[string]*terminatorRecord{},

		heartbeatSet: make(chan struct{}, 1),
		usage:        usageQueue{wake: make(chan struct{}, 1)},
		stateDirty:   make(chan struct{}, 1),
	}
	if cfg.StatePath != "" {
		c.journal = newJournal(cfg.StatePath)
		st, err := c.loadState()
		switch {
		case err != nil:
			c.log.Warn("not using the saved state", "err", err)
		case st != nil:
			apis, sessions, services := c.cache.counts()
			c.log.Info("loaded the state saved before the restart", "path", cfg.StatePath, "savedAt", st.SavedAt.Format(time.RFC3339),
				"heardAt", st.HeardAt.Format(time.RFC3339), "apiSessions", apis, "sessions", sessions, "services", services)
		}
	}
	return c, nil
}

// APISession returns the API session of an API-session token. It never waits for the
// controller.
func (c *Client) APISession(token string) (edge.APISession, bool) { return c.cache.apiSession(token) }

// Session returns a dial or bind session, with the properties of its service. It never waits
// for the controller.
func (c *Client) Session(token string) (edge.Session, bool) { return c.cache.session(token) }

// ThirdPartyCAs returns the pool of the third-party CAs the controller trusts for client
// certificates, nil when there are none. The pool is never changed once returned.
func (c *Client) ThirdPartyCAs() *x509.CertPool { return c.cache.thirdPartyCAs() }

// TokensChanged returns a channel closed when the next state the controller pushes is applied
// (edge.TokenUpdates): the edge listener waits on it for tokens it does not know yet.
func (c *Client) TokensChanged() <-chan struct{} { return c.cache.updates() }

// Connected reports whether a connection to the controller is up (its Hello answered).
func (c *Client) Connected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn != nil
}

// Connects counts the connections to a controller that were established (their Hello
// answered) since the client started: more than one means it reconnected.
func (c *Client) Connects() uint64 { return c.connects.Load() }

// Synced reports whether the client holds a Sync from the controller (from this or an earlier
// connection, or from the state an earlier run saved).
func (c *Client) Synced() bool {
	c.cache.mu.RLock()
	defer c.cache.mu.RUnlock()
	return c.cache.synced
}

// Run keeps a connection to the controller until ctx ends, dialing again whenever it is lost.
// It returns ctx's error. A Client runs at most once at a time.
func (c *Client) Run(ctx context.Context) error {
	c.mu.Lock()
	if c.running {
		c.mu.Unlock()
		return errors.New("ctrlclient: already running")
	}
	c.running = true
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.running = false
		c.mu.Unlock()
	}()
	sweepDone := make(chan struct{})
	defer func() { <-sweepDone }()
	go func() {
		defer close(sweepDone)
		c.sweepExpired(ctx)
	}()
	usageCtx, stopUsage := context.WithCancel(ctx)
	defer stopUsage()
	go c.sendUsage(usageCtx)
	c.usage.kick()
	if c.cfg.StatePath != "" {
		stateDone := make(chan struct{})
		go func() {
			defer close(stateDone)
			c.keepState(ctx)
		}()
		defer func() { <-stateDone }()
	}

	backoff := c.cfg.MinBackoff
	for {
		addr := c.controllers.address()
		conn, err := c.connect(ctx, addr)
		if err == nil {
			backoff = c.cfg.MinBackoff
			c.log.Info("connected to controller", "address", addr)
			err = c.serve(ctx, conn)
			c.disconnected(conn)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			c.log.Warn("lost the controller", "address", addr, "err", err)
		} else {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			c.log.Warn("connecting to controller failed", "address", addr, "err", err, "retryIn", backoff)
		}
		// Another controller of the cluster is tried at once; the backoff grows only once
		// every one has been tried.
		wait := c.cfg.MinBackoff / 2
		if c.controllers.next() {
			// Full jitter on the upper half: wait between backoff/2 and backoff.
			wait = backoff/2 + rand.N(backoff/2+1)
			backoff = min(backoff*2, c.cfg.MaxBackoff)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// sweepExpired drops the API sessions whose lifetime ended, every ExpirySweep, until ctx
// ends; the router closes their channels as for a deletion.
func (c *Client) sweepExpired(ctx context.Context) {
	t := time.NewTicker(c.cfg.ExpirySweep)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if gone := c.cache.expireAPISessions(now); len(gone.apiSessions) > 0 {
				c.log.Info("API sessions reached the end of their lifetime", "count", len(gone.apiSessions))
				c.report(gone)
			}
		}
	}
}

// connect dials, says Hello and makes the connection the current one.
func (c *Client) connect(ctx context.Context, addr string) (*wire.Conn, error) {
	tlsCfg := c.cfg.TLS.Clone()
	if tlsCfg.MinVersion == 0 {
		tlsCfg.MinVersion = tls.VersionTLS12
	}
	dialer := &tls.Dialer{NetDialer: &net.Dialer{Timeout: c.cfg.DialTimeout, KeepAlive: 30 * time.Second}, Config: tlsCfg}
	dialCtx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	raw, err := dialer.DialContext(dialCtx, "tcp", addr)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	// The handler needs the Conn it serves, which exists only once NewConn returns.
	var (
		conn     *wire.Conn
		assigned = make(chan struct{})
	)
	conn = wire.NewConn(raw, func(m *wire.Message) {
		<-assigned
		c.handle(conn, m)
	}, wire.ConnConfig{Limits: wire.Limits{MaxBodyBytes: ctrlproto.MaxBody}})
	close(assigned)

	snapshot := c.terminatorSnapshot()
	specs := make([]ctrlproto.Terminator, 0, len(snapshot))
	for _, rec := range snapshot {
		specs = append(specs, rec.spec)
	}
	body, err := ctrlproto.Encode(ctrlproto.Hello{Version: c.cfg.Version, Listeners: c.cfg.Listeners, Terminators: specs, Link: c.cfg.Link})
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	helloCtx, cancel := context.WithTimeout(ctx, c.cfg.HelloTimeout)
	reply, err := conn.Request(helloCtx, wire.NewMessage(ctrlproto.TypeHello, body))
	cancel()
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("hello: %w", err)
	}
	var created ctrlproto.TerminatorCreated
	err = resultOf(reply, &created)
	reply.Release()
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("hello: %w", err)
	}

	for _, f := range c.connected(conn, snapshot, created) {
		go c.sendFollowUp(ctx, conn, f)
	}
	go c.sendLinkReport(conn)
	return conn, nil
}

// terminatorSnapshot copies the registered terminators for a Hello.
func (c *Client) terminatorSnapshot() []terminatorRecord {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]terminatorRecord, 0, len(c.terms))
	for _, rec := range c.terms {
		out = append(out, *rec)
	}
	return out
}

// connected makes conn current and records the controller ids of the re-registered
// terminators. Terminators unbound or changed while the Hello was under way are registered
// with their old state: it returns the follow-up requests that bring the controller up to
// date.
func (c *Client) connected(conn *wire.Conn, sent []terminatorRecord, created ctrlproto.TerminatorCreated) (fixes []followUp) {
	c.mu.Lock()
	defer c.mu.Unlock()
	inHello := make(map[string]bool, len(sent))
	for _, s := range sent {
		inHello[s.handle] = true
	}
	for handle, rec := range c.terms {
		if rec.controllerID == "" && !inHello[handle] {
			// Registered while the controller was away, after this Hello was made.
			fixes = append(fixes, followUp{contentType: ctrlproto.TypeTerminatorCreate, spec: rec.spec, handle: handle})
		}
	}
	for _, s := range sent {
		id, ok := created.IDs[s.spec.LocalID]
		rec := c.terms[s.handle]
		switch {
		case !ok:
			c.log.Warn("controller did not re-register a terminator", "terminator", s.spec.LocalID, "service", s.spec.ServiceID)
		case rec == nil:
			fixes = append(fixes, followUp{contentType: ctrlproto.TypeTerminatorDelete, spec: ctrlproto.Terminator{ID: id, LocalID: s.spec.LocalID, ServiceID: s.spec.ServiceID}})
		default:
			rec.controllerID = id
			if rec.dirty || rec.spec != s.spec {
				rec.dirty = false
				spec := rec.spec
				spec.ID = id
				fixes = append(fixes, followUp{contentType: ctrlproto.TypeTerminatorUpdate, spec: spec})
			}
		}
	}
	c.setConn(conn)
	return fixes
}

// setConn changes the current connection; the caller holds mu.
func (c *Client) setConn(conn *wire.Conn) {
	if conn != nil && conn != c.conn {
		c.connects.Add(1)
	}
	c.conn = conn
	close(c.changed)
	c.changed = make(chan struct{})
}

// disconnected forgets conn if it is the current connection.
func (c *Client) disconnected(conn *wire.Conn) {
	_ = conn.Close()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == conn {
		c.setConn(nil)
		c.lastHeard = time.Now()
	}
}

// followUp is a terminator request sent right after a Hello.
type followUp struct {
	contentType int32
	spec        ctrlproto.Terminator
	// handle is the terminator's handle, for a create.
	handle string
}

func (c *Client) sendFollowUp(ctx context.Context, conn *wire.Conn, f followUp) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.PingTimeout)
	defer cancel()
	if f.contentType == ctrlproto.TypeTerminatorCreate {
		c.createFollowUp(ctx, conn, f)
		return
	}
	if err := c.request(ctx, conn, f.contentType, f.spec, nil); err != nil {
		c.log.Warn("updating a terminator changed during reconnect failed", "id", f.spec.ID, "terminator", f.spec.LocalID, "err", err)
	}
}

// createFollowUp registers a terminator that became pending while a Hello was under way, and
// records its controller id (or deletes it again when it was unbound meanwhile).
func (c *Client) createFollowUp(ctx context.Context, conn *wire.Conn, f followUp) {
	var created ctrlproto.TerminatorCreated
	if err := c.request(ctx, conn, ctrlproto.TypeTerminatorCreate, f.spec, &created); err != nil {
		// A lost connection's successor registers it in its Hello.
		if !lost(ctx, conn) {
			c.log.Warn("registering a terminator bound while the controller was away failed", "terminator", f.spec.LocalID, "err", err)
		}
		return
	}
	id := created.IDs[f.spec.LocalID]
	if id == "" {
		return
	}
	c.mu.Lock()
	rec := c.terms[f.handle]
	gone := rec == nil
	var update *ctrlproto.Terminator
	if rec != nil && rec.controllerID == "" && c.conn == conn {
		rec.controllerID = id
		if rec.dirty || rec.spec != f.spec {
			rec.dirty = false
			spec := rec.spec
			spec.ID = id
			update = &spec
		}
	}
	c.mu.Unlock()
	switch {
	case gone:
		spec := f.spec
		spec.ID = id
		_ = c.request(ctx, conn, ctrlproto.TypeTerminatorDelete, spec, nil)
	case update != nil:
		_ = c.request(ctx, conn, ctrlproto.TypeTerminatorUpdate, *update, nil)
	}
}

// serve pings conn, and sends API-session heartbeats when the controller asks for them, until
// conn fails, a Ping goes unanswered or ctx ends.
func (c *Client) serve(ctx context.Context, conn *wire.Conn) error {
	ticker := time.NewTicker(c.cfg.PingInterval)
	defer ticker.Stop()
	heartbeat := time.NewTicker(time.Hour)
	heartbeat.Stop()
	defer heartbeat.Stop()
	resetHeartbeat := func() {
		if every := time.Duration(c.heartbeatEvery.Load()); every > 0 && c.cfg.ActiveAPISessions != nil {
			heartbeat.Reset(every)
		} else {
			heartbeat.Stop()
		}
	}
	resetHeartbeat()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-conn.Done():
			return conn.Err()
		case <-c.heartbeatSet:
			resetHeartbeat()
		case <-heartbeat.C:
			c.sendHeartbeat(ctx, conn)
		case <-ticker.C:
			pingCtx, cancel := context.WithTimeout(ctx, c.cfg.PingTimeout)
			err := c.request(pingCtx, conn, ctrlproto.TypePing, nil, nil)
			cancel()
			if err != nil && ctx.Err() == nil {
				return fmt.Errorf("ping: %w", err)
			}
		}
	}
}

// handle processes a message the controller pushed.
func (c *Client) handle(conn *wire.Conn, m *wire.Message) {
	defer m.Release()
	switch m.ContentType {
	case ctrlproto.TypeSync:
		var s ctrlproto.Sync
		if err := ctrlproto.Decode(m.Body, &s); err != nil {
			c.log.Error("dropping connection: bad sync", "err", err)
			_ = conn.Close()
			return
		}
		gone := c.cache.applySync(&s)
		c.mesh.applySync(&s)
		c.journal.replaced(true)
		c.meshChanged()
		if every := time.Duration(s.APISessionHeartbeatMillis) * time.Millisecond; c.heartbeatEvery.Swap(int64(every)) != int64(every) {
			select {
			case c.heartbeatSet <- struct{}{}:
			default:
			}
		}
		apis, sessions, services := c.cache.counts()
		c.log.Info("state synchronized", "index", s.Index, "apiSessions", apis, "sessions", sessions, "services", services)
		c.report(gone)
		c.stateChanged()
	case ctrlproto.TypeEvents:
		var ev ctrlproto.Events
		if err := ctrlproto.Decode(m.Body, &ev); err != nil {
			c.log.Error("dropping connection: bad events", "err", err)
			_ = conn.Close()
			return
		}
		gone, applied := c.cache.applyEvents(&ev)
		if !applied {
			c.log.Debug("skipping events already in the state", "index", ev.Index)
			return
		}
		if c.mesh.applyEvents(&ev) {
			c.meshChanged()
		}
		c.journal.add(m.Body, time.Now())
		c.report(gone)
		c.stateChanged()
	case ctrlproto.TypePing:
		reply := wire.NewResult(true, "")
		reply.ReplyTo(m)
		if err := conn.Send(context.Background(), reply); err != nil {
			c.log.Debug("answering ping failed", "err", err)
		}
	case ctrlproto.TypeControllers:
		c.handleControllers(m.Body)
	case wire.ContentTypeResult:
		// A late answer to a request that gave up.
	default:
		if !c.handleMesh(conn, m) {
			c.log.Debug("ignoring control message", "message", m.String())
		}
	}
}

// sendHeartbeat tells the controller which API sessions have a channel open here. A failed
// send is not retried: the next heartbeat carries the same news.
func (c *Client) sendHeartbeat(ctx context.Context, conn *wire.Conn) {
	ids := c.cfg.ActiveAPISessions()
	if len(ids) == 0 {
		return
	}
	body, err := ctrlproto.Encode(ctrlproto.APISessionHeartbeat{APISessionIDs: ids})
	if err != nil {
		return
	}
	sendCtx, cancel := context.WithTimeout(ctx, c.cfg.PingTimeout)
	defer cancel()
	if err := conn.Send(sendCtx, wire.NewMessage(ctrlproto.TypeAPISessionHeartbeat, body)); err != nil {
		c.log.Debug("sending API-session heartbeat failed", "err", err)
	}
}

func (c *Client) report(gone removals) {
	if len(gone.apiSessions) > 0 && c.cfg.OnAPISessionsRemoved != nil {
		c.cfg.OnAPISessionsRemoved(gone.apiSessions)
	}
	if len(gone.sessions) > 0 && c.cfg.OnSessionsRemoved != nil {
		c.cfg.OnSessionsRemoved(gone.sessions)
	}
	if gone.cas && c.cfg.OnCAsRemoved != nil {
		c.cfg.OnCAsRemoved()
	}
}

// request sends a request with a JSON body (none when body is nil) and decodes the body of a
// successful Result into out (unless out is nil).
func (c *Client) request(ctx context.Context, conn *wire.Conn, contentType int32, body any, out any) error {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = ctrlproto.Encode(body); err != nil {
			return err
		}
	}
	reply, err := conn.Request(ctx, wire.NewMessage(contentType, raw))
	if err != nil {
		return err
	}
	defer reply.Release()
	return resultOf(reply, out)
}

// resultOf reads a Result: its success, and on success its body into out.
func resultOf(reply *wire.Message, out any) error {
	if reply.ContentType != wire.ContentTypeResult {
		return fmt.Errorf("controller answered with %s instead of a result", reply)
	}
	if !reply.ResultSuccess() {
		msg := string(reply.Body)
		if msg == "" {
			msg = "no reason given"
		}
		return fmt.Errorf("%w: %s", ErrRefused, msg)
	}
	if out == nil || len(reply.Body) == 0 {
		return nil
	}
	return ctrlproto.Decode(reply.Body, out)
}

// current waits until a connection other than stale is up and returns it.
func (c *Client) current(ctx context.Context, stale *wire.Conn) (*wire.Conn, error) {
	for {
		c.mu.Lock()
		conn, changed := c.conn, c.changed
		c.mu.Unlock()
		if conn != nil && conn != stale {
			return conn, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for the controller: %w", ctx.Err())
		}
	}
}

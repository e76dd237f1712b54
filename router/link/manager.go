package link

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ostium-net/ostium/internal/ctrlproto"
	"github.com/ostium-net/ostium/sdk/tlsio"
)

// State is what the controller pushed that the mesh needs: the routers, the links every
// router reported, and the terminators of every router. The router's control channel client
// keeps it (and keeps it while the controller is away).
type State interface {
	Routers() []ctrlproto.Router
	Topology() []ctrlproto.LinkState
	ServiceTerminators(serviceID string) []ctrlproto.Terminator
}

// Defaults of Config.
const (
	DefaultProbeInterval = 2 * time.Second
	DefaultProbeTimeout  = 6 * time.Second
	DefaultDialTimeout   = 5 * time.Second
	DefaultMinBackoff    = 100 * time.Millisecond
	DefaultMaxBackoff    = 2 * time.Second
	DefaultWindow        = 4 << 20
	DefaultCreateTimeout = 10 * time.Second
	DefaultResumeTimeout = time.Second
	DefaultResumeWait    = 1500 * time.Millisecond
)

// Config configures a Manager.
type Config struct {
	// RouterID is this router's id (the common name of its certificate). Required.
	RouterID string
	// Certificate returns the router's current client certificate, which it presents on
	// both ends of its links. Required.
	Certificate func() (*tls.Certificate, error)
	// CAs is the network's CA bundle. Required.
	CAs *x509.CertPool
	// Listener accepts links (plain TCP; the Manager does the TLS). Nil: the router only
	// dials.
	Listener net.Listener
	// State is the mesh as the controller pushed it. Required.
	State State
	// Host dials the hosts of this router's terminators for circuits that arrive over
	// links. Required to end circuits here.
	Host Host
	// Report receives the router's links whenever they change (for the controller).
	Report func([]ctrlproto.LinkState)
	// Logger receives the mesh's logs. Nil discards.
	Logger *slog.Logger

	// ProbeInterval is the time between two latency probes of a link (default 2 s);
	// ProbeTimeout closes a link whose probes go unanswered that long (default 6 s).
	ProbeInterval, ProbeTimeout time.Duration
	// DialTimeout bounds the TCP and TLS handshake of a link (default 5 s).
	DialTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait between two dials of a peer (defaults
	// 100 ms and 2 s), doubling after each failure, with jitter.
	MinBackoff, MaxBackoff time.Duration
	// Window is the flow-control window of each direction of a circuit, in bytes (default
	// 4 MiB). It must match the edge listener's FabricWindow.
	Window int
	// CreateTimeout bounds the opening of a circuit (default 10 s).
	CreateTimeout time.Duration
	// ResumeTimeout bounds the mending of a circuit whose path broke at the dialer's router:
	// finding another path and the host's router answering the resume (default 1 s).
	// ResumeWait is how long the host's router waits for that resume (default 1.5 s). Either
	// end closes the circuit with an error when its time is up, so a circuit whose path
	// cannot be mended ends within 2 s of the loss by default.
	ResumeTimeout, ResumeWait time.Duration
	// Metrics, when set, receives the mesh's metrics (ostium_router_link...).
	Metrics prometheus.Registerer
}

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.ProbeInterval, DefaultProbeInterval)
	def(&c.ProbeTimeout, DefaultProbeTimeout)
	def(&c.DialTimeout, DefaultDialTimeout)
	def(&c.MinBackoff, DefaultMinBackoff)
	def(&c.MaxBackoff, DefaultMaxBackoff)
	def(&c.CreateTimeout, DefaultCreateTimeout)
	def(&c.ResumeTimeout, DefaultResumeTimeout)
	def(&c.ResumeWait, DefaultResumeWait)
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = c.MinBackoff
	}
	if c.Window <= 0 {
		c.Window = DefaultWindow
	}
	return c
}

// Manager keeps this router's links: it accepts them on its listener, dials one to every
// router that listens (the router with the smaller id dials when both listen, so there is one
// link per pair), redials lost ones, measures them and reports them. It also carries circuits
// over them (see circuit.go) and computes paths (route.go).
type Manager struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	links   map[string]*Link       // by peer router id
	dialers map[string]*dialer     // by peer router id
	failed  map[string]failedState // peers this router fails to dial
	closed  bool
	hops    map[*hop]struct{}

	terminals   sync.Map // circuit id → *terminal (the circuits that end on this router)
	changedMu   sync.Mutex
	changed     chan struct{} // closed and replaced at every change of the mesh
	reportDirty chan struct{}
	wake        chan struct{}
	stop        chan struct{}
	wg          sync.WaitGroup
	routes      routeCache
	latency     prometheus.Histogram
	mends       mendCounts
}

type failedState struct {
	linkID string
	err    error
}

// New checks cfg and returns a Manager; Run starts it.
func New(cfg Config) (*Manager, error) {
	switch {
	case cfg.RouterID == "":
		return nil, errors.New("link: no router id")
	case cfg.Certificate == nil:
		return nil, errors.New("link: no certificate")
	case cfg.CAs == nil:
		return nil, errors.New("link: no CA pool")
	case cfg.State == nil:
		return nil, errors.New("link: no mesh state")
	}
	cfg = cfg.withDefaults()
	m := &Manager{
		cfg:         cfg,
		log:         cfg.Logger.With("component", "link"),
		links:       map[string]*Link{},
		dialers:     map[string]*dialer{},
		failed:      map[string]failedState{},
		hops:        map[*hop]struct{}{},
		reportDirty: make(chan struct{}, 1),
		changed:     make(chan struct{}),
		wake:        make(chan struct{}, 1),
		stop:        make(chan struct{}),
		latency:     newLatency(),
	}
	if err := m.registerMetrics(cfg.Metrics); err != nil {
		return nil, err
	}
	return m, nil
}

// Run accepts and dials links until ctx ends, then closes them all.
func (m *Manager) Run(ctx context.Context) error {
	if m.cfg.Listener != nil {
		m.wg.Add(1)
		go func() { defer m.wg.Done(); m.acceptLoop() }()
	}
	m.wg.Add(1)
	go func() { defer m.wg.Done(); m.reportLoop() }()
	m.reconcile()
	for {
		select {
		case <-ctx.Done():
			m.shutdown()
			return ctx.Err()
		case <-m.wake:
			m.reconcile()
		}
	}
}

func (m *Manager) shutdown() {
	m.mu.Lock()
	m.closed = true
	close(m.stop)
	links := make([]*Link, 0, len(m.links))
	for _, l := range m.links {
		links = append(links, l)
	}
	m.mu.Unlock()
	if m.cfg.Listener != nil {
		_ = m.cfg.Listener.Close()
	}
	for _, l := range links {
		l.Close()
	}
	m.wg.Wait()
}

// MeshChanged tells the Manager that the routers, terminators or topology it was given
// changed: it dials new peers, stops dialing gone ones, closes links to routers that were
// deleted, disabled or re-enrolled, and forgets computed paths.
func (m *Manager) MeshChanged() {
	m.routes.invalidate()
	m.announce()
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// linkChanged marks the links as changed, for the report and the paths.
func (m *Manager) linkChanged() {
	m.routes.invalidate()
	m.announce()
	select {
	case m.reportDirty <- struct{}{}:
	default:
	}
}

// FabricChanged returns a channel closed at the next change of the routers, terminators,
// topology or links (edge.FabricUpdates).
func (m *Manager) FabricChanged() <-chan struct{} {
	m.changedMu.Lock()
	defer m.changedMu.Unlock()
	return m.changed
}

func (m *Manager) announce() {
	m.changedMu.Lock()
	close(m.changed)
	m.changed = make(chan struct{})
	m.changedMu.Unlock()
}

// reconcile brings dialers and links in line with the routers the controller pushed.
func (m *Manager) reconcile() {
	routers := m.routerTable()
	self, selfKnown := routers[m.cfg.RouterID]
	selfListens := m.cfg.Listener != nil
	if selfKnown && self.Link != nil {
		selfListens = true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	want := map[string]ctrlproto.Router{}
	for id, r := range routers {
		if id == m.cfg.RouterID || r.Link == nil || r.Link.Address == "" || !r.usable() {
			continue
		}
		// One link per pair: when both listen, the smaller id dials.
		if selfListens && m.cfg.RouterID > id {
			continue
		}
		want[id] = r.Router
	}
	for id, d := range m.dialers {
		if r, ok := want[id]; !ok || r.Link.Address != d.address {
			d.stop()
			delete(m.dialers, id)
			delete(m.failed, id)
		}
	}
	for id, r := range want {
		if m.dialers[id] == nil {
			d := &dialer{m: m, peer: r.ID, address: r.Link.Address, done: make(chan struct{})}
			m.dialers[id] = d
			m.wg.Add(1)
			go func() { defer m.wg.Done(); d.run() }()
		}
	}
	// Links to routers that are gone, disabled or hold another certificate now close.
	for id, l := range m.links {
		r, ok := routers[id]
		if !ok || !r.usable() {
			l.log.Info("closing link: the peer router was deleted, disabled or re-enrolled")
			go l.close(errors.New("peer router no longer valid"))
		}
	}
}

// routerEntry is a router of the table with what the Manager derives from it.
type routerEntry struct {
	ctrlproto.Router
}

// usable reports whether links with the router are allowed.
func (r routerEntry) usable() bool { return !r.Disabled && r.Fingerprint != "" }

func (m *Manager) routerTable() map[string]routerEntry {
	out := map[string]routerEntry{}
	for _, r := range m.cfg.State.Routers() {
		out[r.ID] = routerEntry{r}
	}
	return out
}

// dialer keeps one link to a peer up, redialing with backoff.
type dialer struct {
	m       *Manager
	peer    string
	address string
	once    sync.Once
	done    chan struct{}
}

func (d *dialer) stop() { d.once.Do(func() { close(d.done) }) }

func (d *dialer) run() {
	m := d.m
	backoff := m.cfg.MinBackoff
	linkID := newLinkID()
	for {
		select {
		case <-d.done:
			return
		case <-m.stop:
			return
		default:
		}
		if l := m.link(d.peer); l != nil {
			// A link exists (the peer may have dialed us after a restart): wait for it to end.
			select {
			case <-l.Done():
			case <-d.done:
				return
			case <-m.stop:
				return
			}
			backoff = m.cfg.MinBackoff
			continue
		}
		l, fr, err := m.dial(d.peer, d.address, linkID)
		if err == nil {
			m.setFailed(d.peer, "", nil)
			backoff = m.cfg.MinBackoff
			m.serveLink(l, fr)
			linkID = newLinkID()
		} else {
			m.log.Info("dialing a link failed", "peer", d.peer, "address", d.address, "err", err, "retryIn", backoff)
			m.setFailed(d.peer, linkID, err)
		}
		wait := backoff/2 + mrand.N(backoff/2+1)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-d.done:
			t.Stop()
			return
		case <-m.stop:
			t.Stop()
			return
		}
		if err != nil {
			backoff = min(backoff*2, m.cfg.MaxBackoff)
		}
	}
}

func (m *Manager) setFailed(peer, linkID string, err error) {
	m.mu.Lock()
	_, had := m.failed[peer]
	if err == nil {
		delete(m.failed, peer)
	} else {
		m.failed[peer] = failedState{linkID: linkID, err: err}
	}
	m.mu.Unlock()
	if had != (err != nil) {
		m.linkChanged()
	}
}

// link returns the live link to a peer, or nil.
func (m *Manager) link(peer string) *Link {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l := m.links[peer]; l != nil && !l.isClosed() {
		return l
	}
	return nil
}

// dial opens a link to a peer: TCP, TLS with both routers' certificates, and the hellos.
func (m *Manager) dial(peer, address, linkID string) (*Link, *frameReader, error) {
	ctx, cancel := context.WithTimeout(context.Background(), m.cfg.DialTimeout)
	defer cancel()
	go func() {
		select {
		case <-m.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	raw, err := (&net.Dialer{KeepAlive: 15 * time.Second}).DialContext(ctx, "tcp", address)
	if err != nil {
		return nil, nil, err
	}
	conn := tlsio.Client(raw, m.clientTLS(peer))
	if err := conn.HandshakeContext(ctx); err != nil {
		_ = raw.Close()
		return nil, nil, fmt.Errorf("TLS: %w", err)
	}
	_ = conn.SetDeadline(time.Now().Add(m.cfg.DialTimeout))
	fr := newFrameReader(conn)
	if err := writeHello(conn, hello{RouterID: m.cfg.RouterID, LinkID: linkID}); err != nil {
		_ = conn.Close()
		return nil, nil, err
	}
	h, err := readHello(fr)
	if err != nil {
		_ = conn.Close()
		return nil, nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	if h.RouterID != peer {
		_ = conn.Close()
		return nil, nil, fmt.Errorf("the peer says it is router %q, not %q", h.RouterID, peer)
	}
	return newLink(m, linkID, peer, true, conn), fr, nil
}

func (m *Manager) acceptLoop() {
	var backoff time.Duration
	for {
		raw, err := m.cfg.Listener.Accept()
		if err != nil {
			select {
			case <-m.stop:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			m.log.Error("link listener failed", "err", err)
			return
		}
		backoff = 0
		m.wg.Add(1)
		go func() { defer m.wg.Done(); m.accept(raw) }()
	}
}

// accept handshakes an incoming link and serves it.
func (m *Manager) accept(raw net.Conn) {
	_ = raw.SetDeadline(time.Now().Add(m.cfg.DialTimeout))
	conn := tlsio.Server(raw, m.serverTLS())
	if err := conn.Handshake(); err != nil {
		m.log.Info("refused a link", "remote", raw.RemoteAddr().String(), "err", err)
		_ = raw.Close()
		return
	}
	peer := conn.ConnectionState().PeerCertificates[0].Subject.CommonName
	fr := newFrameReader(conn)
	h, err := readHello(fr)
	if err == nil && h.RouterID != peer {
		err = fmt.Errorf("hello names router %q, the certificate %q", h.RouterID, peer)
	}
	if err == nil {
		err = writeHello(conn, hello{RouterID: m.cfg.RouterID, LinkID: h.LinkID})
	}
	if err != nil {
		m.log.Info("refused a link", "remote", raw.RemoteAddr().String(), "err", err)
		_ = conn.Close()
		return
	}
	_ = conn.SetDeadline(time.Time{})
	m.serveLink(newLink(m, h.LinkID, peer, false, conn), fr)
}

// serveLink makes l the link to its peer (closing an older one) and serves it until it ends.
func (m *Manager) serveLink(l *Link, fr *frameReader) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		_ = l.conn.Close()
		return
	}
	old := m.links[l.peerID]
	m.links[l.peerID] = l
	m.mu.Unlock()
	if old != nil {
		old.log.Info("a newer link to the same router replaces this one")
		old.close(errors.New("replaced by a newer link"))
	}
	l.log.Info("link up", "dialed", l.dialed)
	m.linkChanged()
	l.run(fr)
	m.mu.Lock()
	if m.links[l.peerID] == l {
		delete(m.links, l.peerID)
	}
	m.mu.Unlock()
	l.log.Info("link down", "err", l.Err())
	m.linkChanged()
}

// reportLoop sends the links to the controller when they change, at most every 200 ms.
func (m *Manager) reportLoop() {
	if m.cfg.Report == nil {
		return
	}
	for {
		select {
		case <-m.stop:
			return
		case <-m.reportDirty:
		}
		m.cfg.Report(m.LinkStates())
		select {
		case <-m.stop:
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// LinkStates describes this router's links: the live ones, and the ones it fails to dial.
func (m *Manager) LinkStates() []ctrlproto.LinkState {
	m.mu.Lock()
	defer m.mu.Unlock()
	routers := m.routerTable()
	out := make([]ctrlproto.LinkState, 0, len(m.links)+len(m.failed))
	for _, l := range m.links {
		src, dst := m.cfg.RouterID, l.peerID
		if !l.dialed {
			src, dst = dst, src
		}
		out = append(out, ctrlproto.LinkState{ID: l.id, Source: src, Dest: dst, State: ctrlproto.LinkConnected,
			LatencyMicros: l.Latency().Microseconds(), Cost: linkCost(routers, dst)})
	}
	for peer, f := range m.failed {
		if m.links[peer] != nil {
			continue
		}
		out = append(out, ctrlproto.LinkState{ID: f.linkID, Source: m.cfg.RouterID, Dest: peer, State: ctrlproto.LinkFailed, Cost: linkCost(routers, peer)})
	}
	slices.SortFunc(out, func(a, b ctrlproto.LinkState) int { return compareStrings(a.ID, b.ID) })
	return out
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// linkCost is the static cost of links to a router's listener.
func linkCost(routers map[string]routerEntry, dest string) uint16 {
	if r, ok := routers[dest]; ok && r.Link != nil {
		return r.Link.Cost
	}
	return 0
}

// Links returns the live links.
func (m *Manager) Links() []*Link {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*Link, 0, len(m.links))
	for _, l := range m.links {
		out = append(out, l)
	}
	return out
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

func newLinkID() string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return "l" + idEncoding.EncodeToString(b[:])
}

package routerctl

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/ostium-net/ostium/controller/activity"
	"github.com/ostium-net/ostium/controller/command"
	"github.com/ostium-net/ostium/controller/events"
	"github.com/ostium-net/ostium/controller/pki"
	"github.com/ostium-net/ostium/controller/state"
	"github.com/ostium-net/ostium/controller/store"
	"github.com/ostium-net/ostium/internal/ctrlproto"
	"github.com/ostium-net/ostium/sdk/wire"
)

// Server accepts routers' control channels (see internal/ctrlproto): it
// checks that the peer holds an enrolled router's certificate, marks the
// router online, sends it the state it validates tokens with, pushes every
// later change, and records the terminators the router registers.
type Server struct {
	State    *state.State
	CA       *pki.Authority
	Presence *Presence
	Log      *slog.Logger
	// Activity receives the API sessions routers report in use; with
	// APISessionHeartbeat, how often routers are asked to report. Nil or
	// zero: routers report nothing.
	Activity            *activity.Tracker
	APISessionHeartbeat time.Duration
	// SessionMaxLifetime is the absolute lifetime of API sessions: routers
	// are told when each ends and close its channels then. Zero: routers
	// keep API sessions until they are deleted.
	SessionMaxLifetime time.Duration
	// TokenKeys is the JWKS of the keys that sign OIDC access tokens, sent
	// to routers so that they verify those tokens on their own. Empty:
	// routers accept no signed tokens.
	TokenKeys []byte
	// Controllers lists the control-channel endpoints ("tls:host:port") of
	// every controller of the cluster; routers are told them so that they
	// reconnect to another one when theirs is gone. Nil: routers are told
	// nothing.
	Controllers func() []string
	// Events receives the router, link and circuit events of the routers
	// attached to this node; nil publishes none.
	Events *events.Bus

	mu      sync.Mutex
	ln      net.Listener
	routers map[string]*routerConn
	closed  bool
	wg      sync.WaitGroup

	meshOnce sync.Once
	mesh     *meshLinks
	stop     chan struct{}
	stopOnce sync.Once
}

// stopped is closed when the Server closes.
func (s *Server) stopped() <-chan struct{} {
	s.stopOnce.Do(func() { s.stop = make(chan struct{}) })
	return s.stop
}

// eventQueueDepth bounds the changes waiting to be sent to one router; a
// router that falls further behind is disconnected and resyncs on reconnect.
const eventQueueDepth = 4096

type routerConn struct {
	s      *Server
	id     string
	wc     *wire.Conn
	events chan ctrlproto.Events
	done   chan struct{}
}

// Serve accepts control channels on ln until Close.
func (s *Server) Serve(ln net.Listener) error {
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	cert, err := s.CA.ServerTLSCertificate()
	if err != nil {
		return err
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: s.CA.CAPool()}
	s.meshInit()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ln.Close()
	}
	s.ln = ln
	if s.routers == nil {
		s.routers = map[string]*routerConn{}
	}
	s.mu.Unlock()
	s.goTracked(s.watchControllers)
	for {
		raw, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		if !s.goTracked(func() { s.serveConn(tls.Server(raw, tlsCfg)) }) {
			_ = raw.Close()
			return nil
		}
	}
}

// goTracked runs fn in a goroutine that Close waits for, and reports false,
// running nothing, once the Server is closed. Adding to the wait group under
// s.mu orders every Add before Close's Wait.
func (s *Server) goTracked(fn func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn()
	}()
	return true
}

// Close stops accepting and drops every router.
func (s *Server) Close() error {
	s.stopped()
	s.mu.Lock()
	if !s.closed {
		close(s.stop)
	}
	s.closed = true
	ln := s.ln
	routers := make([]*routerConn, 0, len(s.routers))
	for _, r := range s.routers {
		routers = append(routers, r)
	}
	s.mu.Unlock()
	var err error
	if ln != nil {
		err = ln.Close()
	}
	for _, r := range routers {
		_ = r.wc.Close()
	}
	s.wg.Wait()
	return err
}

// routerOf finds the enrolled, enabled router holding the certificate.
func (s *Server) routerOf(leaf *x509.Certificate) (*store.EdgeRouter, error) {
	if err := s.CA.VerifyClientCert([]*x509.Certificate{leaf}); err != nil {
		return nil, err
	}
	var r *store.EdgeRouter
	err := s.State.View(func(tx *store.Tx) error {
		id, ok := tx.Lookup(store.EdgeRouters, "fingerprint", pki.Fingerprint(leaf.Raw))
		if !ok {
			return errors.New("no edge router holds this certificate")
		}
		var err error
		r, err = store.Get[*store.EdgeRouter](tx, store.EdgeRouters, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	if r.Disabled {
		return nil, fmt.Errorf("edge router %s is disabled", r.Name)
	}
	return r, nil
}

func (s *Server) serveConn(c *tls.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(15 * time.Second))
	if err := c.Handshake(); err != nil {
		s.Log.Debug("router control handshake failed", "remote", c.RemoteAddr(), "err", err)
		return
	}
	_ = c.SetDeadline(time.Time{})
	peers := c.ConnectionState().PeerCertificates
	router, err := s.routerOf(peers[0])
	if err != nil {
		s.Log.Warn("refused a router control channel", "remote", c.RemoteAddr(), "err", err)
		return
	}
	rc := &routerConn{s: s, id: router.ID, events: make(chan ctrlproto.Events, eventQueueDepth), done: make(chan struct{})}
	hello := make(chan *wire.Message, 1)
	rc.wc = wire.NewConn(c, func(m *wire.Message) { rc.handle(m, hello) },
		wire.ConnConfig{Limits: wire.Limits{MaxBodyBytes: ctrlproto.MaxBody}})
	defer rc.wc.Close()

	var h *wire.Message
	select {
	case h = <-hello:
	case <-time.After(15 * time.Second):
		s.Log.Warn("router sent no hello", "router", router.Name)
		return
	case <-rc.wc.Done():
		return
	}
	var req ctrlproto.Hello
	if err := ctrlproto.Decode(h.Body, &req); err != nil {
		rc.reply(h, nil, err)
		return
	}
	if err := s.recordListeners(router, req.Listeners, req.Link); err != nil {
		rc.reply(h, nil, err)
		return
	}
	ids, err := s.reconcileTerminators(router.ID, req.Terminators)
	rc.reply(h, ctrlproto.TerminatorCreated{IDs: ids}, err)
	if err != nil {
		return
	}

	// Subscribe before reading the state, so no change falls in between.
	cancel := s.State.Store.Listen(rc.onCommit)
	defer cancel()
	sync, err := s.snapshot(router.ID)
	if err != nil {
		s.Log.Error("build router sync", "router", router.Name, "err", err)
		return
	}
	body, err := ctrlproto.Encode(sync)
	if err != nil {
		return
	}
	ctx, cancelSend := context.WithTimeout(context.Background(), time.Minute)
	err = rc.wc.Send(ctx, wire.NewMessage(ctrlproto.TypeSync, body))
	cancelSend()
	if err != nil {
		return
	}

	s.mu.Lock()
	if s.closed {
		// Close ran after this router connected: it has taken its list of routers to drop
		// and waits for this handler, which must not register.
		s.mu.Unlock()
		return
	}
	old := s.routers[router.ID]
	if old != nil {
		_ = old.wc.Close() // a newer channel of the same router replaces it
	}
	s.routers[router.ID] = rc
	s.mu.Unlock()
	s.Presence.Connected(router.ID)
	s.sendControllers(rc.wc, s.controllerEndpoints())
	if old == nil {
		s.Events.Publish(events.New(events.RouterOnline, time.Now(), map[string]any{"routerId": router.ID, "routerName": router.Name,
			"remoteAddress": c.RemoteAddr().String(), "version": req.Version}))
	}
	s.topologyChanged() // the new router gets the links too
	s.Log.Info("router connected", "router", router.Name, "id", router.ID, "remote", c.RemoteAddr())
	defer func() {
		s.mu.Lock()
		last := s.routers[router.ID] == rc
		if last {
			delete(s.routers, router.ID)
			s.Presence.Disconnected(router.ID)
		}
		s.mu.Unlock()
		if last {
			s.Events.Publish(events.New(events.RouterOffline, time.Now(), map[string]any{"routerId": router.ID, "routerName": router.Name}))
			s.dropLinkReport(router.ID)
		}
		close(rc.done)
		s.Log.Info("router disconnected", "router", router.Name)
	}()

	for {
		select {
		case <-rc.wc.Done():
			return
		case <-s.stopped():
			return
		case ev := <-rc.events:
			if ev.Index <= sync.Index {
				continue // already part of the sync
			}
			body, err := ctrlproto.Encode(ev)
			if err != nil {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err = rc.wc.Send(ctx, wire.NewMessage(ctrlproto.TypeEvents, body))
			cancel()
			if err != nil {
				return
			}
		}
	}
}

// onCommit turns committed store changes into events for this router.
func (rc *routerConn) onCommit(index uint64, changes []store.Change) {
	var evs []ctrlproto.Event
	for _, c := range changes {
		if ev, ok := eventOf(c, rc.s.SessionMaxLifetime); ok {
			evs = append(evs, ev)
		}
	}
	if len(evs) == 0 {
		return
	}
	select {
	case rc.events <- ctrlproto.Events{Index: index, Events: evs}:
	default:
		rc.s.Log.Warn("router fell behind on changes; dropping its channel to resync", "router", rc.id)
		go rc.wc.Close()
	}
}

func eventOf(c store.Change, maxLifetime time.Duration) (ctrlproto.Event, bool) {
	kind := ctrlproto.EventUpsert
	rec := c.New
	if rec == nil {
		kind, rec = ctrlproto.EventDelete, c.Old
	}
	switch r := rec.(type) {
	case *store.APISession:
		return ctrlproto.Event{Kind: kind, APISession: apiSessionOf(r, maxLifetime)}, true
	case *store.Session:
		return ctrlproto.Event{Kind: kind, Session: sessionOf(r)}, true
	case *store.Service:
		return ctrlproto.Event{Kind: kind, Service: serviceOf(r)}, true
	case *store.EdgeRouter:
		return ctrlproto.Event{Kind: kind, Router: meshRouterOf(r)}, true
	case *store.Terminator:
		return ctrlproto.Event{Kind: kind, Terminator: meshTerminatorOf(r)}, true
	case *store.Revocation:
		return ctrlproto.Event{Kind: kind, Revocation: revocationOf(r)}, true
	case *store.CA:
		// For the router, a CA exists while it is trusted: one that stops being verified or
		// enabled for authentication is deleted, one that becomes so is created.
		was := c.Old != nil && trustedCA(c.Old.(*store.CA))
		is := c.New != nil && trustedCA(c.New.(*store.CA))
		switch {
		case is:
			return ctrlproto.Event{Kind: ctrlproto.EventUpsert, CA: caOf(c.New.(*store.CA))}, true
		case was:
			return ctrlproto.Event{Kind: ctrlproto.EventDelete, CA: caOf(c.Old.(*store.CA))}, true
		}
	}
	return ctrlproto.Event{}, false
}

// trustedCA reports a third-party CA whose client certificates authenticate: verified and
// enabled for authentication, as the controller's certificate sign-in demands.
func trustedCA(r *store.CA) bool { return r.IsVerified && r.IsAuthEnabled }

func caOf(r *store.CA) *ctrlproto.CA {
	return &ctrlproto.CA{ID: r.ID, Name: r.Name, CertPEM: r.CertPEM}
}

// apiSessionOf is what a router needs of an API session: with maxLifetime,
// the end of its lifetime, after which the router drops it on its own.
func apiSessionOf(r *store.APISession, maxLifetime time.Duration) *ctrlproto.APISession {
	a := &ctrlproto.APISession{ID: r.ID, IdentityID: r.IdentityID, TokenHash: r.TokenHash, CertFingerprints: r.CertFingerprints}
	if maxLifetime > 0 && !r.CreatedAt.IsZero() {
		a.ExpiresAt = r.CreatedAt.Add(maxLifetime).UTC()
	}
	return a
}

func sessionOf(r *store.Session) *ctrlproto.Session {
	return &ctrlproto.Session{ID: r.ID, APISessionID: r.APISessionID, IdentityID: r.IdentityID, ServiceID: r.ServiceID, Type: r.Type, TokenHash: r.TokenHash}
}

func revocationOf(r *store.Revocation) *ctrlproto.Revocation {
	return &ctrlproto.Revocation{APISessionID: r.ID, ExpiresAt: r.ExpiresAt}
}

func serviceOf(r *store.Service) *ctrlproto.Service {
	return &ctrlproto.Service{ID: r.ID, Name: r.Name, EncryptionRequired: r.EncryptionRequired,
		MaxIdleTimeMillis: r.MaxIdleTimeMillis, TerminatorStrategy: r.TerminatorStrategy}
}

// snapshot is the full state a router needs.
func (s *Server) snapshot(routerID string) (ctrlproto.Sync, error) {
	out := ctrlproto.Sync{RouterID: routerID, APISessions: []ctrlproto.APISession{}, Sessions: []ctrlproto.Session{}, Services: []ctrlproto.Service{}}
	if s.Activity != nil && s.APISessionHeartbeat > 0 {
		out.APISessionHeartbeatMillis = max(s.APISessionHeartbeat.Milliseconds(), 1)
	}
	if len(s.TokenKeys) > 0 {
		out.TokenKeys = append(json.RawMessage(nil), s.TokenKeys...)
	}
	err := s.State.View(func(tx *store.Tx) error {
		out.Index = tx.AppliedIndex()
		if err := tx.ForEach(store.APISessions, func(r store.Record) error {
			out.APISessions = append(out.APISessions, *apiSessionOf(r.(*store.APISession), s.SessionMaxLifetime))
			return nil
		}); err != nil {
			return err
		}
		if err := tx.ForEach(store.Revocations, func(r store.Record) error {
			out.Revocations = append(out.Revocations, *revocationOf(r.(*store.Revocation)))
			return nil
		}); err != nil {
			return err
		}
		if err := tx.ForEach(store.CAs, func(r store.Record) error {
			if ca := r.(*store.CA); trustedCA(ca) {
				out.CAs = append(out.CAs, *caOf(ca))
			}
			return nil
		}); err != nil {
			return err
		}
		if err := tx.ForEach(store.Sessions, func(r store.Record) error {
			out.Sessions = append(out.Sessions, *sessionOf(r.(*store.Session)))
			return nil
		}); err != nil {
			return err
		}
		if err := tx.ForEach(store.Services, func(r store.Record) error {
			out.Services = append(out.Services, *serviceOf(r.(*store.Service)))
			return nil
		}); err != nil {
			return err
		}
		if err := tx.ForEach(store.EdgeRouters, func(r store.Record) error {
			out.Routers = append(out.Routers, *meshRouterOf(r.(*store.EdgeRouter)))
			return nil
		}); err != nil {
			return err
		}
		return tx.ForEach(store.Terminators, func(r store.Record) error {
			out.Terminators = append(out.Terminators, *meshTerminatorOf(r.(*store.Terminator)))
			return nil
		})
	})
	return out, err
}

// handle runs on the channel's read loop; work that waits on raft runs apart.
func (rc *routerConn) handle(m *wire.Message, hello chan *wire.Message) {
	switch m.ContentType {
	case ctrlproto.TypeHello:
		select {
		case hello <- m:
		default:
			rc.reply(m, nil, errors.New("hello was already received"))
		}
	case ctrlproto.TypePing:
		rc.reply(m, nil, nil)
	case ctrlproto.TypeAPISessionHeartbeat:
		rc.apiSessionHeartbeat(m)
	case ctrlproto.TypeLinkReport:
		rc.linkReport(m)
	case ctrlproto.TypeCircuitUsage:
		rc.circuitUsage(m)
	case ctrlproto.TypeTerminatorCreate, ctrlproto.TypeTerminatorUpdate, ctrlproto.TypeTerminatorDelete:
		go rc.terminatorRequest(m)
	default:
		rc.reply(m, nil, fmt.Errorf("unknown control message type %d", m.ContentType))
	}
}

// apiSessionHeartbeat counts the API sessions a router holds channels of as
// used now.
func (rc *routerConn) apiSessionHeartbeat(m *wire.Message) {
	defer m.Release()
	if rc.s.Activity == nil {
		return
	}
	var hb ctrlproto.APISessionHeartbeat
	if err := ctrlproto.Decode(m.Body, &hb); err != nil {
		rc.s.Log.Warn("bad API-session heartbeat", "router", rc.id, "err", err)
		return
	}
	now := time.Now()
	for _, id := range hb.APISessionIDs {
		if id != "" && len(id) <= maxIDLength {
			rc.s.Activity.TouchFromRouter(id, now)
		}
	}
}

// maxIDLength bounds the ids a router reports (the tracker keeps them until
// the next upkeep drops those that do not exist).
const maxIDLength = 128

func (rc *routerConn) reply(req *wire.Message, body any, err error) {
	var m *wire.Message
	if err != nil {
		m = wire.NewResult(false, err.Error())
	} else {
		m = wire.NewResult(true, "")
		if body != nil {
			b, eerr := ctrlproto.Encode(body)
			if eerr != nil {
				m = wire.NewResult(false, eerr.Error())
			} else {
				m.Body = b
			}
		}
	}
	m.ReplyTo(req)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = rc.wc.Send(ctx, m)
}

func (rc *routerConn) terminatorRequest(m *wire.Message) {
	var t ctrlproto.Terminator
	if err := ctrlproto.Decode(m.Body, &t); err != nil {
		rc.reply(m, nil, err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := rc.s
	switch m.ContentType {
	case ctrlproto.TypeTerminatorCreate:
		rec := terminatorRecord(rc.id, t)
		id, err := s.State.Create(ctx, store.Terminators, rec)
		rc.reply(m, ctrlproto.TerminatorCreated{IDs: map[string]string{t.LocalID: id}}, err)
	case ctrlproto.TypeTerminatorUpdate:
		err := s.State.Update(ctx, store.Terminators, t.ID, func(r store.Record) error {
			term := r.(*store.Terminator)
			if term.RouterID != rc.id {
				return store.ErrNotFound
			}
			term.Cost, term.Precedence = t.Cost, precedenceName(t.Precedence)
			return nil
		})
		rc.reply(m, nil, err)
	case ctrlproto.TypeTerminatorDelete:
		err := s.deleteTerminator(ctx, rc.id, t.ID)
		rc.reply(m, nil, err)
	}
}

func (s *Server) deleteTerminator(ctx context.Context, routerID, id string) error {
	rec, err := s.State.Get(store.Terminators, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if rec.(*store.Terminator).RouterID != routerID {
		return store.ErrNotFound
	}
	err = s.State.Delete(ctx, store.Terminators, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

func precedenceName(p string) string {
	switch p {
	case "required", "failed":
		return p
	}
	return "default"
}

func terminatorRecord(routerID string, t ctrlproto.Terminator) *store.Terminator {
	return &store.Terminator{ServiceID: t.ServiceID, RouterID: routerID, Binding: "edge", Address: t.LocalID,
		Identity: t.Identity, IdentityID: t.HostID, Cost: t.Cost, Precedence: precedenceName(t.Precedence)}
}

// reconcileTerminators makes the controller's terminators of a router match
// what the router holds after a (re)connect.
func (s *Server) reconcileTerminators(routerID string, held []ctrlproto.Terminator) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	byLocal := map[string]*store.Terminator{}
	var stale []string
	err := s.State.View(func(tx *store.Tx) error {
		for _, id := range tx.Referencing(store.Terminators, "routerId", routerID) {
			t, err := store.Get[*store.Terminator](tx, store.Terminators, id)
			if err != nil {
				continue
			}
			byLocal[t.Address] = t
			stale = append(stale, id)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	ids := map[string]string{}
	keep := map[string]bool{}
	var cmds []command.Command
	for _, h := range held {
		if have, ok := byLocal[h.LocalID]; ok && have.ServiceID == h.ServiceID {
			ids[h.LocalID] = have.ID
			keep[have.ID] = true
			continue
		}
		rec := terminatorRecord(routerID, h)
		rec.ID = state.NewID()
		c, err := command.NewCreate(store.Terminators, rec)
		if err != nil {
			return nil, err
		}
		cmds = append(cmds, c)
		ids[h.LocalID] = rec.ID
	}
	for _, id := range stale {
		if !keep[id] {
			cmds = append(cmds, &command.DeleteEntity{Kind: store.Terminators.Name, ID: id})
		}
	}
	if len(cmds) == 0 {
		return ids, nil
	}
	b, err := command.NewBatch(time.Now().UTC(), cmds...)
	if err != nil {
		return nil, err
	}
	if err := s.State.Apply(ctx, b); err != nil {
		return nil, fmt.Errorf("reconcile terminators: %w", err)
	}
	return ids, nil
}

// recordListeners keeps the router's advertised edge addresses and its link listener on its
// record.
func (s *Server) recordListeners(router *store.EdgeRouter, listeners map[string]string, link *ctrlproto.LinkListener) error {
	linkAddr, linkCost := "", uint16(0)
	if link != nil {
		if err := checkLinkAddress(link.Address); err != nil {
			return err
		}
		linkAddr, linkCost = link.Address, link.Cost
	}
	sameLink := linkAddr == router.LinkAddress && linkCost == router.LinkCost
	if (len(listeners) == 0 || maps.Equal(listeners, router.SupportedProtocols)) && sameLink {
		return nil
	}
	if len(listeners) == 0 {
		listeners = router.SupportedProtocols
	}
	hostname := router.Hostname
	if u, err := url.Parse(listeners["tls"]); err == nil && u.Hostname() != "" {
		hostname = u.Hostname()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return s.State.Update(ctx, store.EdgeRouters, router.ID, func(r store.Record) error {
		er := r.(*store.EdgeRouter)
		er.SupportedProtocols = maps.Clone(listeners)
		er.Hostname = hostname
		er.LinkAddress, er.LinkCost = linkAddr, linkCost
		return nil
	})
}

// checkLinkAddress refuses a link listener address other routers could not dial.
func checkLinkAddress(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || port == "" || port == "0" || len(addr) > 256 {
		return fmt.Errorf("link listener %q is not host:port", addr)
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return fmt.Errorf("link listener %q is not an address other routers can reach", addr)
	}
	return nil
}

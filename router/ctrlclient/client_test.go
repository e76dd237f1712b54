package ctrlclient

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ostium-net/ostium/internal/ctrlproto"
	"github.com/ostium-net/ostium/router/edge"
	"github.com/ostium-net/ostium/sdk/wire"
)

// removalLog collects what the hooks report.
type removalLog struct {
	mu          sync.Mutex
	apiSessions []string
	sessions    []string
}

func (r *removalLog) snapshot() (apiSessions, sessions []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.apiSessions), slices.Clone(r.sessions)
}

type harness struct {
	server  *controlServer
	client  *Client
	removed *removalLog
	cancel  context.CancelFunc
	done    chan error
	stopped sync.Once
}

// stop ends the client's Run and waits for it (and for the state it saves last).
func (h *harness) stop(t *testing.T) {
	t.Helper()
	h.stopped.Do(func() {
		h.cancel()
		if err := <-h.done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
	})
}

func startHarness(t *testing.T, tweak func(*Config)) *harness {
	t.Helper()
	p := newTestPKI(t)
	server := newControlServer(t, p)
	removed := &removalLog{}
	cfg := Config{
		Address: server.addr(),
		TLS:     &tls.Config{Certificates: []tls.Certificate{p.client}, RootCAs: p.roots},
		Logger:  slog.New(slog.DiscardHandler),
		OnAPISessionsRemoved: func(ids []string) {
			removed.mu.Lock()
			removed.apiSessions = append(removed.apiSessions, ids...)
			removed.mu.Unlock()
		},
		OnSessionsRemoved: func(ids []string) {
			removed.mu.Lock()
			removed.sessions = append(removed.sessions, ids...)
			removed.mu.Unlock()
		},
		Listeners:  map[string]string{"tls": "tls://edge.example.com:3022"},
		MinBackoff: 5 * time.Millisecond,
		MaxBackoff: 50 * time.Millisecond,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	client, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- client.Run(ctx) }()
	h := &harness{server: server, client: client, removed: removed, cancel: cancel, done: done}
	t.Cleanup(func() { h.stop(t) })
	return h
}

// nextConnected waits for the next connection and for the client to take it into use.
func (h *harness) nextConnected(t *testing.T) *serverSession {
	t.Helper()
	sess := h.server.next(t)
	eventually(t, "the client to use the new connection", h.client.Connected)
	return sess
}

// eventually polls cond until it holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func apiSession(id, token string) ctrlproto.APISession {
	return ctrlproto.APISession{ID: id, IdentityID: "identity-" + id, TokenHash: ctrlproto.TokenHash(token), CertFingerprints: []string{"fp-" + id}}
}

func session(id, apiSessionID, serviceID, token string) ctrlproto.Session {
	return ctrlproto.Session{ID: id, APISessionID: apiSessionID, IdentityID: "identity-" + apiSessionID, ServiceID: serviceID, Type: edge.SessionTypeDial, TokenHash: ctrlproto.TokenHash(token)}
}

func TestSyncFillsTheTokenCache(t *testing.T) {
	h := startHarness(t, nil)
	sess := h.server.next(t)
	if sess.hello.Version == "" {
		t.Error("hello carries no version")
	}
	if sess.hello.Listeners["tls"] != "tls://edge.example.com:3022" {
		t.Errorf("hello listeners = %v", sess.hello.Listeners)
	}
	sess.push(t, ctrlproto.TypeSync, ctrlproto.Sync{
		RouterID:    "router-1",
		Index:       7,
		APISessions: []ctrlproto.APISession{apiSession("a1", "api-token-1")},
		Sessions:    []ctrlproto.Session{session("s1", "a1", "svc1", "session-token-1")},
		Services:    []ctrlproto.Service{{ID: "svc1", Name: "web", EncryptionRequired: true, MaxIdleTimeMillis: 1500, TerminatorStrategy: edge.StrategyWeighted}},
	})
	eventually(t, "the sync", h.client.Synced)

	a, ok := h.client.APISession("api-token-1")
	if !ok {
		t.Fatal("API session not found by its token")
	}
	want := edge.APISession{ID: "a1", IdentityID: "identity-a1", CertFingerprints: []string{"fp-a1"}}
	if a.ID != want.ID || a.IdentityID != want.IdentityID || !slices.Equal(a.CertFingerprints, want.CertFingerprints) {
		t.Errorf("API session = %+v, want %+v", a, want)
	}
	s, ok := h.client.Session("session-token-1")
	if !ok {
		t.Fatal("session not found by its token")
	}
	wantSession := edge.Session{ID: "s1", APISessionID: "a1", ServiceID: "svc1", Type: edge.SessionTypeDial,
		ServiceEncryptionRequired: true, ServiceMaxIdleTime: 1500 * time.Millisecond, ServiceTerminatorStrategy: edge.StrategyWeighted}
	if s != wantSession {
		t.Errorf("session = %+v, want %+v", s, wantSession)
	}
	if _, ok := h.client.APISession(ctrlproto.TokenHash("api-token-1")); ok {
		t.Error("a token hash must not work as a token")
	}
	if _, ok := h.client.Session("api-token-1"); ok {
		t.Error("an API-session token resolved as a session")
	}
	if !h.client.Connected() {
		t.Error("client reports no connection")
	}
}

func TestEventsApplyInOrderAndReportRemovals(t *testing.T) {
	h := startHarness(t, nil)
	sess := h.server.next(t)
	sess.push(t, ctrlproto.TypeSync, ctrlproto.Sync{
		Index:       10,
		APISessions: []ctrlproto.APISession{apiSession("a1", "tok-a1"), apiSession("a2", "tok-a2")},
		Sessions:    []ctrlproto.Session{session("s1", "a1", "svc1", "tok-s1")},
		Services:    []ctrlproto.Service{{ID: "svc1", Name: "web"}},
	})
	// A batch already contained in the Sync is skipped.
	sess.push(t, ctrlproto.TypeEvents, ctrlproto.Events{Index: 9, Events: []ctrlproto.Event{
		{Kind: ctrlproto.EventDelete, APISession: &ctrlproto.APISession{ID: "a1"}},
	}})
	s2 := session("s2", "a2", "svc1", "tok-s2")
	sess.push(t, ctrlproto.TypeEvents, ctrlproto.Events{Index: 11, Events: []ctrlproto.Event{
		{Kind: ctrlproto.EventUpsert, Session: &s2},
		{Kind: ctrlproto.EventDelete, Session: &ctrlproto.Session{ID: "s1"}},
		{Kind: ctrlproto.EventUpsert, Service: &ctrlproto.Service{ID: "svc1", Name: "web", EncryptionRequired: true, TerminatorStrategy: edge.StrategyRandom}},
	}})
	// Created and deleted in one batch: gone, and reported.
	s3 := session("s3", "a2", "svc1", "tok-s3")
	sess.push(t, ctrlproto.TypeEvents, ctrlproto.Events{Index: 12, Events: []ctrlproto.Event{
		{Kind: ctrlproto.EventUpsert, Session: &s3},
		{Kind: ctrlproto.EventDelete, Session: &ctrlproto.Session{ID: "s3"}},
		{Kind: ctrlproto.EventDelete, APISession: &ctrlproto.APISession{ID: "a2"}},
		// Deleting what is not there reports nothing.
		{Kind: ctrlproto.EventDelete, Session: &ctrlproto.Session{ID: "never-existed"}},
	}})
	eventually(t, "the removal of a2", func() bool {
		apis, _ := h.removed.snapshot()
		return len(apis) > 0
	})

	apis, sessions := h.removed.snapshot()
	if !slices.Equal(apis, []string{"a2"}) {
		t.Errorf("API sessions reported removed = %v, want [a2] (the batch at index 9 must be skipped)", apis)
	}
	if !slices.Equal(sessions, []string{"s1", "s3"}) {
		t.Errorf("sessions reported removed = %v, want [s1 s3]", sessions)
	}
	if _, ok := h.client.APISession("tok-a1"); !ok {
		t.Error("a1 was deleted by a stale batch")
	}
	if _, ok := h.client.APISession("tok-a2"); ok {
		t.Error("a2 still resolves after its delete")
	}
	if _, ok := h.client.Session("tok-s1"); ok {
		t.Error("s1 still resolves after its delete")
	}
	if _, ok := h.client.Session("tok-s3"); ok {
		t.Error("s3 still resolves after its delete")
	}
	got, ok := h.client.Session("tok-s2")
	if !ok {
		t.Fatal("s2 not found after its upsert")
	}
	if !got.ServiceEncryptionRequired || got.ServiceTerminatorStrategy != edge.StrategyRandom {
		t.Errorf("s2 does not carry the updated service: %+v", got)
	}
}

func TestTokenChangeOfAnUpsertedSession(t *testing.T) {
	h := startHarness(t, nil)
	sess := h.server.next(t)
	sess.push(t, ctrlproto.TypeSync, ctrlproto.Sync{Index: 1, Sessions: []ctrlproto.Session{session("s1", "a1", "svc1", "old-token")}})
	moved := session("s1", "a1", "svc1", "new-token")
	sess.push(t, ctrlproto.TypeEvents, ctrlproto.Events{Index: 2, Events: []ctrlproto.Event{{Kind: ctrlproto.EventUpsert, Session: &moved}}})
	eventually(t, "the new token", func() bool { _, ok := h.client.Session("new-token"); return ok })
	if _, ok := h.client.Session("old-token"); ok {
		t.Error("the old token still resolves")
	}
	if _, sessions := h.removed.snapshot(); len(sessions) != 0 {
		t.Errorf("an upsert reported removals: %v", sessions)
	}
}

func TestResyncAfterTheControllerDropsTheConnection(t *testing.T) {
	h := startHarness(t, nil)
	first := h.server.next(t)
	first.push(t, ctrlproto.TypeSync, ctrlproto.Sync{
		Index:       5,
		APISessions: []ctrlproto.APISession{apiSession("a1", "tok-a1"), apiSession("a2", "tok-a2")},
		Sessions:    []ctrlproto.Session{session("s1", "a1", "svc1", "tok-s1"), session("s2", "a2", "svc1", "tok-s2")},
		Services:    []ctrlproto.Service{{ID: "svc1"}},
	})
	eventually(t, "the first sync", h.client.Synced)

	// The controller goes away: the cache stays as it was.
	h.server.down.Store(true)
	_ = first.conn.Close()
	eventually(t, "the client to notice", func() bool { return !h.client.Connected() })
	eventually(t, "a refused reconnect", func() bool { return h.server.refused.Load() > 0 })
	for _, tok := range []string{"tok-s1", "tok-s2"} {
		if _, ok := h.client.Session(tok); !ok {
			t.Errorf("session %s lost while the controller was away", tok)
		}
	}
	if apis, sessions := h.removed.snapshot(); len(apis)+len(sessions) != 0 {
		t.Errorf("removals reported while the controller was away: %v %v", apis, sessions)
	}

	// Back, with a state that lacks a2 and s2, and has a new s3. Index may go backwards (a
	// new controller): the Sync is authoritative.
	h.server.down.Store(false)
	second := h.server.next(t)
	second.push(t, ctrlproto.TypeSync, ctrlproto.Sync{
		Index:       3,
		APISessions: []ctrlproto.APISession{apiSession("a1", "tok-a1")},
		Sessions:    []ctrlproto.Session{session("s1", "a1", "svc1", "tok-s1"), session("s3", "a1", "svc1", "tok-s3")},
		Services:    []ctrlproto.Service{{ID: "svc1"}},
	})
	eventually(t, "s3 from the resync", func() bool { _, ok := h.client.Session("tok-s3"); return ok })
	apis, sessions := h.removed.snapshot()
	if !slices.Equal(apis, []string{"a2"}) || !slices.Equal(sessions, []string{"s2"}) {
		t.Errorf("removed after resync = %v / %v, want [a2] / [s2]", apis, sessions)
	}
	if _, ok := h.client.Session("tok-s2"); ok {
		t.Error("s2 resolves after a resync without it")
	}
	// Events numbered after the new Sync apply.
	second.push(t, ctrlproto.TypeEvents, ctrlproto.Events{Index: 4, Events: []ctrlproto.Event{{Kind: ctrlproto.EventDelete, Session: &ctrlproto.Session{ID: "s1"}}}})
	eventually(t, "the delete of s1", func() bool { _, ok := h.client.Session("tok-s1"); return !ok })
}

func terminator(id string) edge.Terminator {
	return edge.Terminator{ID: id, ServiceID: "svc1", SessionID: "bind-1", APISessionID: "a1", HostID: "host-1", Cost: 3, Precedence: wire.PrecedenceRequired, ListenerID: "l-" + id}
}

// TestRegisterWhileTheControllerIsAway: Register returns at once with a pending terminator,
// which the next Hello registers; its handle keeps working afterwards.
func TestRegisterWhileTheControllerIsAway(t *testing.T) {
	h := startHarness(t, nil)
	first := h.server.next(t)
	h.server.down.Store(true)
	_ = first.conn.Close()
	eventually(t, "the client to be disconnected", func() bool { return !h.client.Connected() && h.server.refused.Load() > 0 })

	handle, err := h.client.Register(context.Background(), terminator("local-1"))
	if err != nil {
		t.Fatalf("Register while the controller is away: %v", err)
	}
	if got := h.client.Terminators(); len(got) != 1 || got[0].LocalID != "local-1" || got[0].ID != "" {
		t.Fatalf("Terminators() = %+v, want local-1 pending (no controller id)", got)
	}
	if err := h.client.Update(context.Background(), handle, 7, wire.PrecedenceDefault); err != nil {
		t.Fatalf("Update of a pending terminator: %v", err)
	}

	h.server.down.Store(false)
	sess := h.nextConnected(t)
	if len(sess.hello.Terminators) != 1 || sess.hello.Terminators[0].LocalID != "local-1" || sess.hello.Terminators[0].Cost != 7 {
		t.Fatalf("the hello registered %+v, want local-1 with cost 7", sess.hello.Terminators)
	}
	id := sess.created["local-1"]
	want := ctrlproto.Terminator{ID: id, LocalID: "local-1", ServiceID: "svc1", SessionID: "bind-1", APISessionID: "a1", HostID: "host-1", Cost: 7, Precedence: PrecedenceDefault, ListenerID: "l-local-1"}
	if held, ok := h.server.terminator(id); !ok || held != want {
		t.Errorf("controller holds %+v (%v), want %+v", held, ok, want)
	}
	if got := h.client.Terminators(); len(got) != 1 || got[0].ID != id {
		t.Errorf("Terminators() = %+v, want the controller id %s", got, id)
	}
	if err := h.client.Unregister(context.Background(), handle); err != nil {
		t.Fatalf("Unregister: %v", err)
	}
	if _, ok := h.server.terminator(id); ok {
		t.Error("the controller still holds the terminator after Unregister")
	}
}

// TestPendingTerminatorMissedByAHelloIsRegisteredAfterIt: a terminator that became pending
// after the Hello under way was made is created right after that Hello is answered.
func TestPendingTerminatorMissedByAHelloIsRegisteredAfterIt(t *testing.T) {
	h := startHarness(t, nil)
	h.nextConnected(t)
	c := h.client
	c.mu.Lock()
	handle := c.pendingLocked(specOf(terminator("late-1")))
	conn := c.conn
	c.mu.Unlock()
	// As if conn had just been answered a Hello made before the terminator was bound.
	fixes := c.connected(conn, nil, ctrlproto.TerminatorCreated{})
	if len(fixes) != 1 || fixes[0].contentType != ctrlproto.TypeTerminatorCreate || fixes[0].handle != handle {
		t.Fatalf("follow-ups = %+v, want one create of %s", fixes, handle)
	}
	c.sendFollowUp(context.Background(), conn, fixes[0])
	got := c.Terminators()
	if len(got) != 1 || got[0].ID == "" {
		t.Fatalf("Terminators() = %+v, want late-1 with its controller id", got)
	}
	if held, ok := h.server.terminator(got[0].ID); !ok || held.LocalID != "late-1" {
		t.Errorf("controller holds %+v (%v)", held, ok)
	}
}

func TestTerminatorsSurviveReconnects(t *testing.T) {
	h := startHarness(t, nil)
	first := h.nextConnected(t)
	ctx := context.Background()
	id1, err := h.client.Register(ctx, terminator("local-1"))
	if err != nil {
		t.Fatal(err)
	}
	id2, err := h.client.Register(ctx, terminator("local-2"))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.client.Update(ctx, id1, 9, wire.PrecedenceFailed); err != nil {
		t.Fatalf("Update: %v", err)
	}
	if held, _ := h.server.terminator(id1); held.Cost != 9 || held.Precedence != PrecedenceFailed {
		t.Errorf("after Update the controller holds %+v", held)
	}

	// Reconnect: the Hello re-registers both, with their current cost and precedence.
	_ = first.conn.Close()
	second := h.nextConnected(t)
	if len(second.hello.Terminators) != 2 {
		t.Fatalf("hello re-registered %d terminators, want 2", len(second.hello.Terminators))
	}
	for _, term := range second.hello.Terminators {
		if term.LocalID == "local-1" && (term.Cost != 9 || term.Precedence != PrecedenceFailed) {
			t.Errorf("re-registered local-1 with %+v, want the updated cost and precedence", term)
		}
	}
	// The ids Register returned keep working; requests carry the new controller ids.
	if err := h.client.Unregister(ctx, id1); err != nil {
		t.Fatalf("Unregister after reconnect: %v", err)
	}
	newID := second.created["local-1"]
	if _, ok := h.server.terminator(newID); ok {
		t.Errorf("the controller still holds %s after Unregister", newID)
	}
	if err := h.client.Update(ctx, id2, 1, wire.PrecedenceDefault); err != nil {
		t.Fatalf("Update after reconnect: %v", err)
	}
	if held, _ := h.server.terminator(second.created["local-2"]); held.Cost != 1 || held.Precedence != PrecedenceDefault {
		t.Errorf("after Update the controller holds %+v", held)
	}
	if got := h.client.Terminators(); len(got) != 1 || got[0].LocalID != "local-2" || got[0].ID != second.created["local-2"] {
		t.Errorf("Terminators() = %+v", got)
	}

	// Unregistered while the controller is away: the next Hello leaves it out.
	h.server.down.Store(true)
	_ = second.conn.Close()
	eventually(t, "the client to be disconnected", func() bool { return !h.client.Connected() })
	if err := h.client.Unregister(ctx, id2); err != nil {
		t.Fatalf("Unregister while disconnected: %v", err)
	}
	h.server.down.Store(false)
	third := h.server.next(t)
	if len(third.hello.Terminators) != 0 {
		t.Errorf("hello re-registered %+v after Unregister", third.hello.Terminators)
	}
	if err := h.client.Unregister(ctx, id2); err == nil {
		t.Error("a second Unregister of the same id succeeded")
	}
}

func TestRefusedRegistration(t *testing.T) {
	h := startHarness(t, nil)
	h.nextConnected(t)
	h.server.refuseCreates.Store(true)
	_, err := h.client.Register(context.Background(), terminator("local-1"))
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("Register = %v, want ErrRefused", err)
	}
	if got := h.client.Terminators(); len(got) != 0 {
		t.Errorf("a refused terminator is remembered: %+v", got)
	}
}

func TestUnansweredPingTriggersReconnect(t *testing.T) {
	h := startHarness(t, func(cfg *Config) {
		cfg.PingInterval = 10 * time.Millisecond
		cfg.PingTimeout = 20 * time.Millisecond
	})
	first := h.server.next(t)
	h.server.ignorePings.Store(true)
	select {
	case <-first.conn.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the client kept a connection whose pings go unanswered")
	}
	h.server.ignorePings.Store(false)
	h.server.next(t)
	eventually(t, "the new connection", h.client.Connected)
}

func TestControllerPingIsAnswered(t *testing.T) {
	h := startHarness(t, nil)
	sess := h.server.next(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reply, err := sess.conn.Request(ctx, wire.NewMessage(ctrlproto.TypePing, nil))
	if err != nil {
		t.Fatalf("ping: %v", err)
	}
	if reply.ContentType != wire.ContentTypeResult || !reply.ResultSuccess() {
		t.Errorf("ping answered with %s", reply)
	}
}

func TestBadSyncDropsTheConnection(t *testing.T) {
	h := startHarness(t, nil)
	sess := h.server.next(t)
	if err := sess.conn.Send(context.Background(), wire.NewMessage(ctrlproto.TypeSync, []byte("{not json"))); err != nil {
		t.Fatal(err)
	}
	select {
	case <-sess.conn.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("a malformed sync did not end the connection")
	}
	if h.client.Synced() {
		t.Error("a malformed sync counted as synced")
	}
	h.server.next(t)
}

func TestNewValidatesConfig(t *testing.T) {
	cert := tls.Certificate{Certificate: [][]byte{{1}}}
	for name, cfg := range map[string]Config{
		"no address":   {TLS: &tls.Config{Certificates: []tls.Certificate{cert}}},
		"no port":      {Address: "127.0.0.1", TLS: &tls.Config{Certificates: []tls.Certificate{cert}}},
		"no TLS":       {Address: "127.0.0.1:6262"},
		"no client ID": {Address: "127.0.0.1:6262", TLS: &tls.Config{}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted the config", name)
		}
	}
}

func TestUpdateWhileDisconnectedIsSentAfterTheHello(t *testing.T) {
	h := startHarness(t, nil)
	first := h.nextConnected(t)
	ctx := context.Background()
	id, err := h.client.Register(ctx, terminator("local-1"))
	if err != nil {
		t.Fatal(err)
	}
	h.server.down.Store(true)
	_ = first.conn.Close()
	eventually(t, "the client to be disconnected", func() bool { return !h.client.Connected() })
	if err := h.client.Update(ctx, id, 42, wire.PrecedenceFailed); err != nil {
		t.Fatalf("Update while disconnected: %v", err)
	}
	h.server.down.Store(false)
	second := h.server.next(t)
	newID := second.created["local-1"]
	// A controller that keeps terminators across reconnects ignores the Hello's cost: the
	// client follows up with an Update.
	eventually(t, "the follow-up update", func() bool {
		for _, r := range h.server.requestLog() {
			if r.contentType == ctrlproto.TypeTerminatorUpdate && r.terminator.ID == newID && r.terminator.Cost == 42 && r.terminator.Precedence == PrecedenceFailed {
				return true
			}
		}
		return false
	})
}

func TestTokensChangedIsClosedByEachPush(t *testing.T) {
	h := startHarness(t, nil)
	sess := h.server.next(t)
	before := h.client.TokensChanged()
	sess.push(t, ctrlproto.TypeSync, ctrlproto.Sync{Index: 1})
	select {
	case <-before:
	case <-time.After(10 * time.Second):
		t.Fatal("a Sync did not announce a change")
	}
	waiting := h.client.TokensChanged()
	select {
	case <-waiting:
		t.Fatal("the channel handed out after the Sync is closed already")
	default:
	}
	s := session("s1", "a1", "svc1", "tok-s1")
	sess.push(t, ctrlproto.TypeEvents, ctrlproto.Events{Index: 2, Events: []ctrlproto.Event{{Kind: ctrlproto.EventUpsert, Session: &s}}})
	select {
	case <-waiting:
	case <-time.After(10 * time.Second):
		t.Fatal("a batch of events did not announce a change")
	}
	if _, ok := h.client.Session("tok-s1"); !ok {
		t.Fatal("the announced session does not resolve")
	}
}

func TestAPISessionHeartbeatsFollowTheSync(t *testing.T) {
	var active atomic.Value
	active.Store([]string{"a1", "a2"})
	h := startHarness(t, func(c *Config) {
		c.ActiveAPISessions = func() []string { return active.Load().([]string) }
	})
	sess := h.server.next(t)
	// No heartbeats until a Sync asks for them.
	sess.push(t, ctrlproto.TypeSync, ctrlproto.Sync{Index: 1})
	select {
	case hb := <-h.server.heartbeats:
		t.Fatalf("heartbeat %v sent without being asked", hb)
	case <-time.After(300 * time.Millisecond):
	}
	sess.push(t, ctrlproto.TypeSync, ctrlproto.Sync{Index: 2, APISessionHeartbeatMillis: 50})
	next := func() ctrlproto.APISessionHeartbeat {
		t.Helper()
		select {
		case hb := <-h.server.heartbeats:
			return hb
		case <-time.After(10 * time.Second):
			t.Fatal("no heartbeat")
			return ctrlproto.APISessionHeartbeat{}
		}
	}
	if hb := next(); !slices.Equal(hb.APISessionIDs, []string{"a1", "a2"}) {
		t.Fatalf("heartbeat lists %v, want [a1 a2]", hb.APISessionIDs)
	}
	active.Store([]string{"a3"})
	for { // each heartbeat reads the list anew
		if hb := next(); slices.Equal(hb.APISessionIDs, []string{"a3"}) {
			break
		}
	}
}

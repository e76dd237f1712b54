package routerctl

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ostium-net/ostium/controller/access"
	"github.com/ostium-net/ostium/controller/activity"
	"github.com/ostium-net/ostium/controller/auth"
	"github.com/ostium-net/ostium/controller/cluster"
	"github.com/ostium-net/ostium/controller/pki"
	"github.com/ostium-net/ostium/controller/policy"
	"github.com/ostium-net/ostium/controller/state"
	"github.com/ostium-net/ostium/controller/store"
	"github.com/ostium-net/ostium/internal/ctrlproto"
	"github.com/ostium-net/ostium/sdk/wire"
)

type fixture struct {
	st       *state.State
	ca       *pki.Authority
	srv      *Server
	addr     string
	routerID string
	cert     tls.Certificate
}

// testTokenKeys stands for the JWKS of the OIDC token keys.
const testTokenKeys = `{"keys":[{"kty":"EC","crv":"P-256","kid":"k","alg":"ES256","x":"x","y":"y"}]}`

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	files, err := pki.Init(filepath.Join(dir, "pki"), pki.InitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ca, err := pki.Load(files.Config())
	if err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(filepath.Join(dir, "ctrl.db"), store.Options{Hooks: []store.ChangeHook{policy.Hook}, Settle: []store.SettleHook{access.Settle}})
	if err != nil {
		t.Fatal(err)
	}
	srvCert, _ := ca.ServerTLSCertificate()
	node, err := cluster.Start(cluster.Config{NodeID: "n1", DataDir: filepath.Join(dir, "raft"), Bind: "127.0.0.1:0", Bootstrap: true,
		TLS: &tls.Config{Certificates: []tls.Certificate{srvCert}, RootCAs: ca.CAPool(), ClientCAs: ca.CAPool(), ClientAuth: tls.RequireAndVerifyClientCert}}, s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = node.Close(); _ = s.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := node.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	f := &fixture{st: &state.State{Store: s, Node: node}, ca: ca}

	// An enrolled router: a client certificate of the network and its record.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csrPEM, _ := pki.GenerateCSR(key, "router", nil, nil)
	csr, _ := pki.ParseCSR(csrPEM, "application/x-pem-file")
	f.routerID = state.NewID()
	issued, err := ca.SignClientCSR(csr, pki.ClientProfile{CommonName: f.routerID})
	if err != nil {
		t.Fatal(err)
	}
	f.cert = tls.Certificate{Certificate: [][]byte{issued.DER}, PrivateKey: key}
	if _, err := f.st.Create(ctx, store.EdgeRouters, &store.EdgeRouter{Meta: store.Meta{ID: f.routerID}, Name: "r1",
		Fingerprint: issued.Fingerprint, IsVerified: true}); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = ln.Addr().String()
	f.srv = &Server{State: f.st, CA: ca, Presence: NewPresence(), Activity: activity.New(), APISessionHeartbeat: 250 * time.Millisecond,
		TokenKeys: []byte(testTokenKeys), SessionMaxLifetime: 24 * time.Hour}
	go func() { _ = f.srv.Serve(ln) }()
	t.Cleanup(func() { _ = f.srv.Close() })
	return f
}

// connect opens a control channel as a router would and returns it with the
// stream of pushed messages.
func (f *fixture) connect(t *testing.T, cert tls.Certificate, held []ctrlproto.Terminator) (*wire.Conn, chan *wire.Message, *wire.Message, error) {
	t.Helper()
	c, err := tls.Dial("tcp", f.addr, &tls.Config{RootCAs: f.ca.CAPool(), Certificates: []tls.Certificate{cert}, ServerName: "127.0.0.1"})
	if err != nil {
		return nil, nil, nil, err
	}
	pushed := make(chan *wire.Message, 64)
	wc := wire.NewConn(c, func(m *wire.Message) { pushed <- m }, wire.ConnConfig{})
	t.Cleanup(func() { _ = wc.Close() })
	body, _ := ctrlproto.Encode(ctrlproto.Hello{Version: "test", Terminators: held, Listeners: map[string]string{"tls": "tls://127.0.0.1:3022"}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reply, err := wc.Request(ctx, wire.NewMessage(ctrlproto.TypeHello, body))
	return wc, pushed, reply, err
}

func next(t *testing.T, ch chan *wire.Message, typ int32) *wire.Message {
	t.Helper()
	for {
		select {
		case m := <-ch:
			if m.ContentType == typ {
				return m
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no message of type %d", typ)
		}
	}
}

func TestRouterSyncEventsAndTerminators(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ident := &store.Identity{Meta: store.Meta{ID: "i1"}, Name: "alice", Type: "User"}
	if _, err := f.st.Create(ctx, store.Identities, ident); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.Create(ctx, store.Services, &store.Service{Meta: store.Meta{ID: "svc"}, Name: "web", EncryptionRequired: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.Create(ctx, store.APISessions, &store.APISession{Meta: store.Meta{ID: "as1"}, IdentityID: "i1", TokenHash: ctrlproto.TokenHash("tok1")}); err != nil {
		t.Fatal(err)
	}

	wc, pushed, reply, err := f.connect(t, f.cert, nil)
	if err != nil || !reply.ResultSuccess() {
		t.Fatalf("hello: %v %v", err, reply)
	}
	var sync ctrlproto.Sync
	if err := ctrlproto.Decode(next(t, pushed, ctrlproto.TypeSync).Body, &sync); err != nil {
		t.Fatal(err)
	}
	if sync.RouterID != f.routerID || len(sync.APISessions) != 1 || sync.APISessions[0].TokenHash != ctrlproto.TokenHash("tok1") ||
		time.Until(sync.APISessions[0].ExpiresAt) < 23*time.Hour || time.Until(sync.APISessions[0].ExpiresAt) > 24*time.Hour ||
		len(sync.Services) != 1 || !sync.Services[0].EncryptionRequired {
		t.Fatalf("sync: %+v", sync)
	}
	if rec, _ := f.st.Get(store.EdgeRouters, f.routerID); rec.(*store.EdgeRouter).SupportedProtocols["tls"] != "tls://127.0.0.1:3022" || rec.(*store.EdgeRouter).Hostname != "127.0.0.1" {
		t.Fatalf("advertised listener not recorded: %+v", rec)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !f.srv.Presence.Online(f.routerID) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !f.srv.Presence.Online(f.routerID) {
		t.Fatal("router not marked online")
	}

	// A new session and an API-session deletion arrive as events, in order.
	if _, err := f.st.Create(ctx, store.Sessions, &store.Session{Meta: store.Meta{ID: "s1"}, APISessionID: "as1", IdentityID: "i1",
		ServiceID: "svc", Type: "Dial", TokenHash: ctrlproto.TokenHash("st1")}); err != nil {
		t.Fatal(err)
	}
	var ev ctrlproto.Events
	_ = ctrlproto.Decode(next(t, pushed, ctrlproto.TypeEvents).Body, &ev)
	if len(ev.Events) != 1 || ev.Events[0].Session == nil || ev.Events[0].Kind != ctrlproto.EventUpsert {
		t.Fatalf("session event: %+v", ev)
	}
	if err := f.st.Delete(ctx, store.APISessions, "as1"); err != nil {
		t.Fatal(err)
	}
	_ = ctrlproto.Decode(next(t, pushed, ctrlproto.TypeEvents).Body, &ev)
	kinds := map[string]bool{}
	for _, e := range ev.Events {
		if e.Kind == ctrlproto.EventDelete && e.Session != nil {
			kinds["session"] = true
		}
		if e.Kind == ctrlproto.EventDelete && e.APISession != nil {
			kinds["apiSession"] = true
		}
	}
	if !kinds["session"] || !kinds["apiSession"] {
		t.Fatalf("cascade delete events: %+v", ev)
	}

	// Terminators: create, then gone after a reconnect that no longer holds it.
	body, _ := ctrlproto.Encode(ctrlproto.Terminator{LocalID: "t-local", ServiceID: "svc", Cost: 5, Precedence: "required"})
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	reply, err = wc.Request(rctx, wire.NewMessage(ctrlproto.TypeTerminatorCreate, body))
	if err != nil || !reply.ResultSuccess() {
		t.Fatalf("terminator create: %v %s", err, reply.Body)
	}
	var created ctrlproto.TerminatorCreated
	_ = ctrlproto.Decode(reply.Body, &created)
	tid := created.IDs["t-local"]
	rec, err := f.st.Get(store.Terminators, tid)
	if err != nil || rec.(*store.Terminator).RouterID != f.routerID || rec.(*store.Terminator).Precedence != "required" {
		t.Fatalf("terminator record: %v %+v", err, rec)
	}
	_ = wc.Close()
	_, _, reply, err = f.connect(t, f.cert, []ctrlproto.Terminator{{LocalID: "other", ServiceID: "svc"}})
	if err != nil || !reply.ResultSuccess() {
		t.Fatalf("reconnect: %v", err)
	}
	if f.st.Exists(store.Terminators, tid) {
		t.Fatal("a terminator the router no longer holds survived its reconnect")
	}
	_ = ctrlproto.Decode(reply.Body, &created)
	if !f.st.Exists(store.Terminators, created.IDs["other"]) {
		t.Fatal("a terminator held at reconnect was not registered")
	}
}

func TestUnknownRouterCertificateRefused(t *testing.T) {
	f := newFixture(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csrPEM, _ := pki.GenerateCSR(key, "stranger", nil, nil)
	csr, _ := pki.ParseCSR(csrPEM, "")
	issued, _ := f.ca.SignClientCSR(csr, pki.ClientProfile{CommonName: "stranger"})
	stranger := tls.Certificate{Certificate: [][]byte{issued.DER}, PrivateKey: key}
	if _, _, _, err := f.connect(t, stranger, nil); err == nil {
		t.Fatal("a certificate that belongs to no router opened a control channel")
	}
	// A certificate from another CA fails the handshake.
	other, _ := pki.Init(t.TempDir(), pki.InitOptions{})
	oca, _ := pki.Load(other.Config())
	issued2, _ := oca.SignClientCSR(csr, pki.ClientProfile{CommonName: "x"})
	if _, _, _, err := f.connect(t, tls.Certificate{Certificate: [][]byte{issued2.DER}, PrivateKey: key}, nil); err == nil {
		t.Fatal("foreign certificate accepted")
	}
	_ = x509.ErrUnsupportedAlgorithm
}

// Routers look tokens up by the hash the controller stores: the two hashes
// (one per side of the control channel) must stay the same function.
func TestTokenHashesAgree(t *testing.T) {
	for _, tok := range []string{"", "a", "0b5d7e2c-8a61-4f4e-9d2e-2f1c3b4a5d6e"} {
		if ctrlproto.TokenHash(tok) != auth.TokenHash(tok) {
			t.Fatalf("token hashes differ for %q", tok)
		}
	}
}

func TestAPISessionHeartbeatsCountAsUse(t *testing.T) {
	f := newFixture(t)
	wc, pushed, reply, err := f.connect(t, f.cert, nil)
	if err != nil || !reply.ResultSuccess() {
		t.Fatalf("hello: %v %v", err, reply)
	}
	var sync ctrlproto.Sync
	if err := ctrlproto.Decode(next(t, pushed, ctrlproto.TypeSync).Body, &sync); err != nil {
		t.Fatal(err)
	}
	if sync.APISessionHeartbeatMillis != 250 {
		t.Fatalf("the Sync asks for heartbeats every %d ms, want 250", sync.APISessionHeartbeatMillis)
	}
	before := time.Now()
	body, _ := ctrlproto.Encode(ctrlproto.APISessionHeartbeat{APISessionIDs: []string{"as1", "", strings.Repeat("x", 200)}})
	if err := wc.Send(context.Background(), wire.NewMessage(ctrlproto.TypeAPISessionHeartbeat, body)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if u, ok := f.srv.Activity.Last("as1"); ok {
			if u.At.Before(before) || !u.RouterAt.Equal(u.At) {
				t.Fatalf("use recorded as %+v, want a router report after %v", u, before)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a heartbeat did not count as use")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := f.srv.Activity.Len(); n != 1 {
		t.Fatalf("the tracker holds %d sessions; empty and over-long ids must be ignored", n)
	}
}

// TestTokenKeysAndRevocationsReachRouters: the Sync carries the keys of
// signed access tokens and the revocations held; a revocation written later
// is pushed as an event.
func TestTokenKeysAndRevocationsReachRouters(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	until := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	if _, err := f.st.Create(ctx, store.Revocations, &store.Revocation{Meta: store.Meta{ID: "as-old"}, ExpiresAt: until}); err != nil {
		t.Fatal(err)
	}
	_, pushed, reply, err := f.connect(t, f.cert, nil)
	if err != nil || !reply.ResultSuccess() {
		t.Fatalf("hello: %v %v", err, reply)
	}
	var sync ctrlproto.Sync
	if err := ctrlproto.Decode(next(t, pushed, ctrlproto.TypeSync).Body, &sync); err != nil {
		t.Fatal(err)
	}
	if string(sync.TokenKeys) != testTokenKeys || len(sync.Revocations) != 1 || sync.Revocations[0].APISessionID != "as-old" ||
		!sync.Revocations[0].ExpiresAt.Equal(until) {
		t.Fatalf("sync: keys %s revocations %+v", sync.TokenKeys, sync.Revocations)
	}
	if _, err := f.st.Create(ctx, store.Revocations, &store.Revocation{Meta: store.Meta{ID: "as-new"}, ExpiresAt: until}); err != nil {
		t.Fatal(err)
	}
	var ev ctrlproto.Events
	if err := ctrlproto.Decode(next(t, pushed, ctrlproto.TypeEvents).Body, &ev); err != nil {
		t.Fatal(err)
	}
	if len(ev.Events) != 1 || ev.Events[0].Revocation == nil || ev.Events[0].Revocation.APISessionID != "as-new" || ev.Events[0].Kind != ctrlproto.EventUpsert {
		t.Fatalf("events: %+v", ev)
	}
}

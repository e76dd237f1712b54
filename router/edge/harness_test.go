package edge

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/ostium-net/ostium/sdk/wire"
)

// testCA is a certificate authority generated for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

var serialSeq struct {
	sync.Mutex
	n int64
}

func nextSerial() *big.Int {
	serialSeq.Lock()
	defer serialSeq.Unlock()
	serialSeq.n++
	return big.NewInt(serialSeq.n)
}

func newTestCA(t testing.TB, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          nextSerial(),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// issue returns a leaf certificate signed by the CA. server adds the 127.0.0.1 SAN.
func (ca *testCA) issue(t testing.TB, cn string, server bool) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: nextSerial(),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// memTokens is an in-memory token store, as the router keeps it.
type memTokens struct {
	mu       sync.Mutex
	api      map[string]APISession
	sessions map[string]Session
	changed  chan struct{} // closed and replaced on every put
}

func newMemTokens() *memTokens {
	return &memTokens{api: map[string]APISession{}, sessions: map[string]Session{}, changed: make(chan struct{})}
}

// pushedTokens is memTokens announcing its changes (TokenUpdates), as the controller's pushes
// do for the real router.
type pushedTokens struct{ *memTokens }

func (p pushedTokens) TokensChanged() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.changed
}

func (m *memTokens) announceLocked() {
	close(m.changed)
	m.changed = make(chan struct{})
}

func (m *memTokens) APISession(token string) (APISession, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.api[token]
	return a, ok
}

func (m *memTokens) Session(token string) (Session, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[token]
	return s, ok
}

func (m *memTokens) putAPISession(token string, a APISession) {
	m.mu.Lock()
	m.api[token] = a
	m.announceLocked()
	m.mu.Unlock()
}

func (m *memTokens) putSession(token string, s Session) {
	m.mu.Lock()
	m.sessions[token] = s
	m.announceLocked()
	m.mu.Unlock()
}

// memRegistry is an in-memory terminator registry.
type memRegistry struct {
	mu      sync.Mutex
	terms   map[string]Terminator
	updates int
	seq     int
	fail    error
}

func newMemRegistry() *memRegistry { return &memRegistry{terms: map[string]Terminator{}} }

func (r *memRegistry) Register(_ context.Context, t Terminator) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return "", r.fail
	}
	r.seq++
	id := fmt.Sprintf("term-%d", r.seq)
	r.terms[id] = t
	return id, nil
}

func (r *memRegistry) Unregister(_ context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.terms[id]; !ok {
		return errors.New("no such terminator")
	}
	delete(r.terms, id)
	return nil
}

func (r *memRegistry) Update(_ context.Context, id string, cost uint16, precedence wire.Precedence) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.terms[id]
	if !ok {
		return errors.New("no such terminator")
	}
	t.Cost, t.Precedence = cost, precedence
	r.terms[id] = t
	r.updates++
	return nil
}

func (r *memRegistry) snapshot() map[string]Terminator {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]Terminator, len(r.terms))
	for k, v := range r.terms {
		out[k] = v
	}
	return out
}

// testEnv is a running router with its CA, tokens and registry.
type testEnv struct {
	t        testing.TB
	ca       *testCA
	tokens   *memTokens
	registry *memRegistry
	l        *Listener
	addr     string
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("EDGE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func startRouter(t testing.TB, tweak func(*Config)) *testEnv {
	t.Helper()
	ca := newTestCA(t, "test root")
	env := &testEnv{t: t, ca: ca, tokens: newMemTokens(), registry: newMemRegistry()}
	cfg := Config{
		RouterID:    "router-1",
		Version:     wire.FormatVersion("1.2.3", "abc", "2026-01-01", "linux", "amd64"),
		TLS:         &tls.Config{Certificates: []tls.Certificate{ca.issue(t, "router-1", true)}},
		ClientCAs:   ca.pool,
		Tokens:      env.tokens,
		Terminators: env.registry,
		Logger:      testLogger(t),
		DialTimeout: 5 * time.Second,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	env.l, env.addr = l, ln.Addr().String()
	served := make(chan error, 1)
	go func() { served <- l.Serve(ln) }()
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("closing listener: %v", err)
		}
		if err := <-served; !errors.Is(err, ErrListenerClosed) {
			t.Errorf("Serve returned %v", err)
		}
		if p := l.Stats().Panics; p != 0 {
			t.Errorf("router recovered from %d panics", p)
		}
	})
	return env
}

// identity is a test client identity: a certificate and an API session bound to it.
type identity struct {
	name     string
	cert     tls.Certificate
	apiToken string
	apiID    string
}

func (env *testEnv) newIdentity(name string) *identity {
	id := &identity{name: name, cert: env.ca.issue(env.t, name, false), apiToken: "api-token-" + name, apiID: "api-" + name}
	env.tokens.putAPISession(id.apiToken, APISession{
		ID:               id.apiID,
		IdentityID:       "identity-" + name,
		CertFingerprints: []string{certFingerprint(id.cert.Leaf)},
	})
	return id
}

// session creates a session of the given type for the identity's API session.
func (env *testEnv) session(id *identity, serviceID, typ string, tweak func(*Session)) (token string, s Session) {
	s = Session{ID: fmt.Sprintf("sess-%s-%s-%s", id.name, serviceID, typ), APISessionID: id.apiID, ServiceID: serviceID, Type: typ}
	if tweak != nil {
		tweak(&s)
	}
	token = "token-" + s.ID
	env.tokens.putSession(token, s)
	return token, s
}

// testClient speaks the edge protocol on top of wire.Conn, routing incoming messages by conn
// id into inboxes.
type testClient struct {
	t     testing.TB
	conn  *wire.Conn
	hello wire.HelloInfo

	mu      sync.Mutex
	inboxes map[uint32]chan *wire.Message
	gate    chan struct{} // while not nil, the handler waits for it to close
	nextID  uint32
}

func dialTLS(t testing.TB, env *testEnv, cert tls.Certificate, roots *x509.CertPool) (*tls.Conn, error) {
	t.Helper()
	d := &tls.Dialer{Config: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: roots, ServerName: "127.0.0.1"}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", env.addr)
	if err != nil {
		return nil, err
	}
	return c.(*tls.Conn), nil
}

// newClient connects without sending a Hello.
func newClient(t testing.TB, env *testEnv, cert tls.Certificate) *testClient {
	t.Helper()
	raw, err := dialTLS(t, env, cert, env.ca.pool)
	if err != nil {
		t.Fatalf("dialing router: %v", err)
	}
	c := &testClient{t: t, inboxes: map[uint32]chan *wire.Message{}, nextID: 1}
	c.conn = wire.NewConn(raw, c.handle, wire.ConnConfig{})
	t.Cleanup(func() {
		c.openGate()
		_ = c.conn.Close()
		c.conn.Wait()
	})
	return c
}

// connect connects and completes the Hello.
func connect(t testing.TB, env *testEnv, id *identity) *testClient {
	t.Helper()
	c := newClient(t, env, id.cert)
	reply, err := c.request(wire.NewHello(id.name, []byte(id.apiToken)))
	if err != nil {
		t.Fatalf("hello: %v", err)
	}
	if c.hello, err = wire.ParseHelloResult(reply); err != nil {
		t.Fatalf("hello: %v", err)
	}
	return c
}

func (c *testClient) handle(m *wire.Message) {
	c.mu.Lock()
	gate := c.gate
	c.mu.Unlock()
	if gate != nil {
		<-gate
	}
	id, _ := m.ConnID()
	c.inbox(id) <- m
}

// closeGate makes the client stop reading.
func (c *testClient) closeGate() {
	c.mu.Lock()
	c.gate = make(chan struct{})
	c.mu.Unlock()
}

func (c *testClient) openGate() {
	c.mu.Lock()
	if c.gate != nil {
		close(c.gate)
		c.gate = nil
	}
	c.mu.Unlock()
}

func (c *testClient) inbox(connID uint32) chan *wire.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := c.inboxes[connID]
	if ch == nil {
		ch = make(chan *wire.Message, 4096)
		c.inboxes[connID] = ch
	}
	return ch
}

func (c *testClient) newConnID() uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nextID++
	return c.nextID
}

const testWait = 10 * time.Second

func (c *testClient) request(m *wire.Message) (*wire.Message, error) {
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	return c.conn.Request(ctx, m)
}

func (c *testClient) send(m *wire.Message) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	if err := c.conn.Send(ctx, m); err != nil {
		c.t.Fatalf("send %s: %v", m, err)
	}
}

// next returns the next message for connID.
func (c *testClient) next(connID uint32) *wire.Message {
	c.t.Helper()
	select {
	case m := <-c.inbox(connID):
		return m
	case <-time.After(testWait):
		c.t.Fatalf("no message for conn %d", connID)
		return nil
	}
}

// expect returns the next message for connID and checks its type.
func (c *testClient) expect(connID uint32, contentType int32) *wire.Message {
	c.t.Helper()
	m := c.next(connID)
	if m.ContentType != contentType {
		c.t.Fatalf("conn %d: got %s (%q), want %s", connID, m, m.Body, wire.ContentTypeName(contentType))
	}
	return m
}

// bind hosts a service and waits for BindSuccess; it returns the listener conn id.
func (c *testClient) bind(token string, opts wire.BindOptions) uint32 {
	c.t.Helper()
	connID := c.newConnID()
	reply, err := c.request(wire.NewBind([]byte(token), connID, opts))
	if err != nil {
		c.t.Fatalf("bind: %v", err)
	}
	if reply.ContentType != wire.ContentTypeStateConnected {
		c.t.Fatalf("bind answered with %s: %q", reply, reply.Body)
	}
	c.expect(connID, wire.ContentTypeBindSuccess)
	return connID
}

// dialResult is what the dialer learns from its Connect.
type dialResult struct {
	reply  *wire.Message
	connID uint32
}

// startConnect sends a Connect and returns a channel with its answer.
func (c *testClient) startConnect(token string, tweak func(*wire.Message)) (uint32, <-chan dialResult) {
	connID := c.newConnID()
	m := wire.NewConnect([]byte(token), connID)
	if tweak != nil {
		tweak(m)
	}
	out := make(chan dialResult, 1)
	go func() {
		reply, err := c.request(m)
		if err != nil {
			reply = wire.NewStateClosed(connID, 0, "request failed: "+err.Error())
		}
		out <- dialResult{reply: reply, connID: connID}
	}()
	return connID, out
}

func waitResult(t testing.TB, ch <-chan dialResult) dialResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(testWait):
		t.Fatal("no answer to connect")
		return dialResult{}
	}
}

// acceptDial waits for a Dial on a listener and accepts it; it returns the new conn id and
// the Dial.
func (c *testClient) acceptDial(listenerConnID uint32) (uint32, *wire.Message) {
	c.t.Helper()
	dial := c.expect(listenerConnID, wire.ContentTypeDial)
	newID, ok := dial.Headers.GetUint32(wire.HeaderRouterProvidedConnID)
	if !ok {
		c.t.Fatal("dial without RouterProvidedConnId")
	}
	reply := wire.NewDialSuccess(listenerConnID, newID)
	reply.ReplyTo(dial)
	c.send(reply)
	return newID, dial
}

// circuitPair is an established connection seen from both ends.
type circuitPair struct {
	dialer, host             *testClient
	dialerConnID, hostConnID uint32
	connected, dial          *wire.Message
}

// establish dials token through a host listening on listenerConnID.
func establish(t testing.TB, dialer, host *testClient, token string, listenerConnID uint32, tweak func(*wire.Message)) circuitPair {
	t.Helper()
	_, answer := dialer.startConnect(token, tweak)
	hostConnID, dial := host.acceptDial(listenerConnID)
	r := waitResult(t, answer)
	if r.reply.ContentType != wire.ContentTypeStateConnected {
		t.Fatalf("connect answered with %s: %q", r.reply, r.reply.Body)
	}
	return circuitPair{dialer: dialer, host: host, dialerConnID: r.connID, hostConnID: hostConnID, connected: r.reply, dial: dial}
}

// sendData sends payload in chunks of at most chunk bytes.
func (c *testClient) sendData(connID uint32, payload []byte, chunk int) {
	c.t.Helper()
	seq := uint32(0)
	for len(payload) > 0 {
		n := min(chunk, len(payload))
		seq++
		c.send(wire.NewData(connID, seq, 0, payload[:n]))
		payload = payload[n:]
	}
}

// readData reads Data for connID until n bytes arrived.
func (c *testClient) readData(connID uint32, n int) []byte {
	c.t.Helper()
	out := make([]byte, 0, n)
	for len(out) < n {
		m := c.expect(connID, wire.ContentTypeData)
		out = append(out, m.Body...)
		m.Release()
	}
	return out
}

// waitFor polls cond until it holds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// dialTLSNoCert connects without a client certificate.
func dialTLSNoCert(env *testEnv) (*tls.Conn, error) {
	d := &tls.Dialer{Config: &tls.Config{RootCAs: env.ca.pool, ServerName: "127.0.0.1"}}
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", env.addr)
	if err != nil {
		return nil, err
	}
	return c.(*tls.Conn), nil
}

package edge

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ostium-net/ostium/router/splice"
	"github.com/ostium-net/ostium/sdk/wire"
)

func TestHelloAccepted(t *testing.T) {
	env := startRouter(t, nil)
	id := env.newIdentity("alice")
	c := newClient(t, env, id.cert)
	reply, err := c.request(wire.NewHello(id.name, []byte(id.apiToken)))
	if err != nil {
		t.Fatal(err)
	}
	if reply.ContentType != wire.ContentTypeResult || reply.Sequence != -1 || !reply.IsReplyTo(-1) {
		t.Fatalf("hello answered with %s", reply)
	}
	if ok, _ := reply.Headers.GetBool(wire.HeaderResultSuccess); !ok {
		t.Fatalf("hello refused: %q", reply.Body)
	}
	info, err := wire.ParseHelloResult(reply)
	if err != nil {
		t.Fatal(err)
	}
	if info.ConnectionID == "" || info.RouterID != "router-1" || info.Version != "1.2.3|abc|2026-01-01|linux|amd64" || !info.SupportsBindSuccess {
		t.Fatalf("hello result %+v", info)
	}
	waitFor(t, "channel registered", func() bool { return env.l.Stats().Channels == 1 })
}

func TestHelloRefused(t *testing.T) {
	env := startRouter(t, nil)
	alice := env.newIdentity("alice")
	bob := env.newIdentity("bob")
	for name, tc := range map[string]struct {
		id    *identity
		token string
		want  string
	}{
		"unknown API session": {alice, "no-such-token", "invalid API session"},
		"foreign certificate": {bob, alice.apiToken, "does not belong"},
	} {
		t.Run(name, func(t *testing.T) {
			c := newClient(t, env, tc.id.cert)
			reply, err := c.request(wire.NewHello(tc.id.name, []byte(tc.token)))
			if err != nil {
				t.Fatal(err)
			}
			if reply.ResultSuccess() || !reply.IsReplyTo(-1) || !strings.Contains(string(reply.Body), tc.want) {
				t.Fatalf("got %s %q, want a refusal mentioning %q", reply, reply.Body, tc.want)
			}
			if _, err := wire.ParseHelloResult(reply); !errors.Is(err, wire.ErrHelloRejected) {
				t.Fatalf("ParseHelloResult: %v", err)
			}
			select {
			case <-c.conn.Done():
			case <-time.After(testWait):
				t.Fatal("router kept a refused channel open")
			}
		})
	}
}

func TestMessageBeforeHelloRefused(t *testing.T) {
	env := startRouter(t, nil)
	id := env.newIdentity("alice")
	c := newClient(t, env, id.cert)
	c.send(wire.NewConnect([]byte("x"), 1))
	select {
	case <-c.conn.Done():
	case <-time.After(testWait):
		t.Fatal("router kept a channel that skipped the hello")
	}
}

func TestForeignCARefusedAtHandshake(t *testing.T) {
	env := startRouter(t, nil)
	foreign := newTestCA(t, "foreign root")
	cert := foreign.issue(t, "mallory", false)
	conn, err := dialTLS(t, env, cert, env.ca.pool)
	if err == nil {
		// With TLS 1.3 the client finishes its handshake before the server has checked the
		// client certificate; the refusal then arrives as an alert on the first read.
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(testWait))
		if _, err = wire.NewHello("mallory", []byte("t")).WriteTo(conn); err == nil {
			_, err = conn.Read(make([]byte, 1))
		}
	}
	if err == nil {
		t.Fatal("router accepted a certificate from a foreign CA")
	}
	if !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("unexpected error: %v", err)
	}
	if n := env.l.Stats().Channels; n != 0 {
		t.Fatalf("%d channels after refused handshake", n)
	}
}

func TestNoClientCertificateRefused(t *testing.T) {
	env := startRouter(t, nil)
	d, err := dialTLSNoCert(env)
	if err == nil {
		_ = d.SetDeadline(time.Now().Add(testWait))
		_, err = d.Read(make([]byte, 1))
		d.Close()
	}
	if err == nil {
		t.Fatal("router accepted a client without certificate")
	}
}

func TestLatencyProbeAnswered(t *testing.T) {
	env := startRouter(t, nil)
	c := connect(t, env, env.newIdentity("alice"))
	sent := time.Unix(0, 1234567890123)
	probe := wire.NewLatencyProbe(sent)
	probe.Headers.PutString(200, "echo me")
	reply, err := c.request(probe)
	if err != nil {
		t.Fatal(err)
	}
	if reply.ContentType != wire.ContentTypeResult || !reply.ResultSuccess() {
		t.Fatalf("probe answered with %s", reply)
	}
	if at, ok := wire.LatencyProbeSentAt(reply); !ok || !at.Equal(sent) {
		t.Fatalf("probe time came back as %v, %v", at, ok)
	}
	if v, _ := reply.Headers.GetString(200); v != "echo me" {
		t.Fatalf("header 200 came back as %q", v)
	}
}

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDialBindDataHalfCloseAndClose(t *testing.T) {
	env := startRouter(t, nil)
	hostID, dialerID := env.newIdentity("host"), env.newIdentity("dialer")
	env.tokens.putAPISession(dialerID.apiToken, APISession{ID: dialerID.apiID, IdentityID: "identity-dialer", IdentityName: "Dialer Name", CertFingerprints: []string{strings.ToUpper(certFingerprint(dialerID.cert.Leaf))}})
	bindToken, bindSess := env.session(hostID, "svc", SessionTypeBind, nil)
	dialToken, _ := env.session(dialerID, "svc", SessionTypeDial, nil)
	host, dialer := connect(t, env, hostID), connect(t, env, dialerID)

	hostKey, dialerKey := randomBytes(t, 32), randomBytes(t, 32)
	listener := host.bind(bindToken, wire.BindOptions{PublicKey: hostKey, Cost: 7, TerminatorIdentity: "h1", ListenerID: "L1"})
	terms := env.registry.snapshot()
	if len(terms) != 1 {
		t.Fatalf("registry holds %d terminators", len(terms))
	}
	for _, term := range terms {
		if term.ServiceID != "svc" || term.SessionID != bindSess.ID || term.Cost != 7 || term.Identity != "h1" || term.RouterID != "router-1" || term.HostID != "identity-host" || term.ListenerID != "L1" {
			t.Fatalf("registered %+v", term)
		}
	}

	p := establish(t, dialer, host, dialToken, listener, func(m *wire.Message) {
		m.PutPublicKey(dialerKey)
		m.Headers.PutBytes(wire.HeaderAppData, []byte(`{"k":"v"}`))
	})
	// What the host learned.
	if string(p.dial.Body) != bindToken {
		t.Fatalf("dial body %q, want the bind token", p.dial.Body)
	}
	if id, _ := p.dial.ConnID(); id != listener {
		t.Fatalf("dial conn id %d, want listener %d", id, listener)
	}
	if v, _ := p.dial.Headers.GetString(wire.HeaderCallerID); v != "Dialer Name" {
		t.Fatalf("caller id %q", v)
	}
	if v, _ := p.dial.Headers.GetBytes(wire.HeaderPublicKey); !bytes.Equal(v, dialerKey) {
		t.Fatal("dial lacks the dialer's public key")
	}
	if v, _ := p.dial.Headers.GetBytes(wire.HeaderAppData); string(v) != `{"k":"v"}` {
		t.Fatalf("app data %q", v)
	}
	if v, _ := p.dial.Headers.GetString(wire.HeaderConnectionMarker); v == "" {
		t.Fatal("dial lacks a connection marker")
	}
	circuitID, _ := p.dial.Headers.GetString(wire.HeaderCircuitID)
	// What the dialer learned.
	if id, _ := p.connected.ConnID(); id != p.dialerConnID {
		t.Fatalf("StateConnected for conn %d", id)
	}
	if v, _ := p.connected.Headers.GetString(wire.HeaderCircuitID); v == "" || v != circuitID {
		t.Fatalf("circuit ids %q and %q", v, circuitID)
	}
	if v, _ := p.connected.Headers.GetBytes(wire.HeaderPublicKey); !bytes.Equal(v, hostKey) {
		t.Fatal("StateConnected lacks the host's public key")
	}

	// 1 MB each way, at the same time.
	const size = 1 << 20
	up, down := randomBytes(t, size), randomBytes(t, size)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); dialer.sendData(p.dialerConnID, up, 16<<10) }()
	go func() { defer wg.Done(); host.sendData(p.hostConnID, down, 30000) }()
	if got := host.readData(p.hostConnID, size); !bytes.Equal(got, up) {
		t.Fatal("host received corrupted data")
	}
	if got := dialer.readData(p.dialerConnID, size); !bytes.Equal(got, down) {
		t.Fatal("dialer received corrupted data")
	}
	wg.Wait()

	// Half-close: the dialer is done writing, the host still answers.
	dialer.send(wire.NewData(p.dialerConnID, 1000, wire.FlagFIN, nil))
	fin := host.expect(p.hostConnID, wire.ContentTypeData)
	if fin.Flags()&wire.FlagFIN == 0 || len(fin.Body) != 0 {
		t.Fatalf("host got %s flags %d, want FIN", fin, fin.Flags())
	}
	host.send(wire.NewData(p.hostConnID, 2000, 0, []byte("still talking")))
	if got := dialer.readData(p.dialerConnID, 13); string(got) != "still talking" {
		t.Fatalf("after half-close dialer got %q", got)
	}

	// The host closes: the dialer is told, the circuit is gone.
	host.send(wire.NewStateClosed(p.hostConnID, 0, "bye"))
	closed := dialer.expect(p.dialerConnID, wire.ContentTypeStateClosed)
	if string(closed.Body) != "bye" {
		t.Fatalf("StateClosed body %q", closed.Body)
	}
	waitFor(t, "circuit removed", func() bool { return env.l.Stats().Circuits == 0 })

	// The terminator is still there: a second connection works, and closing it from the
	// dialer side reaches the host.
	p2 := establish(t, dialer, host, dialToken, listener, func(m *wire.Message) { m.PutPublicKey(dialerKey) })
	dialer.send(wire.NewStateClosed(p2.dialerConnID, 0, ""))
	host.expect(p2.hostConnID, wire.ContentTypeStateClosed)

	// Unbind removes the terminator here and at the registry.
	host.send(wire.NewUnbind([]byte(bindToken), listener))
	waitFor(t, "terminator unregistered", func() bool { return len(env.registry.snapshot()) == 0 && env.l.Stats().Terminators == 0 })
	_, answer := dialer.startConnect(dialToken, func(m *wire.Message) { m.PutPublicKey(dialerKey) })
	r := waitResult(t, answer)
	if code, _ := r.reply.ErrorCode(); r.reply.ContentType != wire.ContentTypeStateClosed || code != wire.ErrorCodeInvalidTerminator {
		t.Fatalf("connect after unbind: %s code %d", r.reply, code)
	}
}

func TestConnectAndBindRefusals(t *testing.T) {
	env := startRouter(t, nil)
	hostID, dialerID, otherID := env.newIdentity("host"), env.newIdentity("dialer"), env.newIdentity("other")
	bindToken, _ := env.session(hostID, "svc", SessionTypeBind, nil)
	dialToken, _ := env.session(dialerID, "svc", SessionTypeDial, nil)
	dialerBindToken, _ := env.session(dialerID, "svc", SessionTypeBind, nil)
	hostDialToken, _ := env.session(hostID, "svc", SessionTypeDial, nil)
	othersBindToken, _ := env.session(otherID, "svc", SessionTypeBind, nil)
	othersDialToken, _ := env.session(otherID, "svc", SessionTypeDial, nil)
	lonelyToken, _ := env.session(dialerID, "lonely", SessionTypeDial, nil)
	secretToken, _ := env.session(dialerID, "secret", SessionTypeDial, func(s *Session) { s.ServiceEncryptionRequired = true })
	secretBindToken, _ := env.session(hostID, "secret", SessionTypeBind, func(s *Session) { s.ServiceEncryptionRequired = true })

	host, dialer := connect(t, env, hostID), connect(t, env, dialerID)
	host.bind(bindToken, wire.BindOptions{TerminatorIdentity: "h1"})
	host.bind(secretBindToken, wire.BindOptions{PublicKey: randomBytes(t, 32)})

	for name, tc := range map[string]struct {
		token    string
		identity string
		want     uint32
	}{
		"unknown session":          {"no-such-token", "", wire.ErrorCodeInvalidSession},
		"wrong session type":       {dialerBindToken, "", wire.ErrorCodeWrongSessionType},
		"another API session's":    {othersDialToken, "", wire.ErrorCodeInvalidSession},
		"no terminator":            {lonelyToken, "", wire.ErrorCodeInvalidTerminator},
		"unknown terminator":       {dialToken, "h2", wire.ErrorCodeInvalidTerminator},
		"encryption without a key": {secretToken, "", wire.ErrorCodeEncryptionDataMissing},
		"SDK flow control":         {dialToken, "xgress", wire.ErrorCodeInternal},
	} {
		t.Run("connect "+name, func(t *testing.T) {
			_, answer := dialer.startConnect(tc.token, func(m *wire.Message) {
				switch tc.identity {
				case "":
				case "xgress": // asks for SDK flow control instead of a terminator
					m.Headers.PutBool(wire.HeaderUseXgressToSdk, true)
				default:
					m.Headers.PutString(wire.HeaderTerminatorIdentity, tc.identity)
				}
			})
			r := waitResult(t, answer)
			code, _ := r.reply.ErrorCode()
			if r.reply.ContentType != wire.ContentTypeStateClosed || code != tc.want || len(r.reply.Body) == 0 {
				t.Fatalf("got %s code %d %q, want StateClosed code %d", r.reply, code, r.reply.Body, tc.want)
			}
			if id, _ := r.reply.ConnID(); id != r.connID {
				t.Fatalf("refusal for conn %d, want %d", id, r.connID)
			}
		})
	}

	for name, tc := range map[string]struct {
		token string
		opts  wire.BindOptions
		want  uint32
	}{
		"dial session":             {hostDialToken, wire.BindOptions{}, wire.ErrorCodeWrongSessionType},
		"another API session's":    {othersBindToken, wire.BindOptions{}, wire.ErrorCodeInvalidSession},
		"unknown session":          {"nope", wire.BindOptions{}, wire.ErrorCodeInvalidSession},
		"encryption without a key": {secretBindToken, wire.BindOptions{}, wire.ErrorCodeEncryptionDataMissing},
		"bad precedence":           {bindToken, wire.BindOptions{Precedence: 7}, wire.ErrorCodeInvalidPrecedence},
	} {
		t.Run("bind "+name, func(t *testing.T) {
			reply, err := host.request(wire.NewBind([]byte(tc.token), host.newConnID(), tc.opts))
			if err != nil {
				t.Fatal(err)
			}
			code, _ := reply.ErrorCode()
			if reply.ContentType != wire.ContentTypeStateClosed || code != tc.want {
				t.Fatalf("got %s code %d %q, want StateClosed code %d", reply, code, reply.Body, tc.want)
			}
		})
	}
}

func TestTerminatorIdentitySelection(t *testing.T) {
	env := startRouter(t, nil)
	aID, bID, dID := env.newIdentity("a"), env.newIdentity("b"), env.newIdentity("d")
	aToken, _ := env.session(aID, "svc", SessionTypeBind, nil)
	bToken, _ := env.session(bID, "svc", SessionTypeBind, nil)
	dialToken, _ := env.session(dID, "svc", SessionTypeDial, nil)
	a, b, d := connect(t, env, aID), connect(t, env, bID), connect(t, env, dID)
	// b is the more expensive one: only the identity can make the router pick it.
	la := a.bind(aToken, wire.BindOptions{TerminatorIdentity: "alpha"})
	lb := b.bind(bToken, wire.BindOptions{TerminatorIdentity: "beta", Cost: 500})

	for range 3 {
		p := establish(t, d, b, dialToken, lb, func(m *wire.Message) { m.Headers.PutString(wire.HeaderTerminatorIdentity, "beta") })
		d.send(wire.NewStateClosed(p.dialerConnID, 0, ""))
		b.expect(p.hostConnID, wire.ContentTypeStateClosed)
	}
	// Without identity, smartrouting picks the cheaper terminator.
	p := establish(t, d, a, dialToken, la, nil)
	d.send(wire.NewStateClosed(p.dialerConnID, 0, ""))

	// UpdateBind makes a the expensive one.
	cost := uint16(1000)
	a.send(wire.NewUpdateBind([]byte(aToken), la, &cost, nil))
	waitFor(t, "cost update registered", func() bool {
		for _, term := range env.registry.snapshot() {
			if term.Identity == "alpha" && term.Cost == 1000 {
				return true
			}
		}
		return false
	})
	establish(t, d, b, dialToken, lb, nil)
}

func TestTerminatorSelectionStrategies(t *testing.T) {
	mk := func(id string, cost uint16, p wire.Precedence) *terminator {
		return &terminator{Terminator: Terminator{ID: id, ServiceID: "s", Cost: cost, Precedence: p}}
	}
	var tt terminatorTable
	tt.init()
	cheapFailed := mk("cheap-failed", 0, wire.PrecedenceFailed)
	dear := mk("dear", 100, wire.PrecedenceDefault)
	cheap := mk("cheap", 10, wire.PrecedenceDefault)
	for _, x := range []*terminator{cheapFailed, dear, cheap} {
		tt.add(x)
	}
	pick := func(strategy string) *terminator {
		got, err := tt.pick("s", strategy, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		return got.local
	}
	if got := pick(StrategySmartRouting); got != cheap {
		t.Fatalf("smartrouting picked %s", got.ID)
	}
	// Dial failures make cheap more expensive than dear for a while.
	tt.recordDial(cheap, false)
	if got := pick(""); got != dear {
		t.Fatalf("after a failure smartrouting picked %s", got.ID)
	}
	tt.recordDial(cheap, true)
	if got := pick(""); got != cheap {
		t.Fatalf("after a success smartrouting picked %s", got.ID)
	}
	// A required terminator beats any cost.
	required := mk("required", 60000, wire.PrecedenceRequired)
	tt.add(required)
	for _, s := range []string{StrategySmartRouting, StrategyWeighted, StrategyRandom} {
		if got := pick(s); got != required {
			t.Fatalf("%s picked %s over the required terminator", s, got.ID)
		}
	}
	tt.remove(required)
	// Weighted: cost 10 is picked about ten times as often as cost 100; random about as often.
	counts := map[string]map[*terminator]int{StrategyWeighted: {}, StrategyRandom: {}}
	for range 4000 {
		for s := range counts {
			counts[s][pick(s)]++
		}
	}
	if w := counts[StrategyWeighted]; w[cheapFailed] != 0 || w[cheap] < 5*w[dear] {
		t.Fatalf("weighted picks %v", w)
	}
	if r := counts[StrategyRandom]; r[cheapFailed] != 0 || r[cheap] < 1500 || r[dear] < 1500 {
		t.Fatalf("random picks %v", r)
	}
	// A host reporting itself unhealthy drops to failed precedence.
	unhealthy := false
	tt.update(cheap, nil, nil, &unhealthy)
	tt.update(dear, nil, nil, &unhealthy)
	if got := pick(""); got != cheapFailed {
		t.Fatalf("with every default terminator unhealthy smartrouting picked %s", got.ID)
	}
}

func TestCloseSessionsCutsLiveCircuit(t *testing.T) {
	env := startRouter(t, nil)
	hostID, dialerID := env.newIdentity("host"), env.newIdentity("dialer")
	bindToken, bindSess := env.session(hostID, "svc", SessionTypeBind, nil)
	dialToken, dialSess := env.session(dialerID, "svc", SessionTypeDial, nil)
	host, dialer := connect(t, env, hostID), connect(t, env, dialerID)
	listener := host.bind(bindToken, wire.BindOptions{})

	p := establish(t, dialer, host, dialToken, listener, nil)
	other := establish(t, dialer, host, dialToken, listener, nil)
	dialer.sendData(p.dialerConnID, []byte("before"), 100)
	host.readData(p.hostConnID, 6)

	env.l.CloseSessions(dialSess.ID)
	deadline := time.After(time.Second)
	for _, side := range []struct {
		c  *testClient
		id uint32
	}{{dialer, p.dialerConnID}, {host, p.hostConnID}, {dialer, other.dialerConnID}, {host, other.hostConnID}} {
		select {
		case m := <-side.c.inbox(side.id):
			if m.ContentType != wire.ContentTypeStateClosed {
				t.Fatalf("got %s, want StateClosed", m)
			}
		case <-deadline:
			t.Fatal("circuit not cut within a second")
		}
	}
	waitFor(t, "circuits removed", func() bool { return env.l.Stats().Circuits == 0 })

	// Revoking the bind session removes the terminator and tells the host.
	env.l.CloseSessions(bindSess.ID)
	host.expect(listener, wire.ContentTypeStateClosed)
	waitFor(t, "terminator removed", func() bool { return env.l.Stats().Terminators == 0 && len(env.registry.snapshot()) == 0 })
}

func TestCloseAPISessionsClosesChannel(t *testing.T) {
	env := startRouter(t, nil)
	hostID, dialerID := env.newIdentity("host"), env.newIdentity("dialer")
	bindToken, _ := env.session(hostID, "svc", SessionTypeBind, nil)
	dialToken, _ := env.session(dialerID, "svc", SessionTypeDial, nil)
	host, dialer := connect(t, env, hostID), connect(t, env, dialerID)
	listener := host.bind(bindToken, wire.BindOptions{})
	p := establish(t, dialer, host, dialToken, listener, nil)

	env.l.CloseAPISessions(hostID.apiID)
	select {
	case <-host.conn.Done():
	case <-time.After(testWait):
		t.Fatal("channel of a revoked API session stayed open")
	}
	dialer.expect(p.dialerConnID, wire.ContentTypeStateClosed)
	waitFor(t, "terminator and circuit removed", func() bool {
		st := env.l.Stats()
		return st.Terminators == 0 && st.Circuits == 0 && st.Channels == 1 && len(env.registry.snapshot()) == 0
	})
}

func TestHostChannelLossClosesCircuits(t *testing.T) {
	env := startRouter(t, nil)
	hostID, dialerID := env.newIdentity("host"), env.newIdentity("dialer")
	bindToken, _ := env.session(hostID, "svc", SessionTypeBind, nil)
	dialToken, _ := env.session(dialerID, "svc", SessionTypeDial, nil)
	host, dialer := connect(t, env, hostID), connect(t, env, dialerID)
	listener := host.bind(bindToken, wire.BindOptions{})
	p := establish(t, dialer, host, dialToken, listener, nil)
	_ = host.conn.Close()
	dialer.expect(p.dialerConnID, wire.ContentTypeStateClosed)
	waitFor(t, "terminator unregistered", func() bool { return len(env.registry.snapshot()) == 0 })
}

func TestDialRefusedByHost(t *testing.T) {
	env := startRouter(t, nil)
	hostID, dialerID := env.newIdentity("host"), env.newIdentity("dialer")
	bindToken, _ := env.session(hostID, "svc", SessionTypeBind, nil)
	dialToken, _ := env.session(dialerID, "svc", SessionTypeDial, nil)
	host, dialer := connect(t, env, hostID), connect(t, env, dialerID)
	listener := host.bind(bindToken, wire.BindOptions{})
	_, answer := dialer.startConnect(dialToken, nil)
	dial := host.expect(listener, wire.ContentTypeDial)
	refusal := wire.NewDialFailed(listener, "not today")
	refusal.ReplyTo(dial)
	host.send(refusal)
	r := waitResult(t, answer)
	if r.reply.ContentType != wire.ContentTypeStateClosed || !strings.Contains(string(r.reply.Body), "not today") {
		t.Fatalf("got %s %q", r.reply, r.reply.Body)
	}
	waitFor(t, "circuit forgotten", func() bool { return env.l.Stats().Circuits == 0 })
}

func TestRegistryFailureClosesListener(t *testing.T) {
	env := startRouter(t, nil)
	env.registry.fail = errors.New("controller unreachable")
	hostID := env.newIdentity("host")
	bindToken, _ := env.session(hostID, "svc", SessionTypeBind, nil)
	host := connect(t, env, hostID)
	connID := host.newConnID()
	reply, err := host.request(wire.NewBind([]byte(bindToken), connID, wire.BindOptions{}))
	if err != nil || reply.ContentType != wire.ContentTypeStateConnected {
		t.Fatalf("bind: %v %v", reply, err)
	}
	host.expect(connID, wire.ContentTypeStateClosed)
	waitFor(t, "terminator removed", func() bool { return env.l.Stats().Terminators == 0 })
}

func TestIdleTimeoutClosesCircuit(t *testing.T) {
	env := startRouter(t, nil)
	hostID, dialerID := env.newIdentity("host"), env.newIdentity("dialer")
	bindToken, _ := env.session(hostID, "svc", SessionTypeBind, nil)
	dialToken, _ := env.session(dialerID, "svc", SessionTypeDial, func(s *Session) { s.ServiceMaxIdleTime = 150 * time.Millisecond })
	host, dialer := connect(t, env, hostID), connect(t, env, dialerID)
	listener := host.bind(bindToken, wire.BindOptions{})
	p := establish(t, dialer, host, dialToken, listener, nil)
	dialer.sendData(p.dialerConnID, []byte("hi"), 10)
	host.readData(p.hostConnID, 2)
	m := dialer.expect(p.dialerConnID, wire.ContentTypeStateClosed)
	if !strings.Contains(string(m.Body), "idle") {
		t.Fatalf("closed because %q", m.Body)
	}
	host.expect(p.hostConnID, wire.ContentTypeStateClosed)
}

func TestBackpressureBoundsQueues(t *testing.T) {
	limits := splice.Limits{MaxMessages: 16, MaxBytes: 64 << 10}
	env := startRouter(t, func(c *Config) {
		c.Splice.Queue = limits
		c.Splice.StallTimeout = time.Minute
	})
	hostID, dialerID := env.newIdentity("host"), env.newIdentity("dialer")
	bindToken, _ := env.session(hostID, "svc", SessionTypeBind, nil)
	dialToken, _ := env.session(dialerID, "svc", SessionTypeDial, nil)
	host, dialer := connect(t, env, hostID), connect(t, env, dialerID)
	listener := host.bind(bindToken, wire.BindOptions{})
	p := establish(t, dialer, host, dialToken, listener, nil)

	// The host stops reading; the dialer writes far more than every buffer on the way holds.
	host.closeGate()
	const total = 32 << 20
	const chunk = 16 << 10
	payload := randomBytes(t, total)
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		dialer.sendData(p.dialerConnID, payload, chunk)
	}()
	waitFor(t, "queue towards the host to fill", func() bool {
		st := env.l.Stats()
		return len(st.CircuitStats) == 1 && st.CircuitStats[0].Queued[splice.Host].Messages > 0 &&
			(st.CircuitStats[0].Queued[splice.Host].Bytes+chunk+64 > limits.MaxBytes || st.CircuitStats[0].Queued[splice.Host].Messages == limits.MaxMessages)
	})
	select {
	case <-sent:
		t.Fatal("the dialer wrote 32 MB into a host that reads nothing")
	default:
	}
	st := env.l.Stats().CircuitStats[0].Queued[splice.Host]
	if st.HighBytes > limits.MaxBytes || st.HighMessages > limits.MaxMessages {
		t.Fatalf("queue grew to %d messages, %d bytes; limits %+v", st.HighMessages, st.HighBytes, limits)
	}

	// Once the host reads again everything arrives intact.
	host.openGate()
	if got := host.readData(p.hostConnID, total); !bytes.Equal(got, payload) {
		t.Fatal("data corrupted after backpressure")
	}
	<-sent
	st = env.l.Stats().CircuitStats[0].Queued[splice.Host]
	if st.HighBytes > limits.MaxBytes || st.HighMessages > limits.MaxMessages {
		t.Fatalf("queue grew to %d messages, %d bytes; limits %+v", st.HighMessages, st.HighBytes, limits)
	}
}

func TestStalledCircuitDoesNotBlockChannel(t *testing.T) {
	env := startRouter(t, func(c *Config) {
		c.Splice.Queue = splice.Limits{MaxMessages: 8, MaxBytes: 32 << 10}
		c.Splice.StallTimeout = 200 * time.Millisecond
	})
	stuckID, fineID, dialerID := env.newIdentity("stuck"), env.newIdentity("fine"), env.newIdentity("dialer")
	stuckToken, _ := env.session(stuckID, "stuck-svc", SessionTypeBind, nil)
	fineToken, _ := env.session(fineID, "fine-svc", SessionTypeBind, nil)
	dialStuck, _ := env.session(dialerID, "stuck-svc", SessionTypeDial, nil)
	dialFine, _ := env.session(dialerID, "fine-svc", SessionTypeDial, nil)
	stuck, fine, dialer := connect(t, env, stuckID), connect(t, env, fineID), connect(t, env, dialerID)
	ls, lf := stuck.bind(stuckToken, wire.BindOptions{}), fine.bind(fineToken, wire.BindOptions{})
	ps := establish(t, dialer, stuck, dialStuck, ls, nil)
	pf := establish(t, dialer, fine, dialFine, lf, nil)

	stuck.closeGate()
	go func() {
		// Writes until the router gives up on the stuck circuit; then the router drops the
		// rest (the connection is closed) while reading on.
		payload := make([]byte, 16<<20)
		seq := uint32(0)
		for off := 0; off < len(payload); off += 16 << 10 {
			seq++
			if err := dialer.conn.Send(t.Context(), wire.NewData(ps.dialerConnID, seq, 0, payload[off:off+16<<10])); err != nil {
				return
			}
		}
	}()
	m := dialer.expect(ps.dialerConnID, wire.ContentTypeStateClosed)
	if !strings.Contains(string(m.Body), "stopped reading") {
		t.Fatalf("stuck circuit closed because %q", m.Body)
	}
	// The other circuit of the same channel still works.
	dialer.sendData(pf.dialerConnID, []byte("alive"), 100)
	if got := fine.readData(pf.hostConnID, 5); string(got) != "alive" {
		t.Fatalf("fine circuit carried %q", got)
	}
}

func TestHundredConcurrentCircuits(t *testing.T) {
	env := startRouter(t, nil)
	hostID := env.newIdentity("host")
	bindToken, _ := env.session(hostID, "svc", SessionTypeBind, nil)
	host := connect(t, env, hostID)
	listener := host.bind(bindToken, wire.BindOptions{})

	// The host echoes every connection until it is closed.
	go func() {
		for m := range host.inbox(listener) {
			if m.ContentType != wire.ContentTypeDial {
				continue
			}
			newID, _ := m.Headers.GetUint32(wire.HeaderRouterProvidedConnID)
			reply := wire.NewDialSuccess(listener, newID)
			reply.ReplyTo(m)
			inbox := host.inbox(newID)
			if err := host.conn.Send(t.Context(), reply); err != nil {
				return
			}
			go func() {
				for d := range inbox {
					if d.ContentType != wire.ContentTypeData {
						return
					}
					if err := host.conn.Send(t.Context(), wire.NewData(newID, 0, 0, d.Body)); err != nil {
						return
					}
				}
			}()
		}
	}()

	const circuits = 100
	dialers := make([]*testClient, 4)
	tokens := make([]string, len(dialers))
	for i := range dialers {
		id := env.newIdentity(fmt.Sprintf("dialer%d", i))
		tokens[i], _ = env.session(id, "svc", SessionTypeDial, nil)
		dialers[i] = connect(t, env, id)
	}
	errs := make(chan error, circuits)
	var wg sync.WaitGroup
	for i := range circuits {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- echoOnce(dialers[i%len(dialers)], tokens[i%len(dialers)], i)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	waitFor(t, "circuits closed", func() bool { return env.l.Stats().Circuits == 0 })
}

// echoOnce dials, sends 16 KiB in pieces and checks the echo.
func echoOnce(c *testClient, token string, n int) error {
	connID, answer := c.startConnect(token, nil)
	var r dialResult
	select {
	case r = <-answer:
	case <-time.After(testWait):
		return fmt.Errorf("circuit %d: no answer", n)
	}
	if r.reply.ContentType != wire.ContentTypeStateConnected {
		return fmt.Errorf("circuit %d: %s %q", n, r.reply, r.reply.Body)
	}
	payload := bytes.Repeat([]byte{byte(n)}, 16<<10)
	for off := 0; off < len(payload); off += 4096 {
		if err := c.conn.Send(c.t.(*testing.T).Context(), wire.NewData(connID, 0, 0, payload[off:off+4096])); err != nil {
			return err
		}
	}
	var got []byte
	for len(got) < len(payload) {
		select {
		case m := <-c.inbox(connID):
			if m.ContentType != wire.ContentTypeData {
				return fmt.Errorf("circuit %d: got %s", n, m)
			}
			got = append(got, m.Body...)
		case <-time.After(testWait):
			return fmt.Errorf("circuit %d: echo incomplete (%d bytes)", n, len(got))
		}
	}
	if !bytes.Equal(got, payload) {
		return fmt.Errorf("circuit %d: echo corrupted", n)
	}
	return c.conn.Send(c.t.(*testing.T).Context(), wire.NewStateClosed(connID, 0, ""))
}

func TestUpdateToken(t *testing.T) {
	env := startRouter(t, nil)
	id := env.newIdentity("alice")
	c := connect(t, env, id)
	env.tokens.putAPISession("fresh", APISession{ID: "api-alice-2", IdentityID: "identity-alice", CertFingerprints: []string{certFingerprint(id.cert.Leaf)}})
	// A token of another identity, even over the same certificate, is refused.
	env.tokens.putAPISession("mallory's", APISession{ID: "api-mallory", IdentityID: "identity-mallory", CertFingerprints: []string{certFingerprint(id.cert.Leaf)}})
	reply, err := c.request(wire.NewMessage(wire.ContentTypeUpdateToken, []byte("mallory's")))
	if err != nil || reply.ContentType != wire.ContentTypeUpdateTokenFailure {
		t.Fatalf("update token to another identity: %v %v", reply, err)
	}
	reply, err = c.request(wire.NewMessage(wire.ContentTypeUpdateToken, []byte("fresh")))
	if err != nil || reply.ContentType != wire.ContentTypeUpdateTokenSuccess {
		t.Fatalf("update token: %v %v", reply, err)
	}
	reply, err = c.request(wire.NewMessage(wire.ContentTypeUpdateToken, []byte("stale")))
	if err != nil || reply.ContentType != wire.ContentTypeUpdateTokenFailure {
		t.Fatalf("update token: %v %v", reply, err)
	}
	env.l.CloseAPISessions("api-alice-2")
	select {
	case <-c.conn.Done():
	case <-time.After(testWait):
		t.Fatal("channel of the updated API session not closed")
	}
}

func TestCloseDoesNotWaitForSilentClients(t *testing.T) {
	env := startRouter(t, func(c *Config) { c.HandshakeTimeout = time.Hour; c.HelloTimeout = time.Hour })
	// One client that never starts TLS, one that never says hello.
	silent, err := net.Dial("tcp", env.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	mute := newClient(t, env, env.newIdentity("mute").cert)
	waitFor(t, "mute channel accepted", func() bool { return env.l.Stats().Channels == 1 })
	closed := make(chan error, 1)
	go func() { closed <- env.l.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(testWait):
		t.Fatal("Close waited for clients that send nothing")
	}
	<-mute.conn.Done()
}

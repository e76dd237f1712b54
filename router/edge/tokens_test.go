package edge

import (
	"fmt"
	"testing"
	"time"

	"github.com/ostium-net/ostium/sdk/wire"
)

// TestTokensArrivingLateAreWaitedFor covers a client that uses a token before the push that
// announces it reaches the router: Hello, Bind and Connect wait for it, and a token that never
// arrives is still refused once the wait is over.
func TestTokensArrivingLateAreWaitedFor(t *testing.T) {
	env := startRouter(t, func(c *Config) {
		c.Tokens = pushedTokens{c.Tokens.(*memTokens)}
		c.TokenWait = 2 * time.Second
	})
	late := 150 * time.Millisecond

	// Hello with an API session announced after it was sent.
	hostID := &identity{name: "host", cert: env.ca.issue(t, "host", false), apiToken: "api-token-host", apiID: "api-host"}
	hostClient := newClient(t, env, hostID.cert)
	hello := make(chan error, 1)
	go func() {
		reply, err := hostClient.request(wire.NewHello(hostID.name, []byte(hostID.apiToken)))
		if err == nil {
			_, err = wire.ParseHelloResult(reply)
		}
		hello <- err
	}()
	time.Sleep(late)
	env.tokens.putAPISession(hostID.apiToken, APISession{ID: hostID.apiID, IdentityID: "identity-host",
		CertFingerprints: []string{certFingerprint(hostID.cert.Leaf)}})
	if err := <-hello; err != nil {
		t.Fatalf("hello with a late API session: %v", err)
	}

	// Bind with a session announced after it was sent; the channel keeps answering
	// meanwhile.
	bound := make(chan uint32, 1)
	bindToken := "token-late-bind"
	go func() { bound <- hostClient.bind(bindToken, wire.BindOptions{}) }()
	time.Sleep(late)
	probe, err := hostClient.request(wire.NewMessage(wire.ContentTypeLatency, nil))
	if err != nil || !probe.IsReply() {
		t.Fatalf("latency probe while a bind waits for its token: %v %v", probe, err)
	}
	env.tokens.putSession(bindToken, Session{ID: "sess-late-bind", APISessionID: hostID.apiID, ServiceID: "svc", Type: SessionTypeBind})
	var listener uint32
	select {
	case listener = <-bound:
	case <-time.After(testWait):
		t.Fatal("bind with a late session was not answered")
	}

	// Connect with a session announced after it was sent.
	dialerID := env.newIdentity("dialer")
	dialer := connect(t, env, dialerID)
	dialToken := "token-late-dial"
	_, answer := dialer.startConnect(dialToken, nil)
	time.Sleep(late)
	env.tokens.putSession(dialToken, Session{ID: "sess-late-dial", APISessionID: dialerID.apiID, ServiceID: "svc", Type: SessionTypeDial})
	hostClient.acceptDial(listener)
	if r := waitResult(t, answer); r.reply.ContentType != wire.ContentTypeStateConnected {
		t.Fatalf("connect with a late session answered %s: %q", r.reply, r.reply.Body)
	}

	// A token that never comes is refused after the wait, while unrelated changes come and go.
	start := time.Now()
	_, answer = dialer.startConnect("never-issued", nil)
	env.session(dialerID, "other", SessionTypeDial, nil)
	r := waitResult(t, answer)
	if code, _ := r.reply.ErrorCode(); r.reply.ContentType != wire.ContentTypeStateClosed || code != wire.ErrorCodeInvalidSession {
		t.Fatalf("unknown token answered %s code %d, want StateClosed InvalidSession", r.reply, code)
	}
	if waited := time.Since(start); waited < 2*time.Second {
		t.Fatalf("unknown token refused after %s, before the 2 s wait", waited)
	}
}

// TestUnknownTokenWaitsAreBoundedPerChannel: a client sending many tokens the router does not
// know gets maxTokenWaits of them waited for and the rest refused at once.
func TestUnknownTokenWaitsAreBoundedPerChannel(t *testing.T) {
	env := startRouter(t, func(c *Config) {
		c.Tokens = pushedTokens{c.Tokens.(*memTokens)}
		c.TokenWait = time.Minute // the waits end because the tokens arrive, not by time
	})
	dialerID := env.newIdentity("dialer")
	dialer := connect(t, env, dialerID)
	const sent = 20
	answers := make(chan dialResult, sent)
	tokens := make([]string, sent)
	for i := range tokens {
		tokens[i] = fmt.Sprintf("not-yet-%d", i)
		_, answer := dialer.startConnect(tokens[i], nil)
		go func() { answers <- <-answer }()
	}
	next := func() dialResult {
		t.Helper()
		select {
		case r := <-answers:
			return r
		case <-time.After(testWait):
			t.Fatal("a connect was not answered")
			return dialResult{}
		}
	}
	code := func(r dialResult) uint32 {
		c, _ := r.reply.ErrorCode()
		return c
	}
	// The ones beyond the bound are refused without waiting for anything.
	for i := 0; i < sent-maxTokenWaits; i++ {
		if r := next(); code(r) != wire.ErrorCodeInvalidSession {
			t.Fatalf("answer %d: %s code %d, want an immediate InvalidSession", i, r.reply, code(r))
		}
	}
	// The waiting ones see their sessions arrive; the service has no terminator.
	for i, tok := range tokens {
		env.tokens.putSession(tok, Session{ID: fmt.Sprintf("s%d", i), APISessionID: dialerID.apiID, ServiceID: "svc", Type: SessionTypeDial})
	}
	for i := 0; i < maxTokenWaits; i++ {
		if r := next(); code(r) != wire.ErrorCodeInvalidTerminator {
			t.Fatalf("waited answer %d: %s code %d, want InvalidTerminator (the session was found)", i, r.reply, code(r))
		}
	}
}

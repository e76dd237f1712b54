package edge

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/ostium-net/ostium/sdk/wire"
)

const fuzzBindToken, fuzzDialToken = "bind-token", "dial-token"

// fuzzFrames encodes messages back to back.
func fuzzFrames(msgs ...*wire.Message) []byte {
	var out []byte
	for i, m := range msgs {
		if m.Sequence == 0 {
			m.Sequence = int32(100 + i)
		}
		out = m.AppendFrame(out)
	}
	return out
}

// FuzzChannelAfterHello feeds arbitrary bytes to the router on an authenticated channel that
// also hosts a service. The router must never panic, and must clean the channel up.
func FuzzChannelAfterHello(f *testing.F) {
	withHeaders := func(m *wire.Message, kv ...any) *wire.Message {
		for i := 0; i+1 < len(kv); i += 2 {
			switch v := kv[i+1].(type) {
			case []byte:
				m.Headers.PutBytes(kv[i].(int32), v)
			case string:
				m.Headers.PutString(kv[i].(int32), v)
			}
		}
		return m
	}
	f.Add([]byte{})
	f.Add([]byte("garbage that is no frame at all"))
	f.Add(fuzzFrames(wire.NewConnect([]byte(fuzzDialToken), 5)))
	f.Add(fuzzFrames(
		wire.NewConnect([]byte(fuzzDialToken), 5),
		wire.NewData(5, 1, 0, []byte("early")),
		wire.NewStateClosed(5, 0, "bye"),
	))
	f.Add(fuzzFrames(
		wire.NewData(77, 1, wire.FlagFIN, []byte("unknown conn")),
		wire.NewStateClosed(77, 0, ""),
		wire.NewStateClosed(1, 0, "closing the listener"),
	))
	f.Add(fuzzFrames(
		withHeaders(wire.NewMessage(wire.ContentTypeConnect, []byte(fuzzDialToken)), wire.HeaderConnID, []byte{1, 2}),
		withHeaders(wire.NewConnect([]byte(fuzzDialToken), 6), wire.HeaderTerminatorIdentity, "nobody"),
		withHeaders(wire.NewBind([]byte(fuzzBindToken), 9, wire.BindOptions{}), wire.HeaderPrecedence, []byte{1, 2, 3}, wire.HeaderCost, []byte{1}),
		wire.NewBind([]byte(fuzzBindToken), 1, wire.BindOptions{}),
		wire.NewUpdateBind([]byte(fuzzBindToken), 1, nil, nil),
		withHeaders(wire.NewMessage(wire.ContentTypeHealthEvent, nil), wire.HeaderConnID, []byte{1, 0, 0, 0}, wire.HeaderHealthStatus, []byte{0}),
		wire.NewUnbind([]byte(fuzzBindToken), 1),
		wire.NewUnbind([]byte("other"), 1),
	))
	f.Add(fuzzFrames(
		wire.NewLatencyProbe(time.Unix(1, 0)),
		wire.NewMessage(wire.ContentTypePing, nil),
		wire.NewMessage(wire.ContentTypeUpdateToken, []byte("api-token")),
		wire.NewMessage(wire.ContentTypeUpdateToken, nil),
		wire.NewHello("again", []byte("api-token")),
		wire.NewDialSuccess(1, 5),
		wire.NewMessage(wire.ContentTypeDialFailed, nil),
		wire.NewMessage(12345, []byte("unknown type")),
	))
	// Lengths that lie.
	lying := fuzzFrames(wire.NewData(5, 1, 0, []byte("x")))
	binary.LittleEndian.PutUint32(lying[16:], 1<<30)
	f.Add(lying)
	negative := fuzzFrames(wire.NewData(5, 1, 0, nil))
	binary.LittleEndian.PutUint32(negative[12:], 0xFFFFFFF0)
	f.Add(negative)
	f.Add(fuzzFrames(wire.NewData(5, 1, 0, nil))[:30])

	l, leaf := newFuzzListener(f)
	f.Fuzz(func(t *testing.T, data []byte) { fuzzChannelOnce(t, l, leaf, data) })
}

// newFuzzListener returns a Listener (not serving TCP) whose tokens know one client certificate.
func newFuzzListener(tb testing.TB) (*Listener, *x509.Certificate) {
	ca := newTestCA(tb, "fuzz root")
	cert := ca.issue(tb, "fuzzer", false)
	tokens := newMemTokens()
	tokens.putAPISession("api-token", APISession{ID: "api", IdentityID: "fuzzer", CertFingerprints: []string{certFingerprint(cert.Leaf)}})
	tokens.putSession(fuzzBindToken, Session{ID: "bind", APISessionID: "api", ServiceID: "svc", Type: SessionTypeBind})
	tokens.putSession(fuzzDialToken, Session{ID: "dial", APISessionID: "api", ServiceID: "svc", Type: SessionTypeDial, ServiceMaxIdleTime: time.Second})
	l, err := New(Config{
		RouterID:    "fuzz-router",
		TLS:         &tls.Config{Certificates: []tls.Certificate{ca.issue(tb, "router", true)}},
		ClientCAs:   ca.pool,
		Tokens:      tokens,
		Terminators: newMemRegistry(),
		Logger:      testLogger(tb),
		DialTimeout: 20 * time.Millisecond,
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = l.Close() })

	return l, cert.Leaf
}

// fuzzChannelOnce runs one input against l.
func fuzzChannelOnce(t *testing.T, l *Listener, leaf *x509.Certificate, data []byte) {
	client, server := net.Pipe()
	if !l.goTracked(func() { l.serveChannel(server, []*x509.Certificate{leaf}, "pipe") }) {
		t.Fatal("listener closed")
	}
	// The client reads (and drops) whatever the router sends, so the router never waits.
	conn := wire.NewConn(client, func(m *wire.Message) { m.Release() }, wire.ConnConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	reply, err := conn.Request(ctx, wire.NewHello("fuzzer", []byte("api-token")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wire.ParseHelloResult(reply); err != nil {
		t.Fatal(err)
	}
	reply, err = conn.Request(ctx, wire.NewBind([]byte(fuzzBindToken), 1, wire.BindOptions{}))
	if err != nil || reply.ContentType != wire.ContentTypeStateConnected {
		t.Fatalf("bind: %v %v", reply, err)
	}
	_ = client.SetWriteDeadline(time.Now().Add(testWait))
	if _, err := client.Write(data); err == nil { // the router may hang up half way
		// A probe answered means everything before it was handled. After a partial
		// frame no answer comes; the wait is short then.
		probeCtx, probeCancel := context.WithTimeout(ctx, 50*time.Millisecond)
		_, _ = conn.Request(probeCtx, wire.NewLatencyProbe(time.Now()))
		probeCancel()
	}
	_ = conn.Close()
	deadline := time.Now().Add(testWait)
	for {
		st := l.Stats()
		if st.Panics != 0 {
			t.Fatalf("router panicked %d times", st.Panics)
		}
		if st.Channels == 0 && st.Circuits == 0 && st.Terminators == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("channel not cleaned up: %+v", st)
		}
		time.Sleep(time.Millisecond)
	}
}

package wire

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// roundTrip encodes m and decodes it again, so every constructor is checked on the wire.
func roundTrip(t *testing.T, m *Message) *Message {
	t.Helper()
	got, err := NewReader(bytes.NewReader(m.AppendFrame(nil)), Limits{}).ReadMessage()
	if err != nil {
		t.Fatalf("decoding %v: %v", m, err)
	}
	return got
}

func wantUint32(t *testing.T, m *Message, key int32, want uint32) {
	t.Helper()
	if v, ok := m.Headers.GetUint32(key); !ok || v != want {
		t.Errorf("%v header %d = %d, %v; want %d", m, key, v, ok, want)
	}
}

func wantString(t *testing.T, m *Message, key int32, want string) {
	t.Helper()
	if v, ok := m.Headers.GetString(key); !ok || v != want {
		t.Errorf("%v header %d = %q, %v; want %q", m, key, v, ok, want)
	}
}

func wantBool(t *testing.T, m *Message, key int32, want bool) {
	t.Helper()
	if v, ok := m.Headers.GetBool(key); !ok || v != want {
		t.Errorf("%v header %d = %v, %v; want %v", m, key, v, ok, want)
	}
}

func TestHelloExchange(t *testing.T) {
	hello := roundTrip(t, NewHello("my-cn", []byte("session")))
	if hello.ContentType != ContentTypeHello || hello.Sequence != -1 || string(hello.Body) != "my-cn" {
		t.Fatalf("hello %v %q", hello, hello.Body)
	}
	wantString(t, hello, HeaderSessionToken, "session")

	ok := roundTrip(t, NewHelloResult(hello, HelloInfo{ConnectionID: "ch1", RouterID: "router-a", Version: "v|r|d|o|a", SupportsBindSuccess: true}))
	if ok.ContentType != ContentTypeResult || ok.Sequence != -1 || !ok.IsReplyTo(-1) || !ok.ResultSuccess() {
		t.Fatalf("hello result %v", ok)
	}
	wantString(t, ok, HeaderConnectionID, "ch1")
	wantString(t, ok, HeaderID, "router-a")
	wantString(t, ok, HeaderHelloVersion, "v|r|d|o|a")
	wantBool(t, ok, HeaderSupportsBindSuccess, true)

	fail := roundTrip(t, NewHelloFailure(hello, "invalid api session"))
	if fail.Sequence != -1 || !fail.IsReplyTo(-1) || fail.ResultSuccess() || string(fail.Body) != "invalid api session" {
		t.Fatalf("hello failure %v %q", fail, fail.Body)
	}
	if _, err := ParseHelloResult(fail); !errors.Is(err, ErrHelloRejected) {
		t.Fatalf("ParseHelloResult(failure) = %v", err)
	}
	if _, err := ParseHelloResult(NewData(1, 1, 0, nil)); !errors.Is(err, ErrUnexpectedMessage) {
		t.Fatalf("ParseHelloResult(data) = %v", err)
	}
}

func TestConnectAndStateMessages(t *testing.T) {
	connect := NewConnect([]byte("dial-token"), 5)
	connect.PutPublicKey(bytes.Repeat([]byte{1}, 32))
	connect.Headers.PutString(HeaderCallerID, "caller")
	connect = roundTrip(t, connect)
	if connect.ContentType != ContentTypeConnect || string(connect.Body) != "dial-token" {
		t.Fatalf("connect %v", connect)
	}
	wantUint32(t, connect, HeaderConnID, 5)
	if pk, _ := connect.Headers.GetBytes(HeaderPublicKey); len(pk) != 32 {
		t.Errorf("public key %x", pk)
	}
	if cm, ok := connect.Headers.GetByte(HeaderCryptoMethod); !ok || CryptoMethod(cm) != CryptoMethodLibsodium {
		t.Errorf("crypto method %d, %v", cm, ok)
	}

	connected := NewStateConnected(5)
	connected.ReplyTo(connect)
	connected = roundTrip(t, connected)
	if connected.ContentType != ContentTypeStateConnected || !connected.IsReplyTo(connect.Sequence) {
		t.Fatalf("connected %v", connected)
	}
	wantUint32(t, connected, HeaderConnID, 5)

	closed := roundTrip(t, NewStateClosed(5, ErrorCodeInvalidSession, "session expired"))
	if closed.ContentType != ContentTypeStateClosed || string(closed.Body) != "session expired" {
		t.Fatalf("closed %v", closed)
	}
	if code, ok := closed.ErrorCode(); !ok || code != ErrorCodeInvalidSession {
		t.Errorf("error code %d, %v", code, ok)
	}
	plain := roundTrip(t, NewStateClosed(5, 0, ""))
	if _, ok := plain.ErrorCode(); ok || plain.Body != nil {
		t.Errorf("plain close carries an error code or body: %v", plain)
	}
}

func TestDataMessage(t *testing.T) {
	d := roundTrip(t, NewData(11, 12, FlagFIN|FlagStream, []byte("payload")))
	if id, _ := d.ConnID(); id != 11 {
		t.Errorf("conn id %d", id)
	}
	if seq, _ := d.EdgeSeq(); seq != 12 {
		t.Errorf("seq %d", seq)
	}
	if d.Flags() != FlagFIN|FlagStream || d.Flags()&FlagFIN == 0 {
		t.Errorf("flags %d", d.Flags())
	}
	noFlags := NewData(1, 1, 0, nil)
	if noFlags.Headers.Has(HeaderFlags) || noFlags.Flags() != 0 {
		t.Error("zero flags were sent")
	}
	// Headers of a Data message can be changed independently (the values share one array).
	noFlags.Headers.PutUint32(HeaderConnID, 99)
	if seq, _ := noFlags.EdgeSeq(); seq != 1 {
		t.Error("changing ConnId changed Seq")
	}
}

func TestDialSide(t *testing.T) {
	dial := NewDial([]byte("bind-token"), 3, 4000, "caller-id", "circuit-1")
	dial.PutPublicKey([]byte("dialer-key"))
	dial.Headers.PutString(HeaderConnectionMarker, "marker")
	dial.Sequence = 77
	dial = roundTrip(t, dial)
	if dial.ContentType != ContentTypeDial || string(dial.Body) != "bind-token" {
		t.Fatalf("dial %v", dial)
	}
	wantUint32(t, dial, HeaderConnID, 3)
	wantUint32(t, dial, HeaderRouterProvidedConnID, 4000)
	wantString(t, dial, HeaderCallerID, "caller-id")
	wantString(t, dial, HeaderCircuitID, "circuit-1")
	wantString(t, dial, HeaderConnectionMarker, "marker")

	success := NewDialSuccess(3, 4000)
	success.ReplyTo(dial)
	success = roundTrip(t, success)
	if !bytes.Equal(success.Body, []byte{0xA0, 0x0F, 0, 0}) || !success.IsReplyTo(77) {
		t.Fatalf("dial success %v body % x", success, success.Body)
	}
	wantUint32(t, success, HeaderConnID, 3)
	if id, err := ParseDialSuccess(success); err != nil || id != 4000 {
		t.Fatalf("ParseDialSuccess = %d, %v", id, err)
	}
	if _, err := ParseDialSuccess(&Message{ContentType: ContentTypeDialSuccess, Body: []byte{1, 2}}); !errors.Is(err, ErrUnexpectedMessage) {
		t.Fatalf("short DialSuccess: %v", err)
	}
	if _, err := ParseDialSuccess(NewDialFailed(3, "no")); !errors.Is(err, ErrUnexpectedMessage) {
		t.Fatalf("DialFailed parsed as success: %v", err)
	}

	failed := roundTrip(t, NewDialFailed(3, "refused"))
	if failed.ContentType != ContentTypeDialFailed || string(failed.Body) != "refused" {
		t.Fatalf("dial failed %v", failed)
	}
	wantUint32(t, failed, HeaderConnID, 3)
}

func TestBindSide(t *testing.T) {
	full := roundTrip(t, NewBind([]byte("bind-token"), 8, BindOptions{
		PublicKey:                []byte("listener-key"),
		Cost:                     300,
		Precedence:               PrecedenceRequired,
		TerminatorIdentity:       "ti",
		TerminatorIdentitySecret: "secret",
		ListenerID:               "listener-1",
	}))
	if full.ContentType != ContentTypeBind || string(full.Body) != "bind-token" {
		t.Fatalf("bind %v", full)
	}
	wantUint32(t, full, HeaderConnID, 8)
	wantBool(t, full, HeaderSupportsBindSuccess, true)
	wantBool(t, full, HeaderRouterProvidedConnID, true)
	wantString(t, full, HeaderPublicKey, "listener-key")
	wantString(t, full, HeaderTerminatorIdentity, "ti")
	wantString(t, full, HeaderTerminatorIdentitySecret, "secret")
	wantString(t, full, HeaderListenerID, "listener-1")
	if cost, ok := full.Headers.GetUint16(HeaderCost); !ok || cost != 300 {
		t.Errorf("cost %d, %v", cost, ok)
	}
	if p, ok := full.Headers.GetByte(HeaderPrecedence); !ok || Precedence(p) != PrecedenceRequired {
		t.Errorf("precedence %d, %v", p, ok)
	}

	minimal := NewBind([]byte("t"), 8, BindOptions{})
	for _, key := range []int32{HeaderPublicKey, HeaderCryptoMethod, HeaderCost, HeaderPrecedence, HeaderTerminatorIdentity, HeaderTerminatorIdentitySecret, HeaderListenerID} {
		if minimal.Headers.Has(key) {
			t.Errorf("bind without options carries header %d", key)
		}
	}

	unbind := roundTrip(t, NewUnbind([]byte("bind-token"), 8))
	if unbind.ContentType != ContentTypeUnbind || string(unbind.Body) != "bind-token" {
		t.Fatalf("unbind %v", unbind)
	}
	wantUint32(t, unbind, HeaderConnID, 8)

	cost, prec := uint16(7), PrecedenceFailed
	update := roundTrip(t, NewUpdateBind([]byte("bind-token"), 8, &cost, &prec))
	if c, _ := update.Headers.GetUint16(HeaderCost); update.ContentType != ContentTypeUpdateBind || c != 7 {
		t.Fatalf("update bind %v", update)
	}
	if p, _ := update.Headers.GetByte(HeaderPrecedence); Precedence(p) != PrecedenceFailed {
		t.Fatalf("update precedence %d", p)
	}
	if u := NewUpdateBind(nil, 8, nil, nil); u.Headers.Has(HeaderCost) || u.Headers.Has(HeaderPrecedence) {
		t.Fatal("update bind without changes carries them")
	}

	success := roundTrip(t, NewBindSuccess(8))
	if success.ContentType != ContentTypeBindSuccess {
		t.Fatalf("bind success %v", success)
	}
	wantUint32(t, success, HeaderConnID, 8)
}

func TestLatencyProbeHeaders(t *testing.T) {
	sent := time.Unix(0, 1234567890123)
	probe := NewLatencyProbe(sent)
	probe.Sequence = 9
	if probe.ContentType != ContentTypeLatency {
		t.Fatalf("probe %v", probe)
	}
	resp := roundTrip(t, NewLatencyResponse(probe))
	if resp.ContentType != ContentTypeResult || !resp.IsReplyTo(9) || !resp.ResultSuccess() {
		t.Fatalf("response %v", resp)
	}
	if at, ok := LatencyProbeSentAt(resp); !ok || !at.Equal(sent) {
		t.Fatalf("sent at %v, %v", at, ok)
	}
	if _, ok := LatencyProbeSentAt(NewResult(true, "")); ok {
		t.Fatal("a result without probe time reports one")
	}
}

package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
)

// This file builds and reads the messages of the SDK ⇄ edge router protocol. Optional headers
// that a constructor does not take (CallerId, AppData, TerminatorIdentity, CircuitId, ...) are
// set by the caller with the Headers setters.

// ErrUnexpectedMessage is returned by the Parse* helpers for a message of the wrong type or
// without a header its type requires.
var ErrUnexpectedMessage = errors.New("wire: unexpected message")

// ErrHelloRejected is returned by [ParseHelloResult] when the router refused the Hello.
var ErrHelloRejected = errors.New("wire: hello rejected")

// NewHello builds the client's Hello: type Hello, sequence -1, body = the CN of the client
// certificate, [HeaderSessionToken] = the API-session token.
func NewHello(certCN string, apiSessionToken []byte) *Message {
	m := NewMessage(ContentTypeHello, []byte(certCN))
	m.Sequence = -1
	m.Headers.PutBytes(HeaderSessionToken, apiSessionToken)
	return m
}

// HelloInfo is what a router tells a client in its Hello result.
type HelloInfo struct {
	// ConnectionID is the router's id for this channel ([HeaderConnectionID]).
	ConnectionID string
	// RouterID is the id of the router ([HeaderID]).
	RouterID string
	// Version is "version|revision|buildDate|os|arch" ([HeaderHelloVersion]); see
	// [FormatVersion].
	Version string
	// SupportsBindSuccess tells that the router sends BindSuccess
	// ([HeaderSupportsBindSuccess]).
	SupportsBindSuccess bool
}

// FormatVersion joins build information into the "version|revision|buildDate|os|arch" form of
// [HeaderHelloVersion].
func FormatVersion(version, revision, buildDate, goos, goarch string) string {
	return strings.Join([]string{version, revision, buildDate, goos, goarch}, "|")
}

// NewHelloResult builds the router's successful answer to hello: a Result with sequence -1
// replying to it, [HeaderResultSuccess] = true and the headers of info.
func NewHelloResult(hello *Message, info HelloInfo) *Message {
	m := NewResult(true, "")
	m.Sequence = -1
	m.ReplyTo(hello)
	m.Headers.PutString(HeaderConnectionID, info.ConnectionID)
	m.Headers.PutString(HeaderID, info.RouterID)
	m.Headers.PutString(HeaderHelloVersion, info.Version)
	if info.SupportsBindSuccess {
		m.Headers.PutBool(HeaderSupportsBindSuccess, true)
	}
	return m
}

// NewHelloFailure builds the router's refusal of hello: a Result with sequence -1 replying to
// it, [HeaderResultSuccess] = false and reason as body. The router closes the channel after
// sending it.
func NewHelloFailure(hello *Message, reason string) *Message {
	m := NewResult(false, reason)
	m.Sequence = -1
	m.ReplyTo(hello)
	return m
}

// ParseHelloResult reads the router's answer to a Hello. A refusal yields an error wrapping
// [ErrHelloRejected] with the router's message.
func ParseHelloResult(m *Message) (HelloInfo, error) {
	if m.ContentType != ContentTypeResult {
		return HelloInfo{}, fmt.Errorf("%w: %s in answer to hello, want Result", ErrUnexpectedMessage, m)
	}
	if !m.ResultSuccess() {
		return HelloInfo{}, fmt.Errorf("%w: %q", ErrHelloRejected, m.Body)
	}
	var info HelloInfo
	info.ConnectionID, _ = m.Headers.GetString(HeaderConnectionID)
	info.RouterID, _ = m.Headers.GetString(HeaderID)
	info.Version, _ = m.Headers.GetString(HeaderHelloVersion)
	info.SupportsBindSuccess, _ = m.Headers.GetBool(HeaderSupportsBindSuccess)
	return info, nil
}

// NewResult builds a generic Result: [HeaderResultSuccess] = success, body = message. The
// caller makes it a reply with [Message.ReplyTo].
func NewResult(success bool, message string) *Message {
	var body []byte
	if message != "" {
		body = []byte(message)
	}
	m := NewMessage(ContentTypeResult, body)
	m.Headers.PutBool(HeaderResultSuccess, success)
	return m
}

// NewLatencyProbe builds a latency probe carrying its send time in [HeaderLatencyProbeTime].
func NewLatencyProbe(sentAt time.Time) *Message {
	m := NewMessage(ContentTypeLatency, nil)
	m.Headers.PutUint64(HeaderLatencyProbeTime, uint64(sentAt.UnixNano()))
	return m
}

// NewLatencyResponse builds the answer to a latency probe: a successful Result replying to it,
// which carries the probe's send time back by the copy rule.
func NewLatencyResponse(probe *Message) *Message {
	m := NewResult(true, "")
	m.ReplyTo(probe)
	return m
}

// LatencyProbeSentAt returns the send time carried by a latency probe or its answer.
func LatencyProbeSentAt(m *Message) (time.Time, bool) {
	ns, ok := m.Headers.GetUint64(HeaderLatencyProbeTime)
	if !ok {
		return time.Time{}, false
	}
	return time.Unix(0, int64(ns)), true
}

// ConnID returns the edge connection id ([HeaderConnID]).
func (m *Message) ConnID() (uint32, bool) { return m.Headers.GetUint32(HeaderConnID) }

// EdgeSeq returns the per-connection sequence of a Data message ([HeaderSeq]).
func (m *Message) EdgeSeq() (uint32, bool) { return m.Headers.GetUint32(HeaderSeq) }

// Flags returns [HeaderFlags], or 0 when it is missing or malformed.
func (m *Message) Flags() uint32 {
	f, _ := m.Headers.GetUint32(HeaderFlags)
	return f
}

// ErrorCode returns [HeaderErrorCode].
func (m *Message) ErrorCode() (uint32, bool) { return m.Headers.GetUint32(HeaderErrorCode) }

// PutPublicKey sets [HeaderPublicKey] and declares [CryptoMethodLibsodium] in
// [HeaderCryptoMethod], as end-to-end encryption requires.
func (m *Message) PutPublicKey(publicKey []byte) {
	m.Headers.PutBytes(HeaderPublicKey, publicKey)
	m.Headers.PutByte(HeaderCryptoMethod, byte(CryptoMethodLibsodium))
}

// newEdgeMessage builds a message of an edge type with [HeaderConnID] set.
func newEdgeMessage(contentType int32, connID uint32, body []byte) *Message {
	m := NewMessage(contentType, body)
	m.Headers.PutUint32(HeaderConnID, connID)
	return m
}

// NewConnect builds the client's request to dial a service: body = the dial session token,
// [HeaderConnID] = the conn id the client chose. For encrypted services add the key with
// [Message.PutPublicKey]; CallerId, AppData and TerminatorIdentity are optional headers.
func NewConnect(token []byte, connID uint32) *Message {
	return newEdgeMessage(ContentTypeConnect, connID, token)
}

// NewStateConnected builds the confirmation of a Connect or Bind. The router makes it a reply
// with [Message.ReplyTo] and adds [HeaderCircuitID] and, for encrypted services, the host's
// [HeaderPublicKey].
func NewStateConnected(connID uint32) *Message {
	return newEdgeMessage(ContentTypeStateConnected, connID, nil)
}

// NewStateClosed builds the end of an edge connection with reason as body. An errorCode other
// than 0 is sent in [HeaderErrorCode].
func NewStateClosed(connID uint32, errorCode uint32, reason string) *Message {
	var body []byte
	if reason != "" {
		body = []byte(reason)
	}
	m := newEdgeMessage(ContentTypeStateClosed, connID, body)
	if errorCode != 0 {
		m.Headers.PutUint32(HeaderErrorCode, errorCode)
	}
	return m
}

// NewData builds a Data message: [HeaderConnID], [HeaderSeq] and, when not 0, [HeaderFlags]
// ([FlagFIN] half-closes the connection). The payload is not copied.
func NewData(connID, seq, flags uint32, payload []byte) *Message {
	// One allocation backs all three fixed-size values.
	vals := make([]byte, 12)
	le := binary.LittleEndian
	le.PutUint32(vals[0:], connID)
	le.PutUint32(vals[4:], seq)
	le.PutUint32(vals[8:], flags)
	headers := make(Headers, 2, 3)
	headers[0] = Header{Key: HeaderConnID, Value: vals[0:4:4]}
	headers[1] = Header{Key: HeaderSeq, Value: vals[4:8:8]}
	if flags != 0 {
		headers = append(headers, Header{Key: HeaderFlags, Value: vals[8:12:12]})
	}
	return &Message{ContentType: ContentTypeData, Headers: headers, Body: payload}
}

// NewDial builds the router's announcement of a new circuit to a hosting client: body = the
// bind session token, [HeaderConnID] = the listener's conn id, [HeaderRouterProvidedConnID] =
// the conn id chosen for the new connection, plus [HeaderCallerID] and [HeaderCircuitID] when not
// empty. The dialer's PublicKey, ConnectionMarker and AppData are optional headers.
func NewDial(token []byte, listenerConnID, newConnID uint32, callerID, circuitID string) *Message {
	m := newEdgeMessage(ContentTypeDial, listenerConnID, token)
	m.Headers.PutUint32(HeaderRouterProvidedConnID, newConnID)
	if callerID != "" {
		m.Headers.PutString(HeaderCallerID, callerID)
	}
	if circuitID != "" {
		m.Headers.PutString(HeaderCircuitID, circuitID)
	}
	return m
}

// NewDialSuccess builds the hosting client's acceptance of a Dial: [HeaderConnID] = the
// listener's conn id, body = the new conn id as uint32 LE. The client makes it a reply with
// [Message.ReplyTo].
func NewDialSuccess(listenerConnID, newConnID uint32) *Message {
	return newEdgeMessage(ContentTypeDialSuccess, listenerConnID, binary.LittleEndian.AppendUint32(nil, newConnID))
}

// ParseDialSuccess returns the new conn id carried by a DialSuccess.
func ParseDialSuccess(m *Message) (uint32, error) {
	if m.ContentType != ContentTypeDialSuccess {
		return 0, fmt.Errorf("%w: %s, want DialSuccess", ErrUnexpectedMessage, m)
	}
	if len(m.Body) != 4 {
		return 0, fmt.Errorf("%w: DialSuccess body has %d bytes, want 4", ErrUnexpectedMessage, len(m.Body))
	}
	return binary.LittleEndian.Uint32(m.Body), nil
}

// NewDialFailed builds the hosting client's refusal of a Dial, with reason as body.
func NewDialFailed(listenerConnID uint32, reason string) *Message {
	return newEdgeMessage(ContentTypeDialFailed, listenerConnID, []byte(reason))
}

// BindOptions are the optional parts of a Bind.
type BindOptions struct {
	// PublicKey is the listener's X25519 public key, for services that require encryption.
	PublicKey []byte
	// Cost is the terminator cost (sent when not 0).
	Cost uint16
	// Precedence is the terminator precedence (sent when not default).
	Precedence Precedence
	// TerminatorIdentity names the terminator (sent when not empty), with its secret.
	TerminatorIdentity       string
	TerminatorIdentitySecret string
	// ListenerID identifies the listener (sent when not empty).
	ListenerID string
}

// NewBind builds the client's request to host a service: body = the bind session token,
// [HeaderConnID] = the listener's conn id, [HeaderSupportsBindSuccess] and
// [HeaderRouterProvidedConnID] = true, plus the options that are set.
func NewBind(token []byte, connID uint32, opts BindOptions) *Message {
	m := newEdgeMessage(ContentTypeBind, connID, token)
	m.Headers.PutBool(HeaderSupportsBindSuccess, true)
	m.Headers.PutBool(HeaderRouterProvidedConnID, true)
	if opts.PublicKey != nil {
		m.PutPublicKey(opts.PublicKey)
	}
	if opts.Cost != 0 {
		m.Headers.PutUint16(HeaderCost, opts.Cost)
	}
	if opts.Precedence != PrecedenceDefault {
		m.Headers.PutByte(HeaderPrecedence, byte(opts.Precedence))
	}
	if opts.TerminatorIdentity != "" {
		m.Headers.PutString(HeaderTerminatorIdentity, opts.TerminatorIdentity)
		if opts.TerminatorIdentitySecret != "" {
			m.Headers.PutString(HeaderTerminatorIdentitySecret, opts.TerminatorIdentitySecret)
		}
	}
	if opts.ListenerID != "" {
		m.Headers.PutString(HeaderListenerID, opts.ListenerID)
	}
	return m
}

// NewUnbind builds the removal of the terminator created by a Bind: body = the bind session
// token.
func NewUnbind(token []byte, connID uint32) *Message {
	return newEdgeMessage(ContentTypeUnbind, connID, token)
}

// NewUpdateBind builds a change of cost and/or precedence of a terminator; nil leaves a value
// unchanged.
func NewUpdateBind(token []byte, connID uint32, cost *uint16, precedence *Precedence) *Message {
	m := newEdgeMessage(ContentTypeUpdateBind, connID, token)
	if cost != nil {
		m.Headers.PutUint16(HeaderCost, *cost)
	}
	if precedence != nil {
		m.Headers.PutByte(HeaderPrecedence, byte(*precedence))
	}
	return m
}

// NewBindSuccess builds the router's notice that the terminator of a Bind is registered.
func NewBindSuccess(connID uint32) *Message {
	return newEdgeMessage(ContentTypeBindSuccess, connID, nil)
}

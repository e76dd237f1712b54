package edge

import (
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ostium-net/ostium/router/splice"
	"github.com/ostium-net/ostium/sdk/wire"
)

// ErrListenerClosed is returned by Serve once the Listener is closed.
var ErrListenerClosed = errors.New("edge: listener closed")

// Listener serves the edge protocol to SDK clients: it terminates their mTLS, checks their
// Hello, and handles Connect, Bind and the messages of established connections. Create it with
// New and start it with Serve.
type Listener struct {
	cfg       Config
	log       *slog.Logger
	tlsConfig *tls.Config

	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	channels  map[*channel]struct{}
	circuits  map[string]*circuitRecord

	terminators terminatorTable

	// stop ends TLS handshakes in progress when the Listener closes.
	stop    context.Context
	stopAll context.CancelFunc

	wg         sync.WaitGroup
	channelSeq atomic.Uint64
	panics     atomic.Uint64
}

// circuitRecord is what the Listener keeps of a circuit besides the circuit itself.
type circuitRecord struct {
	circuit      *splice.Circuit
	dialer       *channel
	dialerConnID uint32
	host         *channel
	hostConnID   uint32
	sessionID    string
	terminator   *terminator
	// fabric is the mesh side of a circuit across routers (then dialer or host is nil).
	fabric     FabricEnd
	serviceID  string
	identityID string
	path       []string
	created    time.Time
}

// New returns a Listener for cfg.
func New(cfg Config) (*Listener, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	l := &Listener{
		cfg:       cfg,
		log:       cfg.Logger.With("component", "edge"),
		listeners: make(map[net.Listener]struct{}),
		channels:  make(map[*channel]struct{}),
		circuits:  make(map[string]*circuitRecord),
	}
	l.terminators.init()
	l.stop, l.stopAll = context.WithCancel(context.Background())
	l.tlsConfig = l.serverTLSConfig()
	return l, nil
}

// serverTLSConfig copies the configured TLS settings and demands a client certificate that
// chains to the client CA pool. The verification is done here rather than by
// RequireAndVerifyClientCert so that client certificates need no particular extended key
// usage, as enrollment does not always set one.
func (l *Listener) serverTLSConfig() *tls.Config {
	tc := l.cfg.TLS.Clone()
	if tc.MinVersion < tls.VersionTLS12 {
		tc.MinVersion = tls.VersionTLS12
	}
	tc.ClientAuth = tls.RequireAnyClientCert
	tc.ClientCAs = l.cfg.ClientCAs
	pool := l.cfg.ClientCAs
	tc.VerifyPeerCertificate = func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
		if len(rawCerts) == 0 {
			return errors.New("edge: no client certificate")
		}
		leaf, err := x509.ParseCertificate(rawCerts[0])
		if err != nil {
			return fmt.Errorf("edge: parsing client certificate: %w", err)
		}
		intermediates := x509.NewCertPool()
		for _, raw := range rawCerts[1:] {
			c, err := x509.ParseCertificate(raw)
			if err != nil {
				return fmt.Errorf("edge: parsing client chain: %w", err)
			}
			intermediates.AddCert(c)
		}
		_, err = leaf.Verify(x509.VerifyOptions{
			Roots:         pool,
			Intermediates: intermediates,
			KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
		})
		if err != nil {
			return fmt.Errorf("edge: verifying client certificate: %w", err)
		}
		return nil
	}
	return tc
}

// Serve accepts TCP connections on ln and serves them until the Listener is closed (it then
// returns ErrListenerClosed) or ln fails. ln carries plain TCP: the Listener does the TLS.
func (l *Listener) Serve(ln net.Listener) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrListenerClosed
	}
	l.listeners[ln] = struct{}{}
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		delete(l.listeners, ln)
		l.mu.Unlock()
	}()
	var backoff time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if l.isClosed() {
				return ErrListenerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				l.log.Warn("accept failed, retrying", "err", err, "in", backoff)
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("edge: accepting: %w", err)
		}
		backoff = 0
		if !l.goTracked(func() { l.serveTLS(conn) }) {
			_ = conn.Close()
			return ErrListenerClosed
		}
	}
}

func (l *Listener) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// goTracked runs f on a goroutine that Close waits for; it returns false once closed.
func (l *Listener) goTracked(f func()) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		defer l.recoverPanic("goroutine", nil)
		f()
	}()
	return true
}

// recoverPanic keeps a bug triggered by one client from taking the router down: it logs the
// panic and closes that client's channel.
func (l *Listener) recoverPanic(where string, ch *channel) {
	if r := recover(); r != nil {
		l.panics.Add(1)
		l.log.Error("recovered from panic", "in", where, "panic", r)
		if ch != nil && ch.conn != nil {
			_ = ch.conn.Close()
		}
	}
}

func (l *Listener) serveTLS(raw net.Conn) {
	conn := tls.Server(raw, l.tlsConfig)
	ctx, cancel := context.WithTimeout(l.stop, l.cfg.HandshakeTimeout)
	err := conn.HandshakeContext(ctx)
	cancel()
	if err != nil {
		l.log.Info("TLS handshake failed", "remote", raw.RemoteAddr().String(), "err", err)
		_ = conn.Close()
		return
	}
	peers := conn.ConnectionState().PeerCertificates
	if len(peers) == 0 { // RequireAnyClientCert makes this impossible; stay safe anyway
		_ = conn.Close()
		return
	}
	l.serveChannel(conn, peers[0], raw.RemoteAddr().String())
}

// certFingerprint is the SHA-1 fingerprint of a certificate in lower-case hex.
func certFingerprint(cert *x509.Certificate) string {
	sum := sha1.Sum(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// normalizeFingerprint accepts upper or lower case, with or without colons.
func normalizeFingerprint(fp string) string {
	return strings.ToLower(strings.ReplaceAll(fp, ":", ""))
}

// serveChannel runs the edge protocol over an authenticated stream until it closes.
func (l *Listener) serveChannel(rwc io.ReadWriteCloser, leaf *x509.Certificate, remote string) {
	ch := &channel{
		l:           l,
		id:          fmt.Sprintf("ch%d", l.channelSeq.Add(1)),
		fingerprint: certFingerprint(leaf),
		remote:      remote,
		conns:       make(map[uint32]connRef),
		binds:       make(map[uint32]*terminator),
		nextConnID:  firstRouterConnID,
		ready:       make(chan struct{}),
	}
	ch.log = l.log.With("channel", ch.id, "remote", remote)
	ch.conn = wire.NewConn(rwc, ch.handle, wire.ConnConfig{Limits: l.cfg.Limits})
	close(ch.ready)

	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		_ = ch.conn.Close()
		ch.conn.Wait()
		return
	}
	l.channels[ch] = struct{}{}
	l.mu.Unlock()

	helloTimer := time.AfterFunc(l.cfg.HelloTimeout, func() {
		if !ch.helloDone.Load() {
			ch.log.Info("closing channel: no hello in time", "timeout", l.cfg.HelloTimeout)
			_ = ch.conn.Close()
		}
	})
	<-ch.conn.Done()
	helloTimer.Stop()
	ch.conn.Wait()
	if err := ch.conn.Err(); err != nil && !isOrdinaryClose(err) {
		ch.log.Info("channel closed", "reason", err)
	} else {
		ch.log.Debug("channel closed")
	}
	l.cleanupChannel(ch)
}

// isOrdinaryClose tells a peer hanging up from a protocol violation worth logging.
func isOrdinaryClose(err error) bool {
	return err == wire.ErrConnClosed || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed)
}

// cleanupChannel ends everything that lived on a closed channel: its circuits (their peers get
// StateClosed) and its terminators.
func (l *Listener) cleanupChannel(ch *channel) {
	ch.mu.Lock()
	ch.closed = true
	conns := ch.conns
	binds := ch.binds
	ch.conns = map[uint32]connRef{}
	ch.binds = map[uint32]*terminator{}
	ch.mu.Unlock()

	l.mu.Lock()
	delete(l.channels, ch)
	l.mu.Unlock()

	for _, ref := range conns {
		if ref.circuit == nil { // a conn id reserved by a Connect still being set up
			continue
		}
		ref.circuit.Close("channel of the " + ref.side.String() + " closed")
	}
	for _, t := range binds {
		l.removeTerminator(t, "hosting channel closed")
	}
}

// Close stops accepting, closes every channel and waits for the Listener's goroutines.
func (l *Listener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		l.wg.Wait()
		return nil
	}
	l.closed = true
	l.stopAll()
	var errs []error
	for ln := range l.listeners {
		if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	channels := make([]*channel, 0, len(l.channels))
	for ch := range l.channels {
		channels = append(channels, ch)
	}
	l.mu.Unlock()
	for _, ch := range channels {
		_ = ch.conn.Close()
	}
	l.wg.Wait()
	return errors.Join(errs...)
}

// CloseSessions ends everything that uses the given (dial or bind) sessions: circuits dialed
// with them are closed, and terminators bound with them are removed, together with their
// circuits and with a StateClosed to the hosting client.
func (l *Listener) CloseSessions(sessionIDs ...string) {
	ids := make(map[string]bool, len(sessionIDs))
	for _, id := range sessionIDs {
		ids[id] = true
	}
	terms := l.terminators.matching(func(t *terminator) bool { return ids[t.SessionID] })
	revoked := make(map[*terminator]bool, len(terms))
	for _, t := range terms {
		revoked[t] = true
	}
	var victims []*splice.Circuit
	l.mu.Lock()
	for _, rec := range l.circuits {
		if ids[rec.sessionID] || revoked[rec.terminator] {
			victims = append(victims, rec.circuit)
		}
	}
	l.mu.Unlock()
	for _, c := range victims {
		c.Close("session revoked")
	}
	for _, t := range terms {
		if t.channel.dropBind(t.listenerConnID, t) {
			t.channel.sendAsync(wire.NewStateClosed(t.listenerConnID, wire.ErrorCodeInvalidSession, "bind session revoked"))
		}
		l.removeTerminator(t, "bind session revoked")
	}
}

// CloseAPISessions closes the channels authenticated with the given API sessions, and with
// them their circuits and terminators.
func (l *Listener) CloseAPISessions(apiSessionIDs ...string) {
	ids := make(map[string]bool, len(apiSessionIDs))
	for _, id := range apiSessionIDs {
		ids[id] = true
	}
	var victims []*channel
	l.mu.Lock()
	for ch := range l.channels {
		if ids[ch.apiSessionID()] {
			victims = append(victims, ch)
		}
	}
	l.mu.Unlock()
	for _, ch := range victims {
		ch.log.Info("closing channel: API session revoked")
		_ = ch.conn.Close()
	}
}

// APISessions returns the ids of the API sessions that have a channel open (its Hello
// accepted), each once, sorted.
func (l *Listener) APISessions() []string {
	l.mu.Lock()
	channels := make([]*channel, 0, len(l.channels))
	for ch := range l.channels {
		channels = append(channels, ch)
	}
	l.mu.Unlock()
	seen := make(map[string]bool, len(channels))
	ids := make([]string, 0, len(channels))
	for _, ch := range channels {
		if id := ch.apiSessionID(); id != "" && !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// Stats describes the Listener's current load.
type Stats struct {
	Channels    int
	Circuits    int
	Terminators int
	// Panics counts recovered panics (a bug; always 0 in a healthy router).
	Panics uint64
	// CircuitStats has one entry per circuit.
	CircuitStats []splice.Stats
}

// Stats returns the Listener's current load.
func (l *Listener) Stats() Stats {
	l.mu.Lock()
	st := Stats{Channels: len(l.channels), Circuits: len(l.circuits)}
	circuits := make([]*splice.Circuit, 0, len(l.circuits))
	for _, rec := range l.circuits {
		circuits = append(circuits, rec.circuit)
	}
	l.mu.Unlock()
	for _, c := range circuits {
		st.CircuitStats = append(st.CircuitStats, c.Stats())
	}
	st.Terminators = l.terminators.count()
	st.Panics = l.panics.Load()
	return st
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newID returns a random id (80 bits).
func newID() string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return idEncoding.EncodeToString(b[:])
}

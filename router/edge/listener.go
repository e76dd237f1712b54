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

	"github.com/ostium-net/ostium/router/sockq"
	"github.com/ostium-net/ostium/router/splice"
	"github.com/ostium-net/ostium/sdk/tlsio"
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
	draining  bool // Shutdown has begun
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

	met *metrics
	// closedBytes are the bytes closed circuits forwarded, by the side they came from
	// (guarded by mu).
	closedBytes [2]uint64
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
	fabric         FabricEnd
	serviceID      string
	identityID     string
	hostIdentityID string
	path           []string
	created        time.Time

	// What was reported of the circuit's usage (see circuitStarted).
	usageMu       sync.Mutex
	startReported bool
	ended         bool
	endedAt       time.Time
	endReason     string
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
		met:       newMetrics(),
	}
	if err := l.registerMetrics(cfg.Metrics); err != nil {
		return nil, err
	}
	l.terminators.init()
	l.stop, l.stopAll = context.WithCancel(context.Background())
	l.tlsConfig = l.serverTLSConfig()
	return l, nil
}

// serverTLSConfig copies the configured TLS settings and demands a client certificate that
// chains to the client CA pool, or to one of the third-party CAs the controller trusts. The
// verification is done here rather than by RequireAndVerifyClientCert so that client
// certificates of the network need no particular extended key usage, as enrollment does not
// always set one, and so that the third-party CAs can change while the listener runs.
func (l *Listener) serverTLSConfig() *tls.Config {
	tc := l.cfg.TLS.Clone()
	if tc.MinVersion < tls.VersionTLS12 {
		tc.MinVersion = tls.VersionTLS12
	}
	tc.ClientAuth = tls.RequireAnyClientCert
	// No list of acceptable CAs goes to the client: a client picking its certificate by that
	// list would not offer one of a third-party CA.
	tc.ClientCAs = nil
	tc.VerifyPeerCertificate = func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
		if len(rawCerts) == 0 {
			return errors.New("edge: no client certificate")
		}
		chain := make([]*x509.Certificate, 0, len(rawCerts))
		for _, raw := range rawCerts {
			c, err := x509.ParseCertificate(raw)
			if err != nil {
				return fmt.Errorf("edge: parsing client certificate: %w", err)
			}
			chain = append(chain, c)
		}
		return l.verifyClientChain(chain)
	}
	return tc
}

// verifyClientChain checks a client's certificate chain, leaf first: it must chain to the
// network's CA (any extended key usage), or to a third-party CA trusted now (then it must
// allow client authentication, as the controller demands of it).
func (l *Listener) verifyClientChain(chain []*x509.Certificate) error {
	if len(chain) == 0 || chain[0] == nil {
		return errors.New("edge: no client certificate")
	}
	intermediates := x509.NewCertPool()
	for _, c := range chain[1:] {
		intermediates.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{
		Roots:         l.cfg.ClientCAs,
		Intermediates: intermediates,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err == nil {
		return nil
	}
	if l.cfg.ThirdPartyCAs != nil {
		if pool := l.cfg.ThirdPartyCAs(); pool != nil {
			if _, terr := chain[0].Verify(x509.VerifyOptions{
				Roots:         pool,
				Intermediates: intermediates,
				KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
			}); terr == nil {
				return nil
			}
		}
	}
	return fmt.Errorf("edge: verifying client certificate: %w", err)
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
			if l.isClosed() || l.isDraining() {
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
	conn := tlsio.Server(raw, l.tlsConfig)
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
	l.serveChannel(conn, peers, raw.RemoteAddr().String())
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
// channelConnConfig configures the wire connection of a channel over rwc. The reading
// goroutine of another channel or of a link may write a small message to it itself when it
// is idle (see splice.TrySender): over TLS that writes without ever waiting (tlsio), or else
// over a TCP connection whose send queue is empty.
func channelConnConfig(rwc io.ReadWriteCloser, limits wire.Limits) wire.ConnConfig {
	cfg := wire.ConnConfig{Limits: limits}
	if tc, ok := rwc.(*tlsio.Conn); ok {
		cfg.WriteReady, cfg.TryWrite = tc.WriteIdle, tc.TryWrite
		return cfg
	}
	cfg.WriteReady = sockq.EmptyProbe(rwc)
	return cfg
}

func (l *Listener) serveChannel(rwc io.ReadWriteCloser, chain []*x509.Certificate, remote string) {
	ch := &channel{
		l:           l,
		id:          fmt.Sprintf("ch%d", l.channelSeq.Add(1)),
		chain:       chain,
		fingerprint: certFingerprint(chain[0]),
		remote:      remote,
		conns:       make(map[uint32]connRef),
		binds:       make(map[uint32]*terminator),
		nextConnID:  firstRouterConnID,
		ready:       make(chan struct{}),
		rwc:         rwc,
	}
	ch.log = l.log.With("channel", ch.id, "remote", remote)
	ch.conn = wire.NewConn(rwc, ch.handle, channelConnConfig(rwc, l.cfg.Limits))

	// The channel is registered before its first message is handled, so that whatever closes
	// the listener's channels (a revoked API session, an untrusted CA, Close) finds every
	// channel that has ever been authenticated.
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		_ = ch.conn.Close()
		close(ch.ready)
		ch.conn.Wait()
		return
	}
	l.channels[ch] = struct{}{}
	l.mu.Unlock()
	close(ch.ready)

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

// RecheckClientCertificates closes the channels whose client certificate no longer verifies:
// the router calls it when the controller stops trusting a third-party CA, so that the
// clients holding its certificates lose the data plane at once, not at their next connection.
func (l *Listener) RecheckClientCertificates() {
	l.mu.Lock()
	channels := make([]*channel, 0, len(l.channels))
	for ch := range l.channels {
		channels = append(channels, ch)
	}
	l.mu.Unlock()
	for _, ch := range channels {
		if err := l.verifyClientChain(ch.chain); err != nil {
			ch.log.Info("closing channel: its client certificate is no longer trusted", "err", err)
			_ = ch.conn.Close()
		}
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

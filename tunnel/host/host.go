// Package host is the hosting side of the tunneler: for a service with a
// host.v1 config it binds the service through the sdk and connects each
// connection dialers make to the configured target (or, when the config
// forwards them, to the protocol, address and port the dialer asked for,
// within the allowed lists). A dialer that asks for a source address is
// connected from it when allowedSourceAddresses allows it, and refused
// otherwise.
package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/ostium-net/ostium/sdk"
	"github.com/ostium-net/ostium/sdk/wire"
	"github.com/ostium-net/ostium/tunnel/config"
	"github.com/ostium-net/ostium/tunnel/relay"
)

// Binder is the part of an sdk Context a host needs.
type Binder interface {
	ListenWithOptions(service string, opts *sdk.ListenOptions) (net.Listener, error)
}

// appDataConn is a connection that exposes the application data its dialer
// sent.
type appDataConn interface{ AppData() []byte }

// UDPIdleTimeout ends a UDP flow with no traffic either way for this long.
const UDPIdleTimeout = 2 * time.Minute

// DefaultConnectTimeout bounds the connection to the target when the config
// sets no listenOptions.connectTimeoutSeconds. It stays below the routers'
// wait for a host's answer (10 s), so a dialer learns why a target was not
// reached rather than that the host did not answer.
const DefaultConnectTimeout = 5 * time.Second

// Host serves one service.
type Host struct {
	service  string
	cfg      *config.Host
	ln       net.Listener
	log      *slog.Logger
	counters *relay.Counters
	timeout  time.Duration

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// ListenOptionsOf maps host.v1 listen options to sdk listen options.
func ListenOptionsOf(lo config.ListenOptions, ownIdentity string) *sdk.ListenOptions {
	opts := &sdk.ListenOptions{Cost: lo.Cost, MaxConnections: lo.MaxConnections, TerminatorIdentity: lo.Identity}
	if lo.BindUsingEdgeIdentity {
		opts.TerminatorIdentity = ownIdentity
	}
	switch lo.Precedence {
	case "required":
		opts.Precedence = wire.PrecedenceRequired
	case "failed":
		opts.Precedence = wire.PrecedenceFailed
	}
	return opts
}

// Start binds service and serves it until Close. ownIdentity is the
// identity name used when the config asks to bind with the edge identity.
func Start(b Binder, service string, cfg *config.Host, ownIdentity string, counters *relay.Counters, log *slog.Logger) (*Host, error) {
	if counters == nil {
		counters = &relay.Counters{}
	}
	log = log.With("service", service)
	timeout := DefaultConnectTimeout
	if cfg.ListenOptions.ConnectTimeoutSeconds > 0 {
		timeout = time.Duration(cfg.ListenOptions.ConnectTimeoutSeconds) * time.Second
	}
	// Each dial is answered only once the target answered: a target that is
	// down refuses the dial, and the dialer hears why.
	opts := ListenOptionsOf(cfg.ListenOptions, ownIdentity)
	opts.ManualStart = true
	opts.AcceptTimeout = max(sdk.DefaultAcceptTimeout, timeout+time.Second)
	ln, err := b.ListenWithOptions(service, opts)
	if err != nil {
		return nil, fmt.Errorf("host %s: %w", service, err)
	}
	h := &Host{service: service, cfg: cfg, ln: ln, log: log, counters: counters, timeout: timeout, conns: map[net.Conn]struct{}{}}
	log.Info("hosting "+service+" → "+cfg.Describe(), "target", cfg.Describe())
	h.wg.Add(1)
	go h.serve()
	return h, nil
}

func (h *Host) serve() {
	defer h.wg.Done()
	for {
		c, err := h.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				h.log.Warn("accept failed", "err", err)
			}
			return
		}
		if !h.track(c) {
			_ = c.Close()
			return
		}
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			defer h.untrack(c)
			h.handle(c)
		}()
	}
}

func (h *Host) track(c net.Conn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.conns[c] = struct{}{}
	return true
}

func (h *Host) untrack(c net.Conn) {
	h.mu.Lock()
	delete(h.conns, c)
	h.mu.Unlock()
}

// targetOf picks the target of an accepted connection, and the source
// address to connect to it from (none: this host's own).
func (h *Host) targetOf(c net.Conn) (config.Target, netip.AddrPort, error) {
	var dst *config.Destination
	if ad, ok := c.(appDataConn); ok && len(ad.AppData()) > 0 {
		d, err := config.DecodeDestination(ad.AppData())
		if err != nil {
			return config.Target{}, netip.AddrPort{}, err
		}
		dst = &d
	}
	t, err := h.cfg.Resolve(dst)
	if err != nil {
		return t, netip.AddrPort{}, err
	}
	src, err := h.cfg.Source(dst)
	return t, src, err
}

// dialTarget connects to the target, from src when it is set: an address
// of this host binds as it is; another one needs a transparent socket
// (Linux, CAP_NET_ADMIN) and routes that bring the answers back here.
func (h *Host) dialTarget(ctx context.Context, target config.Target, src netip.AddrPort) (net.Conn, error) {
	var d net.Dialer
	if src.IsValid() {
		if target.Protocol == "udp" {
			d.LocalAddr = net.UDPAddrFromAddrPort(src)
		} else {
			d.LocalAddr = net.TCPAddrFromAddrPort(src)
		}
		d.Control = transparentControl
	}
	return d.DialContext(ctx, target.Protocol, target.HostPort())
}

// refuse turns a connection down: a pending one refuses its dial with the
// reason, which the dialer receives; any other is closed.
func refuse(c net.Conn, reason error) {
	if pc, ok := c.(sdk.PendingConn); ok {
		pc.CompleteAcceptFailed(reason)
		return
	}
	_ = c.Close()
}

// dialFailure is the short reason a target could not be reached
// ("connection refused", "i/o timeout", a DNS failure), without the
// address the message names already.
func dialFailure(err error) string {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return dnsErr.Error()
	}
	var sysErr *os.SyscallError
	if errors.As(err, &sysErr) {
		return sysErr.Err.Error()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "no answer in time"
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Err != nil {
		return opErr.Err.Error()
	}
	return err.Error()
}

func (h *Host) handle(c net.Conn) {
	caller := c.RemoteAddr().String()
	target, src, err := h.targetOf(c)
	if err != nil {
		h.counters.Fail()
		h.log.Warn("refused a connection", "from", caller, "err", err)
		refuse(c, fmt.Errorf("the host refuses the destination: %w", err))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.timeout)
	out, err := h.dialTarget(ctx, target, src)
	cancel()
	if err != nil {
		h.counters.Fail()
		from := ""
		if src.IsValid() {
			from = " from " + src.Addr().String()
		}
		h.log.Warn("cannot reach the target", "from", caller, "target", target.String(), "source", from, "err", err)
		refuse(c, fmt.Errorf("cannot reach the target %s%s: %s", target.String(), from, dialFailure(err)))
		return
	}
	if pc, ok := c.(sdk.PendingConn); ok {
		if err := pc.CompleteAcceptSuccess(); err != nil {
			h.counters.Fail()
			h.log.Info("the dialer went away before the target answered", "from", caller, "target", target.String(), "err", err)
			_ = out.Close()
			_ = c.Close()
			return
		}
	}
	if !h.track(out) {
		_ = out.Close()
		_ = c.Close()
		return
	}
	defer h.untrack(out)
	done := h.counters.Open()
	h.log.Debug("connection opened", "from", caller, "target", target.String())
	var sent, received int64
	if target.Protocol == "udp" {
		sent, received = relayUDP(c, out)
	} else {
		// bytes from the network go to the target: they are "received".
		received, sent = relay.Splice(c, out)
	}
	done(sent, received)
	h.log.Debug("connection closed", "from", caller, "target", target.String(), "sent", sent, "received", received)
}

// relayUDP carries framed datagrams from the sdk connection to a UDP socket
// and datagrams back, until either side ends or the flow is idle.
func relayUDP(c net.Conn, udp net.Conn) (sent, received int64) {
	var wg sync.WaitGroup
	wg.Add(1)
	stop := func() { _ = c.Close(); _ = udp.Close() }
	go func() {
		defer wg.Done()
		defer stop()
		buf := make([]byte, relay.MaxDatagram)
		for {
			_ = udp.SetReadDeadline(time.Now().Add(UDPIdleTimeout))
			n, err := udp.Read(buf)
			if err != nil {
				return
			}
			if relay.WriteDatagram(c, buf[:n]) != nil {
				return
			}
			sent += int64(n)
		}
	}()
	buf := make([]byte, relay.MaxDatagram)
	for {
		n, err := relay.ReadDatagram(c, buf)
		if err != nil {
			break
		}
		if _, err := udp.Write(buf[:n]); err != nil {
			break
		}
		received += int64(n)
	}
	stop()
	wg.Wait()
	return sent, received
}

// Service is the hosted service's name.
func (h *Host) Service() string { return h.service }

// Close unbinds the service and ends its connections.
func (h *Host) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	conns := h.conns
	h.conns = nil
	h.mu.Unlock()
	err := h.ln.Close()
	for c := range conns {
		_ = c.Close()
	}
	h.wg.Wait()
	h.log.Info("stopped hosting " + h.service)
	return err
}

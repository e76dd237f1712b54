// Package intercept is the client side of the tunneler: it listens on the
// addresses and ports of a service's intercept.v1 config (TCP and UDP) and
// carries each local connection or UDP flow into the service through the
// sdk, telling the host which destination the client asked for.
package intercept

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/ostium-net/ostium/sdk"
	"github.com/ostium-net/ostium/tunnel/config"
	"github.com/ostium-net/ostium/tunnel/relay"
)

// Dialer is the part of an sdk Context an intercept needs.
type Dialer interface {
	DialWithOptions(ctx context.Context, service string, opts *sdk.DialOptions) (net.Conn, error)
}

// DefaultMaxPorts caps the ports one service listens on.
const DefaultMaxPorts = 256

// UDPIdleTimeout ends a UDP flow with no traffic either way for this long.
const UDPIdleTimeout = 2 * time.Minute

// Options tune an intercept.
type Options struct {
	// MaxPorts caps the listeners per service and protocol (default
	// DefaultMaxPorts); ports beyond it are skipped with a log line.
	MaxPorts int
	// Counters receive connection counts (nil: private counters).
	Counters *relay.Counters
	Logger   *slog.Logger
}

// Endpoint is one local address and port an intercept listens on.
type Endpoint struct {
	Protocol string
	Addr     netip.AddrPort
}

func (e Endpoint) String() string { return e.Protocol + ":" + e.Addr.String() }

// Plan lists the endpoints to listen on for a config, in order, and what it
// skips (addresses that need transparent proxying, ports over the cap).
func Plan(cfg *config.Intercept, maxPorts int) (eps []Endpoint, skipped []string) {
	if maxPorts <= 0 {
		maxPorts = DefaultMaxPorts
	}
	var addrs []netip.Addr
	for _, a := range cfg.Addresses {
		if config.NormalizeName(a) == "localhost" {
			addrs = append(addrs, netip.MustParseAddr("127.0.0.1"))
			continue
		}
		if config.KindOf(a) != config.KindIP {
			skipped = append(skipped, a+" (hostnames, CIDRs and wildcards need --tproxy)")
			continue
		}
		addrs = append(addrs, netip.MustParseAddr(a).Unmap())
	}
	var ports []uint16
	seen := map[uint16]bool{}
	total := 0
	for _, r := range cfg.PortRanges {
		for p := int(r.Low); p <= int(r.High); p++ {
			if p == 0 || seen[uint16(p)] {
				continue
			}
			if len(ports) >= maxPorts {
				total += int(r.High) - p + 1
				break
			}
			seen[uint16(p)] = true
			ports = append(ports, uint16(p))
		}
	}
	if total > 0 {
		skipped = append(skipped, fmt.Sprintf("%d ports beyond the first %d", total, maxPorts))
	}
	for _, proto := range cfg.Protocols {
		for _, a := range addrs {
			for _, p := range ports {
				eps = append(eps, Endpoint{Protocol: proto, Addr: netip.AddrPortFrom(a, p)})
			}
		}
	}
	return eps, skipped
}

// DialOptionsOf turns intercept.v1 dial options and a destination into sdk
// dial options.
func DialOptionsOf(o config.DialOptions, dst config.Destination) *sdk.DialOptions {
	opts := &sdk.DialOptions{TerminatorIdentity: o.Identity, AppData: dst.Encode()}
	if o.ConnectTimeoutSeconds > 0 {
		opts.Timeout = time.Duration(o.ConnectTimeoutSeconds) * time.Second
	}
	return opts
}

// ForwardStream carries one accepted local connection into service and
// returns when both directions end. ctx bounds the dial only. log should
// already name the service.
func ForwardStream(ctx context.Context, d Dialer, service string, opts *sdk.DialOptions, local net.Conn, counters *relay.Counters, log *slog.Logger) {
	out, err := d.DialWithOptions(ctx, service, opts)
	if err != nil {
		counters.Fail()
		log.Warn("cannot dial the service", "from", local.RemoteAddr().String(), "err", err)
		_ = local.Close()
		return
	}
	done := counters.Open()
	log.Debug("connection opened", "from", local.RemoteAddr().String())
	sent, received := relay.Splice(local, out)
	done(sent, received)
	log.Debug("connection closed", "from", local.RemoteAddr().String(), "sent", sent, "received", received)
}

// Intercept listens for one service.
type Intercept struct {
	service string
	cfg     *config.Intercept
	d       Dialer
	opts    Options
	log     *slog.Logger
	ctx     context.Context // ends on Close, stopping dials in progress
	cancel  context.CancelFunc

	mu        sync.Mutex
	closed    bool
	listeners []net.Listener
	packets   []net.PacketConn
	conns     map[net.Conn]struct{}
	endpoints []Endpoint
	wg        sync.WaitGroup
}

// Start listens on every endpoint of the config it can open. Endpoints that
// fail to open are logged and skipped; it fails only when none opens.
func Start(d Dialer, service string, cfg *config.Intercept, opts Options) (*Intercept, error) {
	if opts.Counters == nil {
		opts.Counters = &relay.Counters{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	log := opts.Logger.With("service", service)
	ctx, cancel := context.WithCancel(context.Background())
	in := &Intercept{service: service, cfg: cfg, d: d, opts: opts, log: log, ctx: ctx, cancel: cancel, conns: map[net.Conn]struct{}{}}
	eps, skipped := Plan(cfg, opts.MaxPorts)
	for _, s := range skipped {
		log.Info("not intercepting "+s, "skipped", s)
	}
	for _, ep := range eps {
		if err := in.open(ep); err != nil {
			log.Warn("cannot listen", "endpoint", ep.String(), "err", err)
			continue
		}
		log.Info("listening for "+service+" on "+ep.String(), "endpoint", ep.String())
	}
	if len(in.endpoints) == 0 {
		in.Close()
		return nil, fmt.Errorf("intercept %s: no address to listen on", service)
	}
	return in, nil
}

func (in *Intercept) open(ep Endpoint) error {
	addr := ep.Addr.String()
	switch ep.Protocol {
	case "tcp":
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return err
		}
		in.mu.Lock()
		in.listeners = append(in.listeners, ln)
		in.endpoints = append(in.endpoints, ep)
		in.mu.Unlock()
		in.wg.Add(1)
		go in.serveTCP(ln, ep)
	case "udp":
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return err
		}
		in.mu.Lock()
		in.packets = append(in.packets, pc)
		in.endpoints = append(in.endpoints, ep)
		in.mu.Unlock()
		in.wg.Add(1)
		go in.serveUDP(pc, ep)
	default:
		return fmt.Errorf("unknown protocol %q", ep.Protocol)
	}
	return nil
}

// Endpoints lists the endpoints open now.
func (in *Intercept) Endpoints() []Endpoint {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]Endpoint(nil), in.endpoints...)
}

func (in *Intercept) track(c net.Conn) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		return false
	}
	in.conns[c] = struct{}{}
	return true
}

func (in *Intercept) untrack(c net.Conn) {
	in.mu.Lock()
	delete(in.conns, c)
	in.mu.Unlock()
}

func destinationOf(protocol string, ep netip.AddrPort) config.Destination {
	return config.Destination{Protocol: protocol, IP: ep.Addr().String(), Port: strconv.Itoa(int(ep.Port()))}
}

// sourceOf is the client's address of a connection, when it is an IP one.
func sourceOf(a net.Addr) netip.AddrPort {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.AddrPort()
	case *net.UDPAddr:
		return a.AddrPort()
	}
	return netip.AddrPort{}
}

func (in *Intercept) serveTCP(ln net.Listener, ep Endpoint) {
	defer in.wg.Done()
	dst := destinationOf("tcp", ep.Addr)
	for {
		c, err := ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				in.log.Warn("accept failed", "endpoint", ep.String(), "err", err)
			}
			return
		}
		if !in.track(c) {
			_ = c.Close()
			return
		}
		opts := DialOptionsOf(in.cfg.DialOptions, dst.WithSource(sourceOf(c.RemoteAddr()), in.cfg.SourceIP))
		in.wg.Add(1)
		go func() {
			defer in.wg.Done()
			defer in.untrack(c)
			ForwardStream(in.ctx, in.d, in.service, opts, c, in.opts.Counters, in.log)
		}()
	}
}

// udpFlow is the datagrams of one client address, carried on one sdk
// connection.
type udpFlow struct {
	in    chan []byte
	ended chan struct{}
}

func (in *Intercept) serveUDP(pc net.PacketConn, ep Endpoint) {
	defer in.wg.Done()
	dst := destinationOf("udp", ep.Addr)
	var mu sync.Mutex
	flows := map[string]*udpFlow{}
	buf := make([]byte, relay.MaxDatagram)
	for {
		n, src, err := pc.ReadFrom(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				in.log.Warn("read failed", "endpoint", ep.String(), "err", err)
			}
			return
		}
		d := append([]byte(nil), buf[:n]...)
		mu.Lock()
		f := flows[src.String()]
		if f == nil {
			f = &udpFlow{in: make(chan []byte, 64), ended: make(chan struct{})}
			flows[src.String()] = f
			in.wg.Add(1)
			go func() {
				defer in.wg.Done()
				in.runFlow(pc, src, f, DialOptionsOf(in.cfg.DialOptions, dst.WithSource(sourceOf(src), in.cfg.SourceIP)))
				mu.Lock()
				delete(flows, src.String())
				mu.Unlock()
			}()
		}
		mu.Unlock()
		select {
		case f.in <- d:
		case <-f.ended:
		default: // the flow is behind; drop as a network would
		}
	}
}

func (in *Intercept) runFlow(pc net.PacketConn, src net.Addr, f *udpFlow, opts *sdk.DialOptions) {
	defer close(f.ended)
	out, err := in.d.DialWithOptions(in.ctx, in.service, opts)
	if err != nil {
		in.opts.Counters.Fail()
		in.log.Warn("cannot dial the service", "from", src.String(), "err", err)
		return
	}
	if !in.track(out) {
		_ = out.Close()
		return
	}
	defer in.untrack(out)
	done := in.opts.Counters.Open()
	sent, received := relay.CarryDatagrams(out, f.in, func(d []byte) error {
		_, err := pc.WriteTo(d, src)
		return err
	}, UDPIdleTimeout, in.ctx.Done())
	done(sent, received)
}

// Service is the intercepted service's name.
func (in *Intercept) Service() string { return in.service }

// Close stops listening and ends the connections.
func (in *Intercept) Close() {
	in.mu.Lock()
	if in.closed {
		in.mu.Unlock()
		return
	}
	in.closed = true
	in.cancel()
	lns, pcs, conns := in.listeners, in.packets, in.conns
	in.conns = nil
	in.mu.Unlock()
	for _, ln := range lns {
		_ = ln.Close()
	}
	for _, pc := range pcs {
		_ = pc.Close()
	}
	for c := range conns {
		_ = c.Close()
	}
	in.wg.Wait()
	in.log.Info("stopped intercepting " + in.service)
}

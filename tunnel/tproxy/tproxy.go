package tproxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ostium-net/ostium/tunnel/config"
	"github.com/ostium-net/ostium/tunnel/dns"
	"github.com/ostium-net/ostium/tunnel/intercept"
	"github.com/ostium-net/ostium/tunnel/relay"
)

// Runner runs a command with stdin; the default runs it with os/exec.
type Runner func(ctx context.Context, stdin string, argv ...string) error

func execRunner(ctx context.Context, stdin string, argv ...string) error {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

// Options configure a Manager.
type Options struct {
	Settings Settings
	// DNSListen is where the DNS server answers (e.g. 127.0.0.1:53).
	DNSListen string
	// Pool is where hostnames get their addresses (default dns.DefaultPool).
	Pool     netip.Prefix
	Dialer   intercept.Dialer
	Counters *relay.Counters
	Logger   *slog.Logger
	// Run runs nft and ip (default: os/exec).
	Run Runner
	// MaxUDPFlows caps the UDP flows carried at once (default
	// DefaultMaxUDPFlows); datagrams that would start another are dropped.
	MaxUDPFlows int
	// UDPIdleTimeout ends a UDP flow with no datagram either way for this
	// long (default intercept.UDPIdleTimeout).
	UDPIdleTimeout time.Duration
}

// DefaultMaxUDPFlows is the default cap on UDP flows.
const DefaultMaxUDPFlows = 1024

// Manager owns the rules, the DNS server and the transparent TCP listeners
// and UDP sockets (one of each per address family).
type Manager struct {
	opts  Options
	log   *slog.Logger
	table *dns.Table
	dns   *dns.Server
	ln    net.Listener
	udp   *net.UDPConn
	// ln6 and udp6 serve IPv6; they are nil when IPv6 interception is off
	// (not configured, or the host has no IPv6).
	ln6  net.Listener
	udp6 *net.UDPConn
	// ctx ends on Close, stopping dials in progress and UDP flows.
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	services map[string]*config.Intercept
	conns    map[net.Conn]struct{}
	flows    map[flowKey]*udpFlow
	closed   bool
	wg       sync.WaitGroup
}

// Start opens the transparent listeners (IPv4, and IPv6 unless
// Settings.ListenAddr6 is the zero value or the host has no IPv6) and the
// DNS server and installs policy routing and an empty rule table.
func Start(opts Options) (*Manager, error) {
	if opts.Settings.Table == "" {
		opts.Settings = DefaultSettings
	}
	if !opts.Pool.IsValid() {
		opts.Pool = dns.DefaultPool
	}
	if opts.Run == nil {
		opts.Run = execRunner
	}
	if opts.Counters == nil {
		opts.Counters = &relay.Counters{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxUDPFlows <= 0 {
		opts.MaxUDPFlows = DefaultMaxUDPFlows
	}
	if opts.UDPIdleTimeout <= 0 {
		opts.UDPIdleTimeout = intercept.UDPIdleTimeout
	}
	if opts.Dialer == nil {
		return nil, errors.New("tproxy: a dialer is required")
	}
	if a := opts.Settings.ListenAddr.Addr(); !a.Is4() {
		return nil, fmt.Errorf("tproxy: listen address %s is not IPv4", opts.Settings.ListenAddr)
	}
	if a := opts.Settings.ListenAddr6; a.IsValid() && (!a.Addr().Is6() || a.Addr().Is4In6()) {
		return nil, fmt.Errorf("tproxy: IPv6 listen address %s is not IPv6", a)
	}
	table, err := dns.NewTable(opts.Pool)
	if err != nil {
		return nil, err
	}
	mctx, cancel := context.WithCancel(context.Background())
	m := &Manager{opts: opts, log: opts.Logger, table: table, ctx: mctx, cancel: cancel,
		services: map[string]*config.Intercept{}, conns: map[net.Conn]struct{}{}, flows: map[flowKey]*udpFlow{}}
	ln, err := listenTransparent(opts.Settings.ListenAddr)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("tproxy listener: %w", err)
	}
	m.ln = ln
	m.udp, err = listenTransparentUDP(opts.Settings.ListenAddr)
	if err != nil {
		m.shutdown()
		return nil, fmt.Errorf("tproxy udp socket: %w", err)
	}
	if opts.Settings.ListenAddr6.IsValid() {
		if err := m.listen6(); err != nil {
			m.shutdown()
			return nil, err
		}
	}
	pc, err := net.ListenPacket("udp", opts.DNSListen)
	if err != nil {
		m.shutdown()
		return nil, fmt.Errorf("dns listener: %w", err)
	}
	m.dns = dns.Serve(pc, table, m.log.With("component", "dns"))
	ctx := context.Background()
	undoRouting := func() {
		for _, argv := range RoutingCommands(opts.Settings, "del") {
			_ = opts.Run(ctx, "", argv...)
		}
	}
	undoRouting() // leftovers of an earlier run
	for _, argv := range RoutingCommands4(opts.Settings, "add") {
		if err := opts.Run(ctx, "", argv...); err != nil {
			undoRouting()
			m.shutdown()
			return nil, fmt.Errorf("tproxy routing: %w", err)
		}
	}
	if m.ln6 != nil {
		for _, argv := range RoutingCommands6(opts.Settings, "add") {
			if err := opts.Run(ctx, "", argv...); err != nil {
				m.log.Warn("no IPv6 policy routing; IPv6 is not intercepted", "err", err)
				m.closeIPv6()
				for _, argv := range RoutingCommands6(opts.Settings, "del") {
					_ = opts.Run(ctx, "", argv...)
				}
				break
			}
		}
	}
	if err := m.apply(); err != nil {
		undoRouting()
		m.shutdown()
		return nil, err
	}
	listeners := []any{"listener", ln.Addr().String()}
	if m.ln6 != nil {
		listeners = append(listeners, "listener6", m.ln6.Addr().String())
	}
	m.log.Info("transparent interception ready", append(listeners, "dns", m.dns.Addr().String(), "pool", opts.Pool.String())...)
	m.wg.Add(2)
	go m.serve(m.ln)
	go m.serveUDP(m.udp)
	if m.ln6 != nil {
		m.wg.Add(2)
		go m.serve(m.ln6)
		go m.serveUDP(m.udp6)
	}
	return m, nil
}

// listen6 opens the IPv6 listener and UDP socket. On a host without IPv6 it
// logs and leaves them nil, so that IPv4 is intercepted alone; other
// failures are errors. (Where IPv6 is only disabled, transparent sockets
// still bind ::1; the IPv6 policy routing then fails, and Start turns IPv6
// off the same way.)
func (m *Manager) listen6() error {
	addr := m.opts.Settings.ListenAddr6
	ln, err := listenTransparent(addr)
	if err == nil {
		m.ln6 = ln
		m.udp6, err = listenTransparentUDP(addr)
		if err != nil {
			m.closeIPv6()
		}
	}
	switch {
	case err == nil:
		return nil
	case ipv6Unavailable(err):
		m.log.Warn("this host has no IPv6; IPv6 is not intercepted", "listen", addr.String(), "err", err)
		return nil
	default:
		return fmt.Errorf("tproxy IPv6 listener: %w", err)
	}
}

// closeIPv6 turns IPv6 interception off before serving starts.
func (m *Manager) closeIPv6() {
	if m.ln6 != nil {
		_ = m.ln6.Close()
		m.ln6 = nil
	}
	if m.udp6 != nil {
		_ = m.udp6.Close()
		m.udp6 = nil
	}
}

// ruleSettings are the settings the rules are written with: without an
// IPv6 listener there are no IPv6 rules.
func (m *Manager) ruleSettings() Settings {
	s := m.opts.Settings
	if m.ln6 == nil {
		s.ListenAddr6 = netip.AddrPort{}
	}
	return s
}

// apply installs the rules of every service.
func (m *Manager) apply() error {
	m.mu.Lock()
	var rules []Rule
	for _, cfg := range m.services {
		rules = append(rules, RulesFor(cfg, m.opts.Pool)...)
	}
	m.mu.Unlock()
	if err := m.opts.Run(context.Background(), Ruleset(m.ruleSettings(), rules), "nft", "-f", "-"); err != nil {
		return fmt.Errorf("tproxy rules: %w", err)
	}
	return nil
}

// Set intercepts a service's hostnames, wildcards and CIDRs.
func (m *Manager) Set(service string, cfg *config.Intercept) error {
	m.mu.Lock()
	m.services[service] = cfg
	m.mu.Unlock()
	m.table.RemoveService(service)
	var names []string
	for _, a := range cfg.Addresses {
		if k := config.KindOf(a); k == config.KindHostname || k == config.KindWildcard {
			m.table.Add(service, a)
			names = append(names, a)
		}
	}
	if err := m.apply(); err != nil {
		return err
	}
	m.log.Info("intercepting "+service+" transparently", "service", service, "protocols", cfg.Protocols,
		"addresses", cfg.Addresses, "names", names)
	return nil
}

func slicesHas(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// Remove stops intercepting a service.
func (m *Manager) Remove(service string) {
	m.mu.Lock()
	delete(m.services, service)
	m.mu.Unlock()
	m.table.RemoveService(service)
	if err := m.apply(); err != nil {
		m.log.Warn("cannot update the rules", "err", err)
	}
	m.log.Info("stopped intercepting "+service+" transparently", "service", service)
}

// Match picks the service for a connection or UDP flow of protocol (tcp or
// udp) to dst (whose name, when dst is a pool address, is hostname): the
// most specific address that matches, among the configs that intercept the
// protocol on dst's port.
func Match(services map[string]*config.Intercept, protocol string, dst netip.AddrPort, hostname string) (string, bool) {
	best, bestScore := "", -1
	names := make([]string, 0, len(services))
	for n := range services {
		names = append(names, n)
	}
	sort.Strings(names)
	ip := dst.Addr().Unmap()
	for _, name := range names {
		cfg := services[name]
		if !slicesHas(cfg.Protocols, protocol) || !config.PortAllowed(cfg.PortRanges, dst.Port()) {
			continue
		}
		for _, a := range cfg.Addresses {
			score := -1
			switch config.KindOf(a) {
			case config.KindIP:
				if netip.MustParseAddr(a).Unmap() == ip {
					score = 300
				}
			case config.KindCIDR:
				if netip.MustParsePrefix(a).Masked().Contains(ip) {
					score = netip.MustParsePrefix(a).Bits()
				}
			case config.KindHostname:
				if hostname != "" && config.AddressMatches(a, hostname) {
					score = 1000
				}
			case config.KindWildcard:
				if hostname != "" && config.AddressMatches(a, hostname) {
					score = 500 + len(a)
				}
			}
			if score > bestScore {
				best, bestScore = name, score
			}
		}
	}
	return best, bestScore >= 0
}

// serve accepts the connections the rules steer to ln.
func (m *Manager) serve(ln net.Listener) {
	defer m.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				m.log.Warn("accept failed", "err", err)
			}
			return
		}
		if !m.track(c) {
			_ = c.Close()
			return
		}
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			defer m.untrack(c)
			m.handle(c)
		}()
	}
}

func (m *Manager) handle(c net.Conn) {
	dst := c.LocalAddr().(*net.TCPAddr).AddrPort()
	hostname, _ := m.table.NameOf(dst.Addr())
	m.mu.Lock()
	service, ok := Match(m.services, "tcp", dst, hostname)
	cfg := m.services[service]
	m.mu.Unlock()
	if !ok {
		m.opts.Counters.Fail()
		m.log.Warn("no service intercepts this destination", "protocol", "tcp", "dst", dst.String(), "hostname", hostname)
		_ = c.Close()
		return
	}
	d := config.Destination{Protocol: "tcp", IP: dst.Addr().Unmap().String(), Port: strconv.Itoa(int(dst.Port())), Hostname: hostname}
	if ra, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		d = d.WithSource(ra.AddrPort(), cfg.SourceIP)
	}
	intercept.ForwardStream(m.ctx, m.opts.Dialer, service, intercept.DialOptionsOf(cfg.DialOptions, d), c, m.opts.Counters, m.log.With("service", service))
}

func (m *Manager) shutdown() {
	m.cancel()
	if m.dns != nil {
		_ = m.dns.Close()
	}
	if m.ln != nil {
		_ = m.ln.Close()
	}
	if m.udp != nil {
		_ = m.udp.Close()
	}
	if m.ln6 != nil {
		_ = m.ln6.Close()
	}
	if m.udp6 != nil {
		_ = m.udp6.Close()
	}
}

// Close removes the rules and routing and stops serving.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	conns := m.conns
	m.conns = map[net.Conn]struct{}{}
	m.mu.Unlock()
	ctx := context.Background()
	err := m.opts.Run(ctx, DeleteTable(m.opts.Settings), "nft", "-f", "-")
	for _, argv := range RoutingCommands(m.opts.Settings, "del") {
		_ = m.opts.Run(ctx, "", argv...)
	}
	m.shutdown()
	for c := range conns {
		_ = c.Close()
	}
	m.wg.Wait()
	return err
}

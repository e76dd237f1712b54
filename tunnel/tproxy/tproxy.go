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

// Manager owns the rules, the DNS server and the transparent TCP listener
// and UDP socket.
type Manager struct {
	opts  Options
	log   *slog.Logger
	table *dns.Table
	dns   *dns.Server
	ln    net.Listener
	udp   *net.UDPConn
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

// Start opens the transparent listeners and the DNS server and installs
// policy routing and an empty rule table.
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
	table, err := dns.NewTable(opts.Pool)
	if err != nil {
		return nil, err
	}
	mctx, cancel := context.WithCancel(context.Background())
	m := &Manager{opts: opts, log: opts.Logger, table: table, ctx: mctx, cancel: cancel,
		services: map[string]*config.Intercept{}, conns: map[net.Conn]struct{}{}, flows: map[flowKey]*udpFlow{}}
	ln, err := listenTransparent(opts.Settings.ListenAddr.String())
	if err != nil {
		cancel()
		return nil, fmt.Errorf("tproxy listener: %w", err)
	}
	m.ln = ln
	m.udp, err = listenTransparentUDP(opts.Settings.ListenAddr.String())
	if err != nil {
		m.shutdown()
		return nil, fmt.Errorf("tproxy udp socket: %w", err)
	}
	pc, err := net.ListenPacket("udp", opts.DNSListen)
	if err != nil {
		m.shutdown()
		return nil, fmt.Errorf("dns listener: %w", err)
	}
	m.dns = dns.Serve(pc, table, m.log.With("component", "dns"))
	ctx := context.Background()
	for _, argv := range RoutingCommands(opts.Settings, "del") {
		_ = opts.Run(ctx, "", argv...) // leftovers of an earlier run
	}
	for _, argv := range RoutingCommands(opts.Settings, "add") {
		if err := opts.Run(ctx, "", argv...); err != nil {
			for _, argv := range RoutingCommands(opts.Settings, "del") {
				_ = opts.Run(ctx, "", argv...)
			}
			m.shutdown()
			return nil, fmt.Errorf("tproxy routing: %w", err)
		}
	}
	if err := m.apply(); err != nil {
		for _, argv := range RoutingCommands(opts.Settings, "del") {
			_ = opts.Run(ctx, "", argv...)
		}
		m.shutdown()
		return nil, err
	}
	m.log.Info("transparent interception ready", "listener", ln.Addr().String(), "dns", m.dns.Addr().String(), "pool", opts.Pool.String())
	m.wg.Add(2)
	go m.serve()
	go m.serveUDP()
	return m, nil
}

// apply installs the rules of every service.
func (m *Manager) apply() error {
	m.mu.Lock()
	var rules []Rule
	for _, cfg := range m.services {
		rules = append(rules, RulesFor(cfg, m.opts.Pool)...)
	}
	m.mu.Unlock()
	if err := m.opts.Run(context.Background(), Ruleset(m.opts.Settings, rules), "nft", "-f", "-"); err != nil {
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

func (m *Manager) serve() {
	defer m.wg.Done()
	for {
		c, err := m.ln.Accept()
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

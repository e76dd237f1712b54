package tunnel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/ostium-net/ostium/sdk"
	"github.com/ostium-net/ostium/tunnel/intercept"
	"github.com/ostium-net/ostium/tunnel/relay"
)

// Mapping ties a service to a local TCP address, as "service:host:port".
type Mapping struct {
	Service string
	Listen  string // host:port
}

func (m Mapping) String() string { return m.Service + ":" + m.Listen }

// ParseMapping reads "service:host:port" (or "service:port", which listens
// on 127.0.0.1). The service name may itself contain colons: the address is
// taken from the right.
func ParseMapping(s string) (Mapping, error) {
	i := strings.LastIndex(s, ":")
	if i <= 0 {
		return Mapping{}, fmt.Errorf("mapping %q: want service:host:port", s)
	}
	portStr := s[i+1:]
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 || strconv.Itoa(port) != portStr {
		return Mapping{}, fmt.Errorf("mapping %q: invalid port %q", s, portStr)
	}
	rest := s[:i]
	svc, host := rest, "127.0.0.1"
	if strings.HasSuffix(rest, "]") { // IPv6 host in brackets
		j := strings.LastIndex(rest, ":[")
		if j <= 0 {
			return Mapping{}, fmt.Errorf("mapping %q: want service:host:port", s)
		}
		svc, host = rest[:j], rest[j+2:len(rest)-1]
	} else if j := strings.LastIndex(rest, ":"); j >= 0 {
		svc, host = rest[:j], rest[j+1:]
	}
	if svc == "" || host == "" || strings.ContainsAny(host, "[] \t") || strings.ContainsAny(svc, "[]") {
		return Mapping{}, fmt.Errorf("mapping %q: want service:host:port", s)
	}
	return Mapping{Service: svc, Listen: net.JoinHostPort(host, portStr)}, nil
}

// Proxy listens on local TCP addresses and carries each connection to the
// mapped service.
type Proxy struct {
	d        intercept.Dialer
	log      *slog.Logger
	counters relay.Counters
	ctx      context.Context // ends on Close, stopping dials in progress
	cancel   context.CancelFunc

	mu        sync.Mutex
	closed    bool
	listeners []net.Listener
	conns     map[net.Conn]struct{}
	wg        sync.WaitGroup
}

// StartProxy opens every mapping; it fails (opening nothing) when one
// cannot listen.
func StartProxy(d intercept.Dialer, mappings []Mapping, log *slog.Logger) (*Proxy, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if len(mappings) == 0 {
		return nil, errors.New("proxy: no mapping given")
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{d: d, log: log, ctx: ctx, cancel: cancel, conns: map[net.Conn]struct{}{}}
	var lns []net.Listener
	for _, m := range mappings {
		ln, err := net.Listen("tcp", m.Listen)
		if err != nil {
			for _, l := range lns {
				_ = l.Close()
			}
			cancel()
			return nil, fmt.Errorf("proxy %s: %w", m, err)
		}
		lns = append(lns, ln)
	}
	p.listeners = lns
	for i, m := range mappings {
		log.Info("listening for "+m.Service+" on tcp:"+lns[i].Addr().String(), "service", m.Service, "endpoint", lns[i].Addr().String())
		p.wg.Add(1)
		go p.serve(lns[i], m.Service)
	}
	return p, nil
}

// Addrs are the local addresses listened on, in mapping order.
func (p *Proxy) Addrs() []net.Addr {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]net.Addr, len(p.listeners))
	for i, l := range p.listeners {
		out[i] = l.Addr()
	}
	return out
}

func (p *Proxy) serve(ln net.Listener, service string) {
	defer p.wg.Done()
	opts := &sdk.DialOptions{}
	log := p.log.With("service", service)
	for {
		c, err := ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				p.log.Warn("accept failed", "service", service, "err", err)
			}
			return
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			_ = c.Close()
			return
		}
		p.conns[c] = struct{}{}
		p.mu.Unlock()
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			intercept.ForwardStream(p.ctx, p.d, service, opts, c, &p.counters, log)
			p.mu.Lock()
			delete(p.conns, c)
			p.mu.Unlock()
		}()
	}
}

// Stats counts the proxied connections.
func (p *Proxy) Stats() relay.CounterSnapshot { return p.counters.Snapshot() }

// Close stops listening and ends the connections.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.cancel()
	lns, conns := p.listeners, p.conns
	p.conns = map[net.Conn]struct{}{}
	p.mu.Unlock()
	for _, l := range lns {
		_ = l.Close()
	}
	for c := range conns {
		_ = c.Close()
	}
	p.wg.Wait()
	s := p.counters.Snapshot()
	p.log.Info("proxy stopped", "connections", s.Opened, "failed", s.Failed)
	return nil
}

// ServiceLister is the part of an sdk Context that lists the identity's
// services.
type ServiceLister interface {
	Services(ctx context.Context) ([]*sdk.Service, error)
}

// CheckMappings makes sure that the identity (named identity, for messages)
// may dial the service of every mapping, so that a proxy started with a
// misspelt service, or one no policy lets it dial, says so at start rather
// than at each connection. The error names every mapping at fault.
func CheckMappings(ctx context.Context, l ServiceLister, identity string, mappings []Mapping) error {
	services, err := l.Services(ctx)
	if err != nil {
		return fmt.Errorf("list the services of %s: %w", identity, err)
	}
	byName := map[string]*sdk.Service{}
	for _, s := range services {
		byName[s.Name] = s
	}
	var problems []string
	seen := map[string]bool{}
	for _, m := range mappings {
		if seen[m.Service] {
			continue
		}
		seen[m.Service] = true
		advice := fmt.Sprintf("an administrator sees why with `ostium policy-advisor %s %s`", identity, m.Service)
		switch s := byName[m.Service]; {
		case s == nil:
			problems = append(problems, fmt.Sprintf("service %q does not exist or identity %s may not use it: no service policy grants it Dial (%s)",
				m.Service, identity, advice))
		case !s.CanDial():
			problems = append(problems, fmt.Sprintf("identity %s may bind service %q but not dial it: no Dial service policy selects both (%s)",
				identity, m.Service, advice))
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// Package dns is the tunneler's small DNS server. It answers A queries for
// the names a tunneler intercepts (exact hostnames and *.domain wildcards)
// with addresses it hands out from a private pool, so that traffic to those
// names reaches addresses the transparent-proxy rules capture. It refuses
// every other name, letting the system resolver ask its next server.
package dns

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"strings"
	"sync"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/ostium-net/ostium/tunnel/config"
)

// DefaultPool is the carrier-grade NAT range the addresses come from.
var DefaultPool = netip.MustParsePrefix("100.64.0.0/10")

// TTL of the answers, in seconds: short, since addresses live only as long
// as the tunneler.
const TTL = 60

// Table maps intercepted names to pool addresses. Addresses are handed out
// on first lookup and kept for the life of the table.
type Table struct {
	pool netip.Prefix

	mu       sync.Mutex
	patterns map[string]map[string]bool // normalised pattern → services
	byName   map[string]netip.Addr
	byAddr   map[netip.Addr]string
	next     netip.Addr
}

// NewTable makes a table handing out addresses of pool (IPv4).
func NewTable(pool netip.Prefix) (*Table, error) {
	pool = pool.Masked()
	if !pool.Addr().Is4() || pool.Bits() > 30 {
		return nil, fmt.Errorf("dns pool %s: want an IPv4 prefix of at least 4 addresses", pool)
	}
	return &Table{pool: pool, patterns: map[string]map[string]bool{}, byName: map[string]netip.Addr{},
		byAddr: map[netip.Addr]string{}, next: pool.Addr().Next()}, nil
}

// Pool is the prefix addresses come from.
func (t *Table) Pool() netip.Prefix { return t.pool }

// Add registers a hostname or *.domain wildcard for a service.
func (t *Table) Add(service, pattern string) {
	p := config.NormalizeName(pattern)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.patterns[p] == nil {
		t.patterns[p] = map[string]bool{}
	}
	t.patterns[p][service] = true
}

// RemoveService drops the patterns of a service (addresses already handed
// out stay, so that caches pointing at them do not reach another name).
func (t *Table) RemoveService(service string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for p, svcs := range t.patterns {
		delete(svcs, service)
		if len(svcs) == 0 {
			delete(t.patterns, p)
		}
	}
}

func (t *Table) matchesLocked(name string) bool {
	if _, ok := t.patterns[name]; ok {
		return true
	}
	for p := range t.patterns {
		if config.AddressMatches(p, name) && strings.HasPrefix(p, "*.") {
			return true
		}
	}
	return false
}

// Services lists the services whose patterns match name.
func (t *Table) Services(name string) []string {
	name = config.NormalizeName(name)
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for p, svcs := range t.patterns {
		if config.AddressMatches(p, name) {
			for s := range svcs {
				out = append(out, s)
			}
		}
	}
	sort.Strings(out)
	return out
}

// ErrPoolExhausted is returned when every pool address is handed out.
var ErrPoolExhausted = errors.New("dns: the address pool is exhausted")

// Lookup returns the address of an intercepted name, handing one out on
// first use; ok is false for names not intercepted.
func (t *Table) Lookup(name string) (addr netip.Addr, ok bool, err error) {
	name = config.NormalizeName(name)
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.matchesLocked(name) {
		return netip.Addr{}, false, nil
	}
	if a, found := t.byName[name]; found {
		return a, true, nil
	}
	a := t.next
	if !t.pool.Contains(a) || !t.pool.Contains(a.Next()) { // keep the broadcast address out
		return netip.Addr{}, true, ErrPoolExhausted
	}
	t.next = a.Next()
	t.byName[name] = a
	t.byAddr[a] = name
	return a, true, nil
}

// NameOf is the name an address was handed out for.
func (t *Table) NameOf(a netip.Addr) (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n, ok := t.byAddr[a.Unmap()]
	return n, ok
}

// Answer builds the reply to one DNS query message. It returns an error
// (and no reply) only for messages too broken to answer.
func Answer(t *Table, query []byte) ([]byte, error) {
	var p dnsmessage.Parser
	hdr, err := p.Start(query)
	if err != nil {
		return nil, fmt.Errorf("dns: parse header: %w", err)
	}
	if hdr.Response {
		return nil, errors.New("dns: message is a response")
	}
	reply := dnsmessage.Header{ID: hdr.ID, Response: true, OpCode: hdr.OpCode, RecursionDesired: hdr.RecursionDesired, Authoritative: true}
	q, err := p.Question()
	if err != nil || hdr.OpCode != 0 {
		reply.RCode = dnsmessage.RCodeFormatError
		if hdr.OpCode != 0 {
			reply.RCode = dnsmessage.RCodeNotImplemented
		}
		b := dnsmessage.NewBuilder(nil, reply)
		return b.Finish()
	}
	name := q.Name.String()
	var addr netip.Addr
	ok := false
	if q.Class == dnsmessage.ClassINET {
		addr, ok, err = t.Lookup(name)
	}
	switch {
	case !ok:
		reply.RCode = dnsmessage.RCodeRefused
	case err != nil:
		reply.RCode = dnsmessage.RCodeServerFailure
	}
	b := dnsmessage.NewBuilder(make([]byte, 0, 512), reply)
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(q); err != nil {
		return nil, err
	}
	if ok && err == nil && q.Type == dnsmessage.TypeA {
		if err := b.StartAnswers(); err != nil {
			return nil, err
		}
		rh := dnsmessage.ResourceHeader{Name: q.Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: TTL}
		if err := b.AResource(rh, dnsmessage.AResource{A: addr.As4()}); err != nil {
			return nil, err
		}
	}
	// Other types of an intercepted name get an empty, successful answer.
	return b.Finish()
}

// Server answers queries on a packet connection.
type Server struct {
	table *Table
	pc    net.PacketConn
	log   *slog.Logger
	done  chan struct{}
}

// Serve answers the queries arriving on pc until Close.
func Serve(pc net.PacketConn, t *Table, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{table: t, pc: pc, log: log, done: make(chan struct{})}
	go s.loop()
	return s
}

func (s *Server) loop() {
	defer close(s.done)
	buf := make([]byte, 4096)
	for {
		n, from, err := s.pc.ReadFrom(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.log.Warn("dns read failed", "err", err)
			}
			return
		}
		reply, err := Answer(s.table, buf[:n])
		if err != nil {
			s.log.Debug("dropped a dns message", "from", from.String(), "err", err)
			continue
		}
		if _, err := s.pc.WriteTo(reply, from); err != nil {
			s.log.Debug("dns reply failed", "to", from.String(), "err", err)
		}
	}
}

// Addr is the address the server answers on.
func (s *Server) Addr() net.Addr { return s.pc.LocalAddr() }

// Close stops the server.
func (s *Server) Close() error {
	err := s.pc.Close()
	<-s.done
	return err
}

// Package tlsio makes writes to a TLS connection cheaper: each Write reaches the socket as one
// write, however many records it is split into. crypto/tls writes every record of at most
// 16 KiB to its connection on its own, so a 32 KiB frame and its head, three records, cost
// three system calls, and the peer's kernel wakes its reader three times; here they cost one.
// The records are the same on the wire; only the system calls that carry them change.
package tlsio

import (
	"context"
	"crypto/tls"
	"net"
	"sync"
	"sync/atomic"
)

// Conn is a TLS connection whose writes each go to the socket in one system call.
type Conn struct {
	*tls.Conn
	sock      *socket
	handshook atomic.Bool
}

// Client returns the client side of TLS over raw (see tls.Client).
func Client(raw net.Conn, cfg *tls.Config) *Conn {
	s := &socket{Conn: raw}
	return &Conn{Conn: tls.Client(s, cfg), sock: s}
}

// Server returns the server side of TLS over raw (see tls.Server).
func Server(raw net.Conn, cfg *tls.Config) *Conn {
	s := &socket{Conn: raw}
	return &Conn{Conn: tls.Server(s, cfg), sock: s}
}

// Dial connects to addr with d and completes the TLS handshake as the client.
func Dial(ctx context.Context, d *net.Dialer, addr string, cfg *tls.Config) (*Conn, error) {
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if cfg.ServerName == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			_ = raw.Close()
			return nil, err
		}
		cfg = cfg.Clone()
		cfg.ServerName = host
	}
	c := Client(raw, cfg)
	if err := c.HandshakeContext(ctx); err != nil {
		_ = raw.Close()
		return nil, err
	}
	return c, nil
}

// Write encrypts p into as many records as it takes and writes them to the socket at once.
// The handshake, when not yet done, runs first, on its own writes.
func (c *Conn) Write(p []byte) (int, error) {
	if !c.handshook.Load() {
		if err := c.Conn.Handshake(); err != nil {
			return 0, err
		}
		c.handshook.Store(true)
	}
	c.sock.hold()
	n, err := c.Conn.Write(p)
	if ferr := c.sock.release(); ferr != nil && err == nil {
		return 0, ferr
	}
	return n, err
}

// NetConn is the TCP connection beneath.
func (c *Conn) NetConn() net.Conn { return c.sock.Conn }

// socket is the connection beneath TLS. While a write holds it, what TLS writes is gathered,
// and the release writes it, so a Write returns once its bytes are on the socket; otherwise
// (the handshake, alerts, answers TLS gives from its reading side) writes go straight
// through. Writes keep their order: gathered bytes are written under the lock that orders
// every write.
type socket struct {
	net.Conn
	mu      sync.Mutex
	holders int
	pending *[]byte
}

var gatherPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// maxPooled is the largest gathering buffer kept for reuse.
const maxPooled = 256 << 10

func (s *socket) hold() {
	s.mu.Lock()
	s.holders++
	s.mu.Unlock()
}

func (s *socket) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.holders == 0 {
		return s.Conn.Write(p)
	}
	if s.pending == nil {
		s.pending = gatherPool.Get().(*[]byte)
	}
	*s.pending = append(*s.pending, p...)
	return len(p), nil
}

// release ends a hold and writes what was gathered.
func (s *socket) release() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.holders--
	if s.pending == nil {
		return nil
	}
	bp := s.pending
	s.pending = nil
	_, err := s.Conn.Write(*bp)
	if cap(*bp) <= maxPooled {
		*bp = (*bp)[:0]
		gatherPool.Put(bp)
	}
	return err
}

// Package tlsio makes writes to a TLS connection cheaper: each Write reaches the socket as one
// write, however many records it is split into. crypto/tls writes every record of at most
// 16 KiB to its connection on its own, so a 32 KiB frame and its head, three records, cost
// three system calls, and the peer's kernel wakes its reader three times; here they cost one.
// The records are the same on the wire; only the system calls that carry them change.
//
// [Conn.TryWrite] writes without ever waiting for the peer: what the kernel does not take at
// once is kept and written by a goroutine of its own before any later write, so a caller
// that must not block (a router's reader forwarding a message) needs no probe of the socket
// beforehand and no hand-off to a writer goroutine.
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
	s := newSocket(raw)
	return &Conn{Conn: tls.Client(s, cfg), sock: s}
}

// Server returns the server side of TLS over raw (see tls.Server).
func Server(raw net.Conn, cfg *tls.Config) *Conn {
	s := newSocket(raw)
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

// TryWrite writes p like Write when it can start at once: the handshake is done, no other
// write is under way and nothing an earlier TryWrite left is still pending. It then never
// waits for the peer: the records go to the socket in one non-blocking system call, and what
// the kernel does not take is written by a goroutine of its own, before any later write.
// It reports false, having written nothing, when it could not start, or when the
// connection is not a socket it can write that way. err is the socket's error, if any; the
// connection is then broken.
func (c *Conn) TryWrite(p []byte) (bool, error) {
	s := c.sock
	if !c.handshakeDone() || s.raw == nil || !s.mu.TryLock() {
		return false, nil
	}
	if s.holders > 0 || s.tail != nil {
		s.mu.Unlock()
		return false, nil
	}
	s.holders++
	s.mu.Unlock()
	_, err := c.Conn.Write(p)
	if ferr := s.releaseNow(); ferr != nil && err == nil {
		err = ferr
	}
	return true, err
}

// WriteIdle reports whether a TryWrite could start now. It makes no system call.
func (c *Conn) WriteIdle() bool {
	s := c.sock
	if !c.handshakeDone() || s.raw == nil || !s.mu.TryLock() {
		return false
	}
	idle := s.holders == 0 && s.tail == nil
	s.mu.Unlock()
	return idle
}

// handshakeDone reports whether the handshake is complete, however it ran (a Read, a Write,
// HandshakeContext).
func (c *Conn) handshakeDone() bool {
	if c.handshook.Load() {
		return true
	}
	if !c.Conn.ConnectionState().HandshakeComplete {
		return false
	}
	c.handshook.Store(true)
	return true
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
	// raw writes to the socket without waiting (nil: not a socket this platform can).
	raw     rawWriter
	mu      sync.Mutex
	holders int
	pending *[]byte
	// tail is what a non-blocking write left unwritten; it goes before anything else, and
	// tailErr is the error that writing it met.
	tail    []byte
	tailErr error
}

// rawWriter writes to a socket once, without waiting: it returns how much the kernel took.
type rawWriter func(p []byte) (int, error)

func newSocket(raw net.Conn) *socket {
	return &socket{Conn: raw, raw: rawWriterOf(raw)}
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
		if err := s.flushTailLocked(); err != nil {
			return 0, err
		}
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
	err := s.flushTailLocked()
	if err == nil {
		_, err = s.Conn.Write(*bp)
	}
	recycle(bp)
	return err
}

// releaseNow ends a TryWrite's hold: what was gathered goes to the socket without waiting,
// and what the kernel does not take becomes the tail, written by a goroutine of its own.
func (s *socket) releaseNow() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.holders--
	if s.pending == nil {
		return nil
	}
	bp := s.pending
	s.pending = nil
	defer recycle(bp)
	n, err := s.raw(*bp)
	if err != nil {
		return err
	}
	if n < len(*bp) {
		s.tail = append([]byte(nil), (*bp)[n:]...)
		go s.flushTail()
	}
	return nil
}

// flushTail writes the tail, waiting for the peer as long as the connection's write deadline
// allows. A write that fails breaks the connection: the bytes after it cannot be sent.
func (s *socket) flushTail() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.flushTailLocked() != nil {
		_ = s.Conn.Close()
	}
}

func (s *socket) flushTailLocked() error {
	if s.tailErr != nil {
		return s.tailErr
	}
	if s.tail == nil {
		return nil
	}
	_, err := s.Conn.Write(s.tail)
	s.tail = nil
	if err != nil {
		s.tailErr = err
	}
	return err
}

func recycle(bp *[]byte) {
	if cap(*bp) <= maxPooled {
		*bp = (*bp)[:0]
		gatherPool.Put(bp)
	}
}

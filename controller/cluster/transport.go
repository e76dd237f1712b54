package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// One TCP port carries everything between controllers, inside mutual TLS.
// The first byte a dialer writes says what the connection is for.
const (
	connRaft    byte = 'R' // raft's own RPCs
	connForward byte = 'F' // a follower forwarding a command to the leader
	connJoin    byte = 'J' // a new node asking to be added as a voter
	connCall    byte = 'C' // a follower calling a function that runs on the leader
	// connReadIndex asks the leader for an index that covers every write
	// acknowledged so far, after confirming it still leads (ReadIndex).
	connReadIndex byte = 'I'
	// connPing asks a peer how it is (see members.go).
	connPing byte = 'P'
)

// mux accepts TLS connections on the cluster port and routes them by their
// first byte: raft connections to the raft stream layer, the rest to handlers.
type mux struct {
	ln        net.Listener
	tlsConfig *tls.Config
	advertise net.Addr
	// source is the local address peers are dialed from: the bound IP when
	// the cluster port is bound to one, so cluster traffic leaves from the
	// cluster address (and firewalls can tell nodes apart by source).
	source    *net.TCPAddr
	raftConns chan net.Conn
	handle    func(kind byte, c net.Conn)
	closeOnce sync.Once
	closed    chan struct{}
}

func newMux(bind string, advertise string, offline bool, tlsConfig *tls.Config, handle func(byte, net.Conn)) (*mux, error) {
	var ln net.Listener
	var err error
	if offline {
		ln, err = newIdleListener(bind)
	} else {
		ln, err = net.Listen("tcp", bind)
	}
	if err != nil {
		return nil, fmt.Errorf("listen for cluster traffic on %s: %w", bind, err)
	}
	if advertise == "" {
		advertise = ln.Addr().String()
	}
	adv, err := net.ResolveTCPAddr("tcp", advertise)
	if err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("resolve advertise address %q: %w", advertise, err)
	}
	m := &mux{ln: ln, tlsConfig: tlsConfig, advertise: adv, raftConns: make(chan net.Conn, 16), handle: handle, closed: make(chan struct{})}
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok && tcp.IP != nil && !tcp.IP.IsUnspecified() {
		m.source = &net.TCPAddr{IP: tcp.IP}
	}
	go m.serve()
	return m, nil
}

func (m *mux) serve() {
	for {
		c, err := m.ln.Accept()
		if err != nil {
			select {
			case <-m.closed:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		go m.route(c)
	}
}

func (m *mux) route(raw net.Conn) {
	c := tls.Server(raw, m.tlsConfig)
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := c.Handshake(); err != nil {
		_ = c.Close()
		return
	}
	var kind [1]byte
	if _, err := io.ReadFull(c, kind[:]); err != nil {
		_ = c.Close()
		return
	}
	_ = c.SetDeadline(time.Time{})
	switch kind[0] {
	case connRaft:
		select {
		case m.raftConns <- c:
		case <-m.closed:
			_ = c.Close()
		}
	case connForward, connJoin, connCall, connReadIndex, connPing:
		m.handle(kind[0], c)
	default:
		_ = c.Close()
	}
}

func (m *mux) close() error {
	var err error
	m.closeOnce.Do(func() {
		close(m.closed)
		err = m.ln.Close()
	})
	return err
}

// dial opens a TLS connection to a peer's cluster port and announces its kind.
func (m *mux) dial(addr string, kind byte, timeout time.Duration) (net.Conn, error) {
	return m.dialContext(context.Background(), addr, kind, timeout)
}

// dialContext is dial that gives up when ctx ends.
func (m *mux) dialContext(ctx context.Context, addr string, kind byte, timeout time.Duration) (net.Conn, error) {
	cfg := m.tlsConfig.Clone()
	if cfg.ServerName == "" {
		host, _, err := net.SplitHostPort(addr)
		if err == nil {
			cfg.ServerName = host
		}
	}
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: timeout}, Config: cfg}
	if m.source != nil {
		d.NetDialer.LocalAddr = m.source
	}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial cluster peer %s: %w", addr, err)
	}
	if _, err := c.Write([]byte{kind}); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("announce connection to %s: %w", addr, err)
	}
	return c, nil
}

// streamLayer adapts the mux to raft.StreamLayer.
type streamLayer struct{ m *mux }

var _ raft.StreamLayer = streamLayer{}

func (s streamLayer) Accept() (net.Conn, error) {
	select {
	case c := <-s.m.raftConns:
		return c, nil
	case <-s.m.closed:
		return nil, errors.New("cluster listener closed")
	}
}

func (s streamLayer) Close() error   { return s.m.close() }
func (s streamLayer) Addr() net.Addr { return s.m.advertise }

func (s streamLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return s.m.dial(string(addr), connRaft, timeout)
}

// idleListener stands in for the cluster port of a node that serves none
// (Config.Offline): it reports the configured address and accepts nothing
// until closed.
type idleListener struct {
	addr      *net.TCPAddr
	closeOnce sync.Once
	closed    chan struct{}
}

func newIdleListener(bind string) (*idleListener, error) {
	addr, err := net.ResolveTCPAddr("tcp", bind)
	if err != nil {
		return nil, err
	}
	return &idleListener{addr: addr, closed: make(chan struct{})}, nil
}

func (l *idleListener) Accept() (net.Conn, error) {
	<-l.closed
	return nil, net.ErrClosed
}

func (l *idleListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return nil
}

func (l *idleListener) Addr() net.Addr { return l.addr }

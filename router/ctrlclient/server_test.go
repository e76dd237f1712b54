package ctrlclient

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ostium-net/ostium/internal/ctrlproto"
	"github.com/ostium-net/ostium/sdk/wire"
)

// testPKI is a CA with a controller server certificate for 127.0.0.1 and a router client
// certificate.
type testPKI struct {
	roots  *x509.CertPool
	server tls.Certificate
	client tls.Certificate
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage, ips []net.IP) tls.Certificate {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: cn},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			IPAddresses:  ips,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	return &testPKI{
		roots:  roots,
		server: leaf(2, "controller", x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)}),
		client: leaf(3, "router-1", x509.ExtKeyUsageClientAuth, nil),
	}
}

// controlServer is a small controller end of the control channel.
type controlServer struct {
	t  *testing.T
	ln net.Listener

	// down makes the server close every connection it accepts.
	down atomic.Bool
	// ignorePings makes the server leave Pings unanswered.
	ignorePings atomic.Bool
	// refuseCreates makes the server refuse TerminatorCreate.
	refuseCreates atomic.Bool
	// refused counts connections closed because the server was down.
	refused atomic.Int64

	mu          sync.Mutex
	nextID      int
	terminators map[string]ctrlproto.Terminator // controller id → terminator
	requests    []request

	// sessions receives each connection whose Hello was answered.
	sessions chan *serverSession
	// heartbeats receives the API-session heartbeats routers send.
	heartbeats chan ctrlproto.APISessionHeartbeat
}

// request is a terminator request the server answered.
type request struct {
	contentType int32
	terminator  ctrlproto.Terminator
}

// serverSession is one accepted connection.
type serverSession struct {
	conn  *wire.Conn
	hello ctrlproto.Hello
	// created maps the hello's local ids to the ids the server gave them.
	created map[string]string
}

func newControlServer(t *testing.T, p *testPKI) *controlServer {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{p.server},
		ClientCAs:    p.roots,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	})
	if err != nil {
		t.Fatal(err)
	}
	s := &controlServer{t: t, ln: ln, terminators: map[string]ctrlproto.Terminator{}, sessions: make(chan *serverSession, 16),
		heartbeats: make(chan ctrlproto.APISessionHeartbeat, 64)}
	var wg sync.WaitGroup
	var connsMu sync.Mutex
	var conns []*wire.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			raw, err := ln.Accept()
			if err != nil {
				return
			}
			if s.down.Load() {
				s.refused.Add(1)
				_ = raw.Close()
				continue
			}
			if err := raw.(*tls.Conn).Handshake(); err != nil {
				_ = raw.Close()
				continue
			}
			if raw.(*tls.Conn).ConnectionState().PeerCertificates[0].Subject.CommonName != "router-1" {
				_ = raw.Close()
				continue
			}
			sess := &serverSession{}
			var ready = make(chan struct{})
			sess.conn = wire.NewConn(raw, func(m *wire.Message) {
				<-ready
				s.handle(sess, m)
			}, wire.ConnConfig{})
			close(ready)
			connsMu.Lock()
			conns = append(conns, sess.conn)
			connsMu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
		connsMu.Lock()
		defer connsMu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return s
}

func (s *controlServer) addr() string { return s.ln.Addr().String() }

func (s *controlServer) newID() string {
	s.nextID++
	return fmt.Sprintf("ctrl-%d", s.nextID)
}

func (s *controlServer) handle(sess *serverSession, m *wire.Message) {
	reply := func(ok bool, body []byte) {
		r := wire.NewMessage(wire.ContentTypeResult, body)
		r.Headers.PutBool(wire.HeaderResultSuccess, ok)
		r.ReplyTo(m)
		_ = sess.conn.Send(context.Background(), r)
	}
	encode := func(v any) []byte {
		b, err := ctrlproto.Encode(v)
		if err != nil {
			s.t.Error(err)
		}
		return b
	}
	var term ctrlproto.Terminator
	if m.ContentType >= ctrlproto.TypeTerminatorCreate && m.ContentType <= ctrlproto.TypeTerminatorDelete {
		if err := ctrlproto.Decode(m.Body, &term); err != nil {
			reply(false, []byte(err.Error()))
			return
		}
	}
	switch m.ContentType {
	case ctrlproto.TypeHello:
		if err := ctrlproto.Decode(m.Body, &sess.hello); err != nil {
			reply(false, []byte(err.Error()))
			return
		}
		sess.created = map[string]string{}
		s.mu.Lock()
		for _, t := range sess.hello.Terminators {
			id := s.newID()
			t.ID = id
			s.terminators[id] = t
			sess.created[t.LocalID] = id
		}
		s.mu.Unlock()
		reply(true, encode(ctrlproto.TerminatorCreated{IDs: sess.created}))
		s.sessions <- sess
	case ctrlproto.TypeTerminatorCreate:
		if s.refuseCreates.Load() {
			reply(false, []byte("service not found"))
			return
		}
		s.mu.Lock()
		id := s.newID()
		term.ID = id
		s.terminators[id] = term
		s.requests = append(s.requests, request{m.ContentType, term})
		s.mu.Unlock()
		reply(true, encode(ctrlproto.TerminatorCreated{IDs: map[string]string{term.LocalID: id}}))
	case ctrlproto.TypeTerminatorUpdate, ctrlproto.TypeTerminatorDelete:
		s.mu.Lock()
		_, known := s.terminators[term.ID]
		if known {
			if m.ContentType == ctrlproto.TypeTerminatorDelete {
				delete(s.terminators, term.ID)
			} else {
				s.terminators[term.ID] = term
			}
		}
		s.requests = append(s.requests, request{m.ContentType, term})
		s.mu.Unlock()
		if !known {
			reply(false, []byte("terminator not found"))
			return
		}
		reply(true, nil)
	case ctrlproto.TypePing:
		if !s.ignorePings.Load() {
			reply(true, nil)
		}
	case ctrlproto.TypeAPISessionHeartbeat:
		var hb ctrlproto.APISessionHeartbeat
		if err := ctrlproto.Decode(m.Body, &hb); err != nil {
			s.t.Errorf("bad heartbeat: %v", err)
			return
		}
		select {
		case s.heartbeats <- hb:
		default:
		}
	}
}

// terminator returns what the server holds under a controller id.
func (s *controlServer) terminator(id string) (ctrlproto.Terminator, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.terminators[id]
	return t, ok
}

func (s *controlServer) requestLog() []request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]request(nil), s.requests...)
}

// next waits for the next connection whose Hello was answered.
func (s *controlServer) next(t *testing.T) *serverSession {
	t.Helper()
	select {
	case sess := <-s.sessions:
		return sess
	case <-time.After(10 * time.Second):
		t.Fatal("the client did not connect")
		return nil
	}
}

func (sess *serverSession) push(t *testing.T, contentType int32, v any) {
	t.Helper()
	body, err := ctrlproto.Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.conn.Send(context.Background(), wire.NewMessage(contentType, body)); err != nil {
		t.Fatalf("push: %v", err)
	}
}

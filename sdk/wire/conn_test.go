package wire

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// echoHandler answers every non-reply request on conn with a Result carrying the request body.
func echoHandler(conn **Conn) func(*Message) {
	return func(m *Message) {
		if m.IsReply() {
			return
		}
		reply := NewResult(true, string(m.Body))
		reply.ReplyTo(m)
		m.Release()
		_ = (*conn).Send(context.Background(), reply)
	}
}

// connPair connects two Conns over a pipe; the server answers every request with an echo.
func connPair(t *testing.T, a, b net.Conn, clientHandler func(*Message)) (client, server *Conn) {
	t.Helper()
	server = NewConn(b, echoHandler(&server), ConnConfig{})
	client = NewConn(a, clientHandler, ConnConfig{})
	t.Cleanup(func() {
		client.Close()
		server.Close()
		client.Wait()
		server.Wait()
	})
	return client, server
}

func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	return a, b
}

func TestConcurrentRequests(t *testing.T) {
	for name, pair := range map[string]func(t *testing.T) (net.Conn, net.Conn){
		"pipe": func(*testing.T) (net.Conn, net.Conn) { return net.Pipe() },
		"tcp":  tcpPair,
	} {
		t.Run(name, func(t *testing.T) {
			a, b := pair(t)
			client, _ := connPair(t, a, b, nil)
			const senders, perSender = 16, 50
			var wg sync.WaitGroup
			errs := make(chan error, senders)
			for s := range senders {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range perSender {
						body := fmt.Sprintf("sender %d request %d %s", s, i, bytes.Repeat([]byte{'x'}, i*97))
						req := NewMessage(ContentTypePing, []byte(body))
						reply, err := client.Request(context.Background(), req)
						if err != nil {
							errs <- err
							return
						}
						if !reply.IsReplyTo(req.Sequence) || string(reply.Body) != body || !reply.ResultSuccess() {
							errs <- fmt.Errorf("request %q got reply %v %q", body, reply, reply.Body)
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}

func TestSequencesIncreaseAndHelloKeepsMinusOne(t *testing.T) {
	a, b := net.Pipe()
	got := make(chan *Message, 100)
	var server *Conn
	server = NewConn(b, func(m *Message) {
		got <- m
		if m.ContentType == ContentTypeHello {
			_ = server.Send(context.Background(), NewHelloResult(m, HelloInfo{RouterID: "r1", ConnectionID: "c1", Version: FormatVersion("v1", "abc", "2024-01-01", "linux", "amd64"), SupportsBindSuccess: true}))
		}
	}, ConnConfig{})
	client := NewConn(a, nil, ConnConfig{})
	defer func() { client.Close(); server.Close(); client.Wait(); server.Wait() }()

	hello := NewHello("cn", []byte("token"))
	reply, err := client.Request(context.Background(), hello)
	if err != nil {
		t.Fatal(err)
	}
	if reply.Sequence != -1 || !reply.IsReplyTo(-1) {
		t.Fatalf("hello result %v", reply)
	}
	info, err := ParseHelloResult(reply)
	if err != nil || info.RouterID != "r1" || info.ConnectionID != "c1" || !info.SupportsBindSuccess || info.Version != "v1|abc|2024-01-01|linux|amd64" {
		t.Fatalf("ParseHelloResult = %+v, %v", info, err)
	}
	if m := <-got; m.Sequence != -1 {
		t.Fatalf("hello went out with sequence %d", m.Sequence)
	}
	for range 5 {
		if err := client.Send(context.Background(), NewData(1, 1, 0, nil)); err != nil {
			t.Fatal(err)
		}
	}
	for want := int32(1); want <= 5; want++ {
		if m := <-got; m.Sequence != want {
			t.Fatalf("sequence %d, want %d", m.Sequence, want)
		}
	}
}

func TestCloseWakesWaiters(t *testing.T) {
	a, b := net.Pipe()
	received := make(chan struct{}, 100)
	server := NewConn(b, func(*Message) { received <- struct{}{} }, ConnConfig{}) // never answers
	client := NewConn(a, nil, ConnConfig{})
	defer func() { server.Close(); server.Wait() }()

	const n = 10
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := client.Request(context.Background(), NewMessage(ContentTypePing, nil))
			errs <- err
		}()
	}
	// A request is registered before it is written, so once the server has read all of
	// them every one is waiting.
	for range n {
		<-received
	}
	if err := client.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for range n {
		if err := <-errs; !errors.Is(err, ErrConnClosed) {
			t.Fatalf("waiter woke with %v, want ErrConnClosed", err)
		}
	}
	client.Wait()
	if err := client.Send(context.Background(), NewMessage(ContentTypePing, nil)); !errors.Is(err, ErrConnClosed) {
		t.Fatalf("Send after Close = %v", err)
	}
	if _, err := client.Request(context.Background(), NewMessage(ContentTypePing, nil)); !errors.Is(err, ErrConnClosed) {
		t.Fatalf("Request after Close = %v", err)
	}
	if !errors.Is(client.Err(), ErrConnClosed) {
		t.Fatalf("Err() = %v", client.Err())
	}
	if err := client.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
}

func TestPeerCloseWakesWaitersWithCause(t *testing.T) {
	a, b := net.Pipe()
	received := make(chan struct{}, 1)
	server := NewConn(b, func(*Message) { received <- struct{}{} }, ConnConfig{})
	client := NewConn(a, nil, ConnConfig{})
	if client.Err() != nil {
		t.Fatal("Err() of an open Conn is not nil")
	}
	errc := make(chan error, 1)
	go func() {
		_, err := client.Request(context.Background(), NewMessage(ContentTypePing, nil))
		errc <- err
	}()
	<-received
	server.Close()
	err := <-errc
	if !errors.Is(err, ErrConnClosed) || !errors.Is(err, io.EOF) {
		t.Fatalf("err = %v, want ErrConnClosed wrapping io.EOF", err)
	}
	<-client.Done()
	client.Wait()
	server.Wait()
}

func TestCanceledRequestAndLateReplyGoesToHandler(t *testing.T) {
	a, b := net.Pipe()
	requests := make(chan *Message, 1)
	server := NewConn(b, func(m *Message) { requests <- m }, ConnConfig{})
	late := make(chan *Message, 1)
	client := NewConn(a, func(m *Message) { late <- m }, ConnConfig{})
	defer func() { client.Close(); server.Close(); client.Wait(); server.Wait() }()

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := client.Request(ctx, NewMessage(ContentTypePing, []byte("q")))
		errc <- err
	}()
	req := <-requests
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled Request = %v", err)
	}
	reply := NewResult(true, "late")
	reply.ReplyTo(req)
	if err := server.Send(context.Background(), reply); err != nil {
		t.Fatal(err)
	}
	m := <-late
	if !m.IsReplyTo(req.Sequence) || string(m.Body) != "late" {
		t.Fatalf("handler got %v", m)
	}
	if client.Err() != nil {
		t.Fatalf("a canceled request closed the Conn: %v", client.Err())
	}
}

func TestSendAbortedByContextClosesConn(t *testing.T) {
	a, b := net.Pipe() // nobody reads b: a write blocks
	client := NewConn(a, nil, ConnConfig{})
	defer b.Close()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- client.Send(ctx, NewData(1, 1, 0, []byte("stuck"))) }()
	// Take the first byte so the write is known to be under way, then give up on it.
	var one [1]byte
	if _, err := b.Read(one[:]); err != nil {
		t.Fatal(err)
	}
	cancel()
	err := <-errc
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Send = %v, want context.Canceled", err)
	}
	<-client.Done()
	client.Wait()
}

func TestSendWaitingForTurnHonorsContext(t *testing.T) {
	a, b := net.Pipe()
	client := NewConn(a, nil, ConnConfig{})
	defer func() { client.Close(); b.Close(); client.Wait() }()
	// The first Send blocks in the write (nobody reads b) and holds the write turn.
	go func() { _ = client.Send(context.Background(), NewData(1, 1, 0, []byte("blocking"))) }()
	// Read the first byte so we know the first Send is writing.
	var one [1]byte
	if _, err := b.Read(one[:]); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- client.Send(ctx, NewData(1, 2, 0, nil)) }()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Send = %v", err)
	}
	if client.Err() != nil {
		t.Fatalf("giving up the turn closed the Conn: %v", client.Err())
	}
}

func TestSendRefusesOversizedMessage(t *testing.T) {
	a, b := net.Pipe()
	client := NewConn(a, nil, ConnConfig{Limits: Limits{MaxBodyBytes: 10, MaxHeaders: 1}})
	defer func() { client.Close(); b.Close(); client.Wait() }()
	if err := client.Send(context.Background(), NewMessage(ContentTypePing, make([]byte, 11))); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("Send = %v", err)
	}
	if err := client.Send(context.Background(), NewData(1, 1, 0, nil)); !errors.Is(err, ErrTooManyHeaders) {
		t.Fatalf("Send = %v", err)
	}
	if client.Err() != nil {
		t.Fatal("a refused message closed the Conn")
	}
}

func TestMalformedInputClosesConn(t *testing.T) {
	a, b := net.Pipe()
	client := NewConn(a, nil, ConnConfig{})
	go func() { _, _ = b.Write([]byte("not a frame at all!!")) }()
	<-client.Done()
	if !errors.Is(client.Err(), ErrBadMagic) || !errors.Is(client.Err(), ErrConnClosed) {
		t.Fatalf("Err() = %v", client.Err())
	}
	client.Wait()
	b.Close()
}

func TestDuplicatePendingSequenceRefused(t *testing.T) {
	a, b := net.Pipe()
	received := make(chan struct{}, 2)
	server := NewConn(b, func(*Message) { received <- struct{}{} }, ConnConfig{})
	client := NewConn(a, nil, ConnConfig{})
	defer func() { client.Close(); server.Close(); client.Wait(); server.Wait() }()
	go func() { _, _ = client.Request(context.Background(), NewHello("cn", nil)) }()
	<-received
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := client.Request(ctx, NewHello("cn", nil)); err == nil {
		t.Fatal("a second pending Hello was accepted")
	}
}

func TestLatencyProbeRoundTrip(t *testing.T) {
	a, b := net.Pipe()
	var server *Conn
	server = NewConn(b, func(m *Message) {
		if m.ContentType == ContentTypeLatency {
			_ = server.Send(context.Background(), NewLatencyResponse(m))
		}
	}, ConnConfig{})
	client := NewConn(a, nil, ConnConfig{})
	defer func() { client.Close(); server.Close(); client.Wait(); server.Wait() }()
	sent := time.Unix(1700000000, 123456789)
	reply, err := client.Request(context.Background(), NewLatencyProbe(sent))
	if err != nil {
		t.Fatal(err)
	}
	if reply.ContentType != ContentTypeResult || !reply.ResultSuccess() {
		t.Fatalf("reply %v", reply)
	}
	if at, ok := LatencyProbeSentAt(reply); !ok || !at.Equal(sent) {
		t.Fatalf("send time came back as %v, %v", at, ok)
	}
}

// rawPeer is the far end of a Conn driven frame by frame.
type rawPeer struct {
	t    *testing.T
	conn net.Conn
	r    *Reader
}

func (p *rawPeer) send(m *Message) {
	p.t.Helper()
	if _, err := m.WriteTo(p.conn); err != nil {
		p.t.Fatal(err)
	}
}

func (p *rawPeer) read() *Message {
	p.t.Helper()
	m, err := p.r.ReadMessage()
	if err != nil {
		p.t.Fatal(err)
	}
	return m
}

func TestHeartbeatAnsweredStandalone(t *testing.T) {
	a, b := net.Pipe()
	handled := make(chan *Message, 4)
	c := NewConn(a, func(m *Message) { handled <- m }, ConnConfig{})
	defer func() { c.Close(); b.Close(); c.Wait() }()
	peer := &rawPeer{t: t, conn: b, r: NewReader(b, Limits{})}

	hb := NewMessage(ContentTypeHeartbeat, nil)
	hb.Headers.PutUint64(HeaderHeartbeat, 123456789)
	peer.send(hb)
	answer := peer.read()
	if answer.ContentType != ContentTypeHeartbeat {
		t.Fatalf("answer %v", answer)
	}
	if ts, ok := answer.Headers.GetUint64(HeaderHeartbeatResponse); !ok || ts != 123456789 {
		t.Fatalf("heartbeat response %d, %v", ts, ok)
	}
	// The Heartbeat message itself is not handed to the handler.
	peer.send(NewMessage(ContentTypePing, []byte("after")))
	if m := <-handled; m.ContentType != ContentTypePing {
		t.Fatalf("handler got %v first", m)
	}
}

func TestHeartbeatAnswerRidesOnTraffic(t *testing.T) {
	a, b := net.Pipe()
	var c *Conn
	c = NewConn(a, func(m *Message) {
		// Answer right away: the heartbeat answer rides on this message, or, if the machine
		// is slow enough for the standalone answer to go first, on that one.
		_ = c.Send(context.Background(), NewData(1, 1, 0, []byte("reply")))
	}, ConnConfig{})
	defer func() { c.Close(); b.Close(); c.Wait() }()
	peer := &rawPeer{t: t, conn: b, r: NewReader(b, Limits{})}

	ping := NewMessage(ContentTypePing, nil)
	ping.Headers.PutUint64(HeaderHeartbeat, 42)
	peer.send(ping)
	first := peer.read()
	if ts, ok := first.Headers.GetUint64(HeaderHeartbeatResponse); !ok || ts != 42 {
		t.Fatalf("first message %v carries no heartbeat response", first)
	}
	if first.ContentType == ContentTypeHeartbeat {
		if data := peer.read(); data.ContentType != ContentTypeData || data.Headers.Has(HeaderHeartbeatResponse) {
			t.Fatalf("second message %v", data)
		}
	}
}

func TestHeartbeatRepliesDisabled(t *testing.T) {
	a, b := net.Pipe()
	handled := make(chan *Message, 4)
	c := NewConn(a, func(m *Message) { handled <- m }, ConnConfig{DisableHeartbeatReplies: true})
	defer func() { c.Close(); b.Close(); c.Wait() }()
	peer := &rawPeer{t: t, conn: b, r: NewReader(b, Limits{})}
	hb := NewMessage(ContentTypeHeartbeat, nil)
	hb.Headers.PutUint64(HeaderHeartbeat, 7)
	peer.send(hb)
	if m := <-handled; m.ContentType != ContentTypeHeartbeat {
		t.Fatalf("handler got %v", m)
	}
	go func() { _ = c.Send(context.Background(), NewData(1, 1, 0, nil)) }()
	if m := peer.read(); m.Headers.Has(HeaderHeartbeatResponse) {
		t.Fatal("heartbeat answered although disabled")
	}
}

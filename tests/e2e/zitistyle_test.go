package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/ostium-net/ostium/sdk/wire"
)

// zitiStyleWait bounds each wait of the tests below.
const zitiStyleWait = 15 * time.Second

// zitiStyleConn is a dialing client that frames its data as OpenZiti's Go SDK v1.x does by
// default (its data path without SDK flow control): every Write is one Data message, of
// whatever size the Write was, carrying the conn id and, on the first message only, Flags
// announcing that the client accepts multipart Data; the message is on the wire when Write
// returns; nothing is acknowledged. It lets the router's work per message from that SDK be
// measured apart from the SDK's own.
type zitiStyleConn struct {
	wc     *wire.Conn
	connID uint32
	inbox  chan *wire.Message
	sent   bool
}

// dialZitiStyle signs in as the echo network's client, creates a Dial session for service
// through the client API and connects to it through the network's router.
func dialZitiStyle(tb testing.TB, e *echoNetwork, service string) *zitiStyleConn {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := e.client.Authenticate(ctx); err != nil {
		tb.Fatal(err)
	}
	services, err := e.client.Services(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	serviceID := ""
	for _, s := range services {
		if s.Name == service {
			serviceID = s.ID
		}
	}
	if serviceID == "" {
		tb.Fatalf("service %s is not the client's", service)
	}
	apiToken := e.client.APISessionToken()
	body, _ := json.Marshal(map[string]string{"serviceId": serviceID, "type": "Dial"})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.client.ControllerURL()+"/edge/client/v1/sessions", bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("zt-session", apiToken)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: e.clientIdentity.ClientTLS()}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var session struct {
		Data struct {
			Token string `json:"token"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&session); err != nil || resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK || session.Data.Token == "" {
		tb.Fatalf("creating a Dial session: %d %v", resp.StatusCode, err)
	}

	cfg := e.clientIdentity.ClientTLS()
	cfg.ServerName, _, _ = net.SplitHostPort(e.router.Addr)
	raw, err := (&tls.Dialer{Config: cfg}).DialContext(ctx, "tcp", e.router.Addr)
	if err != nil {
		tb.Fatal(err)
	}
	c := &zitiStyleConn{connID: 1, inbox: make(chan *wire.Message, 64)}
	c.wc = wire.NewConn(raw, func(m *wire.Message) {
		if id, _ := m.ConnID(); id == c.connID && (m.ContentType == wire.ContentTypeData || m.ContentType == wire.ContentTypeStateClosed) {
			c.inbox <- m
			return
		}
		m.Release()
	}, wire.ConnConfig{})
	tb.Cleanup(func() { _ = c.wc.Close() })
	reply, err := c.wc.Request(ctx, wire.NewHello(e.clientIdentity.Chain[0].Subject.CommonName, []byte(apiToken)))
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := wire.ParseHelloResult(reply); err != nil {
		tb.Fatalf("hello: %v", err)
	}
	reply, err = c.wc.Request(ctx, wire.NewConnect([]byte(session.Data.Token), c.connID))
	if err != nil {
		tb.Fatal(err)
	}
	if reply.ContentType != wire.ContentTypeStateConnected {
		tb.Fatalf("connect: %s %q", reply, reply.Body)
	}
	return c
}

// write sends p as one Data message, the first also announcing multipart support.
func (c *zitiStyleConn) write(p []byte) error {
	m := wire.NewMessage(wire.ContentTypeData, p)
	m.Headers.PutUint32(wire.HeaderConnID, c.connID)
	if !c.sent {
		m.Headers.PutUint32(wire.HeaderFlags, wire.FlagMultipart)
		c.sent = true
	}
	return c.wc.Send(context.Background(), m)
}

// closeWrite half-closes: an empty Data message with FIN.
func (c *zitiStyleConn) closeWrite() error {
	m := wire.NewMessage(wire.ContentTypeData, nil)
	m.Headers.PutUint32(wire.HeaderConnID, c.connID)
	m.Headers.PutUint32(wire.HeaderFlags, wire.FlagFIN)
	return c.wc.Send(context.Background(), m)
}

// readData returns the body of the next Data message, or an error at StateClosed or after d.
func (c *zitiStyleConn) readData(d time.Duration) ([]byte, error) {
	select {
	case m := <-c.inbox:
		defer m.Release()
		if m.ContentType != wire.ContentTypeData {
			return nil, fmt.Errorf("the connection closed: %q", m.Body)
		}
		return bytes.Clone(m.Body), nil
	case <-time.After(d):
		return nil, fmt.Errorf("nothing in %v", d)
	}
}

// zitiStyleBulk sends benchBulk bytes in 32 KiB writes and waits for the host's one-byte
// acknowledgement, as bulk does through net.Conn.
func zitiStyleBulk(b *testing.B, e *echoNetwork, service string) time.Duration {
	c := dialZitiStyle(b, e, service)
	defer c.wc.Close()
	buf := make([]byte, 32<<10)
	start := time.Now()
	for sent := 0; sent < benchBulk; sent += len(buf) {
		if err := c.write(buf); err != nil {
			b.Fatal(err)
		}
	}
	if err := c.closeWrite(); err != nil {
		b.Fatal(err)
	}
	for {
		p, err := c.readData(30 * time.Second)
		if err != nil {
			b.Fatalf("no acknowledgement: %v", err)
		}
		if len(p) > 0 {
			break
		}
	}
	return time.Since(start)
}

// TestZitiStyleClientThroughTheRouter: data framed as OpenZiti's Go SDK frames it (one
// message per write, multipart announced on the first) reaches the host intact and in order,
// the host's answer comes back, and a half-close from that client ends the host's reading.
func TestZitiStyleClientThroughTheRouter(t *testing.T) {
	e := newEchoNetwork(t, "zstyle", false)
	ln, err := e.host.Listen("zstyle")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		all, _ := io.ReadAll(c) // until the client's FIN
		got <- all
		_, _ = c.Write([]byte("thanks"))
	}()
	c := dialZitiStyle(t, e, "zstyle")
	var want []byte
	for i, size := range []int{1, 100, 32 << 10, 70 << 10, 5} {
		p := bytes.Repeat([]byte{byte('a' + i)}, size)
		want = append(want, p...)
		if err := c.write(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.closeWrite(); err != nil {
		t.Fatal(err)
	}
	select {
	case all := <-got:
		if !bytes.Equal(all, want) {
			t.Fatalf("the host read %d bytes, want %d as sent", len(all), len(want))
		}
	case <-time.After(zitiStyleWait):
		t.Fatal("the host did not see the client's half-close")
	}
	var answer []byte
	for len(answer) < len("thanks") {
		p, err := c.readData(zitiStyleWait)
		if err != nil {
			t.Fatal(err)
		}
		answer = append(answer, p...)
	}
	if string(answer) != "thanks" {
		t.Fatalf("answer %q", answer)
	}
}

// BenchmarkZitiStyleThroughput: bulk throughput through the router from a client framing as
// OpenZiti's Go SDK v1.x does, against Ostium's SDK through the same router to the same host
// in the same run (both write 32 KiB at a time).
func BenchmarkZitiStyleThroughput(b *testing.B) {
	e := newEchoNetworkB(b, "bench-zstyle", false)
	ln, err := e.host.ListenWithOptions("bench-zstyle", nil)
	if err != nil {
		b.Fatal(err)
	}
	sink(b, ln, discardThenAck)
	sdkPath := benchPath{"ostium-sdk", func(b *testing.B) net.Conn {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		c, err := e.client.Dial(ctx, "bench-zstyle")
		if err != nil {
			b.Fatal(err)
		}
		return c
	}}
	var zstyle, ours time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		zstyle += zitiStyleBulk(b, e, "bench-zstyle")
		ours += bulk(b, sdkPath)
	}
	b.StopTimer()
	mbps := func(d time.Duration) float64 { return float64(benchBulk) * float64(b.N) / d.Seconds() / 1e6 }
	b.ReportMetric(mbps(zstyle), "MB/s-ziti-style")
	b.ReportMetric(mbps(ours), "MB/s-ostium-sdk")
	b.ReportMetric(mbps(zstyle)/mbps(ours), "ratio-ziti-style/ostium-sdk")
}

package e2e

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// listenEcho binds service on the host side and echoes every connection it
// accepts until the test ends.
func (e *echoNetwork) listenEcho(t *testing.T, service string) net.Listener {
	t.Helper()
	ln, err := e.host.Listen(service)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go serveEcho(ln)
	return ln
}

// serveEcho echoes every connection ln accepts until ln closes.
func serveEcho(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
	}
}

// echoPair starts an echo host on the service and returns a dialed connection.
func echoPair(t *testing.T, e *echoNetwork, service string) net.Conn {
	t.Helper()
	e.listenEcho(t, service)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c, err := e.client.Dial(ctx, service)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func echoOnce(c net.Conn, msg string) error {
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if !bytes.Equal(got, []byte(msg)) {
		return errors.New("echo mismatch")
	}
	return nil
}

func TestRevokedAPISessionCutsLiveConnection(t *testing.T) {
	e := newEchoNetwork(t, "revoke", false)
	c := echoPair(t, e, "revoke")
	if err := echoOnce(c, "before"); err != nil {
		t.Fatal(err)
	}
	var sessions []struct {
		ID         string `json:"id"`
		IdentityID string `json:"identityId"`
	}
	e.n.Mgmt("GET", "/api-sessions?limit=500", nil, &sessions)
	clientID := e.client.Identity().Chain[0].Subject.CommonName
	start := time.Now()
	for _, s := range sessions {
		if s.IdentityID == clientID {
			e.n.Mgmt("DELETE", "/api-sessions/"+s.ID, nil, nil)
		}
	}
	// The router is told and closes the circuit: the client's read ends.
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := c.Read(make([]byte, 1))
	if err == nil {
		t.Fatal("connection still carries data after its API session was deleted")
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("connection was not cut after its API session was deleted")
	}
	t.Logf("cut %v after the delete", time.Since(start).Round(time.Millisecond))
}

func TestConnectionsFlowThroughControllerRestart(t *testing.T) {
	e := newEchoNetwork(t, "steady", true)
	c := echoPair(t, e, "steady")
	if err := echoOnce(c, "before"); err != nil {
		t.Fatal(err)
	}
	e.n.StopController()
	for i := 0; i < 5; i++ {
		if err := echoOnce(c, "while the controller is away"); err != nil {
			t.Fatalf("data plane stopped with the controller: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.n.StartController()
	e.router.WaitOnline()
	if err := echoOnce(c, "after"); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	// New connections work again too.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		c2, err := e.client.Dial(ctx, "steady")
		if err == nil {
			err = echoOnce(c2, "new")
			_ = c2.Close()
		}
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("no new connection after the controller restarted: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestDisabledIdentityLosesLiveConnection(t *testing.T) {
	e := newEchoNetwork(t, "disable", false)
	c := echoPair(t, e, "disable")
	if err := echoOnce(c, "before"); err != nil {
		t.Fatal(err)
	}
	e.n.Mgmt("POST", "/identities/"+e.clientIdentity.Chain[0].Subject.CommonName+"/disable", map[string]any{"durationMinutes": 5}, nil)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("a disabled identity's connection was not cut: %v", err)
	}
}

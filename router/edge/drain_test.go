package edge

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/ostium-net/ostium/sdk/wire"
)

// shutdownResult is what Shutdown returned.
type shutdownResult struct {
	cut int
	err error
}

func startShutdown(env *testEnv, within time.Duration) (<-chan shutdownResult, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	out := make(chan shutdownResult, 1)
	go func() {
		cut, err := env.l.Shutdown(ctx)
		out <- shutdownResult{cut, err}
	}()
	return out, cancel
}

// TestShutdownDrainsAndMovesHosts: a stopping listener takes no new connection, Connect or
// Bind (the refusals say it shuts down), ends every binding (the host is told with the same
// code and the terminator is unregistered), keeps the open circuit flowing both ways, and
// stops as soon as that circuit ends, cutting nothing.
func TestShutdownDrainsAndMovesHosts(t *testing.T) {
	env := startRouter(t, nil)
	hostID, dialerID := env.newIdentity("host"), env.newIdentity("dialer")
	bindToken, _ := env.session(hostID, "svc", SessionTypeBind, nil)
	dialToken, _ := env.session(dialerID, "svc", SessionTypeDial, nil)
	host, dialer := connect(t, env, hostID), connect(t, env, dialerID)
	listener := host.bind(bindToken, wire.BindOptions{})
	p := establish(t, dialer, host, dialToken, listener, nil)

	done, cancel := startShutdown(env, time.Minute)
	defer cancel()
	closed := host.expect(listener, wire.ContentTypeStateClosed)
	if code, _ := closed.ErrorCode(); code != wire.ErrorCodeRouterShuttingDown {
		t.Fatalf("the host's binding ended with code %d %q", code, closed.Body)
	}
	waitFor(t, "the terminator to be unregistered", func() bool { return len(env.registry.snapshot()) == 0 })
	if c, err := dialTLS(t, env, dialerID.cert, env.ca.pool); err == nil {
		_ = c.Close()
		t.Fatal("a stopping listener accepted a new connection")
	}
	_, answer := dialer.startConnect(dialToken, nil)
	if r := waitResult(t, answer); r.reply.ContentType != wire.ContentTypeStateClosed {
		t.Fatalf("a Connect while stopping was answered %s", r.reply)
	} else if code, _ := r.reply.ErrorCode(); code != wire.ErrorCodeRouterShuttingDown {
		t.Fatalf("a Connect while stopping was refused with code %d", code)
	}
	reply, err := host.request(wire.NewBind([]byte(bindToken), host.newConnID(), wire.BindOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := reply.ErrorCode(); reply.ContentType != wire.ContentTypeStateClosed || code != wire.ErrorCodeRouterShuttingDown {
		t.Fatalf("a Bind while stopping was answered %s with code %d", reply, code)
	}

	// The open circuit still carries data both ways.
	dialer.send(wire.NewData(p.dialerConnID, 1, 0, []byte("still here?")))
	if m := host.expect(p.hostConnID, wire.ContentTypeData); string(m.Body) != "still here?" {
		t.Fatalf("host got %q", m.Body)
	}
	host.send(wire.NewData(p.hostConnID, 1, 0, []byte("yes")))
	if m := dialer.expect(p.dialerConnID, wire.ContentTypeData); string(m.Body) != "yes" {
		t.Fatalf("dialer got %q", m.Body)
	}
	select {
	case r := <-done:
		t.Fatalf("Shutdown returned with a circuit open: %+v", r)
	case <-time.After(100 * time.Millisecond):
	}
	dialer.send(wire.NewStateClosed(p.dialerConnID, 0, "done"))
	select {
	case r := <-done:
		if r.err != nil || r.cut != 0 {
			t.Fatalf("Shutdown = %d cut, %v; want 0 cut", r.cut, r.err)
		}
	case <-time.After(testWait):
		t.Fatal("Shutdown did not return once the last circuit ended")
	}
}

// TestShutdownCutsWhatOutlivesTheDrain: a circuit still open when the drain time is over is
// cut: each end first gets the data the router held for it, then a StateClosed with the
// shutdown code, so that neither takes the end for the peer closing.
func TestShutdownCutsWhatOutlivesTheDrain(t *testing.T) {
	env := startRouter(t, nil)
	hostID, dialerID := env.newIdentity("host"), env.newIdentity("dialer")
	bindToken, _ := env.session(hostID, "svc", SessionTypeBind, nil)
	dialToken, _ := env.session(dialerID, "svc", SessionTypeDial, nil)
	host, dialer := connect(t, env, hostID), connect(t, env, dialerID)
	listener := host.bind(bindToken, wire.BindOptions{})
	p := establish(t, dialer, host, dialToken, listener, nil)

	host.closeGate() // the host reads nothing: what the dialer sends waits in the router
	payload := bytes.Repeat([]byte("x"), 1000)
	for i := range 50 {
		dialer.send(wire.NewData(p.dialerConnID, uint32(i+1), 0, payload))
	}
	done, cancel := startShutdown(env, 200*time.Millisecond)
	defer cancel()
	time.Sleep(400 * time.Millisecond) // past the drain time; the circuit is being cut
	host.openGate()
	got := 0
	for {
		m := host.next(p.hostConnID)
		if m.ContentType == wire.ContentTypeStateClosed {
			if code, _ := m.ErrorCode(); code != wire.ErrorCodeRouterShuttingDown {
				t.Fatalf("the host's connection ended with code %d", code)
			}
			break
		}
		got += len(m.Body)
	}
	if got != 50*len(payload) {
		t.Fatalf("the host got %d bytes before the cut, want %d", got, 50*len(payload))
	}
	m := dialer.expect(p.dialerConnID, wire.ContentTypeStateClosed)
	if code, _ := m.ErrorCode(); code != wire.ErrorCodeRouterShuttingDown {
		t.Fatalf("the dialer's connection ended with code %d", code)
	}
	select {
	case r := <-done:
		if r.cut != 1 {
			t.Fatalf("Shutdown cut %d circuits, want 1 (%v)", r.cut, r.err)
		}
	case <-time.After(testWait):
		t.Fatal("Shutdown did not return")
	}
}

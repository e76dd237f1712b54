package restarts

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ostium-net/ostium/sdk"
)

// patternByte is the byte at offset i of the streams the flows send.
func patternByte(i int64) byte { return byte(i*7 + i>>9) }

// flowResult is how a flow ended: the bytes echoed back intact, the read error (nil for a
// clean end) and when it ended.
type flowResult struct {
	echoed int64
	err    error
	at     time.Time
}

// startFlow streams size bytes (forever when size < 0) of the pattern through an echo service
// in chunks with pauses, half-closes, and reads the echo meanwhile, checking every byte.
func startFlow(conn net.Conn, size int64, chunk int, pause time.Duration) <-chan flowResult {
	out := make(chan flowResult, 1)
	go func() {
		buf := make([]byte, chunk)
		for off := int64(0); size < 0 || off < size; off += int64(len(buf)) {
			n := int64(chunk)
			if size >= 0 {
				n = min(n, size-off)
			}
			buf = buf[:n]
			for i := range buf {
				buf[i] = patternByte(off + int64(i))
			}
			if _, err := conn.Write(buf); err != nil {
				return
			}
			time.Sleep(pause)
		}
		if cw, ok := conn.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
	}()
	go func() {
		var got int64
		buf := make([]byte, 64<<10)
		for {
			n, err := conn.Read(buf)
			for i := range n {
				if buf[i] != patternByte(got) {
					out <- flowResult{got, fmt.Errorf("byte %d differs", got), time.Now()}
					return
				}
				got++
			}
			if errors.Is(err, io.EOF) {
				out <- flowResult{got, nil, time.Now()}
				return
			}
			if err != nil {
				out <- flowResult{got, err, time.Now()}
				return
			}
		}
	}()
	return out
}

// TestGracefulStopDrainsCircuitsAndMovesHosts stops router A with SIGTERM while a client that
// may use only A streams through it, and a host is bound on A and B: the flow finishes with
// every byte, the host moves to B at once, dials of a client that may use both keep working
// throughout, and A exits as soon as its last circuit ended. Started again, A gets the host
// back. Stopped again with a connection that outlives its drain time, A exits after
// drainTimeout and the connection ends with an error, not an EOF, after every byte A had
// taken. The timings are logged.
func TestGracefulStopDrainsCircuitsAndMovesHosts(t *testing.T) {
	n := startNetwork(t)
	n.Service("move", false)
	n.Create("/service-edge-router-policies", map[string]any{"name": "all", "semantic": "AnyOf", "serviceRoles": []string{"#all"}, "edgeRouterRoles": []string{"#all"}})
	a := n.router("a", "drainTimeout: 4s\n")
	b := n.router("b", "")
	n.Create("/edge-router-policies", map[string]any{"name": "only-a", "semantic": "AnyOf", "identityRoles": []string{"#only-a"}, "edgeRouterRoles": []string{"@" + a.ID}})
	n.Create("/edge-router-policies", map[string]any{"name": "both", "semantic": "AnyOf", "identityRoles": []string{"#both"}, "edgeRouterRoles": []string{"#all"}})
	host, _ := n.client("move-host", "move-bind", "both")
	onA, _ := n.client("move-on-a", "move-dial", "only-a")
	anywhere, _ := n.client("move-anywhere", "move-dial", "both")
	ln, err := host.Listen("move")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go serveEcho(ln)
	waitFor(t, "the host bound on A and B", 20*time.Second, func() bool {
		by := n.terminatorsByRouter()
		return by[a.ID] == 1 && by[b.ID] == 1
	})
	dial := func(c *sdk.Context) net.Conn {
		t.Helper()
		ctx, cancel := contextWithTimeout(10 * time.Second)
		defer cancel()
		conn, err := c.Dial(ctx, "move")
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		return conn
	}

	// A drains: a 4 MiB flow through it finishes; the host moves; dials keep working.
	const size = 4 << 20
	conn := dial(onA)
	flow := startFlow(conn, size, 32<<10, 8*time.Millisecond)
	time.Sleep(300 * time.Millisecond)
	stopped := time.Now()
	exited := a.stopAsync(syscall.SIGTERM, 30*time.Second)
	var dials, failed atomic.Int64
	stopDials := make(chan struct{})
	dialsDone := make(chan struct{})
	go func() {
		defer close(dialsDone)
		for {
			select {
			case <-stopDials:
				return
			case <-time.After(50 * time.Millisecond):
			}
			dials.Add(1)
			if err := echoOnce(anywhere, "move", 5*time.Second); err != nil {
				failed.Add(1)
				t.Logf("a dial while A drained failed: %v", err)
			}
		}
	}()
	moved := waitFor(t, "the host's binding on A to end", 10*time.Second, func() bool { return n.terminatorsByRouter()[a.ID] == 0 })
	r := <-flow
	_ = conn.Close()
	took := <-exited
	close(stopDials)
	<-dialsDone
	if r.err != nil || r.echoed != size {
		t.Fatalf("the flow through the draining router ended after %d of %d bytes: %v", r.echoed, size, r.err)
	}
	t.Logf("SIGTERM with a flow open: host's binding on A gone after %s; the flow ended complete (%d bytes) %s after the signal; A exited %s after it; %d of %d dials during the drain failed",
		moved.Round(time.Millisecond), r.echoed, r.at.Sub(stopped).Round(time.Millisecond), took.Round(time.Millisecond), failed.Load(), dials.Load())
	if failed.Load() > 0 {
		t.Errorf("%d dials failed while A drained, with B serving the host", failed.Load())
	}

	// A returns and gets the host back.
	accepting := a.startAccepting()
	waitFor(t, "the host bound on A again", 20*time.Second, func() bool { return n.terminatorsByRouter()[a.ID] == 1 })
	t.Logf("A back: the controller lists the host's binding on it %s after it accepted connections", time.Since(accepting).Round(time.Millisecond))

	// A drains again, now with an idle connection and an endless flow that outlive the drain.
	idle := dial(onA)
	if _, err := idle.Write([]byte("hold")); err != nil {
		t.Fatal(err)
	}
	hold := make([]byte, 4)
	if _, err := io.ReadFull(idle, hold); err != nil {
		t.Fatal(err)
	}
	idleEnd := make(chan error, 1)
	go func() { _, err := idle.Read(hold); idleEnd <- err }()
	endless := dial(onA)
	endlessFlow := startFlow(endless, -1, 16<<10, 10*time.Millisecond)
	time.Sleep(200 * time.Millisecond)
	took = a.stop(syscall.SIGTERM, 30*time.Second)
	ierr := <-idleEnd
	er := <-endlessFlow
	t.Logf("SIGTERM with connections that outlive drainTimeout (4s): A exited %s after the signal; the idle connection ended with %v; the endless flow ended after %d intact bytes with %v",
		took.Round(time.Millisecond), ierr, er.echoed, er.err)
	var ce *sdk.ConnectionError
	if !errors.As(ierr, &ce) {
		t.Errorf("the idle connection ended with %v, not an error saying the network ended it", ierr)
	}
	if !errors.As(er.err, &ce) {
		t.Errorf("the endless flow ended with %v after %d bytes, not an error saying the network ended it", er.err, er.echoed)
	}
}

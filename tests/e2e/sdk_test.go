package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/nettest"

	"github.com/ostium-net/ostium/sdk"
	"github.com/ostium-net/ostium/sdk/identity"
	"github.com/ostium-net/ostium/tests/harness"
)

// echoNetwork is a network with one router, a service, a host identity that
// may bind it and a client identity that may dial it.
type echoNetwork struct {
	n              *harness.Network
	router         *harness.Router
	host           *sdk.Context
	client         *sdk.Context
	clientIdentity *identity.Identity
}

func newEchoNetwork(t *testing.T, service string, encrypted bool) *echoNetwork {
	t.Helper()
	return newEchoNetworkB(t, service, encrypted)
}

func newEchoNetworkB(t testing.TB, service string, encrypted bool) *echoNetwork {
	t.Helper()
	n := harness.Start(t)
	n.OpenPolicies()
	n.Service(service, encrypted)
	r := n.Router("router-1")
	host := n.Context(n.Identity("host", service+"-bind"))
	cid := n.Identity("client", service+"-dial")
	client := n.Context(cid)
	return &echoNetwork{n: n, router: r, host: host, client: client, clientIdentity: cid}
}

func TestDialListenExchange100MBBothWays(t *testing.T) {
	for _, tc := range []struct {
		name      string
		encrypted bool
	}{{"plain", false}, {"encrypted", true}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEchoNetwork(t, "bulk", tc.encrypted)
			ln, err := e.host.Listen("bulk")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			const size = 100 << 20
			type result struct {
				sum [32]byte
				n   int64
				err error
			}
			hostGot := make(chan result, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					hostGot <- result{err: err}
					return
				}
				defer c.Close()
				// The host sends its own 100 MB while receiving the client's,
				// and closes only when both directions are done.
				sent := make(chan error, 1)
				go func() {
					_, err := io.Copy(c, io.LimitReader(newPattern(2), size))
					if err == nil {
						err = c.(interface{ CloseWrite() error }).CloseWrite()
					}
					sent <- err
				}()
				h := sha256.New()
				n, err := io.Copy(h, c)
				if serr := <-sent; err == nil {
					err = serr
				}
				var r result
				copy(r.sum[:], h.Sum(nil))
				r.n, r.err = n, err
				hostGot <- r
			}()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c, err := e.client.Dial(ctx, "bulk")
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			start := time.Now()
			var wg sync.WaitGroup
			wg.Add(1)
			var clientSum [32]byte
			var clientN int64
			var clientErr error
			go func() {
				defer wg.Done()
				h := sha256.New()
				clientN, clientErr = io.Copy(h, c)
				copy(clientSum[:], h.Sum(nil))
			}()
			if _, err := io.Copy(c, io.LimitReader(newPattern(1), size)); err != nil {
				t.Fatal(err)
			}
			if err := c.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
				t.Fatal(err)
			}
			wg.Wait()
			r := <-hostGot
			if r.err != nil || clientErr != nil {
				t.Fatalf("copy errors: host %v, client %v", r.err, clientErr)
			}
			if r.n != size || r.sum != patternSum(1, size) {
				t.Fatalf("host received %d bytes, checksum ok=%v", r.n, r.sum == patternSum(1, size))
			}
			if clientN != size || clientSum != patternSum(2, size) {
				t.Fatalf("client received %d bytes, checksum ok=%v", clientN, clientSum == patternSum(2, size))
			}
			t.Logf("%s: 2×100 MB in %v", tc.name, time.Since(start).Round(time.Millisecond))
		})
	}
}

// newPattern is a deterministic byte stream.
func newPattern(seed uint64) io.Reader { return &pattern{r: rand.New(rand.NewPCG(seed, seed))} }

type pattern struct{ r *rand.Rand }

func (p *pattern) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = byte(p.r.Uint32())
	}
	return len(b), nil
}

func patternSum(seed uint64, n int64) [32]byte {
	h := sha256.New()
	_, _ = io.Copy(h, io.LimitReader(newPattern(seed), n))
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

func TestConnConformance(t *testing.T) {
	e := newEchoNetwork(t, "pipe", true)
	ln, err := e.host.Listen("pipe")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
		accepted := make(chan net.Conn, 1)
		go func() {
			c, err := ln.Accept()
			if err == nil {
				accepted <- c
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		c1, err = e.client.Dial(ctx, "pipe")
		if err != nil {
			return nil, nil, nil, err
		}
		select {
		case c2 = <-accepted:
		case <-ctx.Done():
			return nil, nil, nil, errors.New("no connection accepted")
		}
		return c1, c2, func() { _ = c1.Close(); _ = c2.Close() }, nil
	})
}

func TestListenerSurvivesRouterRestart(t *testing.T) {
	e := newEchoNetwork(t, "echo", false)
	e.listenEcho(t, "echo")
	roundTrip := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := e.client.Dial(ctx, "echo")
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		msg := []byte("hello through the overlay")
		if _, err := c.Write(msg); err != nil {
			return err
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c, got); err != nil {
			return err
		}
		if !bytes.Equal(got, msg) {
			return errors.New("echo mismatch")
		}
		return nil
	}
	if err := roundTrip(); err != nil {
		t.Fatalf("before restart: %v", err)
	}
	e.router.Restart()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := roundTrip()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the listener did not come back after the router restarted: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestDialerSurvivesAPISessionDeletion(t *testing.T) {
	e := newEchoNetwork(t, "echo2", false)
	e.listenEcho(t, "echo2")
	dial := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := e.client.Dial(ctx, "echo2")
		if err != nil {
			return err
		}
		return c.Close()
	}
	if err := dial(); err != nil {
		t.Fatal(err)
	}
	// The admin deletes every API session of the client; its next dial
	// re-authenticates on its own.
	var sessions []struct {
		ID         string `json:"id"`
		IdentityID string `json:"identityId"`
	}
	e.n.Mgmt("GET", "/api-sessions?limit=500", nil, &sessions)
	clientID := e.client.Identity().Chain[0].Subject.CommonName
	deleted := 0
	for _, s := range sessions {
		if s.IdentityID == clientID {
			e.n.Mgmt("DELETE", "/api-sessions/"+s.ID, nil, nil)
			deleted++
		}
	}
	if deleted == 0 {
		t.Fatal("found no API session of the client to delete")
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := dial()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dialer did not recover from API-session deletion: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestHostClosingRightAfterAcceptIsAConnectionNotAFailedDial covers a server that greets and
// hangs up at once: the dialer must get a connection that reads the greeting and then EOF,
// whichever way the host's close and the router's start of the circuit race.
func TestHostClosingRightAfterAcceptIsAConnectionNotAFailedDial(t *testing.T) {
	for _, encrypted := range []bool{false, true} {
		t.Run(fmt.Sprintf("encrypted=%v", encrypted), func(t *testing.T) {
			e := newEchoNetwork(t, "greeter", encrypted)
			ln, err := e.host.Listen("greeter")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					_, _ = c.Write([]byte("hello, goodbye"))
					_ = c.Close()
				}
			}()
			for i := 0; i < 20; i++ {
				ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
				c, err := e.client.Dial(ctx, "greeter")
				cancel()
				if err != nil {
					t.Fatalf("dial %d: %v", i, err)
				}
				_ = c.SetReadDeadline(time.Now().Add(15 * time.Second))
				got, err := io.ReadAll(c)
				_ = c.Close()
				if err != nil || string(got) != "hello, goodbye" {
					t.Fatalf("dial %d read %q, %v; want the greeting then EOF", i, got, err)
				}
			}
		})
	}
}

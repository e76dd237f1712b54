package loadgen_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/ostium-net/ostium/cmd/internal/loadgen"
	"github.com/ostium-net/ostium/tests/harness"
)

// TestDataplaneThroughNetwork moves verified bytes and probes through a
// real controller, router and two SDK ends (the bench hosting the echo),
// and through the TLS relay chain: every scenario completes work and none
// fails.
func TestDataplaneThroughNetwork(t *testing.T) {
	n := harness.Start(t)
	n.OpenPolicies()
	n.Service("dp-svc", false)
	n.Router("dp-router")
	host := n.Context(n.Identity("dp-host", "dp-svc-bind"))
	client := n.Context(n.Identity("dp-client", "dp-svc-dial"))
	ln, err := loadgen.HostEcho(host, "dp-svc")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	relay, err := loadgen.StartRelay()
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	chain, err := loadgen.StartTCPChain()
	if err != nil {
		t.Fatal(err)
	}
	defer chain.Close()
	ctx := context.Background()
	for _, target := range []loadgen.Target{loadgen.ServiceTarget("ostium", client, "dp-svc"), relay.Target(), chain.Target()} {
		bulk := loadgen.Bulk(ctx, target, 2, 500*time.Millisecond)
		rtt := loadgen.RoundTrip(ctx, target, 2, 300*time.Millisecond)
		t.Log(bulk)
		t.Log(rtt)
		if bulk.Scenario != target.Name+"-bulk" || bulk.Errors != 0 || bulk.Ops == 0 || bulk.Bytes != int64(bulk.Ops)*loadgen.BulkChunk {
			t.Errorf("bulk through %s: %+v", target.Name, bulk)
		}
		if rtt.Scenario != target.Name+"-rtt" || rtt.Errors != 0 || rtt.Ops == 0 || rtt.P50 <= 0 || rtt.Size != loadgen.RTTSize {
			t.Errorf("round trips through %s: %+v", target.Name, rtt)
		}
	}
}

// TestDataplaneCountsWrongEchoes: an echo server that changes one byte in
// each read makes every scenario fail instead of counting the bytes.
func TestDataplaneCountsWrongEchoes(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
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
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				for {
					k, err := c.Read(buf)
					if k > 0 {
						buf[k/2] ^= 0xff
						if _, werr := c.Write(buf[:k]); werr != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	bad := loadgen.Target{Name: "corrupting", Dial: func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", ln.Addr().String())
	}}
	ctx := context.Background()
	if r := loadgen.Bulk(ctx, bad, 2, 200*time.Millisecond); r.Errors != 2 || r.Bytes != 0 {
		t.Errorf("bulk through a corrupting echo: %+v", r)
	}
	if r := loadgen.RoundTrip(ctx, bad, 1, 200*time.Millisecond); r.Errors == 0 || r.Ops != 0 {
		t.Errorf("round trips through a corrupting echo: %+v", r)
	}
	// A target that cannot be reached counts its connections as failed.
	gone := loadgen.Target{Name: "gone", Dial: func(context.Context) (net.Conn, error) { return nil, errors.New("refused") }}
	if r := loadgen.Bulk(ctx, gone, 3, 50*time.Millisecond); r.Errors != 3 || r.Ops != 0 {
		t.Errorf("bulk towards nothing: %+v", r)
	}
}

package loadgen

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/ostium-net/ostium/sdk"
)

// Data-plane scenarios talk to an echo server: whatever reaches it comes
// back. That works against any network (the quickstart's demo "echo"
// service, a tunneler in front of a TCP echo server, or ServeEcho bound to a
// service by the bench itself) and lets the client verify every byte.

const (
	// BulkChunk is the size of each write in a bulk transfer.
	BulkChunk = 32 << 10
	// RTTSize is the size of a round-trip probe.
	RTTSize = 64
	// bulkInFlight bounds the chunks written and not yet echoed on one
	// connection.
	bulkInFlight = 256
)

// Target is a way to reach an echo server.
type Target struct {
	// Name prefixes the scenarios measured through it: "ostium",
	// "tls-relay".
	Name string
	// Dial opens one connection to the echo server.
	Dial func(ctx context.Context) (net.Conn, error)
}

// ServiceTarget dials service through an Ostium network with the SDK.
func ServiceTarget(name string, c *sdk.Context, service string) Target {
	return Target{Name: name, Dial: func(ctx context.Context) (net.Conn, error) {
		return c.Dial(ctx, service)
	}}
}

// pattern is what bulk transfers send: chunk i is pattern[i%patternPeriod:]
// [:BulkChunk], so a byte lost, duplicated, reordered or changed on the
// way shows as a mismatch.
var pattern = func() []byte {
	r := rand.New(rand.NewPCG(14, 2026))
	p := make([]byte, BulkChunk+patternPeriod)
	for i := range p {
		p[i] = byte(r.Uint32())
	}
	return p
}()

const patternPeriod = 251

func chunk(i int) []byte {
	off := i % patternPeriod
	return pattern[off : off+BulkChunk]
}

// ErrMismatch is a byte echoed back that differs from the byte sent.
var ErrMismatch = errors.New("loadgen: the echo differs from what was sent")

// Bulk runs concurrency connections through t for d. Each writes 32 KiB
// chunks as fast as the path takes them while reading the echo back and
// comparing it with what was sent; when d ends each stops writing and
// reads what is still in flight. Bytes counts the bytes sent and verified
// (one way); each op is a chunk, its latency the time from its write to
// the end of its echo. A connection that fails or echoes anything else
// counts as an error and stops.
func Bulk(ctx context.Context, t Target, concurrency int, d time.Duration) Result {
	var rec Recorder
	stop := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := bulkConn(ctx, t, stop, &rec); err != nil {
				rec.Fail()
			}
		}()
	}
	wg.Wait()
	return rec.Result(t.Name+"-bulk", concurrency, time.Since(start))
}

func bulkConn(ctx context.Context, t Target, stop time.Time, rec *Recorder) error {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	c, err := t.Dial(dctx)
	cancel()
	if err != nil {
		return fmt.Errorf("dial %s: %w", t.Name, err)
	}
	defer c.Close()
	// A path that stalls fails the connection instead of hanging the run.
	_ = c.SetDeadline(stop.Add(30 * time.Second))
	sent := make(chan time.Time, bulkInFlight)
	werr := make(chan error, 1)
	go func() {
		defer close(sent)
		for i := 0; time.Now().Before(stop) && ctx.Err() == nil; i++ {
			sent <- time.Now()
			if _, err := c.Write(chunk(i)); err != nil {
				werr <- err
				return
			}
		}
		werr <- nil
	}()
	buf := make([]byte, BulkChunk)
	i := 0
	for at := range sent {
		if _, err := io.ReadFull(c, buf); err != nil {
			_ = c.Close() // unblocks the writer
			for range sent {
			}
			return fmt.Errorf("read the echo of chunk %d: %w", i, err)
		}
		if !bytes.Equal(buf, chunk(i)) {
			_ = c.Close()
			for range sent {
			}
			return fmt.Errorf("chunk %d: %w", i, ErrMismatch)
		}
		rec.Observe(time.Since(at))
		rec.AddBytes(BulkChunk)
		i++
	}
	return <-werr
}

// RoundTrip runs concurrency connections through t for d, each sending a
// 64-byte probe (numbered) and waiting for its echo before the next: the
// latency percentiles are those of the round trips. A failed or wrong echo
// counts as an error and the connection is dialled again.
func RoundTrip(ctx context.Context, t Target, concurrency int, d time.Duration) Result {
	var rec Recorder
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if err := rttConn(ctx, t, uint64(w), &rec); err != nil && ctx.Err() == nil {
					rec.Fail()
				}
			}
		}()
	}
	wg.Wait()
	r := rec.Result(t.Name+"-rtt", concurrency, time.Since(start))
	r.Size = RTTSize
	return r
}

func rttConn(ctx context.Context, t Target, worker uint64, rec *Recorder) error {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	c, err := t.Dial(dctx)
	cancel()
	if err != nil {
		return fmt.Errorf("dial %s: %w", t.Name, err)
	}
	defer c.Close()
	// The run's end interrupts a probe in flight.
	stopped := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Now()) })
	defer stopped()
	msg := make([]byte, RTTSize)
	copy(msg[16:], pattern)
	binary.BigEndian.PutUint64(msg, worker)
	got := make([]byte, RTTSize)
	for seq := uint64(0); ctx.Err() == nil; seq++ {
		binary.BigEndian.PutUint64(msg[8:], seq)
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		t0 := time.Now()
		if _, err := c.Write(msg); err != nil {
			return err
		}
		if _, err := io.ReadFull(c, got); err != nil {
			return err
		}
		rtt := time.Since(t0)
		if !bytes.Equal(got, msg) {
			return fmt.Errorf("probe %d: %w", seq, ErrMismatch)
		}
		rec.Observe(rtt)
		rec.AddBytes(RTTSize)
	}
	return nil
}

// ServeEcho answers every connection accepted on ln with what it sends,
// until ln is closed. A half-closed connection is half-closed back.
func ServeEcho(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			_, _ = io.Copy(c, c)
			if cw, ok := c.(interface{ CloseWrite() error }); ok {
				_ = cw.CloseWrite()
			}
		}()
	}
}

// HostEcho binds service with c and serves an echo on it, so a network
// without an echo service can be measured; closing the returned listener
// ends it.
func HostEcho(c *sdk.Context, service string) (net.Listener, error) {
	ln, err := c.ListenWithOptions(service, &sdk.ListenOptions{MaxConnections: 4096})
	if err != nil {
		return nil, fmt.Errorf("bind %s: %w", service, err)
	}
	go ServeEcho(ln)
	return ln, nil
}

package e2e

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"testing"
	"time"
)

// The copy paths of an sdk connection (io.Copy into it runs its ReadFrom, io.Copy out of it
// its WriteTo, which writes to a TCP connection from the channel's read loop while it can)
// carry every byte in order, pass back-pressure on, and end as Read and Write would.

// copyPair dials service on a fresh network and returns the dialer's and the host's ends.
func copyPair(t *testing.T, service string, encrypted bool) (client, host net.Conn) {
	t.Helper()
	e := newEchoNetwork(t, service, encrypted)
	ln, err := e.host.Listen(service)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	client, err = e.client.Dial(ctx, service)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	select {
	case host = <-accepted:
	case <-time.After(15 * time.Second):
		t.Fatal("no connection accepted")
	}
	if host == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { _ = host.Close() })
	return client, host
}

// tcpPair returns both ends of a TCP connection on 127.0.0.1.
func tcpPair(t *testing.T) (a, b *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		got <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-got
	if s == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { _ = c.Close(); _ = s.Close() })
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

func TestConnCopyToAndFromTCP(t *testing.T) {
	for _, tc := range []struct {
		name      string
		encrypted bool
	}{{"plain", false}, {"encrypted", true}} {
		t.Run(tc.name, func(t *testing.T) {
			client, host := copyPair(t, "copy-"+tc.name, tc.encrypted)
			const size = 8 << 20
			// Client → host → TCP, read slowly at first so that the socket fills and the
			// host's WriteTo takes over from the read loop's writes, then fast.
			out, sink := tcpPair(t)
			copied := make(chan error, 1)
			go func() {
				n, err := io.Copy(out, host)
				if err == nil && n != size {
					err = errors.New("WriteTo counted " + strconv.FormatInt(n, 10) + " bytes")
				}
				_ = out.CloseWrite()
				copied <- err
			}()
			// TCP → host → client, the other way at the same time, through ReadFrom.
			in, src := tcpPair(t)
			fed := make(chan error, 1)
			go func() {
				n, err := io.Copy(host, in)
				if err == nil && n != size {
					err = errors.New("ReadFrom counted " + strconv.FormatInt(n, 10) + " bytes")
				}
				if cw, ok := host.(interface{ CloseWrite() error }); ok && err == nil {
					err = cw.CloseWrite()
				}
				fed <- err
			}()
			go func() {
				_, _ = io.Copy(src, io.LimitReader(newPattern(2), size))
				_ = src.CloseWrite()
			}()
			go func() {
				_, _ = io.Copy(client, io.LimitReader(newPattern(1), size))
				_ = client.(interface{ CloseWrite() error }).CloseWrite()
			}()
			back := make(chan [32]byte, 1)
			go func() {
				h := sha256.New()
				_, _ = io.Copy(h, client)
				var sum [32]byte
				copy(sum[:], h.Sum(nil))
				back <- sum
			}()
			h := sha256.New()
			buf := make([]byte, 4096)
			for i := 0; i < 64; i++ { // a slow start: 256 KiB over about a third of a second
				k, err := io.ReadFull(sink, buf)
				h.Write(buf[:k])
				if err != nil {
					t.Fatalf("slow read: %v", err)
				}
				time.Sleep(5 * time.Millisecond)
			}
			if _, err := io.Copy(h, sink); err != nil {
				t.Fatal(err)
			}
			var sum [32]byte
			copy(sum[:], h.Sum(nil))
			if sum != patternSum(1, size) {
				t.Fatal("the bytes copied to TCP differ from those sent")
			}
			for what, ch := range map[string]chan error{"WriteTo": copied, "ReadFrom": fed} {
				select {
				case err := <-ch:
					if err != nil {
						t.Fatalf("%s: %v", what, err)
					}
				case <-time.After(30 * time.Second):
					t.Fatalf("%s did not end", what)
				}
			}
			select {
			case got := <-back:
				if got != patternSum(2, size) {
					t.Fatal("the bytes copied from TCP differ from those sent")
				}
			case <-time.After(30 * time.Second):
				t.Fatal("the client did not read to the end")
			}
		})
	}
}

func TestConnWriteToEnds(t *testing.T) {
	client, host := copyPair(t, "copy-ends", false)

	// The read deadline ends it with a timeout, like Read.
	out, _ := tcpPair(t)
	_ = host.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := io.Copy(out, host); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("past the read deadline: %v, want a timeout", err)
	}
	_ = host.SetReadDeadline(time.Time{})

	// A TCP side that goes away fails it with the write error.
	out, gone := tcpPair(t)
	_ = gone.SetLinger(0)
	_ = gone.Close()
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(out, host)
		done <- err
	}()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		buf := make([]byte, 1024)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := client.Write(buf); err != nil {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("copying to a reset TCP connection ended without an error")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("copying to a reset TCP connection did not end")
	}

	// Closing the connection ends a WriteTo that waits.
	out, _ = tcpPair(t)
	go func() {
		_, err := io.Copy(out, host)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	_ = host.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end WriteTo")
	}
}

package loadgen

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
)

// TCPChain is the baseline a tunneler in front of a TCP server is measured against: a plain
// TCP client → relay → TLS → relay → TLS → relay → plain TCP echo server, the legs and hops of
// a proxy tunneler → router → host tunneler path, each relay copying both ways.
type TCPChain struct {
	listeners []net.Listener // the front first
	wg        sync.WaitGroup
}

// StartTCPChain starts the echo server and the three relays on 127.0.0.1, with a certificate
// made for the run.
func StartTCPChain() (*TCPChain, error) {
	srvCfg, cliCfg, err := ephemeralTLS()
	if err != nil {
		return nil, err
	}
	ch := &TCPChain{}
	listen := func(cfg *tls.Config) (net.Listener, error) {
		var ln net.Listener
		var err error
		if cfg == nil {
			ln, err = net.Listen("tcp", "127.0.0.1:0")
		} else {
			ln, err = tls.Listen("tcp", "127.0.0.1:0", cfg)
		}
		if err != nil {
			_ = ch.Close()
			return nil, fmt.Errorf("relay chain: %w", err)
		}
		ch.listeners = append([]net.Listener{ln}, ch.listeners...)
		return ln, nil
	}
	echo, err := listen(nil)
	if err != nil {
		return nil, err
	}
	ch.wg.Add(1)
	go func() { defer ch.wg.Done(); ServeEcho(echo) }()
	// From the back: the last relay takes TLS and dials the echo server in plain TCP, the
	// middle one takes TLS and dials TLS, the front one takes plain TCP and dials TLS.
	plain := func(addr string) (net.Conn, error) { return net.Dial("tcp", addr) }
	overTLS := func(addr string) (net.Conn, error) { return tls.Dial("tcp", addr, cliCfg) }
	next := echo.Addr().String()
	for _, hop := range []struct {
		accept *tls.Config
		dial   func(string) (net.Conn, error)
	}{{srvCfg, plain}, {srvCfg, overTLS}, {nil, overTLS}} {
		ln, err := listen(hop.accept)
		if err != nil {
			return nil, err
		}
		to, dial := next, hop.dial
		ch.wg.Add(1)
		go func() {
			defer ch.wg.Done()
			for {
				in, err := ln.Accept()
				if err != nil {
					return
				}
				go relayTo(in, func() (net.Conn, error) { return dial(to) })
			}
		}()
		next = ln.Addr().String()
	}
	return ch, nil
}

// Target dials the front of the chain.
func (ch *TCPChain) Target() Target {
	front := ch.listeners[0].Addr().String()
	return Target{Name: "tcp-chain", Dial: func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", front)
	}}
}

// Close stops accepting; connections in progress end with their clients.
func (ch *TCPChain) Close() error {
	var errs []error
	for _, ln := range ch.listeners {
		errs = append(errs, ln.Close())
	}
	ch.wg.Wait()
	return errors.Join(errs...)
}

// relayTo copies between in and a connection from dial, both ways, passing half-closes.
func relayTo(in net.Conn, dial func() (net.Conn, error)) {
	defer in.Close()
	out, err := dial()
	if err != nil {
		return
	}
	defer out.Close()
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(out, in)
		closeWrite(out)
		close(done)
	}()
	_, _ = io.Copy(in, out)
	closeWrite(in)
	<-done
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
}

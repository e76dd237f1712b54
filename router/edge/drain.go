package edge

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/ostium-net/ostium/router/splice"
	"github.com/ostium-net/ostium/sdk/wire"
)

// Timing of the end of a Shutdown.
const (
	// flushWait bounds the time circuits cut at the end of a drain get to write what they
	// hold.
	flushWait = 2 * time.Second
	// lingerWait bounds the time a channel closed for writing gets for its client to close it
	// in turn, so that nothing the router wrote last is lost to a reset.
	lingerWait = time.Second
)

// errShuttingDown refuses what a stopping router no longer takes.
func errShuttingDown() error {
	return refuse(wire.ErrorCodeRouterShuttingDown, "the router is shutting down")
}

// isDraining reports whether Shutdown has begun.
func (l *Listener) isDraining() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.draining
}

// Shutdown stops the Listener gracefully. It stops accepting connections, refuses new
// Connects and Binds (with ErrorCodeRouterShuttingDown, so that clients go to another router)
// and ends every binding with a StateClosed carrying that code, which moves hosts to other
// routers while their connections here go on. It then waits until every circuit has ended, or
// ctx ends: circuits still open then are cut after writing what the router holds for them
// (both ends get a StateClosed with the error code). Finally it closes the channels, each for
// writing first, and the Listener, as Close does. It returns the number of circuits it cut.
func (l *Listener) Shutdown(ctx context.Context) (cut int, err error) {
	l.mu.Lock()
	if l.closed || l.draining {
		l.mu.Unlock()
		return 0, l.Close()
	}
	l.draining = true
	for ln := range l.listeners {
		if cerr := ln.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) {
			err = cerr
		}
	}
	open := len(l.circuits)
	// A circuit leaves l.circuits as soon as it closes, with the last messages its ends get
	// (their StateClosed) still queued: they must be written before the channels close.
	draining := make([]*splice.Circuit, 0, open)
	for _, rec := range l.circuits {
		draining = append(draining, rec.circuit)
	}
	l.mu.Unlock()

	// Hosts bind elsewhere; what they host here stays up.
	terms := l.terminators.matching(func(*terminator) bool { return true })
	for _, t := range terms {
		if t.channel.dropBind(t.listenerConnID, t) {
			t.channel.sendAsync(wire.NewStateClosed(t.listenerConnID, wire.ErrorCodeRouterShuttingDown, "the router is shutting down; bind elsewhere"))
		}
		l.removeTerminator(t, "router shutting down")
	}
	deadline, _ := ctx.Deadline()
	l.log.Info("draining: accepting nothing new, hosts asked to bind elsewhere",
		"circuits", open, "terminators", len(terms), "until", deadline.Format(time.RFC3339Nano))

	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for l.openCircuits() > 0 && ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
	cutNow := l.cutCircuits()
	if cut = len(cutNow); cut > 0 {
		l.log.Warn("drain time over: cut the circuits still open", "circuits", cut)
	} else {
		l.log.Info("drained: every circuit ended")
	}
	if !waitWritten(append(draining, cutNow...), flushWait) {
		l.log.Warn("circuits still writing when the router stopped", "wait", flushWait)
	}
	l.closeChannelsForWriting()
	return cut, errors.Join(err, l.Close())
}

func (l *Listener) openCircuits() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.circuits)
}

// cutCircuits cuts every open circuit and returns them; Shutdown then waits for them to write
// what they hold.
func (l *Listener) cutCircuits() []*splice.Circuit {
	l.mu.Lock()
	circuits := make([]*splice.Circuit, 0, len(l.circuits))
	for _, rec := range l.circuits {
		circuits = append(circuits, rec.circuit)
	}
	l.mu.Unlock()
	for _, c := range circuits {
		c.Cut(wire.ErrorCodeRouterShuttingDown, "the router shut down before the connection ended")
	}
	return circuits
}

// waitWritten waits (up to limit) until closed circuits have written their last messages, and
// reports whether they all did.
func waitWritten(circuits []*splice.Circuit, limit time.Duration) bool {
	if len(circuits) == 0 {
		return true
	}
	done := make(chan struct{})
	go func() {
		for _, c := range circuits {
			c.Wait()
		}
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-time.After(limit):
		return false
	}
}

// closeWriter is the half-close of a TLS (or TCP) connection.
type closeWriter interface{ CloseWrite() error }

// closeChannelsForWriting closes every channel for writing and waits (up to lingerWait) for
// the clients to close them: a connection closed with unread input is reset, which can drop
// what was written last.
func (l *Listener) closeChannelsForWriting() {
	l.mu.Lock()
	channels := make([]*channel, 0, len(l.channels))
	for ch := range l.channels {
		channels = append(channels, ch)
	}
	l.mu.Unlock()
	var wg sync.WaitGroup
	linger, cancel := context.WithTimeout(context.Background(), lingerWait)
	defer cancel()
	for _, ch := range channels {
		cw, ok := ch.rwc.(closeWriter)
		if !ok {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := cw.CloseWrite(); err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.EOF) {
				return
			}
			select {
			case <-ch.conn.Done():
			case <-linger.Done():
			}
		}()
	}
	wg.Wait()
}

// Package relay moves bytes between two connections: a two-way stream
// splice that carries half-closes across, and the framing that carries UDP
// datagrams over a stream (a 2-byte big-endian length, then the datagram).
package relay

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
)

// closeWriter is a connection that can half-close.
type closeWriter interface{ CloseWrite() error }

// Splice copies a→b and b→a until both directions end, then closes both.
// When one side stops sending, the other side is half-closed so that it
// reads EOF while the reverse direction goes on. It returns the bytes
// carried each way.
func Splice(a, b net.Conn) (aToB, bToA int64) {
	var wg sync.WaitGroup
	wg.Add(2)
	pipe := func(dst, src net.Conn, n *int64) {
		defer wg.Done()
		*n, _ = io.Copy(dst, src)
		if cw, ok := dst.(closeWriter); ok {
			if cw.CloseWrite() == nil {
				return
			}
		}
		// No half-close: end the connection so the peer sees the end.
		_ = dst.Close()
	}
	go pipe(b, a, &aToB)
	go pipe(a, b, &bToA)
	wg.Wait()
	_ = a.Close()
	_ = b.Close()
	return aToB, bToA
}

// MaxDatagram is the largest datagram a frame carries.
const MaxDatagram = 65535

// WriteDatagram writes one framed datagram.
func WriteDatagram(w io.Writer, d []byte) error {
	if len(d) > MaxDatagram {
		return fmt.Errorf("datagram of %d bytes is too large", len(d))
	}
	frame := make([]byte, 2+len(d))
	binary.BigEndian.PutUint16(frame, uint16(len(d)))
	copy(frame[2:], d)
	_, err := w.Write(frame)
	return err
}

// ReadDatagram reads one framed datagram into buf (which must hold
// MaxDatagram bytes) and returns its length. A stream that ends between
// frames returns io.EOF.
func ReadDatagram(r io.Reader, buf []byte) (int, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, err
	}
	n := int(binary.BigEndian.Uint16(hdr[:]))
	if n > len(buf) {
		return 0, fmt.Errorf("datagram of %d bytes does not fit a %d-byte buffer", n, len(buf))
	}
	if _, err := io.ReadFull(r, buf[:n]); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, err
	}
	return n, nil
}

// Counters count the connections of one part of the tunneler. They are safe
// for concurrent use; the zero value is ready.
type Counters struct {
	mu                   sync.Mutex
	opened, active, fail int64
	sent, received       int64
}

// CounterSnapshot is a copy of Counters at one moment.
type CounterSnapshot struct {
	// Opened counts connections carried since start, Active those open now,
	// Failed those that could not be set up.
	Opened, Active, Failed int64
	// BytesSent went from the local side into the network, BytesReceived the
	// other way.
	BytesSent, BytesReceived int64
}

// Open records a connection that starts; call the returned func when it ends
// with the bytes carried each way.
func (c *Counters) Open() (done func(sent, received int64)) {
	c.mu.Lock()
	c.opened++
	c.active++
	c.mu.Unlock()
	var once sync.Once
	return func(sent, received int64) {
		once.Do(func() {
			c.mu.Lock()
			c.active--
			c.sent += sent
			c.received += received
			c.mu.Unlock()
		})
	}
}

// Fail records a connection that could not be set up.
func (c *Counters) Fail() {
	c.mu.Lock()
	c.fail++
	c.mu.Unlock()
}

// Snapshot copies the counters.
func (c *Counters) Snapshot() CounterSnapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	return CounterSnapshot{Opened: c.opened, Active: c.active, Failed: c.fail, BytesSent: c.sent, BytesReceived: c.received}
}

package sdk

import (
	"errors"
	"io"
	"sync"
)

// The copy paths of a connection: io.Copy into a connection uses ReadFrom, and io.Copy out of
// one uses WriteTo, which is what a tunneler splicing a TCP connection with an Ostium one runs
// all day.

// readFromChunk is how much ReadFrom reads at a time: a Data frame carrying it (frame head,
// connection headers and the end-to-end encryption tag included) stays within four full TLS
// records of 16 KiB, where a 64 KiB read would spill a few bytes into a fifth record (and a
// write and a syscall of its own) on every hop.
const readFromChunk = maxChunk - 256

var readFromBufs = sync.Pool{New: func() any { b := make([]byte, readFromChunk); return &b }}

// ReadFrom writes what it reads from r until r ends (io.EOF, which is not returned) or fails,
// or a write fails. It behaves as Write called with each read, with reads sized so that each
// becomes one message that fills whole TLS records. It implements io.ReaderFrom.
func (c *conn) ReadFrom(r io.Reader) (int64, error) {
	bp := readFromBufs.Get().(*[]byte)
	defer readFromBufs.Put(bp)
	buf := *bp
	var total int64
	for {
		n, err := r.Read(buf)
		if n > 0 {
			w, werr := c.Write(buf[:n])
			total += int64(w)
			if werr != nil {
				return total, werr
			}
		}
		if errors.Is(err, io.EOF) {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// WriteTo writes what the connection receives to w until the peer ends it (an orderly end is
// not an error), the network fails it, the read deadline passes, it is closed, or a write to w
// fails. It implements io.WriterTo.
//
// When w is a socket (a TCP connection, say) and WriteTo is waiting with nothing queued, the
// channel's read loop writes arriving data to w itself as far as w's socket takes it without
// waiting, and hands WriteTo only what is left: one goroutine wake-up less per message. A w
// that does not take everything at once gets the rest from WriteTo, so a slow w holds back
// this connection as it would with Read (the read loop never waits for w). WriteTo must then
// be w's only writer while it runs.
func (c *conn) WriteTo(w io.Writer) (int64, error) {
	direct := directWriterOf(w)
	var total int64
	for {
		c.mu.Lock()
		c.sink = nil
		total += c.sinkWritten
		c.sinkWritten = 0
		if err := c.sinkErr; err != nil {
			c.sinkErr = nil
			c.mu.Unlock()
			return total, err
		}
		if c.closed {
			c.mu.Unlock()
			return total, errConnClosed
		}
		if len(c.queue) > 0 {
			chunk := c.queue[0]
			c.queue[0] = readChunk{}
			c.queue = c.queue[1:]
			c.queued -= len(chunk.data)
			c.mu.Unlock()
			signal(c.space)
			n, err := w.Write(chunk.data)
			total += int64(n)
			chunk.release()
			if err != nil {
				return total, err
			}
			continue
		}
		if c.eof {
			err := c.failure
			c.mu.Unlock()
			return total, err
		}
		deadline := c.readDeadline
		c.sink = direct
		c.mu.Unlock()
		var woke bool
		if direct == nil {
			woke = c.awaitData(deadline)
		} else {
			woke = c.awaitHandOver(deadline, false)
		}
		if !woke {
			return total + c.stopSink(), timeoutError{}
		}
	}
}

// stopSink ends the read loop's direct writes and returns the bytes they wrote since WriteTo
// last counted them. A write error they met is dropped: WriteTo is returning another one.
func (c *conn) stopSink() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sink = nil
	n := c.sinkWritten
	c.sinkWritten, c.sinkErr = 0, nil
	return n
}

// writeToSink is called by deliver, holding mu, with data that would be queued: when WriteTo
// is waiting with nothing queued, it writes what w takes at once and returns the rest.
func (c *conn) writeToSink(data []byte) []byte {
	if c.sink == nil || len(c.queue) > 0 || c.sinkErr != nil {
		return data
	}
	n, err := c.sink(data)
	c.sinkWritten += int64(n)
	if err != nil {
		c.sink = nil
		c.sinkErr = err
		signal(c.wake)
	}
	return data[n:]
}

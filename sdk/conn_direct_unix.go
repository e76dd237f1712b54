//go:build unix

package sdk

import (
	"io"
	"net"
	"os"
	"syscall"
)

// directWriterOf returns, for a TCP connection, a write that takes what the socket's buffer
// takes without waiting and returns how much that was; nil for any other writer. The write is
// not safe for concurrent use.
func directWriterOf(w io.Writer) func([]byte) (int, error) {
	tc, ok := w.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	d := &directWriter{tc: tc, rc: rc}
	d.attempt = d.writeFD // bound once: no allocation per write
	return d.write
}

type directWriter struct {
	tc      *net.TCPConn
	rc      syscall.RawConn
	attempt func(fd uintptr) bool
	// the write in progress
	p   []byte
	n   int
	err error
}

func (d *directWriter) write(p []byte) (int, error) {
	d.p, d.n, d.err = p, 0, nil
	werr := d.rc.Write(d.attempt)
	n, err := d.n, d.err
	d.p, d.err = nil, nil
	if err == nil {
		err = werr
	}
	if err != nil {
		err = &net.OpError{Op: "write", Net: "tcp", Source: d.tc.LocalAddr(), Addr: d.tc.RemoteAddr(), Err: err}
	}
	return n, err
}

// writeFD writes as much of d.p as the socket takes now; it never asks to wait.
func (d *directWriter) writeFD(fd uintptr) bool {
	for d.n < len(d.p) {
		k, e := syscall.Write(int(fd), d.p[d.n:])
		if k > 0 {
			d.n += k
		}
		switch {
		case e == syscall.EINTR:
		case e == syscall.EAGAIN:
			return true
		case e != nil:
			d.err = os.NewSyscallError("write", e)
			return true
		case k <= 0:
			return true
		}
	}
	return true
}

//go:build unix

package tlsio

import (
	"errors"
	"net"
	"syscall"
)

// rawWriterOf returns a writer that makes one non-blocking write(2) to raw's socket, or nil
// when raw is not a socket.
func rawWriterOf(raw net.Conn) rawWriter {
	sc, ok := raw.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return func(p []byte) (int, error) {
		var n int
		var werr error
		err := rc.Write(func(fd uintptr) bool {
			for {
				n, werr = syscall.Write(int(fd), p)
				if !errors.Is(werr, syscall.EINTR) {
					break
				}
			}
			return true
		})
		if err != nil {
			return 0, err
		}
		if errors.Is(werr, syscall.EAGAIN) {
			return 0, nil
		}
		if werr != nil {
			return 0, &net.OpError{Op: "write", Net: "tcp", Source: raw.LocalAddr(), Addr: raw.RemoteAddr(), Err: werr}
		}
		return n, nil
	}
}

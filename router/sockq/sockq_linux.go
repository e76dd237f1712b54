package sockq

import (
	"io"
	"net"
	"syscall"
	"unsafe"
)

// EmptyProbe returns a probe that reports whether everything written to rwc's TCP connection
// has been sent and acknowledged: a small frame written then goes straight into the empty
// send buffer, without waiting for the peer to read. Nil when rwc is not (TLS over) a TCP
// connection.
func EmptyProbe(rwc io.Writer) func() bool {
	var nc any = rwc
	if tc, ok := nc.(interface{ NetConn() net.Conn }); ok {
		nc = tc.NetConn()
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return func() bool {
		var queued int32
		var errno syscall.Errno
		if err := raw.Control(func(fd uintptr) {
			_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCOUTQ, uintptr(unsafe.Pointer(&queued)))
		}); err != nil || errno != 0 {
			return false
		}
		return queued == 0
	}
}

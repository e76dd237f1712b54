//go:build !unix

package tlsio

import "net"

// rawWriterOf returns nil outside Unix: TryWrite never writes there.
func rawWriterOf(net.Conn) rawWriter { return nil }

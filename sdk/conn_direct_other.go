//go:build !unix

package sdk

import "io"

// directWriterOf returns nil: WriteTo always writes from its own goroutine here.
func directWriterOf(io.Writer) func([]byte) (int, error) { return nil }

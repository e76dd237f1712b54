package wire

import (
	"context"
	"io"
	"testing"
)

var benchSizes = []struct {
	name string
	size int
}{
	{"64B", 64},
	{"32KiB", 32 << 10},
}

// discardConn swallows writes; reads block until Close.
type discardConn struct{ closed chan struct{} }

func (d *discardConn) Read([]byte) (int, error)    { <-d.closed; return 0, io.EOF }
func (d *discardConn) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardConn) Close() error                { close(d.closed); return nil }

func BenchmarkWriteData(b *testing.B) {
	for _, s := range benchSizes {
		payload := make([]byte, s.size)
		b.Run("WriteTo/"+s.name, func(b *testing.B) {
			m := NewData(1, 1, 0, payload)
			b.SetBytes(int64(s.size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.WriteTo(io.Discard); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("ConnSend/"+s.name, func(b *testing.B) {
			c := NewConn(&discardConn{closed: make(chan struct{})}, nil, ConnConfig{})
			defer c.Close()
			ctx := context.Background()
			b.SetBytes(int64(s.size))
			b.ReportAllocs()
			for b.Loop() {
				if err := c.Send(ctx, NewData(1, 1, 0, payload)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkReadData(b *testing.B) {
	for _, s := range benchSizes {
		b.Run(s.name, func(b *testing.B) {
			m := NewData(1, 1, 0, make([]byte, s.size))
			m.Sequence = 1
			r := NewReader(&repeatReader{frame: m.AppendFrame(nil)}, Limits{})
			b.SetBytes(int64(s.size))
			b.ReportAllocs()
			for b.Loop() {
				got, err := r.ReadMessage()
				if err != nil {
					b.Fatal(err)
				}
				got.Release()
			}
		})
	}
}

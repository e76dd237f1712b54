package crypto

import "testing"

const benchChunkSize = 16 * 1024

func BenchmarkSeal16K(b *testing.B) {
	var key [32]byte
	var header [24]byte
	enc := newEncryptorWithHeader(key, header)
	msg := make([]byte, benchChunkSize)
	out := make([]byte, 0, benchChunkSize+ABytes)
	b.SetBytes(benchChunkSize)
	b.ReportAllocs()
	for b.Loop() {
		out = enc.Seal(out[:0], msg, nil, TagMessage)
	}
}

func BenchmarkOpen16K(b *testing.B) {
	var key [32]byte
	var header [24]byte
	chunk := newEncryptorWithHeader(key, header).Seal(nil, make([]byte, benchChunkSize), nil, TagMessage)
	base, err := NewDecryptor(key, header)
	if err != nil {
		b.Fatal(err)
	}
	out := make([]byte, 0, benchChunkSize)
	b.SetBytes(benchChunkSize)
	b.ReportAllocs()
	for b.Loop() {
		dec := *base // every iteration opens the same first chunk
		if out, _, err = dec.Open(out[:0], chunk, nil); err != nil {
			b.Fatal(err)
		}
	}
}

package crypto

import (
	"bytes"
	"testing"
)

func FuzzOpen(f *testing.F) {
	var key [32]byte
	var header [24]byte
	for i := range key {
		key[i] = byte(i)
	}
	for i := range header {
		header[i] = byte(0xa0 + i)
	}
	enc := newEncryptorWithHeader(key, header)
	valid := enc.Seal(nil, []byte("first chunk"), []byte("ad"), TagMessage)

	f.Add(valid, []byte("ad"))
	f.Add(valid, []byte(nil))
	f.Add([]byte{}, []byte(nil))
	f.Add(make([]byte, ABytes-1), []byte(nil))
	f.Add(make([]byte, ABytes), []byte(nil))
	f.Add(bytes.Repeat([]byte{0xff}, 200), []byte("x"))
	f.Add(append(bytes.Clone(valid), 0), []byte("ad"))

	f.Fuzz(func(t *testing.T, chunk, ad []byte) {
		dec, err := NewDecryptor(key, header)
		if err != nil {
			t.Fatal(err)
		}
		before := dec.state
		msg, tag, err := dec.Open(nil, chunk, ad)
		if err != nil {
			if dec.state != before {
				t.Fatal("failed Open changed the stream state")
			}
			if msg != nil {
				t.Fatal("failed Open returned plaintext")
			}
			return
		}
		if len(msg) != len(chunk)-ABytes {
			t.Fatalf("opened %d bytes from a %d-byte chunk", len(msg), len(chunk))
		}
		if bytes.Equal(chunk, valid) && bytes.Equal(ad, []byte("ad")) && (string(msg) != "first chunk" || tag != TagMessage) {
			t.Fatalf("valid chunk opened as %q tag %d", msg, tag)
		}

		in := NewReceiver(key)
		if _, err := in.Open(header[:]); err != nil {
			t.Fatal(err)
		}
		_, _ = in.Open(chunk)
	})
}

package wire

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// fuzzLimits are small so that the fuzzer reaches the limits with short inputs.
var fuzzLimits = Limits{MaxHeaderBytes: 512, MaxBodyBytes: 4096, MaxHeaders: 8}

func isFrameError(err error) bool {
	var uv *UnsupportedVersionError
	for _, known := range []error{io.EOF, io.ErrUnexpectedEOF, ErrBadMagic, ErrNegativeLength, ErrFrameTooLarge, ErrTooManyHeaders, ErrMalformedHeaders, ErrMalformedVersionList} {
		if errors.Is(err, known) {
			return true
		}
	}
	return errors.As(err, &uv)
}

func FuzzReadMessage(f *testing.F) {
	f.Add(goldenHello())
	f.Add(goldenData())
	f.Add(cat(goldenData(), goldenHello()))
	f.Add(AppendUnknownVersion(nil, 1, 2))
	f.Add(cat([]byte{3, 6, 9, 10}, u32(1000)))
	f.Add([]byte{3, 6, 9, 13, 0, 0, 0, 0})
	f.Add(header20(0, 0, 0xFFFFFFFF, 0))
	f.Add(header20(0, 0, 0, 1<<24))
	f.Add(cat(header20(1, 1, 9, 0), u32(1), u32(1), []byte{1}))
	f.Add(cat(header20(1, 1, 18, 0), u32(1), u32(1), []byte{1}, u32(1), u32(1), []byte{2}))
	f.Add(NewStateClosed(1, ErrorCodeInternal, "boom").AppendFrame(nil))
	f.Add(NewBind([]byte("t"), 1, BindOptions{Cost: 1, ListenerID: "l"}).AppendFrame(nil))

	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data), fuzzLimits)
		for range 16 {
			m, err := r.ReadMessage()
			if err != nil {
				if m != nil {
					t.Fatalf("message and error together: %v, %v", m, err)
				}
				if !isFrameError(err) {
					t.Fatalf("unexpected error kind: %v", err)
				}
				return
			}
			if len(m.Body) > fuzzLimits.MaxBodyBytes || len(m.Headers) > fuzzLimits.MaxHeaders || m.Headers.encodedLen() > fuzzLimits.MaxHeaderBytes {
				t.Fatalf("message beyond limits: %v (header bytes %d)", m, m.Headers.encodedLen())
			}
			encoded := m.AppendFrame(nil)
			var written bytes.Buffer
			if n, err := m.WriteTo(&written); err != nil || n != int64(len(encoded)) || !bytes.Equal(written.Bytes(), encoded) {
				t.Fatalf("WriteTo differs from AppendFrame: %d, %v", n, err)
			}
			again, err := NewReader(bytes.NewReader(encoded), fuzzLimits).ReadMessage()
			if err != nil {
				t.Fatalf("re-encoded message does not parse: %v", err)
			}
			if !messagesEqual(m, again) {
				t.Fatalf("re-encoded message differs: %v vs %v", m, again)
			}
			if !bytes.Equal(again.AppendFrame(nil), encoded) {
				t.Fatal("encoding is not stable")
			}
			m.Release()
			again.Release()
		}
	})
}

func FuzzMultipart(f *testing.F) {
	body, _ := EncodeMultipart([]byte("a"), nil, []byte("hello"))
	f.Add(body)
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Add([]byte{0xFF, 0xFF, 1, 2})
	f.Add([]byte{0, 0, 0, 0, 0, 0})

	f.Fuzz(func(t *testing.T, data []byte) {
		// Decoding arbitrary bytes: either an error, or parts that encode back to the input.
		parts, err := DecodeMultipart(data)
		if err != nil {
			if !errors.Is(err, ErrMalformedMultipart) && !errors.Is(err, ErrTooManyParts) {
				t.Fatalf("unexpected error kind: %v", err)
			}
		} else {
			encoded, err := EncodeMultipart(parts...)
			if err != nil {
				t.Fatalf("decoded parts do not encode: %v", err)
			}
			if !bytes.Equal(encoded, data) {
				t.Fatalf("decode/encode changed the body:\n% x\n% x", data, encoded)
			}
		}

		// Encoding arbitrary parts (the input cut into pieces) and decoding them back.
		var pieces [][]byte
		for rest := data; len(rest) > 0; {
			n := int(rest[0]) % 7
			rest = rest[1:]
			n = min(n, len(rest))
			pieces = append(pieces, rest[:n])
			rest = rest[n:]
		}
		encoded, err := EncodeMultipart(pieces...)
		if err != nil {
			t.Fatal(err)
		}
		decoded, err := DecodeMultipart(encoded)
		if err != nil || len(decoded) != len(pieces) {
			t.Fatalf("round trip: %d parts, %v; want %d", len(decoded), err, len(pieces))
		}
		for i := range pieces {
			if !bytes.Equal(decoded[i], pieces[i]) {
				t.Fatalf("part %d differs", i)
			}
		}
	})
}

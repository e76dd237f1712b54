package link

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/ostium-net/ostium/sdk/wire"
)

func encodeFrame(typ, flags byte, circuit uint32, h wire.Headers, body []byte) []byte {
	return append(appendFrameHead(nil, typ, flags, circuit, h, len(body)), body...)
}

func TestFrameRoundTrip(t *testing.T) {
	var h wire.Headers
	h.PutUint32(wire.HeaderFlags, 1)
	h.PutString(hService, "svc")
	var stream bytes.Buffer
	stream.Write(encodeFrame(frameData, 3, 77, h, []byte("payload")))
	stream.Write(encodeFrame(frameCredit, 0, 78, nil, []byte{1, 2, 3, 4}))
	stream.Write(encodeFrame(frameClose, 0, 79, nil, nil))
	fr := newFrameReader(&stream)
	f, err := fr.read()
	if err != nil {
		t.Fatal(err)
	}
	if f.typ != frameData || f.flags != 3 || f.circuit != 77 || string(f.body()) != "payload" || !f.headers.Equal(h) {
		t.Fatalf("data frame read back as %+v %q", f, f.body())
	}
	f.release()
	if f, err = fr.read(); err != nil || f.typ != frameCredit || f.circuit != 78 || len(f.body()) != 4 {
		t.Fatalf("credit frame: %+v %v", f, err)
	}
	if f, err = fr.read(); err != nil || f.typ != frameClose || len(f.body()) != 0 {
		t.Fatalf("close frame: %+v %v", f, err)
	}
	if _, err = fr.read(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last frame: %v, want EOF", err)
	}
}

func TestFrameReaderRefusesBadFrames(t *testing.T) {
	big := appendFrameHead(nil, frameData, 0, 1, nil, 0)
	big[8], big[9], big[10], big[11] = 0xff, 0xff, 0xff, 0x7f // body length 2 GiB
	dupHeaders := encodeFrame(frameData, 0, 1, wire.Headers{{Key: 5, Value: []byte("a")}, {Key: 5, Value: []byte("b")}}, nil)
	short := encodeFrame(frameData, 0, 1, nil, []byte("0123456789"))
	cases := map[string]struct {
		in   []byte
		want error
	}{
		"unknown type":      {encodeFrame(99, 0, 1, nil, nil), ErrFrameType},
		"type zero":         {encodeFrame(0, 0, 1, nil, nil), ErrFrameType},
		"huge body":         {big, ErrFrameTooLarge},
		"repeated header":   {dupHeaders, ErrMalformedHeaders},
		"truncated body":    {short[:len(short)-3], io.ErrUnexpectedEOF},
		"truncated head":    {short[:5], io.ErrUnexpectedEOF},
		"header past block": {append(appendFrameHead(nil, frameData, 0, 1, nil, 0)[:2:2], 12, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0xff, 0, 0, 0, 1, 2, 3, 4), ErrMalformedHeaders},
	}
	for name, tc := range cases {
		_, err := newFrameReader(bytes.NewReader(tc.in)).read()
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
}

// FuzzFrameReader: whatever arrives, the reader returns frames or an error, never panics nor
// allocates past its limits; what it returns encodes back to what it read.
func FuzzFrameReader(f *testing.F) {
	var h wire.Headers
	h.PutString(hPath, "a,b,c")
	f.Add(encodeFrame(frameCreate, 0, 1, h, nil))
	f.Add(encodeFrame(frameData, 1, 2, wire.Headers{{Key: wire.HeaderFlags, Value: []byte{1, 0, 0, 0}}}, []byte("x")))
	f.Add(encodeFrame(frameProbe, 0, 0, nil, []byte{1, 2, 3, 4, 5, 6, 7, 8}))
	f.Add([]byte{7, 0, 255, 255, 1, 0, 0, 0, 0, 0, 0, 0})
	var rh wire.Headers
	rh.PutString(hCircuitID, "c1")
	rh.PutString(hPath, "a,d,c")
	rh.PutUint64(hDelivered, 1<<20)
	rh.PutUint64(hReceived, 1<<21)
	f.Add(encodeFrame(frameResume, 0, 3, rh, nil))
	f.Add(encodeFrame(frameResumed, 0, 3, rh[2:], nil))
	var ch wire.Headers
	ch.PutUint32(hErrorCode, wire.ErrorCodeInternal)
	ch.PutString(hBroken, "b,c")
	f.Add(encodeFrame(frameClose, 0, 5, ch, []byte("link to router c lost")))
	f.Fuzz(func(t *testing.T, in []byte) {
		fr := newFrameReader(bytes.NewReader(in))
		var again []byte
		for {
			fm, err := fr.read()
			if err != nil {
				break
			}
			if fm.typ == 0 || fm.typ > maxFrameType || len(fm.body()) > MaxBody || headersLen(fm.headers) > MaxHeaderBlock {
				t.Fatalf("accepted an impossible frame %+v", fm)
			}
			again = append(again, encodeFrame(fm.typ, fm.flags, fm.circuit, fm.headers, fm.body())...)
			fm.release()
		}
		if !bytes.HasPrefix(in, again) {
			t.Fatalf("frames read do not encode back to the input")
		}
	})
}

func FuzzDecodeCreate(f *testing.F) {
	f.Add([]byte("c1"), []byte("a,b,c"), uint32(1024))
	f.Add([]byte(""), []byte("a,,a"), uint32(0))
	f.Fuzz(func(t *testing.T, id, path []byte, window uint32) {
		var h wire.Headers
		h.PutBytes(hCircuitID, id)
		h.PutBytes(hPath, path)
		h.PutUint32(hWindow, window)
		req, err := decodeCreate(h)
		if err != nil {
			return
		}
		if req.dial.CircuitID == "" || len(req.path) < 2 || len(req.path) > maxPath || req.window == 0 {
			t.Fatalf("accepted %+v", req)
		}
	})
}

// FuzzDecodeResume: a resume is taken only with a circuit id, a valid path and counts that
// make sense (no more delivered than received).
func FuzzDecodeResume(f *testing.F) {
	f.Add([]byte("c1"), []byte("a,d,c"), uint64(10), uint64(20), true)
	f.Add([]byte("c1"), []byte("a"), uint64(20), uint64(10), false)
	f.Add([]byte(""), []byte("a,,a"), uint64(0), uint64(0), true)
	f.Fuzz(func(t *testing.T, id, path []byte, delivered, received uint64, counts bool) {
		var h wire.Headers
		h.PutBytes(hCircuitID, id)
		h.PutBytes(hPath, path)
		if counts {
			h.PutUint64(hDelivered, delivered)
			h.PutUint64(hReceived, received)
		}
		gotID, gotPath, d, r, err := decodeResume(h)
		if err != nil {
			return
		}
		if !counts || gotID == "" || len(gotPath) < 2 || len(gotPath) > maxPath || d > r || d != delivered || r != received {
			t.Fatalf("accepted %q %v %d %d", gotID, gotPath, d, r)
		}
	})
}

package wire

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
)

// u32 writes v as 4 little-endian bytes, by hand (independent of the encoder under test).
func u32(v uint32) []byte {
	return []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)}
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// goldenHello is the frame of a client Hello written out from the documented layout.
func goldenHello() []byte {
	token := []byte("api-session-token")
	cn := []byte("client-cn")
	return cat(
		[]byte{0x03, 0x06, 0x09, 0x0C}, // magic
		[]byte{0x00, 0x00, 0x00, 0x00}, // type 0 = Hello
		[]byte{0xFF, 0xFF, 0xFF, 0xFF}, // sequence -1
		u32(uint32(8+len(token))),      // hdrLen: one header
		u32(uint32(len(cn))),           // bodyLen
		[]byte{0xEA, 0x03, 0x00, 0x00}, // key 1002 = SessionToken
		u32(uint32(len(token))),        // value length
		token,
		cn,
	)
}

// goldenData is the frame of a Data message (conn 7, edge seq 3, FIN) with channel sequence 42.
func goldenData() []byte {
	payload := []byte("hello, world")
	return cat(
		[]byte{0x03, 0x06, 0x09, 0x0C},                                         // magic
		[]byte{0x72, 0xED, 0x00, 0x00},                                         // type 60786 = Data
		[]byte{0x2A, 0x00, 0x00, 0x00},                                         // sequence 42
		u32(3*(8+4)),                                                           // hdrLen: three uint32 headers
		u32(uint32(len(payload))),                                              // bodyLen
		[]byte{0xE8, 0x03, 0x00, 0x00}, u32(4), []byte{0x07, 0x00, 0x00, 0x00}, // ConnId 1000 = 7
		[]byte{0xE9, 0x03, 0x00, 0x00}, u32(4), []byte{0x03, 0x00, 0x00, 0x00}, // Seq 1001 = 3
		[]byte{0xF2, 0x03, 0x00, 0x00}, u32(4), []byte{0x01, 0x00, 0x00, 0x00}, // Flags 1010 = FIN
		payload,
	)
}

func TestGoldenHelloEncoding(t *testing.T) {
	m := NewHello("client-cn", []byte("api-session-token"))
	got := m.AppendFrame(nil)
	if want := goldenHello(); !bytes.Equal(got, want) {
		t.Fatalf("Hello frame\n got % x\nwant % x", got, want)
	}
	var buf bytes.Buffer
	n, err := m.WriteTo(&buf)
	if err != nil || n != int64(len(got)) || !bytes.Equal(buf.Bytes(), got) {
		t.Fatalf("WriteTo = %d, %v, % x", n, err, buf.Bytes())
	}
}

func TestGoldenHelloDecoding(t *testing.T) {
	m, err := NewReader(bytes.NewReader(goldenHello()), Limits{}).ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	if m.ContentType != ContentTypeHello || m.Sequence != -1 || string(m.Body) != "client-cn" {
		t.Fatalf("decoded %v body %q", m, m.Body)
	}
	if tok, ok := m.Headers.GetString(HeaderSessionToken); !ok || tok != "api-session-token" {
		t.Fatalf("token = %q, %v", tok, ok)
	}
}

func TestGoldenDataEncoding(t *testing.T) {
	m := NewData(7, 3, FlagFIN, []byte("hello, world"))
	m.Sequence = 42
	if got, want := m.AppendFrame(nil), goldenData(); !bytes.Equal(got, want) {
		t.Fatalf("Data frame\n got % x\nwant % x", got, want)
	}
}

func TestGoldenDataDecoding(t *testing.T) {
	m, err := NewReader(bytes.NewReader(goldenData()), Limits{}).ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	connID, _ := m.ConnID()
	seq, _ := m.EdgeSeq()
	if m.ContentType != ContentTypeData || m.Sequence != 42 || connID != 7 || seq != 3 || m.Flags() != FlagFIN || string(m.Body) != "hello, world" {
		t.Fatalf("decoded %v conn %d seq %d flags %d body %q", m, connID, seq, m.Flags(), m.Body)
	}
}

func messagesEqual(a, b *Message) bool {
	return a.ContentType == b.ContentType && a.Sequence == b.Sequence &&
		a.Headers.Equal(b.Headers) && bytes.Equal(a.Body, b.Body)
}

func TestRoundTrip(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 20000) // 320 000 bytes: not pooled
	msgs := []*Message{
		NewHello("cn", []byte("tok")),
		NewData(1, 2, 0, []byte("x")),
		NewData(1, 3, FlagFIN|FlagMultipartMsg, bytes.Repeat([]byte{0xAB}, 32<<10)),
		NewData(9, 9, 0, big),
		{ContentType: -5, Sequence: 1 << 30},           // no headers, no body
		{ContentType: 77, Headers: Headers{{Key: -3}}}, // empty header value, negative key
		NewStateClosed(4, ErrorCodeInvalidService, "no such service"),
	}
	var stream bytes.Buffer
	for _, m := range msgs {
		if _, err := m.WriteTo(&stream); err != nil {
			t.Fatal(err)
		}
	}
	// A reader handing out one byte at a time exercises every partial read.
	r := NewReader(iotest.OneByteReader(&stream), Limits{})
	for i, want := range msgs {
		got, err := r.ReadMessage()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !messagesEqual(got, want) {
			t.Fatalf("message %d: got %v, want %v", i, got, want)
		}
		got.Release()
	}
	if _, err := r.ReadMessage(); err != io.EOF {
		t.Fatalf("after last frame: %v, want io.EOF", err)
	}
}

func TestAppendFrameAppends(t *testing.T) {
	prefix := []byte("prefix")
	m := NewData(1, 1, 0, []byte("body"))
	out := m.AppendFrame(append([]byte(nil), prefix...))
	if !bytes.HasPrefix(out, prefix) || !bytes.Equal(out[len(prefix):], m.AppendFrame(nil)) || len(out) != len(prefix)+m.EncodedLen() {
		t.Fatalf("AppendFrame did not append: % x", out)
	}
}

func TestDuplicateHeaderKeepsLastValue(t *testing.T) {
	frame := cat(
		[]byte{3, 6, 9, 12}, u32(1), u32(1), u32(2*(8+1)+8+2), u32(0),
		u32(1000), u32(1), []byte{0x01},
		u32(5), u32(2), []byte{0xAA, 0xBB},
		u32(1000), u32(1), []byte{0x02},
	)
	m, err := NewReader(bytes.NewReader(frame), Limits{}).ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Headers) != 2 {
		t.Fatalf("headers = %v", m.Headers)
	}
	if v, _ := m.Headers.GetByte(1000); v != 2 {
		t.Fatalf("duplicate key value = %d, want the last (2)", v)
	}
}

func TestUnknownVersionAnswer(t *testing.T) {
	answer := AppendUnknownVersion(nil, 1, 2)
	if want := cat([]byte{3, 6, 9, 10}, u32(2), u32(1), u32(2)); !bytes.Equal(answer, want) {
		t.Fatalf("AppendUnknownVersion = % x, want % x", answer, want)
	}
	_, err := NewReader(bytes.NewReader(answer), Limits{}).ReadMessage()
	var uv *UnsupportedVersionError
	if !errors.As(err, &uv) {
		t.Fatalf("err = %v, want *UnsupportedVersionError", err)
	}
	if len(uv.Versions) != 2 || uv.Versions[0] != 1 || uv.Versions[1] != 2 {
		t.Fatalf("versions = %v", uv.Versions)
	}
	if !strings.Contains(err.Error(), "[1 2]") {
		t.Fatalf("error does not name the offered versions: %v", err)
	}
	// An empty list is valid too.
	_, err = NewReader(bytes.NewReader(AppendUnknownVersion(nil)), Limits{}).ReadMessage()
	if !errors.As(err, &uv) || len(uv.Versions) != 0 {
		t.Fatalf("empty list: %v", err)
	}
}

func header20(contentType, seq, hdrLen, bodyLen uint32) []byte {
	return cat([]byte{3, 6, 9, 12}, u32(contentType), u32(seq), u32(hdrLen), u32(bodyLen))
}

func TestMalformedInput(t *testing.T) {
	small := Limits{MaxHeaderBytes: 100, MaxBodyBytes: 1000, MaxHeaders: 2}
	tests := []struct {
		name   string
		input  []byte
		limits Limits
		want   error
	}{
		{"bad magic", cat([]byte{3, 6, 9, 13}, make([]byte, 16)), Limits{}, ErrBadMagic},
		{"text instead of frame", []byte("GET / HTTP/1.1\r\n\r\n"), Limits{}, ErrBadMagic},
		{"negative hdrLen", header20(0, 0, 0xFFFFFFFF, 0), Limits{}, ErrNegativeLength},
		{"negative bodyLen", header20(0, 0, 0, 0x80000000), Limits{}, ErrNegativeLength},
		{"hdrLen over limit", header20(0, 0, 101, 0), small, ErrFrameTooLarge},
		{"bodyLen over limit", header20(0, 0, 0, 1001), small, ErrFrameTooLarge},
		{"default body limit", header20(0, 0, 0, 16<<20+1), Limits{}, ErrFrameTooLarge},
		{"default header limit", header20(0, 0, 64<<10+1, 0), Limits{}, ErrFrameTooLarge},
		{"header entry shorter than 8", cat(header20(0, 0, 5, 0), make([]byte, 5)), Limits{}, ErrMalformedHeaders},
		{"header value beyond block", cat(header20(0, 0, 12, 0), u32(1), u32(5), []byte{1, 2, 3, 4}), Limits{}, ErrMalformedHeaders},
		{"negative header value length", cat(header20(0, 0, 8, 0), u32(1), u32(0xFFFFFFFF)), Limits{}, ErrMalformedHeaders},
		{"trailing bytes after entry", cat(header20(0, 0, 11, 0), u32(1), u32(0), []byte{1, 2, 3}), Limits{}, ErrMalformedHeaders},
		{"too many headers", cat(header20(0, 0, 24, 0), u32(1), u32(0), u32(2), u32(0), u32(3), u32(0)), small, ErrTooManyHeaders},
		{"too many versions", cat([]byte{3, 6, 9, 10}, u32(65)), Limits{}, ErrMalformedVersionList},
		{"huge version count", cat([]byte{3, 6, 9, 10}, u32(0xFFFFFFFF)), Limits{}, ErrMalformedVersionList},
		{"truncated magic", []byte{3, 6}, Limits{}, io.ErrUnexpectedEOF},
		{"truncated frame header", header20(0, 0, 0, 0)[:13], Limits{}, io.ErrUnexpectedEOF},
		{"truncated headers", cat(header20(0, 0, 16, 0), u32(1), u32(8)), Limits{}, io.ErrUnexpectedEOF},
		{"truncated body", cat(header20(0, 0, 0, 10), []byte("abc")), Limits{}, io.ErrUnexpectedEOF},
		{"truncated large body", cat(header20(0, 0, 0, 200000), make([]byte, 70000)), Limits{}, io.ErrUnexpectedEOF},
		{"truncated version list", cat([]byte{3, 6, 9, 10}, u32(2), u32(1)), Limits{}, io.ErrUnexpectedEOF},
		{"truncated version count", []byte{3, 6, 9, 10, 1}, Limits{}, io.ErrUnexpectedEOF},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(bytes.NewReader(tc.input), tc.limits)
			m, err := r.ReadMessage()
			if m != nil || !errors.Is(err, tc.want) {
				t.Fatalf("ReadMessage = %v, %v; want error %v", m, err, tc.want)
			}
			// The stream is out of sync: the error sticks.
			if _, again := r.ReadMessage(); again != err {
				t.Fatalf("second ReadMessage = %v, want the same error", again)
			}
		})
	}
}

func TestErrorsCarryContext(t *testing.T) {
	_, err := NewReader(bytes.NewReader(header20(60786, 9, 0, 0x7FFFFFFF)), Limits{}).ReadMessage()
	if !errors.Is(err, ErrFrameTooLarge) || !strings.Contains(err.Error(), "60786") || !strings.Contains(err.Error(), "2147483647") {
		t.Fatalf("error lacks context: %v", err)
	}
}

func TestDefaultLimits(t *testing.T) {
	want := Limits{MaxHeaderBytes: 64 << 10, MaxBodyBytes: 16 << 20, MaxHeaders: 256}
	if DefaultLimits() != want || (Limits{}).withDefaults() != want {
		t.Fatalf("defaults = %+v", DefaultLimits())
	}
	custom := Limits{MaxBodyBytes: 5}
	if got := custom.withDefaults(); got.MaxBodyBytes != 5 || got.MaxHeaders != 256 {
		t.Fatalf("withDefaults overrode a set field: %+v", got)
	}
}

func TestLimitsAtBoundaryAccepted(t *testing.T) {
	limits := Limits{MaxHeaderBytes: 20, MaxBodyBytes: 10, MaxHeaders: 2}
	m := &Message{ContentType: 1, Headers: Headers{{Key: 1, Value: []byte{1, 2}}, {Key: 2, Value: []byte{3, 4}}}, Body: make([]byte, 10)}
	got, err := NewReader(bytes.NewReader(m.AppendFrame(nil)), limits).ReadMessage()
	if err != nil || !messagesEqual(got, m) {
		t.Fatalf("frame at the limits: %v, %v", got, err)
	}
}

// A peer that announces a 16 MiB body and sends a few bytes must not make the reader allocate
// the announced size.
func TestAnnouncedBodyNotAllocatedUpFront(t *testing.T) {
	input := cat(header20(uint32(ContentTypeData), 1, 0, 16<<20), []byte("only a little"))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := NewReader(bytes.NewReader(input), Limits{}).ReadMessage()
	runtime.ReadMemStats(&after)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err = %v", err)
	}
	if allocated := after.TotalAlloc - before.TotalAlloc; allocated > 1<<20 {
		t.Fatalf("allocated %d bytes for a frame that delivered 13", allocated)
	}
}

func TestReleaseReusesBodyBuffers(t *testing.T) {
	frame := NewData(1, 1, 0, bytes.Repeat([]byte{7}, 1000)).AppendFrame(nil)
	r := NewReader(&repeatReader{frame: frame}, Limits{})
	m, err := r.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	if cap(m.Body) != 1024 {
		t.Fatalf("body cap = %d, want the 1 KiB size class", cap(m.Body))
	}
	m.Release()
	if m.Body != nil {
		t.Fatal("Release left Body set")
	}
	m.Release() // a second Release does nothing
	// Release of a message that owns no pooled buffer leaves it alone.
	own := NewData(1, 1, 0, []byte("mine"))
	own.Release()
	if string(own.Body) != "mine" {
		t.Fatal("Release cleared a caller-owned body")
	}
	// Steady state: reading and releasing allocates no new body buffer.
	allocs := testing.AllocsPerRun(100, func() {
		m, err := r.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		m.Release()
	})
	// Message, header block and header slice: 3 allocations; the body comes from the pool.
	if allocs > 3 {
		t.Fatalf("%.1f allocations per message, want at most 3", allocs)
	}
}

func TestBodySizeClasses(t *testing.T) {
	for _, n := range []int{1, 511, 512, 513, 1024, 4097, 65535, 65536} {
		bp := getBodyBuffer(n)
		if bp == nil || len(*bp) != n || cap(*bp) < n || cap(*bp)&(cap(*bp)-1) != 0 {
			t.Fatalf("getBodyBuffer(%d) = len %d cap %d", n, len(*bp), cap(*bp))
		}
		putBodyBuffer(bp)
	}
	if getBodyBuffer(65537) != nil {
		t.Fatal("bodies above 64 KiB must not be pooled")
	}
	odd := make([]byte, 0, 1000)
	putBodyBuffer(&odd) // not a size class: ignored, must not poison a pool
	for range 10 {
		if bp := getBodyBuffer(600); cap(*bp) != 1024 {
			t.Fatalf("pool returned cap %d for class 1024", cap(*bp))
		}
	}
}

// repeatReader yields frame over and over.
type repeatReader struct {
	frame []byte
	off   int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		k := copy(p[n:], r.frame[r.off:])
		n += k
		r.off = (r.off + k) % len(r.frame)
	}
	return n, nil
}

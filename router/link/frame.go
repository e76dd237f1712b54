package link

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/ostium-net/ostium/sdk/wire"
)

// Frame types. The numbers are fixed; new types are appended.
const (
	frameHello      byte = 1  // link: {routerId, version} as JSON, each side once, first
	frameProbe      byte = 2  // link: 8-byte send time, echoed by frameProbeReply
	frameProbeReply byte = 3  // link: the probe's body
	frameCreate     byte = 4  // circuit: open it towards the last router of its path
	frameCreated    byte = 5  // circuit: the host accepted (travels back along the path)
	frameFailed     byte = 6  // circuit: the create failed (error code header, message body)
	frameData       byte = 7  // circuit: one edge Data message (its edge headers and payload)
	frameCredit     byte = 8  // circuit: 4-byte count of bytes the receiver delivered
	frameClose      byte = 9  // circuit: ends it; body is the reason
	frameResume     byte = 10 // circuit: reopen an existing circuit over a new path
	frameResumed    byte = 11 // circuit: the far end took the resume (its delivered count)
	maxFrameType         = frameResumed
)

func frameTypeName(t byte) string {
	names := [...]string{"?", "hello", "probe", "probe-reply", "create", "created", "failed", "data", "credit", "close", "resume", "resumed"}
	if int(t) < len(names) {
		return names[t]
	}
	return fmt.Sprintf("type-%d", t)
}

// frameHeaderLen is the fixed part of a frame: type, flags, header-block length, circuit,
// body length.
const frameHeaderLen = 12

// Limits of a frame.
const (
	// MaxHeaderBlock bounds the header block of a frame.
	MaxHeaderBlock = 16 << 10
	// MaxBody bounds the body of a frame: the largest edge Data payload a link carries.
	MaxBody = wire.DefaultMaxBodyBytes
	// maxHeaders bounds the entries of a header block.
	maxHeaders = 64
)

// Frame errors.
var (
	ErrFrameType        = errors.New("link: unknown frame type")
	ErrFrameTooLarge    = errors.New("link: frame too large")
	ErrMalformedHeaders = errors.New("link: malformed header block")
)

// frame is one decoded frame. A data frame's body may be pooled: msg owns it.
type frame struct {
	typ     byte
	flags   byte
	circuit uint32
	headers wire.Headers
	// msg holds the body (msg.Body) in a pooled buffer; its Headers are headers.
	msg *wire.Message
}

func (f *frame) body() []byte { return f.msg.Body }

// release gives the body buffer back.
func (f *frame) release() { f.msg.Release() }

// headersLen is the encoded size of a header block.
func headersLen(h wire.Headers) int {
	n := 0
	for i := range h {
		n += 8 + len(h[i].Value)
	}
	return n
}

// appendFrameHead appends the fixed header and the header block of a frame.
func appendFrameHead(dst []byte, typ, flags byte, circuit uint32, headers wire.Headers, bodyLen int) []byte {
	le := binary.LittleEndian
	dst = append(dst, typ, flags)
	dst = le.AppendUint16(dst, uint16(headersLen(headers)))
	dst = le.AppendUint32(dst, circuit)
	dst = le.AppendUint32(dst, uint32(bodyLen))
	for _, hd := range headers {
		dst = le.AppendUint32(dst, uint32(hd.Key))
		dst = le.AppendUint32(dst, uint32(len(hd.Value)))
		dst = append(dst, hd.Value...)
	}
	return dst
}

// checkFrame reports a frame that cannot be encoded.
func checkFrame(headers wire.Headers, bodyLen int) error {
	if len(headers) > maxHeaders {
		return fmt.Errorf("%w: %d headers", ErrFrameTooLarge, len(headers))
	}
	if hl := headersLen(headers); hl > MaxHeaderBlock {
		return fmt.Errorf("%w: header block of %d bytes", ErrFrameTooLarge, hl)
	}
	if bodyLen > MaxBody {
		return fmt.Errorf("%w: body of %d bytes", ErrFrameTooLarge, bodyLen)
	}
	return nil
}

// parseHeaderBlock decodes a header block: repeated {key int32, len uint32, value}, all
// little-endian. Values are copied out of block.
func parseHeaderBlock(block []byte) (wire.Headers, error) {
	if len(block) == 0 {
		return nil, nil
	}
	var out wire.Headers
	le := binary.LittleEndian
	for len(block) > 0 {
		if len(out) == maxHeaders {
			return nil, fmt.Errorf("%w: more than %d headers", ErrMalformedHeaders, maxHeaders)
		}
		if len(block) < 8 {
			return nil, fmt.Errorf("%w: truncated entry", ErrMalformedHeaders)
		}
		key := int32(le.Uint32(block))
		n := le.Uint32(block[4:])
		block = block[8:]
		if uint64(n) > uint64(len(block)) {
			return nil, fmt.Errorf("%w: value of %d bytes, %d left", ErrMalformedHeaders, n, len(block))
		}
		for _, h := range out {
			if h.Key == key {
				return nil, fmt.Errorf("%w: header %d twice", ErrMalformedHeaders, key)
			}
		}
		out = append(out, wire.Header{Key: key, Value: append([]byte(nil), block[:n]...)})
		block = block[n:]
	}
	return out, nil
}

// frameReader decodes frames from a link's stream.
type frameReader struct {
	br   *bufio.Reader
	head [frameHeaderLen]byte
	hdrs []byte
}

func newFrameReader(r io.Reader) *frameReader {
	return &frameReader{br: bufio.NewReaderSize(r, 32<<10)}
}

// read decodes the next frame. Every length is checked before anything is allocated. An
// error leaves the stream out of sync; the link is then closed.
func (fr *frameReader) read() (*frame, error) {
	if _, err := io.ReadFull(fr.br, fr.head[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("link: truncated frame: %w", err)
		}
		return nil, err
	}
	le := binary.LittleEndian
	f := &frame{typ: fr.head[0], flags: fr.head[1], circuit: le.Uint32(fr.head[4:])}
	hl := int(le.Uint16(fr.head[2:]))
	bl := le.Uint32(fr.head[8:])
	if f.typ == 0 || f.typ > maxFrameType {
		return nil, fmt.Errorf("%w %d", ErrFrameType, f.typ)
	}
	if hl > MaxHeaderBlock {
		return nil, fmt.Errorf("%w: header block of %d bytes", ErrFrameTooLarge, hl)
	}
	if uint64(bl) > MaxBody {
		return nil, fmt.Errorf("%w: body of %d bytes", ErrFrameTooLarge, bl)
	}
	if hl > 0 {
		if cap(fr.hdrs) < hl {
			fr.hdrs = make([]byte, hl)
		}
		block := fr.hdrs[:hl]
		if _, err := io.ReadFull(fr.br, block); err != nil {
			return nil, fmt.Errorf("link: truncated header block: %w", noEOF(err))
		}
		h, err := parseHeaderBlock(block)
		if err != nil {
			return nil, err
		}
		f.headers = h
	}
	f.msg = &wire.Message{ContentType: wire.ContentTypeData, Headers: f.headers}
	if bl > 0 {
		body := f.msg.AllocBody(int(bl))
		if _, err := io.ReadFull(fr.br, body); err != nil {
			f.msg.Release()
			return nil, fmt.Errorf("link: truncated body: %w", noEOF(err))
		}
	}
	return f, nil
}

func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"sync"
)

// frameHeaderLen is the fixed part of a frame: magic, type, sequence, hdrLen, bodyLen.
const frameHeaderLen = 20

var (
	// magicV2 opens every frame of this framing.
	magicV2 = [4]byte{0x03, 0x06, 0x09, 0x0C}
	// magicUnknownVersion opens the answer of a peer that does not speak our framing.
	magicUnknownVersion = [4]byte{0x03, 0x06, 0x09, 0x0A}
)

// Frame errors. Errors returned by [Reader.ReadMessage] wrap one of these (or are an
// [*UnsupportedVersionError], io.EOF at a clean frame boundary, or a wrapped
// io.ErrUnexpectedEOF / transport error).
var (
	// ErrBadMagic: the frame does not start with 03 06 09 0C.
	ErrBadMagic = errors.New("wire: bad magic")
	// ErrNegativeLength: hdrLen or bodyLen is negative.
	ErrNegativeLength = errors.New("wire: negative length")
	// ErrFrameTooLarge: a length exceeds the configured [Limits] or what the encoding can hold.
	ErrFrameTooLarge = errors.New("wire: frame too large")
	// ErrTooManyHeaders: the header block holds more entries than [Limits].MaxHeaders.
	ErrTooManyHeaders = errors.New("wire: too many headers")
	// ErrMalformedHeaders: the header block is truncated or an entry's length does not fit.
	ErrMalformedHeaders = errors.New("wire: malformed headers")
	// ErrMalformedVersionList: an "unknown version" answer with an impossible version count.
	ErrMalformedVersionList = errors.New("wire: malformed unknown-version answer")
)

// UnsupportedVersionError is returned when the peer answered with the "unknown version" magic
// (03 06 09 0A): it does not speak this framing. Versions lists the wire versions it offers.
type UnsupportedVersionError struct {
	Versions []uint32
}

func (e *UnsupportedVersionError) Error() string {
	return fmt.Sprintf("wire: peer does not support this channel version (it offers %v)", e.Versions)
}

// Limits bounds what a [Reader] accepts. Zero fields take the defaults.
type Limits struct {
	// MaxHeaderBytes bounds hdrLen (default 64 KiB).
	MaxHeaderBytes int
	// MaxBodyBytes bounds bodyLen (default 16 MiB).
	MaxBodyBytes int
	// MaxHeaders bounds the number of header entries (default 256).
	MaxHeaders int
}

// Default limits.
const (
	DefaultMaxHeaderBytes = 64 << 10
	DefaultMaxBodyBytes   = 16 << 20
	DefaultMaxHeaders     = 256
)

// maxUnknownVersions bounds the version list of an "unknown version" answer.
const maxUnknownVersions = 64

// DefaultLimits returns the default limits.
func DefaultLimits() Limits {
	return Limits{MaxHeaderBytes: DefaultMaxHeaderBytes, MaxBodyBytes: DefaultMaxBodyBytes, MaxHeaders: DefaultMaxHeaders}
}

func (l Limits) withDefaults() Limits {
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if l.MaxBodyBytes <= 0 {
		l.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if l.MaxHeaders <= 0 {
		l.MaxHeaders = DefaultMaxHeaders
	}
	return l
}

// check reports whether m fits these limits (and the int32 lengths of the encoding).
func (l Limits) check(m *Message) error {
	hl := m.Headers.encodedLen()
	switch {
	case len(m.Headers) > l.MaxHeaders:
		return fmt.Errorf("%w: %d headers, limit %d", ErrTooManyHeaders, len(m.Headers), l.MaxHeaders)
	case hl > l.MaxHeaderBytes:
		return fmt.Errorf("%w: header block of %d bytes, limit %d", ErrFrameTooLarge, hl, l.MaxHeaderBytes)
	case len(m.Body) > l.MaxBodyBytes:
		return fmt.Errorf("%w: body of %d bytes, limit %d", ErrFrameTooLarge, len(m.Body), l.MaxBodyBytes)
	}
	return nil
}

// EncodedLen returns the size of m's frame on the wire.
func (m *Message) EncodedLen() int {
	return frameHeaderLen + m.Headers.encodedLen() + len(m.Body)
}

// checkEncodable reports lengths that the int32 fields of a frame cannot express.
func (m *Message) checkEncodable() error {
	for _, hd := range m.Headers {
		if len(hd.Value) > math.MaxInt32 {
			return fmt.Errorf("%w: header %d value of %d bytes", ErrFrameTooLarge, hd.Key, len(hd.Value))
		}
	}
	if hl := m.Headers.encodedLen(); hl > math.MaxInt32 {
		return fmt.Errorf("%w: header block of %d bytes", ErrFrameTooLarge, hl)
	}
	if len(m.Body) > math.MaxInt32 {
		return fmt.Errorf("%w: body of %d bytes", ErrFrameTooLarge, len(m.Body))
	}
	return nil
}

// appendHead appends everything of m's frame but the body.
func (m *Message) appendHead(dst []byte) []byte {
	le := binary.LittleEndian
	dst = append(dst, magicV2[:]...)
	dst = le.AppendUint32(dst, uint32(m.ContentType))
	dst = le.AppendUint32(dst, uint32(m.Sequence))
	dst = le.AppendUint32(dst, uint32(m.Headers.encodedLen()))
	dst = le.AppendUint32(dst, uint32(len(m.Body)))
	for _, hd := range m.Headers {
		dst = le.AppendUint32(dst, uint32(hd.Key))
		dst = le.AppendUint32(dst, uint32(len(hd.Value)))
		dst = append(dst, hd.Value...)
	}
	return dst
}

// AppendFrame appends m's frame to dst and returns the extended slice. Headers are encoded in
// their order in m.Headers. It panics if a length does not fit the int32 fields of the frame
// (a header value, header block or body of 2 GiB or more); [Message.WriteTo] and [Conn] return
// [ErrFrameTooLarge] instead.
func (m *Message) AppendFrame(dst []byte) []byte {
	if err := m.checkEncodable(); err != nil {
		panic(err)
	}
	if need := m.EncodedLen(); cap(dst)-len(dst) < need {
		grown := make([]byte, len(dst), len(dst)+need)
		copy(grown, dst)
		dst = grown
	}
	return append(m.appendHead(dst), m.Body...)
}

// inlineBodyMax is the largest body copied next to the frame head so the frame goes out in a
// single Write; larger bodies are written separately to save the copy.
const inlineBodyMax = 64 << 10

var writeBufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// WriteTo writes m's frame to w, in a single Write when the body is at most 64 KiB. It
// implements io.WriterTo.
func (m *Message) WriteTo(w io.Writer) (int64, error) {
	if err := m.checkEncodable(); err != nil {
		return 0, err
	}
	bp := writeBufPool.Get().(*[]byte)
	n, err := m.writeFrame(w, bp)
	writeBufPool.Put(bp)
	return n, err
}

// writeFrame writes m using *scratch as assembly buffer (and keeps it grown for reuse, up to
// a cap that stops one huge frame from pinning memory in the pool).
func (m *Message) writeFrame(w io.Writer, scratch *[]byte) (int64, error) {
	buf := m.appendHead((*scratch)[:0])
	inline := len(m.Body) <= inlineBodyMax
	if inline {
		buf = append(buf, m.Body...)
	}
	if cap(buf) <= 2*inlineBodyMax {
		*scratch = buf[:0]
	}
	n, err := w.Write(buf)
	total := int64(n)
	if err != nil {
		return total, fmt.Errorf("wire: writing frame: %w", err)
	}
	if !inline {
		n, err = w.Write(m.Body)
		total += int64(n)
		if err != nil {
			return total, fmt.Errorf("wire: writing body: %w", err)
		}
	}
	return total, nil
}

// AppendUnknownVersion appends an "unknown version" answer listing the wire versions this side
// supports (a router sends it to a peer whose first frame had an unknown magic).
func AppendUnknownVersion(dst []byte, versions ...uint32) []byte {
	dst = append(dst, magicUnknownVersion[:]...)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(versions)))
	for _, v := range versions {
		dst = binary.LittleEndian.AppendUint32(dst, v)
	}
	return dst
}

// Body buffers of the Reader come from power-of-two size classes between 512 B and 64 KiB.
const (
	minPooledShift = 9
	maxPooledShift = 16
)

var bodyPools [maxPooledShift - minPooledShift + 1]sync.Pool

// getBodyBuffer returns a pooled buffer with length n, or nil when n is too large to pool.
func getBodyBuffer(n int) *[]byte {
	if n > 1<<maxPooledShift {
		return nil
	}
	shift := minPooledShift
	if n > 1<<minPooledShift {
		shift = bits.Len(uint(n - 1))
	}
	pool := &bodyPools[shift-minPooledShift]
	if v := pool.Get(); v != nil {
		bp := v.(*[]byte)
		*bp = (*bp)[:n]
		return bp
	}
	b := make([]byte, n, 1<<shift)
	return &b
}

func putBodyBuffer(bp *[]byte) {
	c := cap(*bp)
	shift := bits.Len(uint(c)) - 1
	if c != 1<<shift || shift < minPooledShift || shift > maxPooledShift {
		return
	}
	*bp = (*bp)[:0]
	bodyPools[shift-minPooledShift].Put(bp)
}

// readerBufferSize is the bufio buffer of a Reader. Bodies at least this large are read
// straight into their own buffer, bypassing it.
const readerBufferSize = 16 << 10

// Reader decodes frames from a stream. It trusts no length: every length is checked against
// its [Limits] before anything is allocated, and bodies above 64 KiB grow with the bytes that
// actually arrive, so a peer announcing a large frame cannot make the reader commit memory it
// never sends. After any error but a clean io.EOF the stream is out of sync: the Reader keeps
// returning that error.
type Reader struct {
	br     *bufio.Reader
	limits Limits
	err    error
	head   [frameHeaderLen]byte
}

// NewReader returns a Reader over r with the given limits (zero fields take the defaults). If r
// is a *bufio.Reader of sufficient size it is used directly.
func NewReader(r io.Reader, limits Limits) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, readerBufferSize), limits: limits.withDefaults()}
}

// ReadMessage reads the next frame. It returns io.EOF (unwrapped) when the stream ends exactly
// at a frame boundary.
func (r *Reader) ReadMessage() (*Message, error) {
	if r.err != nil {
		return nil, r.err
	}
	m, err := r.readMessage()
	if err != nil && err != io.EOF {
		r.err = err
	}
	return m, err
}

// awaitFrame waits until the next frame's first byte is buffered, consuming nothing: a
// failed wait (a read deadline, say) leaves the stream where it was.
func (r *Reader) awaitFrame() error {
	if r.err != nil {
		return r.err
	}
	_, err := r.br.Peek(1)
	return err
}

// frameBuffered reports whether the next frame is whole in the buffer, so that reading it
// reads nothing from the stream (a malformed head counts as whole: reading it fails at once).
func (r *Reader) frameBuffered() bool {
	n := r.br.Buffered()
	if n < frameHeaderLen {
		return false
	}
	head, err := r.br.Peek(frameHeaderLen)
	if err != nil || [4]byte(head[:4]) != magicV2 {
		return err == nil
	}
	le := binary.LittleEndian
	hdrLen, bodyLen := int32(le.Uint32(head[12:])), int32(le.Uint32(head[16:]))
	if hdrLen < 0 || bodyLen < 0 {
		return true
	}
	return int64(n) >= frameHeaderLen+int64(hdrLen)+int64(bodyLen)
}

func (r *Reader) readMessage() (*Message, error) {
	head := r.head[:]
	if _, err := io.ReadFull(r.br, head[:4]); err != nil {
		if err == io.EOF {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("wire: reading magic: %w", err)
	}
	if [4]byte(head[:4]) != magicV2 {
		if [4]byte(head[:4]) == magicUnknownVersion {
			return nil, r.readUnknownVersion()
		}
		return nil, fmt.Errorf("%w: % x", ErrBadMagic, head[:4])
	}
	if _, err := io.ReadFull(r.br, head[4:]); err != nil {
		return nil, fmt.Errorf("wire: reading frame header: %w", unexpectedEOF(err))
	}
	le := binary.LittleEndian
	contentType := int32(le.Uint32(head[4:]))
	sequence := int32(le.Uint32(head[8:]))
	hdrLen := int32(le.Uint32(head[12:]))
	bodyLen := int32(le.Uint32(head[16:]))
	switch {
	case hdrLen < 0:
		return nil, fmt.Errorf("%w: hdrLen %d (type %d, seq %d)", ErrNegativeLength, hdrLen, contentType, sequence)
	case bodyLen < 0:
		return nil, fmt.Errorf("%w: bodyLen %d (type %d, seq %d)", ErrNegativeLength, bodyLen, contentType, sequence)
	case int(hdrLen) > r.limits.MaxHeaderBytes:
		return nil, fmt.Errorf("%w: hdrLen %d exceeds limit %d (type %d, seq %d)", ErrFrameTooLarge, hdrLen, r.limits.MaxHeaderBytes, contentType, sequence)
	case int(bodyLen) > r.limits.MaxBodyBytes:
		return nil, fmt.Errorf("%w: bodyLen %d exceeds limit %d (type %d, seq %d)", ErrFrameTooLarge, bodyLen, r.limits.MaxBodyBytes, contentType, sequence)
	}

	m := &Message{ContentType: contentType, Sequence: sequence}
	if hdrLen > 0 {
		block := make([]byte, hdrLen)
		if _, err := io.ReadFull(r.br, block); err != nil {
			return nil, fmt.Errorf("wire: reading %d header bytes (type %d, seq %d): %w", hdrLen, contentType, sequence, unexpectedEOF(err))
		}
		headers, err := parseHeaders(block, r.limits.MaxHeaders)
		if err != nil {
			return nil, fmt.Errorf("%w (type %d, seq %d)", err, contentType, sequence)
		}
		m.Headers = headers
	}
	if bodyLen > 0 {
		if err := r.readBody(m, int(bodyLen)); err != nil {
			return nil, fmt.Errorf("wire: reading %d body bytes (type %d, seq %d): %w", bodyLen, contentType, sequence, unexpectedEOF(err))
		}
	}
	return m, nil
}

// readBody fills m.Body with n bytes: small bodies in a pooled buffer, large ones in a buffer
// that grows as the data arrives.
func (r *Reader) readBody(m *Message, n int) error {
	if bp := getBodyBuffer(n); bp != nil {
		if _, err := io.ReadFull(r.br, *bp); err != nil {
			putBodyBuffer(bp)
			return err
		}
		m.Body, m.pooled = *bp, bp
		return nil
	}
	buf := make([]byte, 0, 1<<maxPooledShift)
	for len(buf) < n {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(n, 2*cap(buf)))
			copy(grown, buf)
			buf = grown
		}
		k, err := io.ReadFull(r.br, buf[len(buf):min(n, cap(buf))])
		buf = buf[:len(buf)+k]
		if err != nil {
			return err
		}
	}
	m.Body = buf
	return nil
}

// parseHeaders decodes a header block. Values are sub-slices of block. A key that appears twice
// keeps its last value (as in map-based implementations), in the position of its first
// appearance.
func parseHeaders(block []byte, maxHeaders int) (Headers, error) {
	le := binary.LittleEndian
	count := 0
	for i := 0; i < len(block); {
		if len(block)-i < 8 {
			return nil, fmt.Errorf("%w: %d trailing bytes at offset %d, an entry needs 8", ErrMalformedHeaders, len(block)-i, i)
		}
		key := int32(le.Uint32(block[i:]))
		vlen := int32(le.Uint32(block[i+4:]))
		if vlen < 0 || int(vlen) > len(block)-i-8 {
			return nil, fmt.Errorf("%w: header %d at offset %d has length %d, %d bytes remain", ErrMalformedHeaders, key, i, vlen, len(block)-i-8)
		}
		count++
		if count > maxHeaders {
			return nil, fmt.Errorf("%w: more than %d", ErrTooManyHeaders, maxHeaders)
		}
		i += 8 + int(vlen)
	}
	headers := make(Headers, 0, count)
	for i := 0; i < len(block); {
		key := int32(le.Uint32(block[i:]))
		vlen := int(le.Uint32(block[i+4:]))
		headers.Put(key, block[i+8:i+8+vlen:i+8+vlen])
		i += 8 + vlen
	}
	return headers, nil
}

func (r *Reader) readUnknownVersion() error {
	var countBuf [4]byte
	if _, err := io.ReadFull(r.br, countBuf[:]); err != nil {
		return fmt.Errorf("wire: reading unknown-version answer: %w", unexpectedEOF(err))
	}
	count := binary.LittleEndian.Uint32(countBuf[:])
	if count > maxUnknownVersions {
		return fmt.Errorf("%w: %d versions, at most %d accepted", ErrMalformedVersionList, count, maxUnknownVersions)
	}
	var list [maxUnknownVersions * 4]byte
	if _, err := io.ReadFull(r.br, list[:count*4]); err != nil {
		return fmt.Errorf("wire: reading %d versions of unknown-version answer: %w", count, unexpectedEOF(err))
	}
	versions := make([]uint32, count)
	for i := range versions {
		versions[i] = binary.LittleEndian.Uint32(list[i*4:])
	}
	return &UnsupportedVersionError{Versions: versions}
}

// unexpectedEOF turns an io.EOF in the middle of a frame into io.ErrUnexpectedEOF.
func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

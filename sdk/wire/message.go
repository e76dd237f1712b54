package wire

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"
)

// Header is one header of a [Message]: an id and its raw value.
type Header struct {
	Key   int32
	Value []byte
}

// Headers is the header set of a message. It is a small slice rather than a map: messages carry
// a handful of headers, a linear scan beats hashing, and the encoding keeps insertion order so
// the same message always encodes to the same bytes. Keys are unique: Put replaces an existing
// value.
//
// Values are shared, not copied: Put stores the slice it is given and the typed setters
// allocate a fresh slice on every call, so a value is never modified in place once stored.
type Headers []Header

// Get returns the raw value of key.
func (h Headers) Get(key int32) ([]byte, bool) {
	for i := range h {
		if h[i].Key == key {
			return h[i].Value, true
		}
	}
	return nil, false
}

// Has reports whether key is present.
func (h Headers) Has(key int32) bool {
	_, ok := h.Get(key)
	return ok
}

// Put sets key to value, replacing an existing value. The slice is stored as is.
func (h *Headers) Put(key int32, value []byte) {
	for i := range *h {
		if (*h)[i].Key == key {
			(*h)[i].Value = value
			return
		}
	}
	*h = append(*h, Header{Key: key, Value: value})
}

// Delete removes key if present, keeping the order of the other headers.
func (h *Headers) Delete(key int32) {
	for i := range *h {
		if (*h)[i].Key == key {
			*h = append((*h)[:i], (*h)[i+1:]...)
			return
		}
	}
}

// PutBytes sets key to value (stored without copying).
func (h *Headers) PutBytes(key int32, value []byte) { h.Put(key, value) }

// PutString sets key to the bytes of value.
func (h *Headers) PutString(key int32, value string) { h.Put(key, []byte(value)) }

// PutByte sets key to a one-byte value.
func (h *Headers) PutByte(key int32, value byte) { h.Put(key, []byte{value}) }

// PutBool sets key to one byte: 1 for true, 0 for false.
func (h *Headers) PutBool(key int32, value bool) {
	var b byte
	if value {
		b = 1
	}
	h.Put(key, []byte{b})
}

// PutUint16 sets key to value as 2 little-endian bytes.
func (h *Headers) PutUint16(key int32, value uint16) {
	h.Put(key, binary.LittleEndian.AppendUint16(make([]byte, 0, 2), value))
}

// PutUint32 sets key to value as 4 little-endian bytes.
func (h *Headers) PutUint32(key int32, value uint32) {
	h.Put(key, binary.LittleEndian.AppendUint32(make([]byte, 0, 4), value))
}

// PutInt32 sets key to value as 4 little-endian bytes (two's complement).
func (h *Headers) PutInt32(key int32, value int32) { h.PutUint32(key, uint32(value)) }

// PutUint64 sets key to value as 8 little-endian bytes.
func (h *Headers) PutUint64(key int32, value uint64) {
	h.Put(key, binary.LittleEndian.AppendUint64(make([]byte, 0, 8), value))
}

// GetBytes returns the raw value of key.
func (h Headers) GetBytes(key int32) ([]byte, bool) { return h.Get(key) }

// GetString returns the value of key as a string.
func (h Headers) GetString(key int32) (string, bool) {
	v, ok := h.Get(key)
	if !ok {
		return "", false
	}
	return string(v), true
}

// GetByte returns a one-byte value; ok is false when key is missing or not 1 byte long.
func (h Headers) GetByte(key int32) (byte, bool) {
	v, ok := h.Get(key)
	if !ok || len(v) != 1 {
		return 0, false
	}
	return v[0], true
}

// GetBool returns a one-byte boolean (any non-zero byte is true); ok is false when key is
// missing or not 1 byte long.
func (h Headers) GetBool(key int32) (bool, bool) {
	b, ok := h.GetByte(key)
	return b != 0, ok
}

// GetUint16 returns a 2-byte little-endian value; ok is false when key is missing or has
// another length.
func (h Headers) GetUint16(key int32) (uint16, bool) {
	v, ok := h.Get(key)
	if !ok || len(v) != 2 {
		return 0, false
	}
	return binary.LittleEndian.Uint16(v), true
}

// GetUint32 returns a 4-byte little-endian value; ok is false when key is missing or has
// another length.
func (h Headers) GetUint32(key int32) (uint32, bool) {
	v, ok := h.Get(key)
	if !ok || len(v) != 4 {
		return 0, false
	}
	return binary.LittleEndian.Uint32(v), true
}

// GetInt32 returns a 4-byte little-endian signed value; ok is false when key is missing or has
// another length.
func (h Headers) GetInt32(key int32) (int32, bool) {
	v, ok := h.GetUint32(key)
	return int32(v), ok
}

// GetUint64 returns an 8-byte little-endian value; ok is false when key is missing or has
// another length.
func (h Headers) GetUint64(key int32) (uint64, bool) {
	v, ok := h.Get(key)
	if !ok || len(v) != 8 {
		return 0, false
	}
	return binary.LittleEndian.Uint64(v), true
}

// Clone returns a copy of h whose values are copied too.
func (h Headers) Clone() Headers {
	if h == nil {
		return nil
	}
	out := make(Headers, len(h))
	for i, hd := range h {
		out[i] = Header{Key: hd.Key, Value: bytes.Clone(hd.Value)}
	}
	return out
}

// Equal reports whether h and o hold the same keys with the same values, in any order.
// A nil and an empty value are equal.
func (h Headers) Equal(o Headers) bool {
	if len(h) != len(o) {
		return false
	}
	for _, hd := range h {
		v, ok := o.Get(hd.Key)
		if !ok || !bytes.Equal(v, hd.Value) {
			return false
		}
	}
	return true
}

// encodedLen is the size of the header block on the wire.
func (h Headers) encodedLen() int {
	n := 0
	for i := range h {
		n += 8 + len(h[i].Value)
	}
	return n
}

// Message is one channel message.
type Message struct {
	// ContentType is a ContentType* constant.
	ContentType int32
	// Sequence numbers the message within its channel. [Conn] assigns it when sending.
	Sequence int32
	// Headers are the message headers.
	Headers Headers
	// Body is the payload. A message returned by [Reader.ReadMessage] may own a pooled buffer
	// here; see [Message.Release].
	Body []byte

	// pooled is the pool buffer backing Body, returned by Release.
	pooled *[]byte
}

// NewMessage returns a message of the given type and body, with room for a few headers.
func NewMessage(contentType int32, body []byte) *Message {
	return &Message{ContentType: contentType, Headers: make(Headers, 0, 4), Body: body}
}

// ReplyFor returns the sequence this message answers, from [HeaderReplyFor].
func (m *Message) ReplyFor() (int32, bool) {
	return m.Headers.GetInt32(HeaderReplyFor)
}

// IsReply reports whether the message carries a well-formed [HeaderReplyFor].
func (m *Message) IsReply() bool {
	_, ok := m.ReplyFor()
	return ok
}

// IsReplyTo reports whether the message answers the request with the given sequence.
func (m *Message) IsReplyTo(sequence int32) bool {
	rf, ok := m.ReplyFor()
	return ok && rf == sequence
}

// ReplyTo makes m a reply to req: it sets [HeaderReplyFor] to req's sequence and copies every
// header of req with an id in [ReflectedHeaderMin, ReflectedHeaderMax] (the copy rule of the
// channel, which for example brings a latency probe's send time back).
func (m *Message) ReplyTo(req *Message) {
	m.Headers.PutInt32(HeaderReplyFor, req.Sequence)
	for _, hd := range req.Headers {
		if hd.Key >= ReflectedHeaderMin && hd.Key <= ReflectedHeaderMax {
			m.Headers.Put(hd.Key, hd.Value)
		}
	}
}

// ResultSuccess returns the value of [HeaderResultSuccess]; a missing or malformed header
// reads as false.
func (m *Message) ResultSuccess() bool {
	ok, _ := m.Headers.GetBool(HeaderResultSuccess)
	return ok
}

// AllocBody sets Body to a buffer of length n taken from the decoder's pool (a plain
// allocation when n is too large to pool) and returns it; the buffer goes back with
// [Message.Release]. It replaces any body the message had without releasing it.
func (m *Message) AllocBody(n int) []byte {
	if bp := getBodyBuffer(n); bp != nil {
		m.Body, m.pooled = *bp, bp
		return m.Body
	}
	m.Body, m.pooled = make([]byte, n), nil
	return m.Body
}

// Release gives a pooled body buffer back to the decoder's pool and clears Body. Call it at
// most once, when neither the message nor any slice of its Body is used any more; headers stay
// valid (they never share the body's buffer). Messages that own no pooled buffer are left as
// they are, so calling Release on any message is safe. Not calling it is safe too: the buffer
// is then simply garbage collected.
func (m *Message) Release() {
	if m == nil || m.pooled == nil {
		return
	}
	putBodyBuffer(m.pooled)
	m.pooled = nil
	m.Body = nil
}

// String describes the message for logs (never its body or header values).
func (m *Message) String() string {
	s := fmt.Sprintf("%s seq=%d headers=%d body=%d", ContentTypeName(m.ContentType), m.Sequence, len(m.Headers), len(m.Body))
	if rf, ok := m.ReplyFor(); ok {
		s += " replyFor=" + strconv.FormatInt(int64(rf), 10)
	}
	return s
}

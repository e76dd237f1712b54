package wire

import (
	"bytes"
	"math"
	"testing"
)

func TestTypedHeaders(t *testing.T) {
	var h Headers
	h.PutUint16(1, 0xBEEF)
	h.PutUint32(2, 0xDEADBEEF)
	h.PutUint64(3, math.MaxUint64-1)
	h.PutBool(4, true)
	h.PutBool(5, false)
	h.PutString(6, "text")
	h.PutBytes(7, []byte{0, 1})
	h.PutByte(8, 9)
	h.PutInt32(9, -1)

	if v, ok := h.GetUint16(1); !ok || v != 0xBEEF {
		t.Errorf("GetUint16 = %x, %v", v, ok)
	}
	if v, ok := h.GetUint32(2); !ok || v != 0xDEADBEEF {
		t.Errorf("GetUint32 = %x, %v", v, ok)
	}
	if v, ok := h.GetUint64(3); !ok || v != math.MaxUint64-1 {
		t.Errorf("GetUint64 = %x, %v", v, ok)
	}
	if v, ok := h.GetBool(4); !ok || !v {
		t.Errorf("GetBool(true) = %v, %v", v, ok)
	}
	if v, ok := h.GetBool(5); !ok || v {
		t.Errorf("GetBool(false) = %v, %v", v, ok)
	}
	if v, ok := h.GetString(6); !ok || v != "text" {
		t.Errorf("GetString = %q, %v", v, ok)
	}
	if v, ok := h.GetBytes(7); !ok || !bytes.Equal(v, []byte{0, 1}) {
		t.Errorf("GetBytes = %v, %v", v, ok)
	}
	if v, ok := h.GetByte(8); !ok || v != 9 {
		t.Errorf("GetByte = %v, %v", v, ok)
	}
	if v, ok := h.GetInt32(9); !ok || v != -1 {
		t.Errorf("GetInt32 = %v, %v", v, ok)
	}
	// Raw encodings are little-endian.
	if v, _ := h.Get(2); !bytes.Equal(v, []byte{0xEF, 0xBE, 0xAD, 0xDE}) {
		t.Errorf("uint32 encoding = % x", v)
	}
	if v, _ := h.Get(4); !bytes.Equal(v, []byte{1}) {
		t.Errorf("bool encoding = % x", v)
	}
}

func TestTypedHeadersRejectMissingAndWrongLength(t *testing.T) {
	h := Headers{{Key: 1, Value: []byte{1, 2, 3}}}
	if _, ok := h.GetUint16(1); ok {
		t.Error("GetUint16 accepted 3 bytes")
	}
	if _, ok := h.GetUint32(1); ok {
		t.Error("GetUint32 accepted 3 bytes")
	}
	if _, ok := h.GetUint64(1); ok {
		t.Error("GetUint64 accepted 3 bytes")
	}
	if _, ok := h.GetBool(1); ok {
		t.Error("GetBool accepted 3 bytes")
	}
	if _, ok := h.GetByte(1); ok {
		t.Error("GetByte accepted 3 bytes")
	}
	for _, get := range []func() bool{
		func() bool { _, ok := h.GetUint16(2); return ok },
		func() bool { _, ok := h.GetUint32(2); return ok },
		func() bool { _, ok := h.GetUint64(2); return ok },
		func() bool { _, ok := h.GetBool(2); return ok },
		func() bool { _, ok := h.GetString(2); return ok },
		func() bool { _, ok := h.GetBytes(2); return ok },
	} {
		if get() {
			t.Error("a getter reported a missing header as present")
		}
	}
	// An empty value is present for the raw getters.
	h.PutBytes(3, nil)
	if v, ok := h.GetString(3); !ok || v != "" {
		t.Errorf("GetString(empty) = %q, %v", v, ok)
	}
}

func TestPutReplacesAndDeleteKeepsOrder(t *testing.T) {
	var h Headers
	h.PutUint32(1, 1)
	h.PutUint32(2, 2)
	h.PutUint32(3, 3)
	h.PutUint32(2, 20)
	if len(h) != 3 {
		t.Fatalf("Put of an existing key added an entry: %v", h)
	}
	if v, _ := h.GetUint32(2); v != 20 {
		t.Fatalf("Put did not replace: %d", v)
	}
	h.Delete(1)
	h.Delete(99)
	if len(h) != 2 || h[0].Key != 2 || h[1].Key != 3 {
		t.Fatalf("after Delete: %v", h)
	}
	if h.Has(1) || !h.Has(3) {
		t.Fatal("Has is wrong")
	}
}

func TestPutDoesNotAliasPreviousValue(t *testing.T) {
	req := &Message{Sequence: 3}
	req.Headers.PutUint32(200, 1)
	reply := &Message{}
	reply.ReplyTo(req)
	reply.Headers.PutUint32(200, 2) // must not change the request's shared value
	if v, _ := req.Headers.GetUint32(200); v != 1 {
		t.Fatalf("changing the reply's header changed the request's: %d", v)
	}
}

func TestReplyToCopyRule(t *testing.T) {
	req := NewMessage(ContentTypeLatency, nil)
	req.Sequence = 17
	req.Headers.PutUint64(127, 1) // just below the reflected range
	req.Headers.PutUint64(128, 2)
	req.Headers.PutUint64(200, 3)
	req.Headers.PutUint64(255, 4)
	req.Headers.PutUint64(256, 5) // just above
	req.Headers.PutUint32(HeaderConnID, 6)

	reply := NewResult(true, "")
	reply.ReplyTo(req)
	if rf, ok := reply.ReplyFor(); !ok || rf != 17 {
		t.Fatalf("ReplyFor = %d, %v", rf, ok)
	}
	if !reply.IsReply() || !reply.IsReplyTo(17) || reply.IsReplyTo(16) {
		t.Fatal("IsReply/IsReplyTo wrong")
	}
	for key, want := range map[int32]bool{127: false, 128: true, 200: true, 255: true, 256: false, HeaderConnID: false} {
		if reply.Headers.Has(key) != want {
			t.Errorf("header %d copied = %v, want %v", key, !want, want)
		}
	}
	if v, _ := reply.Headers.GetUint64(200); v != 3 {
		t.Errorf("copied value = %d", v)
	}
	if !reply.ResultSuccess() {
		t.Error("ResultSuccess false")
	}
	// A reply to the Hello sequence carries -1 as 4 bytes FF.
	hello := NewHello("cn", nil)
	res := NewResult(false, "no")
	res.ReplyTo(hello)
	if v, _ := res.Headers.Get(HeaderReplyFor); !bytes.Equal(v, []byte{0xFF, 0xFF, 0xFF, 0xFF}) {
		t.Fatalf("ReplyFor -1 encoded as % x", v)
	}
	if res.ResultSuccess() {
		t.Error("failed result reads as success")
	}
}

func TestMessageWithoutReplyFor(t *testing.T) {
	m := NewMessage(ContentTypeData, nil)
	if m.IsReply() || m.IsReplyTo(0) || m.ResultSuccess() {
		t.Fatal("a plain message reads as a successful reply")
	}
	m.Headers.PutBytes(HeaderReplyFor, []byte{1}) // malformed
	if m.IsReply() {
		t.Fatal("a malformed ReplyFor counts as a reply")
	}
}

func TestHeadersCloneAndEqual(t *testing.T) {
	h := Headers{{Key: 1, Value: []byte("a")}, {Key: 2, Value: nil}}
	c := h.Clone()
	c[0].Value[0] = 'b'
	if string(h[0].Value) != "a" {
		t.Fatal("Clone shares values")
	}
	reordered := Headers{{Key: 2, Value: []byte{}}, {Key: 1, Value: []byte("a")}}
	if !h.Equal(reordered) {
		t.Fatal("Equal depends on order or nil-ness")
	}
	if h.Equal(c) || h.Equal(h[:1]) {
		t.Fatal("Equal accepts different headers")
	}
	if Headers(nil).Clone() != nil {
		t.Fatal("Clone of nil is not nil")
	}
}

func TestMessageString(t *testing.T) {
	m := NewData(1, 1, 0, []byte("secret payload"))
	m.ReplyTo(&Message{Sequence: 5})
	s := m.String()
	if s != "Data seq=0 headers=3 body=14 replyFor=5" {
		t.Fatalf("String() = %q", s)
	}
	if got := ContentTypeName(12345); got != "ContentType(12345)" {
		t.Fatalf("ContentTypeName = %q", got)
	}
}

func TestAllocBodyPooledAndLarge(t *testing.T) {
	m := NewMessage(ContentTypeData, nil)
	body := m.AllocBody(1000)
	if len(body) != 1000 || len(m.Body) != 1000 || cap(body) != 1024 {
		t.Fatalf("pooled body: len %d cap %d, Body len %d; want 1000, 1024, 1000", len(body), cap(body), len(m.Body))
	}
	if m.pooled == nil {
		t.Fatal("a 1000-byte body should come from the pool")
	}
	m.Release()
	if m.Body != nil || m.pooled != nil {
		t.Fatal("Release must clear the pooled body")
	}

	big := NewMessage(ContentTypeData, nil)
	body = big.AllocBody(1<<maxPooledShift + 1)
	if len(body) != 1<<maxPooledShift+1 || big.pooled != nil {
		t.Fatalf("large body: len %d, pooled %v; want an unpooled buffer of the asked length", len(body), big.pooled != nil)
	}
	big.Release() // no-op for an unpooled body
	if len(big.Body) != 1<<maxPooledShift+1 {
		t.Fatal("Release must leave an unpooled body alone")
	}
}

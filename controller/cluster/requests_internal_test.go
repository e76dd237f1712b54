package cluster

import (
	"bytes"
	"testing"
	"time"
)

func TestEntryHeaderRoundTrip(t *testing.T) {
	h := requestHeader{ID: "n:abc", Keep: 2 * time.Minute, Fingerprint: "POST /x"}
	got, cmd, err := decodeEntry(encodeEntry(h, []byte{1, 1, 0, 0, 0, 0, 0, 0, 0, 0, '{', '}'}))
	if err != nil || got != h || !bytes.Equal(cmd, []byte{1, 1, 0, 0, 0, 0, 0, 0, 0, 0, '{', '}'}) {
		t.Fatalf("round trip: %+v %q %v", got, cmd, err)
	}
	// Entries written before request ids existed are plain commands.
	got, cmd, err = decodeEntry([]byte{3, 1, 9})
	if err != nil || got.ID != "" || !bytes.Equal(cmd, []byte{3, 1, 9}) {
		t.Fatalf("plain entry: %+v %q %v", got, cmd, err)
	}
}

func FuzzDecodeEntry(f *testing.F) {
	f.Add(encodeEntry(requestHeader{ID: "n:abc", Keep: time.Minute}, []byte("cmd")))
	f.Add([]byte{requestEntryMarker, 1, 200})
	f.Add([]byte{requestEntryMarker, 1, 1, 'x', 255, 255, 255, 255, 255, 255, 255, 255, 255, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		h, cmd, err := decodeEntry(data)
		if err != nil {
			return
		}
		if len(data) > 0 && data[0] == requestEntryMarker && len(cmd) == len(data) {
			t.Fatalf("marked entry decoded as plain: %q", data)
		}
		if h.ID != "" && !bytes.Equal(encodeEntry(h, cmd), data) {
			if _, _, err := decodeEntry(encodeEntry(h, cmd)); err != nil {
				t.Fatalf("re-encoded entry does not decode: %v", err)
			}
		}
		if len(cmd) > len(data) {
			t.Fatalf("command longer than the entry")
		}
	})
}

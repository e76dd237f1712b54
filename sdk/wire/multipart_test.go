package wire

import (
	"bytes"
	"errors"
	"testing"
)

func TestMultipartRoundTrip(t *testing.T) {
	parts := [][]byte{[]byte("one"), {}, bytes.Repeat([]byte{9}, MaxPartLen), []byte("last")}
	body, err := EncodeMultipart(parts...)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(body, []byte{3, 0, 'o', 'n', 'e', 0, 0, 0xFF, 0xFF}) {
		t.Fatalf("encoding starts % x", body[:9])
	}
	got, err := DecodeMultipart(body)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(parts) {
		t.Fatalf("%d parts, want %d", len(got), len(parts))
	}
	for i := range parts {
		if !bytes.Equal(got[i], parts[i]) {
			t.Fatalf("part %d differs", i)
		}
	}
	// Parts do not reach into each other's bytes.
	got[0] = append(got[0], 'X')
	if !bytes.Equal(body[5:7], []byte{0, 0}) {
		t.Fatal("appending to a part overwrote the next one")
	}
}

func TestMultipartEmpty(t *testing.T) {
	body, err := EncodeMultipart()
	if err != nil || len(body) != 0 {
		t.Fatalf("EncodeMultipart() = % x, %v", body, err)
	}
	parts, err := DecodeMultipart(nil)
	if err != nil || parts != nil {
		t.Fatalf("DecodeMultipart(nil) = %v, %v", parts, err)
	}
}

func TestMultipartErrors(t *testing.T) {
	if _, err := EncodeMultipart([]byte("ok"), make([]byte, MaxPartLen+1)); !errors.Is(err, ErrPartTooLarge) {
		t.Fatalf("oversized part: %v", err)
	}
	for name, body := range map[string][]byte{
		"one byte":          {5},
		"length beyond end": {5, 0, 'a', 'b'},
		"trailing byte":     {1, 0, 'a', 7},
	} {
		if _, err := DecodeMultipart(body); !errors.Is(err, ErrMalformedMultipart) {
			t.Errorf("%s: %v", name, err)
		}
	}
	tooMany := make([]byte, 2*(MaxMultipartParts+1)) // that many empty parts
	if _, err := DecodeMultipart(tooMany); !errors.Is(err, ErrTooManyParts) {
		t.Fatalf("too many parts: %v", err)
	}
	n := 0
	if err := ForEachPart(tooMany, func([]byte) error { n++; return nil }); err != nil || n != MaxMultipartParts+1 {
		t.Fatalf("ForEachPart saw %d parts, %v", n, err)
	}
	stop := errors.New("stop")
	if err := ForEachPart([]byte{0, 0, 0, 0}, func([]byte) error { return stop }); err != stop {
		t.Fatalf("ForEachPart did not return fn's error: %v", err)
	}
}

func TestAppendMultipartKeepsPrefix(t *testing.T) {
	out, err := AppendMultipart([]byte("pre"), []byte("x"))
	if err != nil || !bytes.Equal(out, []byte{'p', 'r', 'e', 1, 0, 'x'}) {
		t.Fatalf("AppendMultipart = % x, %v", out, err)
	}
}

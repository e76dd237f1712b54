package auth

import (
	"bytes"
	"testing"
)

func TestDeriverTokens(t *testing.T) {
	d, err := NewDeriver(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	a, b := d.Token("session", "id1"), d.Token("session", "id1")
	if a != b || len(a) != 36 {
		t.Fatalf("not stable: %q %q", a, b)
	}
	if d.Token("session", "id2") == a || d.Token("api-session", "id1") == a {
		t.Fatal("tokens of different records or kinds collide")
	}
	d2, _ := NewDeriver(bytes.Repeat([]byte{8}, 32))
	if d2.Token("session", "id1") == a {
		t.Fatal("another secret gives the same token")
	}
	if _, err := NewDeriver([]byte("short")); err == nil {
		t.Fatal("short secret accepted")
	}
}

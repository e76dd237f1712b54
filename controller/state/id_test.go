package state

import (
	"strings"
	"testing"
	"time"
)

// Ids are 22 base62 characters, unique, and sort in the order they were made,
// so that a bucket's new records go to its end.
func TestNewIDOrderedAndUnique(t *testing.T) {
	seen := map[string]bool{}
	prev := ""
	for i := 0; i < 2000; i++ {
		if i%500 == 0 {
			time.Sleep(2 * time.Microsecond)
		}
		id := NewID()
		if len(id) != 22 || strings.Trim(id, idAlphabet) != "" {
			t.Fatalf("id %q is not 22 base62 characters", id)
		}
		if seen[id] {
			t.Fatalf("id %q made twice", id)
		}
		seen[id] = true
		if prev != "" && id[:timeChars] < prev[:timeChars] {
			t.Fatalf("id %q made after %q sorts before it", id, prev)
		}
		prev = id
	}
	if a, b := RandomID(), RandomID(); len(a) != 22 || a == b || strings.Trim(a, idAlphabet) != "" {
		t.Fatalf("random ids %q, %q", a, b)
	}
}

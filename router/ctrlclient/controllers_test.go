package ctrlclient

import (
	"slices"
	"testing"
)

func TestControllerSetTriesEachControllerOnceBeforeBackingOff(t *testing.T) {
	cs := newControllerSet("a:1", []string{"b:1", "a:1"})
	if got := cs.all(); !slices.Equal(got, []string{"a:1", "b:1"}) {
		t.Fatalf("configured controllers %v, want a duplicate dropped", got)
	}
	cs.learn([]string{"tls:c:1", "tls:b:1", "", "tls:"})
	var tried []string
	for {
		tried = append(tried, cs.address())
		if cs.next() {
			break
		}
	}
	if !slices.Equal(tried, []string{"a:1", "b:1", "c:1"}) {
		t.Fatalf("tried %v, want every controller once, configured first", tried)
	}
	if cs.address() != "a:1" {
		t.Fatalf("after a round the first controller is tried again, got %s", cs.address())
	}
	// A later list replaces what was learned; the configured ones stay.
	cs.learn([]string{"tls:d:1"})
	if got := cs.all(); !slices.Equal(got, []string{"a:1", "b:1", "d:1"}) {
		t.Fatalf("after a new list: %v", got)
	}
	// The one in use may drop out of the list: the next move starts over.
	cs.next()
	cs.next()
	if cs.address() != "d:1" {
		t.Fatalf("at %s, want d:1", cs.address())
	}
	cs.learn(nil)
	if !cs.next() || cs.address() != "a:1" {
		t.Fatalf("a forgotten controller is left for the first, got %s", cs.address())
	}
}

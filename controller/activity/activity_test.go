package activity

import (
	"testing"
	"time"
)

func TestTrackerKeepsTheLatestUseAndHandsOutMovesOnce(t *testing.T) {
	tr := New()
	t0 := time.Unix(1000, 0)
	tr.Touch("a", t0)
	tr.Touch("a", t0.Add(-time.Second)) // older: ignored
	tr.Touch("b", t0.Add(time.Second))
	if at, ok := tr.Last("a"); !ok || !at.Equal(t0) {
		t.Fatalf("Last(a) = %v %v, want %v", at, ok, t0)
	}
	moved := tr.TakeMoved()
	if len(moved) != 2 || !moved["a"].Equal(t0) || !moved["b"].Equal(t0.Add(time.Second)) {
		t.Fatalf("first TakeMoved = %v", moved)
	}
	if again := tr.TakeMoved(); len(again) != 0 {
		t.Fatalf("a second TakeMoved without uses returned %v", again)
	}
	tr.Touch("a", t0) // the same time again is no move
	if again := tr.TakeMoved(); len(again) != 0 {
		t.Fatalf("touching at the known time moved %v", again)
	}

	// A batch that failed is handed out again, with the newest time.
	tr.Touch("a", t0.Add(2*time.Second))
	failed := tr.TakeMoved()
	tr.Touch("a", t0.Add(3*time.Second))
	tr.Requeue(failed)
	if retry := tr.TakeMoved(); len(retry) != 1 || !retry["a"].Equal(t0.Add(3*time.Second)) {
		t.Fatalf("after Requeue TakeMoved = %v, want a at the newest time", retry)
	}

	tr.Retain(func(id string) bool { return id == "a" })
	if _, ok := tr.Last("b"); ok || tr.Len() != 1 {
		t.Fatalf("Retain kept b (len %d)", tr.Len())
	}
	tr.Forget("a")
	tr.Requeue(map[string]time.Time{"a": t0}) // forgotten sessions are not brought back
	if tr.Len() != 0 {
		t.Fatal("Forget or Requeue left an entry")
	}
}

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
	tr.TouchFromRouter("b", t0.Add(time.Second))
	if u, ok := tr.Last("a"); !ok || !u.At.Equal(t0) || !u.RouterAt.IsZero() {
		t.Fatalf("Last(a) = %+v %v, want a REST use at %v", u, ok, t0)
	}
	moved := tr.TakeMoved()
	if len(moved) != 2 || !moved["a"].At.Equal(t0) || !moved["b"].At.Equal(t0.Add(time.Second)) || !moved["b"].RouterAt.Equal(t0.Add(time.Second)) {
		t.Fatalf("first TakeMoved = %+v", moved)
	}
	if again := tr.TakeMoved(); len(again) != 0 {
		t.Fatalf("a second TakeMoved without uses returned %v", again)
	}
	tr.Touch("a", t0) // the same time again is no move
	if again := tr.TakeMoved(); len(again) != 0 {
		t.Fatalf("touching at the known time moved %v", again)
	}
	// A REST use later than a router's report moves At only.
	tr.Touch("b", t0.Add(5*time.Second))
	if u, _ := tr.Last("b"); !u.At.Equal(t0.Add(5*time.Second)) || !u.RouterAt.Equal(t0.Add(time.Second)) {
		t.Fatalf("Last(b) = %+v", u)
	}
	tr.TakeMoved()

	// A batch that failed is handed out again, with the newest time.
	tr.Touch("a", t0.Add(2*time.Second))
	failed := tr.TakeMoved()
	tr.Touch("a", t0.Add(3*time.Second))
	tr.Requeue(failed)
	if retry := tr.TakeMoved(); len(retry) != 1 || !retry["a"].At.Equal(t0.Add(3*time.Second)) {
		t.Fatalf("after Requeue TakeMoved = %v, want a at the newest time", retry)
	}

	tr.Retain(func(id string) bool { return id == "a" })
	if _, ok := tr.Last("b"); ok || tr.Len() != 1 {
		t.Fatalf("Retain kept b (len %d)", tr.Len())
	}
	tr.Forget("a")
	tr.Requeue(map[string]Use{"a": {At: t0}}) // forgotten sessions are not brought back
	if tr.Len() != 0 {
		t.Fatal("Forget or Requeue left an entry")
	}
}

package edge

import "testing"

// TestPickWeighsPathCost: a terminator on another router costs its own cost plus the cost of
// the path to it, under every strategy's cost rule.
func TestPickWeighsPathCost(t *testing.T) {
	var tt terminatorTable
	tt.init()
	local := &terminator{Terminator: Terminator{ID: "local", ServiceID: "s", Cost: 10}}
	tt.add(local)
	remote := func(pathCost int) []RemoteTerminator {
		return []RemoteTerminator{{Terminator: Terminator{ID: "far", ServiceID: "s", RouterID: "r2", Cost: 0}, Path: []string{"r1", "r2"}, PathCost: pathCost}}
	}
	got, err := tt.pick("s", StrategySmartRouting, "", remote(50))
	if err != nil || got.local != local {
		t.Fatalf("a remote terminator 50 away beat a local one of cost 10: %+v %v", got, err)
	}
	got, err = tt.pick("s", StrategySmartRouting, "", remote(3))
	if err != nil || got.remote == nil || got.remote.ID != "far" {
		t.Fatalf("a remote terminator 3 away lost to a local one of cost 10: %+v %v", got, err)
	}
	// Failures through it count as for local terminators.
	tt.recordRemoteDial(got.remote, false)
	if got, _ = tt.pick("s", StrategySmartRouting, "", remote(3)); got.local != local {
		t.Fatalf("a failing remote terminator was still preferred: %+v", got)
	}
	// Weighted: a path ten times dearer is picked about ten times less often.
	counts := map[bool]int{}
	for range 2000 {
		c, _ := tt.pick("s", StrategyWeighted, "", []RemoteTerminator{{Terminator: Terminator{ID: "x", ServiceID: "s", RouterID: "r3"}, PathCost: 109}})
		counts[c.local != nil]++
	}
	if counts[true] < 5*counts[false] {
		t.Fatalf("weighted picks local/remote = %d/%d", counts[true], counts[false])
	}
	// Only the terminator named by identity counts, wherever it is.
	if _, err := tt.pick("s", StrategySmartRouting, "nobody", remote(1)); err == nil {
		t.Fatal("picked a terminator for an identity nobody has")
	}
}

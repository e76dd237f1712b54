package routerctl

import (
	"context"
	"sync"
	"testing"
	"time"
)

func TestPresence(t *testing.T) {
	p := NewPresence()
	if p.Online("r1") {
		t.Fatal("a new registry has a router online")
	}
	p.Connected("r1")
	first, _ := p.Since("r1")
	p.Connected("r1")
	again, _ := p.Since("r1")
	if !p.Online("r1") || !first.Equal(again) {
		t.Fatal("reconnect while online must keep the first connect time")
	}
	p.Disconnected("r1")
	if p.Online("r1") {
		t.Fatal("disconnected router still online")
	}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.Connected("r2")
			_ = p.Online("r2")
			p.Disconnected("r2")
		}()
	}
	wg.Wait()
}

// TestPresenceIsSharedThroughTheStore: two registries sharing one replicated
// state stand for two controller nodes; a router attached to one is online
// for the other, and offline again once it leaves or its node stops.
func TestPresenceIsSharedThroughTheStore(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	here, there := NewPresence(), NewPresence()
	stopHere := make(chan struct{})
	hereCtx, stopSharing := context.WithCancel(ctx)
	go func() { defer close(stopHere); here.Share(hereCtx, f.st, "node-here", time.Minute, nil) }()
	go there.Share(ctx, f.st, "node-there", time.Minute, nil)

	waitOnline := func(p *Presence, want bool, what string) {
		t.Helper()
		for end := time.Now().Add(10 * time.Second); p.Online(f.routerID) != want; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("%s: online %v, want %v", what, !want, want)
			}
		}
	}
	here.Connected(f.routerID)
	waitOnline(there, true, "a router attached to the other node")
	if _, local := there.Since(f.routerID); local {
		t.Fatal("the other node counts the router as its own")
	}
	here.Disconnected(f.routerID)
	waitOnline(there, false, "a router that left the other node")

	here.Connected(f.routerID)
	waitOnline(there, true, "a router back on the other node")
	stopSharing()
	<-stopHere
	waitOnline(there, false, "a router of a node that stopped")
	if !here.Online(f.routerID) {
		t.Fatal("the stopped node forgot its own router")
	}
}

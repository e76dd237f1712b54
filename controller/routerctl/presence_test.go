package routerctl

import (
	"sync"
	"testing"
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

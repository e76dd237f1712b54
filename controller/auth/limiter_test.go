package auth

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestLimiterBoundsAndGivesUp(t *testing.T) {
	l := NewLimiter(2, 50*time.Millisecond)
	release := make(chan struct{})
	var started sync.WaitGroup
	var done sync.WaitGroup
	for range 2 {
		started.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			_ = l.Do(context.Background(), func() { started.Done(); <-release })
		}()
	}
	started.Wait()
	if l.InUse() != 2 {
		t.Fatalf("in use: %d", l.InUse())
	}
	ran := false
	if err := l.Do(context.Background(), func() { ran = true }); !errors.Is(err, ErrBusy) || ran {
		t.Fatalf("a third check with both slots taken: err %v, ran %v", err, ran)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Do(ctx, func() { ran = true }); !errors.Is(err, context.Canceled) || ran {
		t.Fatalf("a check whose caller left: err %v, ran %v", err, ran)
	}
	close(release)
	done.Wait()
	if err := l.Do(context.Background(), func() { ran = true }); err != nil || !ran || l.InUse() != 0 {
		t.Fatalf("after the slots freed: err %v, ran %v, in use %d", err, ran, l.InUse())
	}
}

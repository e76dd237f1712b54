package cluster_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// readsSeeAcknowledgedWrites runs writers on the leader while a reader on
// node r takes a read barrier again and again: after each barrier, every
// write acknowledged before the barrier began must be in r's store.
func readsSeeAcknowledgedWrites(t *testing.T, ctx context.Context, leader, r *node, prefix string) {
	t.Helper()
	var (
		mu    sync.Mutex
		acked []string
		wg    sync.WaitGroup
	)
	const writers, each = 4, 40
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				id := fmt.Sprintf("%s-%d-%02d", prefix, w, i)
				if err := createService(ctx, leader.raft, id); err != nil {
					errs <- fmt.Errorf("write %s: %w", id, err)
					return
				}
				mu.Lock()
				acked = append(acked, id)
				mu.Unlock()
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	reads := 0
	for finished := false; !finished; reads++ {
		select {
		case <-done:
			finished = true // one more read after the last write
		default:
		}
		mu.Lock()
		before := append([]string(nil), acked...)
		mu.Unlock()
		if err := r.raft.ReadBarrier(ctx); err != nil {
			t.Fatalf("read barrier on %s: %v", r.id, err)
		}
		for _, id := range before {
			if !hasService(r, id) {
				t.Fatalf("%s was acknowledged before a read barrier on %s began, but the read does not see it", id, r.id)
			}
		}
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(acked) != writers*each {
		t.Fatalf("%d writes acknowledged, want %d", len(acked), writers*each)
	}
	t.Logf("%s: %d reads on %s during %d writes", prefix, reads, r.id, len(acked))
}

// TestReadBarrierSeesEveryAcknowledgedWrite checks linearizable reads with
// writes in flight: on a single node (the only voter, which answers without
// asking a quorum), then on the leader and on a follower of three.
func TestReadBarrierSeesEveryAcknowledgedWrite(t *testing.T) {
	p := newTestPKI(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n1 := startNode(t, p, "n1", t.TempDir(), "", true)
	defer n1.stop()
	if err := n1.raft.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	readsSeeAcknowledgedWrites(t, ctx, n1, n1, "single")

	n2 := startNode(t, p, "n2", t.TempDir(), "", false)
	defer n2.stop()
	n3 := startNode(t, p, "n3", t.TempDir(), "", false)
	defer n3.stop()
	for _, n := range []*node{n2, n3} {
		if err := n.raft.Join(ctx, n1.bind); err != nil {
			t.Fatal(err)
		}
	}
	readsSeeAcknowledgedWrites(t, ctx, n1, n1, "leader")
	readsSeeAcknowledgedWrites(t, ctx, n1, n2, "follower")
}

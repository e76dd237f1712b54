package cluster_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkApply measures the replicated write path on its own (no HTTP):
// 8 writers create services through a single-node cluster on real files, as
// fast as each write is acknowledged. It reports writes per second and the
// mean raft entries per store transaction, which shows how well commits are
// grouped.
func BenchmarkApply(b *testing.B) {
	p := newTestPKI(b)
	n := startNode(b, p, "n1", b.TempDir(), "", true)
	defer n.stop()
	ctx := context.Background()
	if err := n.raft.WaitLeader(ctx); err != nil {
		b.Fatal(err)
	}
	const writers = 8
	var seq atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	per := (b.N + writers - 1) / writers
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range per {
				id := fmt.Sprintf("w%d-%d", w, seq.Add(1))
				if err := createService(ctx, n.raft, id); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.ReportMetric(float64(per*writers)/elapsed.Seconds(), "writes/s")
}

package ha

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"testing"
	"time"
)

// TestLinearizableThroughLeaderKillAndPartition is the short run in make
// test: one SIGKILL of the leader, one partition of the leader from the
// others, one partition of a follower, each healed, with clients on every
// node throughout.
func TestLinearizableThroughLeaderKillAndPartition(t *testing.T) {
	runJepsen(t, 1)
}

// runJepsen starts a three-node cluster, runs the workload through every
// node while the nemesis runs its cycle rounds times, then checks the
// history and that every node holds every acknowledged write.
func runJepsen(t *testing.T, rounds int) {
	started := time.Now()
	c := startCluster(t, 3)
	t.Logf("three controller processes up in %v", time.Since(started).Round(time.Millisecond))
	w := &workload{c: c, rec: newRecorder()}
	for i := range 3 {
		status, env := c.call(c.nodes[0], "POST", "/services", map[string]any{"name": fmt.Sprintf("register-%d", i), "encryptionRequired": true, "tags": map[string]any{"v": 0}}, nil)
		if status != 201 {
			t.Fatalf("create a register: %d %v", status, env)
		}
		w.regIDs = append(w.regIDs, env["data"].(map[string]any)["id"].(string))
	}

	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range len(c.nodes) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.client(ctx, i, c.nodes[i%len(c.nodes)])
		}()
	}
	var failovers, refusals []time.Duration
	for round := range rounds {
		time.Sleep(2 * time.Second)
		failovers = append(failovers, killLeader(t, c, w))
		time.Sleep(2 * time.Second)
		refusals = append(refusals, partitionOne(t, c, w, true))
		time.Sleep(2 * time.Second)
		refusals = append(refusals, partitionOne(t, c, w, false))
		t.Logf("round %d done at %v", round+1, time.Since(w.rec.start).Round(time.Second))
	}
	time.Sleep(2 * time.Second)
	stop()
	wg.Wait()
	t.Logf("writes resumed after the leader's SIGKILL in %v", failovers)
	t.Logf("an isolated node refused writes with 503 after %v", refusals)
	checkConverged(t, c, w)
	w.check(t)
	t.Logf("whole run: %v", time.Since(started).Round(time.Millisecond))
}

// killLeader SIGKILLs the leader, measures how long until a write is
// acknowledged again, and restarts the killed node.
func killLeader(t *testing.T, c *haCluster, w *workload) time.Duration {
	t.Helper()
	l := c.waitLeader(20 * time.Second)
	killedAt := time.Now()
	c.kill(l)
	var gap time.Duration
	deadline := time.Now().Add(30 * time.Second)
	for {
		var err error
		if gap, err = w.rec.gapAfter(killedAt); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no write acknowledged within 30s of killing leader %s", l.id)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("killed leader %s; writes resumed after %v", l.id, gap.Round(time.Millisecond))
	time.Sleep(time.Second)
	c.start(l)
	c.waitUp(l, time.Minute)
	return gap
}

// partitionOne cuts the leader (or a follower) off from the others on the
// cluster port, checks that it refuses a write with 503 while the majority
// takes writes, then heals.
func partitionOne(t *testing.T, c *haCluster, w *workload, leader bool) time.Duration {
	t.Helper()
	l := c.waitLeader(20 * time.Second)
	victim := l
	if !leader {
		for _, n := range c.nodes {
			if n != l && n.alive.Load() {
				victim = n
				break
			}
		}
	}
	var rest []int
	for _, n := range c.nodes {
		if n != victim {
			rest = append(rest, n.index)
		}
	}
	cutAt := time.Now()
	c.faults.partition([]int{victim.index}, rest)
	// The cut-off node refuses writes: 503, Retry-After, the envelope.
	var refusedAfter time.Duration
	for i := 0; ; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		status, hdr, env, err := c.do(ctx, victim, "POST", "/services", map[string]any{"name": fmt.Sprintf("probe-%d-%d", victim.index, time.Now().UnixNano()), "encryptionRequired": true}, nil)
		cancel()
		if err == nil && status == 503 {
			if code := errCode(env); hdr.Get("Retry-After") == "" || (code != "SERVICE_UNAVAILABLE" && code != "OUTCOME_UNKNOWN") {
				t.Errorf("refusal without Retry-After or envelope: %v %v", hdr, env)
			}
			refusedAfter = time.Since(cutAt)
			break
		}
		if err != nil {
			t.Fatalf("write to the cut-off node %s: %v", victim.id, err)
		}
		// Accepted before the node noticed it was cut off: fine, it was
		// committed by a majority then. It must notice soon.
		if time.Since(cutAt) > 20*time.Second {
			t.Fatalf("the cut-off node %s still answers %d %v after 20s", victim.id, status, env)
		}
	}
	role := "follower"
	if leader {
		role = "leader"
	}
	// The majority keeps taking writes.
	majorityFrom := time.Now()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := w.rec.gapAfter(majorityFrom); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the majority took no write within 30s of cutting off the %s %s", role, victim.id)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("cut off %s %s: it refused writes after %v; the majority kept writing", role, victim.id, refusedAfter.Round(time.Millisecond))
	time.Sleep(time.Second)
	c.faults.heal()
	return refusedAfter
}

// checkConverged waits for the nodes to agree and checks that each holds
// every create acknowledged and not deleted since.
func checkConverged(t *testing.T, c *haCluster, w *workload) {
	t.Helper()
	c.waitLeader(30 * time.Second)
	w.rec.mu.Lock()
	live := make(map[string]string, len(w.rec.live))
	for k, v := range w.rec.live {
		live[k] = v
	}
	w.rec.mu.Unlock()
	for _, n := range c.nodes {
		deadline := time.Now().Add(30 * time.Second)
		for {
			have := map[string]bool{}
			status := 0
			for offset := 0; ; offset += 500 {
				var env map[string]any
				status, env = c.call(n, "GET", fmt.Sprintf("/services?limit=500&offset=%d&filter=%s", offset, urlEscape(`name contains "svc-"`)), nil, nil)
				if status != 200 {
					break
				}
				page, _ := env["data"].([]any)
				for _, x := range page {
					have[x.(map[string]any)["id"].(string)] = true
				}
				if len(page) < 500 {
					break
				}
			}
			missing := 0
			for _, id := range live {
				if !have[id] {
					missing++
				}
			}
			if missing == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s lacks %d of %d acknowledged creates (status %d)", n.id, missing, len(live), status)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	t.Logf("every node holds all %d acknowledged, undeleted creates", len(live))
}

func urlEscape(s string) string { return url.QueryEscape(s) }

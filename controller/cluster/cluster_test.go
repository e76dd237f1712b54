package cluster_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ostium-net/ostium/controller/cluster"
	"github.com/ostium-net/ostium/controller/command"
	"github.com/ostium-net/ostium/controller/store"
)

// testPKI is a throwaway CA that issues node certificates for 127.0.0.1.
type testPKI struct {
	ca    *x509.Certificate
	caKey *ecdsa.PrivateKey
	pool  *x509.CertPool
}

func newTestPKI(t testing.TB) *testPKI {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test cluster CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &testPKI{ca: ca, caKey: key, pool: pool}
}

func (p *testPKI) tlsConfig(t testing.TB, name string) *tls.Config {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		KeyUsage:    x509.KeyUsageDigitalSignature, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		RootCAs:      p.pool, ClientCAs: p.pool, ClientAuth: tls.RequireAndVerifyClientCert,
		MinVersion: tls.VersionTLS13,
	}
}

type node struct {
	id    string
	dir   string
	store *store.Store
	raft  *cluster.Node
	bind  string
}

func startNode(t testing.TB, p *testPKI, id, dir, bind string, bootstrap bool) *node {
	t.Helper()
	return startNodeWith(t, p, id, dir, bind, bootstrap, nil)
}

// startNodeWith is startNode with a chance to change the node's configuration.
func startNodeWith(t testing.TB, p *testPKI, id, dir, bind string, bootstrap bool, configure func(*cluster.Config)) *node {
	t.Helper()
	s, err := store.Open(filepath.Join(dir, "ctrl.db"), store.Options{Rebuildable: true})
	if err != nil {
		t.Fatal(err)
	}
	if bind == "" {
		bind = "127.0.0.1:0"
	}
	cfg := cluster.Config{NodeID: id, DataDir: dir, Bind: bind, TLS: p.tlsConfig(t, id),
		Bootstrap: bootstrap, HeartbeatTimeout: 300 * time.Millisecond, ElectionTimeout: 300 * time.Millisecond}
	if configure != nil {
		configure(&cfg)
	}
	n, err := cluster.Start(cfg, s)
	if err != nil {
		_ = s.Close()
		t.Fatal(err)
	}
	return &node{id: id, dir: dir, store: s, raft: n, bind: n.Addr()}
}

func (n *node) stop() {
	_ = n.raft.Close()
	_ = n.store.Close()
}

func createService(ctx context.Context, n *cluster.Node, id string) error {
	c, err := command.NewCreate(store.Services, &store.Service{Meta: store.Meta{ID: id}, Name: "svc-" + id})
	if err != nil {
		return err
	}
	_, err = n.Apply(ctx, c)
	return err
}

func hasService(n *node, id string) bool {
	found := false
	_ = n.store.View(func(tx *store.Tx) error { found = tx.Exists(store.Services, id); return nil })
	return found
}

func eventually(t *testing.T, what string, d time.Duration, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if f() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestThreeNodeClusterReplicatesAndFailsOver(t *testing.T) {
	p := newTestPKI(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	n1 := startNode(t, p, "n1", t.TempDir(), "", true)
	if err := n1.raft.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	n2 := startNode(t, p, "n2", t.TempDir(), "", false)
	n3 := startNode(t, p, "n3", t.TempDir(), "", false)
	nodes := []*node{n1, n2, n3}
	defer func() {
		for _, n := range nodes {
			n.stop()
		}
	}()
	// n3 joins through a follower, which passes the request to the leader.
	if err := n2.raft.Join(ctx, n1.bind); err != nil {
		t.Fatal(err)
	}
	if err := n3.raft.Join(ctx, n2.bind); err != nil {
		t.Fatal(err)
	}
	members, err := n1.raft.Members()
	if err != nil || len(members) != 3 {
		t.Fatalf("members %v %v", members, err)
	}

	// Writes through any node, followers included, land on all nodes.
	var acked []string
	for i := 0; i < 30; i++ {
		id := fmt.Sprintf("s%02d", i)
		if err := createService(ctx, nodes[i%3].raft, id); err != nil {
			t.Fatalf("write %s via %s: %v", id, nodes[i%3].id, err)
		}
		// Read-your-writes on the node that took the write.
		if !hasService(nodes[i%3], id) {
			t.Fatalf("%s not visible on %s right after Apply returned", id, nodes[i%3].id)
		}
		acked = append(acked, id)
	}
	for _, n := range nodes {
		eventually(t, "replication to "+n.id, 10*time.Second, func() bool {
			for _, id := range acked {
				if !hasService(n, id) {
					return false
				}
			}
			return true
		})
	}
	// Domain errors survive forwarding.
	follower := n2
	if follower.raft.IsLeader() {
		follower = n3
	}
	err = createService(ctx, follower.raft, "s00")
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate via follower: want ErrConflict, got %v", err)
	}

	// Concurrent writers while the leader is stopped: nothing acknowledged is lost.
	var leader *node
	for _, n := range nodes {
		if n.raft.IsLeader() {
			leader = n
		}
	}
	if leader == nil {
		t.Fatal("no leader")
	}
	var survivors []*node
	for _, n := range nodes {
		if n != leader {
			survivors = append(survivors, n)
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var wrongAnswers []string
	repeated, unknown := 0, 0
	stopWriting := make(chan struct{})
	for w := range 3 * len(survivors) {
		n := survivors[w%len(survivors)]
		wg.Add(1)
		go func(w int, n *node) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stopWriting:
					return
				default:
				}
				id := fmt.Sprintf("w%d-%03d", w, i)
				wctx, wcancel := context.WithTimeout(ctx, 8*time.Second)
				c, _ := command.NewCreate(store.Services, &store.Service{Meta: store.Meta{ID: id}, Name: "svc-" + id})
				o, err := n.raft.ApplyOutcome(wctx, c)
				wcancel()
				mu.Lock()
				switch {
				case err == nil:
					acked = append(acked, id)
					if o.Repeated {
						repeated++
					}
				case errors.Is(err, cluster.ErrOutcomeUnknown):
					unknown++
				case !errors.Is(err, cluster.ErrNoLeader):
					// A create of a fresh id can only fail for want of a
					// leader: a conflict means a retry was applied twice.
					wrongAnswers = append(wrongAnswers, fmt.Sprintf("%s via %s: %v", id, n.id, err))
				}
				mu.Unlock()
				time.Sleep(2 * time.Millisecond)
			}
		}(w, n)
	}
	time.Sleep(200 * time.Millisecond)
	leader.stop()
	stoppedAt := time.Now()
	eventually(t, "a new leader", 10*time.Second, func() bool {
		return survivors[0].raft.IsLeader() || survivors[1].raft.IsLeader()
	})
	t.Logf("new leader elected %v after the old one stopped", time.Since(stoppedAt).Round(time.Millisecond))
	// The new leader takes writes.
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	if err := createService(wctx, survivors[0].raft, "after-failover"); err != nil {
		t.Fatalf("write after failover: %v", err)
	}
	wcancel()
	mu.Lock()
	acked = append(acked, "after-failover")
	mu.Unlock()
	time.Sleep(200 * time.Millisecond)
	close(stopWriting)
	wg.Wait()
	if len(wrongAnswers) > 0 {
		t.Fatalf("creates answered with a definite failure across the failover: %v", wrongAnswers)
	}
	t.Logf("%d creates acknowledged, %d of them answered from a retried request's first outcome, %d of unknown outcome", len(acked), repeated, unknown)

	for _, n := range survivors {
		eventually(t, "acknowledged writes on "+n.id, 10*time.Second, func() bool {
			mu.Lock()
			defer mu.Unlock()
			for _, id := range acked {
				if !hasService(n, id) {
					return false
				}
			}
			return true
		})
	}

	// The stopped node comes back with its data dir and catches up.
	back := startNode(t, p, leader.id, leader.dir, leader.bind, false)
	nodes = append(survivors, back)
	eventually(t, "restarted node catching up", 15*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, id := range acked {
			if !hasService(back, id) {
				return false
			}
		}
		return true
	})
}

// installedSnapshots lists the raft snapshots a node holds in its data
// directory.
func installedSnapshots(t *testing.T, dir string) []string {
	t.Helper()
	metas, err := filepath.Glob(filepath.Join(dir, "snapshots", "*", "meta.json"))
	if err != nil {
		t.Fatal(err)
	}
	return metas
}

// TestSnapshotAndRestoreThroughRaft: a leader that keeps almost no log after
// a snapshot must install the snapshot on a follower that joins late; the
// follower's store is swapped for it, holds every record, and takes the
// entries written after it from the log.
func TestSnapshotAndRestoreThroughRaft(t *testing.T) {
	p := newTestPKI(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n1 := startNodeWith(t, p, "n1", t.TempDir(), "", true, func(c *cluster.Config) { c.SnapshotThreshold, c.TrailingLogs = 5, 1 })
	defer n1.stop()
	if err := n1.raft.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		if err := createService(ctx, n1.raft, fmt.Sprintf("s%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := n1.raft.Snapshot(); err != nil {
		t.Fatal(err)
	}
	// The log before the snapshot is gone: a node that joins now can only be
	// sent the snapshot.
	n2dir := t.TempDir()
	n2 := startNode(t, p, "n2", n2dir, "", false)
	defer n2.stop()
	if got := installedSnapshots(t, n2dir); len(got) != 0 {
		t.Fatalf("a new node holds snapshots already: %v", got)
	}
	if err := n2.raft.Join(ctx, n1.bind); err != nil {
		t.Fatal(err)
	}
	eventually(t, "new node to have every record", 15*time.Second, func() bool {
		for i := 0; i < 20; i++ {
			if !hasService(n2, fmt.Sprintf("s%d", i)) {
				return false
			}
		}
		return true
	})
	if got := installedSnapshots(t, n2dir); len(got) == 0 {
		t.Fatal("the records reached the new node without a snapshot: the test did not exercise snapshot installation")
	}
	// Writes after the snapshot reach it through the log.
	if err := createService(ctx, n1.raft, "after-snapshot"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a write after the snapshot on the new node", 15*time.Second, func() bool { return hasService(n2, "after-snapshot") })

	// Work that must run on the leader runs there, whichever node asks.
	for _, n := range []*node{n1, n2} {
		id := n.id
		n.raft.HandleOnLeader("whoami", func(_ context.Context, in []byte) ([]byte, error) {
			if string(in) == "conflict" {
				return nil, store.ErrConflict
			}
			return []byte(id), nil
		})
	}
	for _, n := range []*node{n1, n2} {
		out, err := n.raft.CallLeader(ctx, "whoami", nil)
		if err != nil || string(out) != "n1" {
			t.Fatalf("call from %s ran on %q: %v", n.id, out, err)
		}
	}
	if _, err := n2.raft.CallLeader(ctx, "whoami", []byte("conflict")); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("domain error lost on the way back: %v", err)
	}
	if _, err := n2.raft.CallLeader(ctx, "nothing", nil); err == nil {
		t.Fatal("an unregistered leader function ran")
	}
}

func TestForeignCertificateRefused(t *testing.T) {
	p := newTestPKI(t)
	other := newTestPKI(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	n1 := startNode(t, p, "n1", t.TempDir(), "", true)
	defer n1.stop()
	if err := n1.raft.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	intruder := startNode(t, other, "evil", t.TempDir(), "", false)
	defer intruder.stop()
	jctx, jcancel := context.WithTimeout(ctx, 3*time.Second)
	defer jcancel()
	if err := intruder.raft.Join(jctx, n1.bind); err == nil {
		t.Fatal("a node with a certificate from another CA joined the cluster")
	}
	members, _ := n1.raft.Members()
	if len(members) != 1 {
		t.Fatalf("membership changed: %v", members)
	}
}

func TestIdempotencyKeyAnswersTheFirstOutcome(t *testing.T) {
	p := newTestPKI(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n1 := startNode(t, p, "n1", t.TempDir(), "", true)
	defer n1.stop()
	if err := n1.raft.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	create := func(ctx context.Context, id, name string) (cluster.Outcome, error) {
		c, err := command.NewCreate(store.Services, &store.Service{Meta: store.Meta{ID: id}, Name: name})
		if err != nil {
			t.Fatal(err)
		}
		return n1.raft.ApplyOutcome(ctx, c)
	}
	keyed := cluster.WithIdempotencyKey(ctx, "caller-1", "key-1", "POST /services {a}")
	first, err := create(keyed, "first-id", "a")
	if err != nil || first.Repeated || len(first.Created) != 1 || first.Created[0] != "first-id" {
		t.Fatalf("first request: %+v %v", first, err)
	}
	// The client repeats its request; the node picks another id for it.
	again, err := create(cluster.WithIdempotencyKey(ctx, "caller-1", "key-1", "POST /services {a}"), "second-id", "a")
	if err != nil || !again.Repeated || again.Index != first.Index || len(again.Created) != 1 || again.Created[0] != "first-id" {
		t.Fatalf("repeated request: %+v %v (first %+v)", again, err, first)
	}
	if hasService(n1, "second-id") {
		t.Fatal("the repeated request was applied")
	}
	// The same key for another request is refused; another caller's same
	// key is its own.
	if _, err := create(cluster.WithIdempotencyKey(ctx, "caller-1", "key-1", "POST /services {b}"), "third-id", "b"); !errors.Is(err, cluster.ErrIdempotencyKeyReused) {
		t.Fatalf("key reused for another request: %v", err)
	}
	if o, err := create(cluster.WithIdempotencyKey(ctx, "caller-2", "key-1", "POST /services {c}"), "fourth-id", "c"); err != nil || o.Repeated {
		t.Fatalf("another caller's key: %+v %v", o, err)
	}
	// A request that failed is answered with its failure again, not applied
	// now that it would succeed.
	conflicting := cluster.WithIdempotencyKey(ctx, "caller-1", "key-2", "POST /services {a}")
	if _, err := create(conflicting, "fifth-id", "a"); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate name: %v", err)
	}
	del := &command.DeleteEntity{Kind: store.Services.Name, ID: "first-id"}
	if _, err := n1.raft.Apply(ctx, del); err != nil {
		t.Fatal(err)
	}
	if _, err := create(cluster.WithIdempotencyKey(ctx, "caller-1", "key-2", "POST /services {a}"), "fifth-id", "a"); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("repeat of a failed request: %v", err)
	}
	if hasService(n1, "fifth-id") {
		t.Fatal("the repeat of a failed request was applied")
	}
}

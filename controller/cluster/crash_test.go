package cluster_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ostium-net/ostium/controller/cluster"
	"github.com/ostium-net/ostium/controller/store"
)

const crashDirEnv = "OSTIUM_CRASH_TEST_DIR"

// TestCrashWriterProcess is the child half of TestKill9KeepsAcknowledgedWrites:
// it writes services as fast as it can and prints each acknowledged id, until
// its parent kills it with SIGKILL. It does nothing when run on its own.
func TestCrashWriterProcess(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("runs only as the child process of TestKill9KeepsAcknowledgedWrites")
	}
	p := newTestPKI(t)
	n := startNode(t, p, "n1", dir, os.Getenv(crashDirEnv+"_BIND"), true)
	ctx := context.Background()
	if err := n.raft.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	out := bufio.NewWriter(os.Stdout)
	for i := 0; ; i++ {
		id := fmt.Sprintf("crash-%06d", i)
		if err := createService(ctx, n.raft, id); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(out, "ACK %s\n", id)
		_ = out.Flush()
	}
}

func TestKill9KeepsAcknowledgedWrites(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bind := ln.Addr().String()
	_ = ln.Close()

	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashWriterProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashDirEnv+"_BIND="+bind)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acked []string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		if id, ok := strings.CutPrefix(line, "ACK "); ok {
			acked = append(acked, id)
			if len(acked) == 300 {
				_ = cmd.Process.Signal(syscall.SIGKILL)
				break
			}
		}
	}
	_ = cmd.Wait()
	if len(acked) < 300 {
		t.Fatalf("child acknowledged only %d writes before exiting", len(acked))
	}

	// Restart on the same files. Watch what gets applied during replay.
	// Only the process died, not the machine: the store, which commits
	// without fsync, is complete in the page cache and is trusted.
	s, err := store.Open(filepath.Join(dir, "ctrl.db"), store.Options{Rebuildable: true})
	if err != nil {
		t.Fatal(err)
	}
	if aside := s.SetAside(); aside != "" {
		t.Fatalf("a store left by a killed process (same boot) was set aside to %s", aside)
	}
	before, err := s.AppliedIndex()
	if err != nil {
		t.Fatal(err)
	}
	var replayedBelow []uint64
	cancelListen := s.Listen(func(index uint64, changes []store.Change) {
		if index <= before {
			replayedBelow = append(replayedBelow, index)
		}
	})
	defer cancelListen()
	n, err := cluster.Start(cluster.Config{NodeID: "n1", DataDir: dir, Bind: bind, TLS: newTestPKI(t).tlsConfig(t, "n1"),
		HeartbeatTimeout: 300 * time.Millisecond, ElectionTimeout: 300 * time.Millisecond}, s)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = n.Close(); _ = s.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// A write after restart is applied after everything the log already holds.
	if err := createService(ctx, n, "after-restart"); err != nil {
		t.Fatal(err)
	}
	_ = s.View(func(tx *store.Tx) error {
		for _, id := range acked {
			if !tx.Exists(store.Services, id) {
				t.Errorf("acknowledged write %s lost", id)
			}
		}
		return nil
	})
	if len(replayedBelow) > 0 {
		t.Fatalf("replay applied entries at or below the applied index %d: %v", before, replayedBelow)
	}
	t.Logf("%d acknowledged writes before SIGKILL, applied index %d at restart", len(acked), before)
}

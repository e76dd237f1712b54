package events

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseTypes(t *testing.T) {
	for _, ok := range []string{"", "circuit", "circuit,entity", " entity , auth ", "circuit.closed,router", "apiSession,session,link"} {
		if _, err := ParseTypes(ok); err != nil {
			t.Errorf("ParseTypes(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"circuits", "entity.renamed", "circuit,bogus", strings.Repeat("a", 2000), "ENTITY"} {
		if _, err := ParseTypes(bad); err == nil {
			t.Errorf("ParseTypes(%q) accepted", bad)
		}
	}
	f, _ := ParseTypes("circuit.closed,entity")
	for typ, want := range map[string]bool{CircuitClosed: true, CircuitCreated: false, EntityCreated: true, EntityDeleted: true, AuthFailed: false} {
		if got := f.Match(typ); got != want {
			t.Errorf("Match(%s) = %v, want %v", typ, got, want)
		}
	}
	var all Filter
	if !all.Match(LinkDown) {
		t.Error("the zero filter does not select every event")
	}
}

func FuzzParseTypes(f *testing.F) {
	for _, s := range []string{"", "circuit", "circuit.closed,entity", ",,,", "entity.", ".created", "circuit, bogus"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		flt, err := ParseTypes(s)
		if err != nil {
			return
		}
		// Whatever it accepted selects only known types, or all of them.
		n := 0
		for _, typ := range Types {
			if flt.Match(typ) {
				n++
			}
		}
		if strings.TrimSpace(strings.ReplaceAll(s, ",", "")) != "" && n == 0 {
			t.Errorf("ParseTypes(%q) accepted a filter selecting nothing", s)
		}
	})
}

func TestEventJSONIsOneFlatObject(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	b, err := json.Marshal(New(EntityCreated, at, map[string]any{"entityId": "x", "note": "a\nb"}))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "\n") {
		t.Fatalf("encoded event holds a newline: %s", b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m["type"] != EntityCreated || m["namespace"] != NamespaceEntity || m["entityId"] != "x" || m["timestamp"] != "2026-01-02T03:04:05.000000006Z" {
		t.Fatalf("event = %s", b)
	}
}

// A subscriber that never reads loses events, counted, and nobody waits for it.
func TestSlowSubscriberDropsWithoutBlocking(t *testing.T) {
	bus := NewBus()
	slow := bus.Subscribe(Filter{}, 4)
	defer slow.Close()
	fast := bus.Subscribe(Filter{}, 2000)
	defer fast.Close()
	other, _ := ParseTypes("auth")
	unrelated := bus.Subscribe(other, 1)
	defer unrelated.Close()

	const n = 1000
	for i := range n {
		bus.Publish(New(EntityUpdated, time.Now(), map[string]any{"seq": i}))
	}
	if got := len(fast.Events()); got != n {
		t.Errorf("the fast subscriber holds %d events, want %d", got, n)
	}
	if got := slow.Dropped(); got != n-4 {
		t.Errorf("the slow subscriber dropped %d, want %d", got, n-4)
	}
	if got := bus.Dropped(); got != n-4 {
		t.Errorf("the bus counts %d drops, want %d", got, n-4)
	}
	if got := len(unrelated.Events()); got != 0 || unrelated.Dropped() != 0 {
		t.Errorf("a subscriber to other types got %d events and dropped %d", got, unrelated.Dropped())
	}
	first := <-slow.Events()
	if first.Fields["seq"] != 0 {
		t.Errorf("the slow subscriber's first event is %v, want the first published", first.Fields["seq"])
	}
	slow.Close()
	slow.Close() // twice is fine
	if bus.Subscribers() != 2 {
		t.Errorf("%d subscribers after a close, want 2", bus.Subscribers())
	}
	bus.Publish(New(EntityUpdated, time.Now(), nil)) // no send on a closed channel
	var nilBus *Bus
	nilBus.Publish(New(EntityUpdated, time.Now(), nil))
}

func readLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("%s: line %q is not JSON: %v", path, sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

func TestFileSinkRotatesBySize(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "logs", "events.jsonl")
	const maxBytes = 2048
	s, err := OpenFile(FileConfig{Path: path, MaxBytes: maxBytes, MaxFiles: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 300
	for i := range n {
		s.Write(New(CircuitClosed, time.Now(), map[string]any{"seq": i, "bytesUp": 10 * i}))
	}
	s.Close()
	for _, name := range []string{path, path + ".1", path + ".2"} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatalf("rotated file missing: %v", err)
		}
		if fi.Size() > maxBytes {
			t.Errorf("%s is %d bytes, over the %d limit", name, fi.Size(), maxBytes)
		}
	}
	if _, err := os.Stat(path + ".3"); !os.IsNotExist(err) {
		t.Errorf("a third rotated file is kept (MaxFiles 2): %v", err)
	}
	// The files hold the newest events, in order, without a gap.
	var seqs []int
	for _, name := range []string{path + ".2", path + ".1", path} {
		for _, m := range readLines(t, name) {
			seqs = append(seqs, int(m["seq"].(float64)))
		}
	}
	if len(seqs) == 0 || seqs[len(seqs)-1] != n-1 {
		t.Fatalf("the last event written is missing: %v", seqs)
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			t.Fatalf("events out of order or missing across the files: %v", seqs)
		}
	}
	// Reopening appends to the current file.
	s, err = OpenFile(FileConfig{Path: path, MaxBytes: maxBytes, MaxFiles: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	before := len(readLines(t, path))
	s.Write(New(CircuitClosed, time.Now(), map[string]any{"seq": n}))
	s.Close()
	lines := readLines(t, path)
	if len(lines) != before+1 && len(lines) != 1 { // 1 when this write rotated
		t.Fatalf("reopened file has %d lines, had %d", len(lines), before)
	}
}

func TestFileSinkRunWritesWhatTheBusCarries(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	only, _ := ParseTypes("circuit")
	s, err := OpenFile(FileConfig{Path: path, Filter: only}, nil)
	if err != nil {
		t.Fatal(err)
	}
	bus := NewBus()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx, bus) }()
	for bus.Subscribers() == 0 {
		time.Sleep(time.Millisecond)
	}
	for i := range 10 {
		bus.Publish(New(CircuitCreated, time.Now(), map[string]any{"circuitId": fmt.Sprint(i)}))
		bus.Publish(New(EntityCreated, time.Now(), nil))
	}
	// Run flushes once the bus is drained; wait for the ten lines.
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		if strings.Count(string(b), "\n") >= 10 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	lines := readLines(t, path)
	if len(lines) != 10 {
		t.Fatalf("%d lines written, want the 10 circuit events", len(lines))
	}
	for i, m := range lines {
		if m["type"] != CircuitCreated || m["circuitId"] != fmt.Sprint(i) {
			t.Fatalf("line %d = %v", i, m)
		}
	}
}

package ctrlclient

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ostium-net/ostium/internal/ctrlproto"
)

// eventsBody encodes an Events message as the controller sends it.
func eventsBody(t testing.TB, ev ctrlproto.Events) []byte {
	t.Helper()
	b, err := ctrlproto.Encode(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func upsertSession(index uint64, s ctrlproto.Session) ctrlproto.Events {
	return ctrlproto.Events{Index: index, Events: []ctrlproto.Event{{Kind: ctrlproto.EventUpsert, Session: &s}}}
}

// copyFile copies src to dst, as a crash would leave it; a missing src copies nothing.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if os.IsNotExist(err) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestEventsAreJournaledBetweenWholeWrites: after the whole state was written, the Events the
// controller pushes are appended to the journal and not written whole again; a router that
// stops without a last write (a crash) loads the whole state, then the journal, and holds
// every change. Without the journal the same files lack the Events.
func TestEventsAreJournaledBetweenWholeWrites(t *testing.T) {
	statePath := filepath.Join(t.TempDir(), "router-state.json")
	h := startHarness(t, func(cfg *Config) { cfg.RouterID = "router-1"; cfg.StatePath = statePath })
	sess := h.nextConnected(t)
	sess.push(t, ctrlproto.TypeSync, ctrlproto.Sync{RouterID: "router-1", Index: 7,
		APISessions: []ctrlproto.APISession{apiSession("a1", "tok-a1")},
		Sessions:    []ctrlproto.Session{session("s1", "a1", "svc1", "tok-s1")}})
	eventually(t, "the whole state written after the Sync", func() bool {
		b, err := os.ReadFile(statePath)
		return err == nil && bytes.Contains(b, []byte(`"index":7`))
	})
	whole, err := os.ReadFile(statePath)
	if err != nil {
		t.Fatal(err)
	}
	sess.push(t, ctrlproto.TypeEvents, upsertSession(8, session("s2", "a1", "svc1", "tok-s2")))
	sess.push(t, ctrlproto.TypeEvents, ctrlproto.Events{Index: 9, Events: []ctrlproto.Event{
		{Kind: ctrlproto.EventDelete, Session: &ctrlproto.Session{ID: "s1"}}}})
	journalPath := statePath + journalSuffix
	eventually(t, "both Events journaled", func() bool {
		b, _ := os.ReadFile(journalPath)
		records, _ := parseJournal(b)
		return len(records) == 2
	})
	if now, err := os.ReadFile(statePath); err != nil || !bytes.Equal(now, whole) {
		t.Errorf("the whole state was written again for two Events (err %v)", err)
	}

	crashed := filepath.Join(t.TempDir(), "router-state.json")
	copyFile(t, statePath, crashed)
	copyFile(t, journalPath, crashed+journalSuffix)
	c := restarted(t, crashed)
	if _, ok := c.Session("tok-s2"); !ok {
		t.Error("the session of the journaled Events is missing after the crash")
	}
	if _, ok := c.Session("tok-s1"); ok {
		t.Error("the session the journaled Events deleted is back after the crash")
	}
	if _, ok := c.APISession("tok-a1"); !ok {
		t.Error("the API session of the whole state is missing after the crash")
	}

	noJournal := filepath.Join(t.TempDir(), "router-state.json")
	copyFile(t, statePath, noJournal)
	if _, ok := restarted(t, noJournal).Session("tok-s2"); ok {
		t.Error("the whole state alone holds the journaled session: the journal was not what carried it")
	}
	h.stop(t)
}

// TestJournalLoadSkipsWhatTheStateHoldsAndCutsADamagedEnd: records the whole state already
// holds (by index) are not applied again, a torn last record is ignored and cut off, and
// records appended afterwards are read after the good ones.
func TestJournalLoadSkipsWhatTheStateHoldsAndCutsADamagedEnd(t *testing.T) {
	path := writeState(t, savedState{Format: stateFormat, RouterID: "router-1", SavedAt: time.Now(), HeardAt: time.Now(),
		State: ctrlproto.Sync{Index: 7, APISessions: []ctrlproto.APISession{apiSession("a1", "tok-a1")}}})
	at := time.Now()
	var data []byte
	// Index 6 precedes the whole state: its deletion of a1 is older than the state.
	data = appendRecord(data, eventsBody(t, ctrlproto.Events{Index: 6, Events: []ctrlproto.Event{
		{Kind: ctrlproto.EventDelete, APISession: &ctrlproto.APISession{ID: "a1"}}}}), at)
	data = appendRecord(data, eventsBody(t, upsertSession(8, session("s2", "a1", "svc1", "tok-s2"))), at)
	good := len(data)
	data = appendRecord(data, eventsBody(t, upsertSession(9, session("s3", "a1", "svc1", "tok-s3"))), at)
	data = data[:len(data)-3] // torn by a crash
	if err := os.WriteFile(path+journalSuffix, data, 0o600); err != nil {
		t.Fatal(err)
	}

	c := restarted(t, path)
	if _, ok := c.APISession("tok-a1"); !ok {
		t.Error("a journal record older than the whole state deleted its API session")
	}
	if _, ok := c.Session("tok-s2"); !ok {
		t.Error("the journaled session before the damage is missing")
	}
	if _, ok := c.Session("tok-s3"); ok {
		t.Error("the torn record was applied")
	}
	if b, _ := os.ReadFile(path + journalSuffix); len(b) != good {
		t.Fatalf("the journal is %d bytes after loading, want its %d good ones", len(b), good)
	}

	c.journal.add(eventsBody(t, upsertSession(10, session("s4", "a1", "svc1", "tok-s4"))), time.Now())
	if err := c.journal.flush(); err != nil {
		t.Fatal(err)
	}
	if s4, ok := restarted(t, path).Session("tok-s4"); !ok || s4.ID != "s4" {
		t.Error("a record appended after the cut is not read")
	}
}

// TestJournalCallsForAWholeWrite: the journal asks for the state to be written whole when it
// outgrows twice the whole state, when something it does not record changed, and when a Sync
// replaced the state, after which it queues nothing until the whole state is written.
func TestJournalCallsForAWholeWrite(t *testing.T) {
	j := newJournal(filepath.Join(t.TempDir(), "router-state.json"))
	if !j.due() {
		t.Fatal("a journal with no whole state written before it does not ask for one")
	}
	j.startSnapshot()
	if err := j.snapshotWritten(100, nil); err != nil {
		t.Fatal(err)
	}
	if j.due() {
		t.Fatal("a whole write is due right after one")
	}
	body := eventsBody(t, upsertSession(8, session("s2", "a1", "svc1", "tok-s2")))
	for i := 0; !j.due(); i++ {
		if i > 2*compactMinBytes/len(body) {
			t.Fatalf("the journal grew to %d bytes without asking for a whole write", j.size)
		}
		j.add(body, time.Now())
		if err := j.flush(); err != nil {
			t.Fatal(err)
		}
	}
	if j.size <= compactMinBytes {
		t.Errorf("a whole write was asked for at %d journal bytes, before %d", j.size, compactMinBytes)
	}

	j.startSnapshot()
	if err := j.snapshotWritten(100, nil); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(j.path); len(b) != 0 {
		t.Errorf("the journal holds %d bytes after a whole write", len(b))
	}
	j.replaced(false)
	if !j.due() {
		t.Error("a change the journal does not record does not ask for a whole write")
	}
	j.add(body, time.Now())
	if len(j.pending) == 0 {
		t.Error("Events after a topology change are not journaled until the whole write")
	}
	j.replaced(true)
	j.add(body, time.Now())
	if len(j.pending) != 0 {
		t.Error("Events after a Sync are queued for a journal that does not follow from the state on disk")
	}
}

// FuzzParseJournal: whatever the journal file holds, parsing stops at the first record that
// is not whole and sound, and the records it returns encode back to exactly what it read.
func FuzzParseJournal(f *testing.F) {
	body, _ := json.Marshal(upsertSession(8, session("s2", "a1", "svc1", "tok-s2")))
	one := appendRecord(nil, body, time.Unix(1, 2))
	two := appendRecord(bytes.Clone(one), []byte(`{}`), time.Unix(3, 4))
	f.Add(one)
	f.Add(two)
	f.Add(two[:len(two)-1])
	f.Add([]byte{0, 0, 0, 8, 1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		records, valid := parseJournal(data)
		if valid < 0 || valid > len(data) {
			t.Fatalf("valid length %d of %d bytes", valid, len(data))
		}
		var again []byte
		for _, r := range records {
			again = appendRecord(again, r.body, r.at)
		}
		if !bytes.Equal(again, data[:valid]) {
			t.Fatalf("the %d records read do not encode back to the %d bytes they came from", len(records), valid)
		}
	})
}

// BenchmarkStateWrites compares what the two ways of writing the state cost a router holding
// 20,000 API sessions: writing it whole (what every write cost before the journal, at most
// once a second) and journaling a second of changes at 1,000 client cycles a second (each an
// Events message opening an API session and a session, and one ending them), which is what a
// second costs now until the journal outgrows twice the whole state.
func BenchmarkStateWrites(b *testing.B) {
	const apiSessions = 20000
	path := filepath.Join(b.TempDir(), "router-state.json")
	c, err := New(offlineConfig(path))
	if err != nil {
		b.Fatal(err)
	}
	sync := ctrlproto.Sync{RouterID: "router-1", Index: 1}
	for i := range apiSessions {
		sync.APISessions = append(sync.APISessions, apiSession(fmt.Sprintf("a%d", i), fmt.Sprintf("tok-a%d", i)))
	}
	c.cache.applySync(&sync)
	b.Run("whole", func(b *testing.B) {
		for b.Loop() {
			if err := c.saveState(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(c.journal.snapshotSize)/(1<<20), "state-MiB")
	})
	var second [][]byte
	for i := range 1000 {
		id := fmt.Sprintf("cycle-%d", i)
		open := ctrlproto.Events{Index: uint64(2 + 2*i), Events: []ctrlproto.Event{
			{Kind: ctrlproto.EventUpsert, APISession: ptr(apiSession(id, "tok-"+id))},
			{Kind: ctrlproto.EventUpsert, Session: ptr(session("s-"+id, id, "svc1", "tok-s-"+id))}}}
		end := ctrlproto.Events{Index: uint64(3 + 2*i), Events: []ctrlproto.Event{
			{Kind: ctrlproto.EventDelete, APISession: &ctrlproto.APISession{ID: id}},
			{Kind: ctrlproto.EventDelete, Session: &ctrlproto.Session{ID: "s-" + id}}}}
		second = append(second, eventsBody(b, open), eventsBody(b, end))
	}
	b.Run("journal-second", func(b *testing.B) {
		var appended int64
		for b.Loop() {
			before := c.journal.size
			for _, body := range second {
				c.journal.add(body, time.Now())
			}
			if err := c.journal.flush(); err != nil {
				b.Fatal(err)
			}
			appended = c.journal.size - before
			if c.journal.due() {
				b.StopTimer()
				c.journal.startSnapshot()
				if err := c.journal.snapshotWritten(c.journal.snapshotSize, nil); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		}
		b.ReportMetric(float64(appended)/(1<<20), "journal-MiB")
	})
}

func ptr[T any](v T) *T { return &v }

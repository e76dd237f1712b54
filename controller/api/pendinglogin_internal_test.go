package api

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/ostium-net/ostium/controller/command"
	"github.com/ostium-net/ostium/controller/domain"
	"github.com/ostium-net/ostium/controller/store"
)

func signIn(id string) *domain.Authenticate {
	return &domain.Authenticate{APISession: &store.APISession{Meta: store.Meta{ID: id}, IdentityID: "alice", TokenHash: "hash-" + id}}
}

// TestPendingLoginsFillTheNextEntryWhileOneIsProposed: one proposer at a
// time; the sign-ins answered while an entry is being applied all go into
// the next one, and each stays readable until its entry is done.
func TestPendingLoginsFillTheNextEntryWhileOneIsProposed(t *testing.T) {
	var mu sync.Mutex
	var entries [][]string
	firstIn, releaseFirst := make(chan struct{}), make(chan struct{})
	p := newPendingLogins(slog.New(slog.DiscardHandler), func(_ context.Context, logins []domain.TimedLogin) error {
		mu.Lock()
		var ids []string
		for _, l := range logins {
			ids = append(ids, l.Login.APISession.ID)
		}
		entries = append(entries, ids)
		first := len(entries) == 1
		mu.Unlock()
		if first {
			close(firstIn)
			<-releaseFirst
		}
		return nil
	})
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	reserve := func() {
		if !p.tryReserve() {
			t.Fatal("no slot for a sign-in")
		}
	}
	reserve()
	answered := p.add(signIn("a"), at)
	if !answered.CreatedAt.Equal(at) || !answered.UpdatedAt.Equal(at) {
		t.Fatalf("answered session stamped %v/%v, want %v", answered.CreatedAt, answered.UpdatedAt, at)
	}
	<-firstIn
	for _, id := range []string{"b", "c", "d"} {
		reserve()
		p.add(signIn(id), at)
	}
	if l := p.find("hash-c"); l == nil || l.ID != "c" {
		t.Fatalf("a queued sign-in is not readable: %+v", l)
	}
	waited := make(chan struct{})
	go func() { p.waitAll(context.Background()); close(waited) }()
	close(releaseFirst)
	<-waited
	mu.Lock()
	defer mu.Unlock()
	if len(entries) != 2 || strings.Join(entries[0], ",") != "a" || strings.Join(entries[1], ",") != "b,c,d" {
		t.Fatalf("entries %v, want [a] then [b c d]", entries)
	}
	for _, id := range []string{"a", "b", "c", "d"} {
		if p.find("hash-"+id) != nil {
			t.Errorf("%s still pending after its entry", id)
		}
	}
	if n := len(p.slots); n != 0 {
		t.Errorf("%d slots still taken", n)
	}
}

// TestPendingLoginsEndWhenTheStoreCommitsOrTheEntryFails: a sign-in stops
// pending when a real store commits its session (before its proposer hears
// back), and when its entry fails, with the failure logged.
func TestPendingLoginsEndWhenTheStoreCommitsOrTheEntryFails(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "ctrl.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	var logged bytes.Buffer
	committed := make(chan struct{})
	fail := errors.New("no leader")
	var idx uint64
	var p *pendingLogins
	p = newPendingLogins(slog.New(slog.NewTextHandler(&logged, nil)), func(_ context.Context, logins []domain.TimedLogin) error {
		if logins[0].Login.APISession.ID == "lost" {
			return fail
		}
		idx++
		res := st.Apply(store.Entry{Index: idx, Time: time.Now(), Apply: (&domain.AuthenticateMany{Logins: logins}).Apply})
		// The listener ran inside the commit: nothing pends any more,
		// although the proposer has not settled anything yet.
		if p.find("hash-kept") != nil {
			t.Error("the committed sign-in still pends")
		}
		close(committed)
		return res.Err
	})
	p.listen(st)
	create, err := command.NewCreate(store.Identities, &store.Identity{Meta: store.Meta{ID: "alice"}, Name: "alice", Type: "User"})
	if err != nil {
		t.Fatal(err)
	}
	idx++
	if res := st.Apply(store.Entry{Index: idx, Time: time.Now(), Apply: create.Apply}); res.Err != nil {
		t.Fatal(res.Err)
	}
	kept := signIn("kept")
	kept.EventID = "ev-kept"
	p.tryReserve()
	p.add(kept, time.Now().UTC())
	<-committed
	p.waitAll(context.Background())

	p.tryReserve()
	p.add(signIn("lost"), time.Now().UTC())
	done := make(chan struct{})
	go func() { p.waitFor(context.Background(), "no-such-token"); close(done) }()
	<-done // a token that never pended does not wait
	p.waitAll(context.Background())
	if p.find("hash-lost") != nil {
		t.Fatal("the sign-in of a failed entry still pends")
	}
	if !strings.Contains(logged.String(), "no leader") {
		t.Fatalf("the failed entry was not logged: %q", logged.String())
	}
	var m dto.Metric
	if err := p.lost.Write(&m); err != nil || m.GetCounter().GetValue() != 1 {
		t.Fatalf("%v sign-ins counted lost (%v), want the failed entry's one", m.GetCounter().GetValue(), err)
	}
}

package api

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/ostium-net/ostium/controller/auth"
	"github.com/ostium-net/ostium/controller/command"
	"github.com/ostium-net/ostium/controller/state"
	"github.com/ostium-net/ostium/controller/store"
)

// What callers who have not signed in can make the controller do is bounded:
//   - a request body is read into memory up to MaxRequestBytes, a larger one
//     is answered 413 before any handler sees it;
//   - password hashes (argon2id, 64 MiB each) are computed a few at a time;
//     a check that waits too long for its turn is answered 429 RATE_LIMITED
//     with Retry-After, and nothing is recorded for it;
//   - failed sign-ins that name no identity (an unknown user name, an
//     unknown or untrusted certificate, a refused external JWT) are counted
//     in memory and written once per FailureFlush, one event per source
//     address, reason and event type with the number of attempts, all in one
//     raft entry: a flood of guesses costs the cluster one write per
//     interval, not one per guess;
//   - authentication events older than EventRetention are deleted by the
//     leader.

// DefaultMaxRequestBytes bounds request bodies unless configured otherwise.
const DefaultMaxRequestBytes = 1 << 20

// AuthLimits bound the work of authentication attempts. Zero fields take
// their defaults.
type AuthLimits struct {
	// PasswordChecks is how many password hashes are computed at once
	// (default GOMAXPROCS, at least 2).
	PasswordChecks int
	// PasswordQueueWait is how long a password check waits for its turn
	// before it is answered 429 (default 2s).
	PasswordQueueWait time.Duration
	// FailureFlush is how often the failed attempts naming no identity are
	// written (default 10s).
	FailureFlush time.Duration
	// EventRetention is how long authentication events are kept (default 30
	// days); PruneEvery is how often the leader deletes older ones (default
	// an hour, or a quarter of EventRetention when that is shorter).
	EventRetention time.Duration
	PruneEvery     time.Duration
}

// DefaultAuthEventRetention is how long authentication events are kept
// unless configured otherwise.
const DefaultAuthEventRetention = 30 * 24 * time.Hour

func (l AuthLimits) withDefaults() AuthLimits {
	if l.PasswordChecks <= 0 {
		l.PasswordChecks = max(runtime.GOMAXPROCS(0), 2)
	}
	if l.PasswordQueueWait <= 0 {
		l.PasswordQueueWait = 2 * time.Second
	}
	if l.FailureFlush <= 0 {
		l.FailureFlush = 10 * time.Second
	}
	if l.EventRetention <= 0 {
		l.EventRetention = DefaultAuthEventRetention
	}
	if l.PruneEvery <= 0 {
		l.PruneEvery = min(time.Hour, max(l.EventRetention/4, 100*time.Millisecond))
	}
	return l
}

// errTooBusy answers a password check that found no free slot in time.
var errTooBusy = &APIError{Status: http.StatusTooManyRequests, Code: "RATE_LIMITED", RetryAfter: 1,
	Message: "too many sign-ins are being checked at once; nothing was checked or recorded, retry in a moment"}

// verifyPassword checks a password in a hashing slot: it returns errTooBusy
// when none freed in time, else whether the password matched.
func (s *Server) verifyPassword(r *http.Request, password, hash string) (bool, error) {
	var err error
	if berr := s.passwords.Do(requestContext(r), func() { err = auth.VerifyPassword(password, hash) }); berr != nil {
		return false, errTooBusy
	}
	return err == nil, nil
}

// hashPassword hashes a new password in a hashing slot.
func (s *Server) hashPassword(r *http.Request, password string) (string, error) {
	var hash string
	var err error
	if berr := s.passwords.Do(requestContext(r), func() { hash, err = auth.HashPassword(password, auth.DefaultArgon2) }); berr != nil {
		return "", errTooBusy
	}
	return hash, err
}

// withBodyLimit reads each request body, up to limit bytes, before the
// handlers do, and answers a larger one 413 in the error envelope.
func withBodyLimit(limit int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
			next.ServeHTTP(w, r)
			return
		}
		tooLarge := func() {
			writeError(w, r, &APIError{Status: http.StatusRequestEntityTooLarge, Code: "REQUEST_TOO_LARGE",
				Message: fmt.Sprintf("the request body is larger than the %d bytes this controller accepts", limit)})
		}
		if r.ContentLength > limit {
			tooLarge()
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
		_ = r.Body.Close()
		if int64(len(body)) > limit {
			tooLarge()
			return
		}
		if err != nil {
			writeError(w, r, &APIError{Status: http.StatusBadRequest, Code: CodeCouldNotValidate, Message: "the request body could not be read"})
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

// anonKey groups failed attempts naming no identity.
type anonKey struct{ eventType, source, reason string }

// maxAnonKeys bounds the groups held between two flushes; attempts beyond
// it are counted by event type only.
const maxAnonKeys = 1024

// anonFailures counts the failed attempts naming no identity until they are
// written.
type anonFailures struct {
	mu       sync.Mutex
	counts   map[anonKey]int
	overflow map[string]int // by event type
}

func (a *anonFailures) add(eventType, source, reason string) {
	k := anonKey{eventType, source, reason}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.counts == nil {
		a.counts, a.overflow = map[anonKey]int{}, map[string]int{}
	}
	if _, held := a.counts[k]; held || len(a.counts) < maxAnonKeys {
		a.counts[k]++
		return
	}
	a.overflow[eventType]++
}

func (a *anonFailures) take() (map[anonKey]int, map[string]int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	counts, overflow := a.counts, a.overflow
	a.counts, a.overflow = nil, nil
	return counts, overflow
}

// requeue puts back what a flush could not write.
func (a *anonFailures) requeue(counts map[anonKey]int, overflow map[string]int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.counts == nil {
		a.counts, a.overflow = map[anonKey]int{}, map[string]int{}
	}
	for k, n := range counts {
		if _, held := a.counts[k]; held || len(a.counts) < maxAnonKeys {
			a.counts[k] += n
		} else {
			a.overflow[k.eventType] += n
		}
	}
	for t, n := range overflow {
		a.overflow[t] += n
	}
}

// recordAnonymousFailure counts a failed attempt that named no identity;
// it is written with the next flush.
func (s *Server) recordAnonymousFailure(r *http.Request, eventType, reason string) {
	s.anon.add(eventType, clientIP(r), reason)
}

// keepAnonymousFailures writes the counted attempts every FailureFlush
// until ctx ends, then once more if it can.
func (s *Server) keepAnonymousFailures(ctx context.Context) {
	ticker := time.NewTicker(s.AuthLimits.FailureFlush)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			s.flushAnonymousFailures(context.WithoutCancel(ctx), 2*time.Second)
			return
		case <-ticker.C:
			s.flushAnonymousFailures(ctx, 30*time.Second)
		}
	}
}

// flushAnonymousFailures writes the counted attempts as events, in one raft
// entry.
func (s *Server) flushAnonymousFailures(ctx context.Context, timeout time.Duration) {
	counts, overflow := s.anon.take()
	if len(counts) == 0 && len(overflow) == 0 {
		return
	}
	keys := make([]anonKey, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.source != b.source {
			return a.source < b.source
		}
		if a.eventType != b.eventType {
			return a.eventType < b.eventType
		}
		return a.reason < b.reason
	})
	cmds := make([]command.Command, 0, len(keys)+len(overflow))
	for _, k := range keys {
		cmds = append(cmds, &command.RecordAuthFailure{EventID: state.NewID(), EventType: k.eventType, Source: k.source,
			Reason: attempts(k.reason, counts[k])})
	}
	for eventType, n := range overflow {
		cmds = append(cmds, &command.RecordAuthFailure{EventID: state.NewID(), EventType: eventType,
			Reason: attempts(fmt.Sprintf("naming no identity, beyond the %d groups of source and reason listed", maxAnonKeys), n)})
	}
	b, err := command.NewBatch(time.Now().UTC(), cmds...)
	if err == nil {
		actx, cancel := context.WithTimeout(ctx, timeout)
		err = s.State.Apply(actx, b)
		cancel()
	}
	if err != nil {
		s.anon.requeue(counts, overflow)
		s.Log.Warn("recording failed sign-ins naming no identity; retrying with the next flush", "groups", len(cmds), "err", err)
	}
}

// attempts is a reason with the number of attempts it stands for.
func attempts(reason string, n int) string {
	if n == 1 {
		return reason
	}
	return fmt.Sprintf("%s (%d attempts)", reason, n)
}

// pruneBatch is how many auth events one raft entry deletes.
const pruneBatch = 512

// keepAuthEvents deletes, while this node leads, the authentication events
// older than EventRetention, every PruneEvery, until ctx ends.
func (s *Server) keepAuthEvents(ctx context.Context) {
	s.everyWhileLeading(ctx, s.AuthLimits.PruneEvery, func(ctx context.Context) {
		if n, err := s.pruneAuthEvents(ctx, time.Now().Add(-s.AuthLimits.EventRetention)); err != nil && ctx.Err() == nil {
			s.Log.Warn("pruning authentication events failed", "err", err)
		} else if n > 0 {
			s.Log.Info("pruned authentication events", "count", n, "olderThan", s.AuthLimits.EventRetention.String())
		}
	})
}

// pruneAuthEvents deletes the authentication events created before cutoff.
func (s *Server) pruneAuthEvents(ctx context.Context, cutoff time.Time) (int, error) {
	var old []string
	if err := s.State.View(func(tx *store.Tx) error {
		return tx.ForEach(store.AuthEvents, func(r store.Record) error {
			if r.Base().CreatedAt.Before(cutoff) {
				old = append(old, r.Base().ID)
			}
			return nil
		})
	}); err != nil {
		return 0, err
	}
	deleted := 0
	for len(old) > 0 && ctx.Err() == nil {
		n := min(len(old), pruneBatch)
		cmds := make([]command.Command, 0, n)
		for _, id := range old[:n] {
			cmds = append(cmds, &command.DeleteEntity{Kind: store.AuthEvents.Name, ID: id})
		}
		old = old[n:]
		b, err := command.NewBatch(time.Now().UTC(), cmds...)
		if err != nil {
			return deleted, err
		}
		actx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err = s.State.Apply(actx, b)
		cancel()
		if err != nil {
			return deleted, err
		}
		deleted += n
	}
	return deleted, ctx.Err()
}

package cluster

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ostium-net/ostium/controller/store"
)

// Every write carries a request id, chosen by the node that took it, or
// derived from the client's Idempotency-Key when it sent one. The FSM
// remembers each request's outcome (store.Remembered), so a proposal that is
// retried because its first outcome was unknown (the leader died, the
// answer was lost) is applied once, and the retry is answered with what the
// first application produced.

// RequestMemory is how long, on the request clock (see store), the outcome of
// a write is remembered for retries by the node that proposed it. Retries
// stop after the apply timeout, so this is generous.
const RequestMemory = 2 * time.Minute

// IdempotencyMemory is how long the outcome of a write that a client named
// with an Idempotency-Key is remembered.
const IdempotencyMemory = 24 * time.Hour

// requestEntryMarker opens a log entry that carries a request header before
// its command. Command type bytes are small and never take this value.
const requestEntryMarker byte = 0xF0

// requestHeader travels in the log entry before the command.
type requestHeader struct {
	ID   string
	Keep time.Duration
	// Fingerprint names what the client asked for under an Idempotency-Key;
	// a repeat of the key with another fingerprint is refused.
	Fingerprint string
}

func encodeEntry(h requestHeader, cmd []byte) []byte {
	out := make([]byte, 0, 2+3*binary.MaxVarintLen64+len(h.ID)+len(h.Fingerprint)+len(cmd))
	out = append(out, requestEntryMarker, 1)
	out = binary.AppendUvarint(out, uint64(len(h.ID)))
	out = append(out, h.ID...)
	out = binary.AppendUvarint(out, uint64(h.Keep))
	out = binary.AppendUvarint(out, uint64(len(h.Fingerprint)))
	out = append(out, h.Fingerprint...)
	return append(out, cmd...)
}

// decodeEntry splits a log entry into its request header (zero for entries
// written before request ids existed) and its command.
func decodeEntry(data []byte) (requestHeader, []byte, error) {
	var h requestHeader
	if len(data) == 0 || data[0] != requestEntryMarker {
		return h, data, nil
	}
	if len(data) < 2 || data[1] != 1 {
		return h, nil, errors.New("request header of an unknown version")
	}
	rest := data[2:]
	field := func() ([]byte, error) {
		n, k := binary.Uvarint(rest)
		if k <= 0 || n > uint64(len(rest)-k) {
			return nil, errors.New("truncated request header")
		}
		v := rest[k : k+int(n)]
		rest = rest[k+int(n):]
		return v, nil
	}
	id, err := field()
	if err != nil {
		return h, nil, err
	}
	keep, k := binary.Uvarint(rest)
	if k <= 0 {
		return h, nil, errors.New("truncated request header")
	}
	rest = rest[k:]
	fp, err := field()
	if err != nil {
		return h, nil, err
	}
	h.ID, h.Keep, h.Fingerprint = string(id), time.Duration(keep), string(fp)
	return h, rest, nil
}

// outcome is what the FSM remembers of a request's first application.
type outcome struct {
	Err         *wireError `json:"err,omitempty"`
	Created     []string   `json:"created,omitempty"`
	Fingerprint string     `json:"fp,omitempty"`
}

func (h requestHeader) storeRequest() *store.Request {
	if h.ID == "" {
		return nil
	}
	return &store.Request{ID: h.ID, Keep: h.Keep, Outcome: func(v any, err error) []byte {
		return mustJSON(outcome{Err: toWire(err), Created: createdIDs(v, nil), Fingerprint: h.Fingerprint})
	}, Ordered: strings.HasPrefix(h.ID, nodeRequestPrefix) && h.Keep == RequestMemory}
}

// createdIDs lists the ids of the records a command's result holds: the
// record a create returns, or those inside a batch's results.
func createdIDs(v any, into []string) []string {
	switch r := v.(type) {
	case store.Record:
		if r != nil && r.Base() != nil {
			into = append(into, r.Base().ID)
		}
	case []any:
		for _, x := range r {
			into = append(into, createdIDs(x, nil)...)
		}
	}
	return into
}

// Outcome is what applying a command produced.
type Outcome struct {
	// Index is the raft index of the entry that applied the command (the
	// first one, for a repeated request).
	Index uint64
	// Repeated is set when the request had been applied before (a retry, or
	// a client repeating an Idempotency-Key): nothing changed now, and the
	// rest of the outcome is the first application's.
	Repeated bool
	// Created holds the ids of records the command created, in order.
	Created []string
}

// ErrOutcomeUnknown is returned when a write was sent towards the leader but
// whether it was applied could not be learned in time (the leader failed or
// the cluster lost its quorum meanwhile). It may have been applied; a retry
// with the same Idempotency-Key is answered with the real outcome.
var ErrOutcomeUnknown = errors.New("the write was sent to the cluster, but whether it was applied could not be learned in time")

// ErrIdempotencyKeyReused is returned when an Idempotency-Key comes back with
// a request other than the one it first named.
var ErrIdempotencyKeyReused = errors.New("this Idempotency-Key was used for a different request")

// errUnknownAttempt marks one attempt whose outcome is unknown; the attempt
// is retried with the same request id.
var errUnknownAttempt = errors.New("outcome of the attempt is unknown")

// idempotency is the client's Idempotency-Key carried by a request context.
type idempotency struct {
	base        string
	fingerprint string
	next        atomic.Uint64
}

type idempotencyKey struct{}

// WithIdempotencyKey makes every write applied with ctx carry a request id
// derived from the client's key, its scope (who asked, so two clients never
// share keys) and the write's place among the writes ctx makes. Repeating
// the request with the same key repeats the same ids, so what was applied
// is not applied again. fingerprint names the request itself (method, path,
// body): the key may not be reused for another.
func WithIdempotencyKey(ctx context.Context, scope, key, fingerprint string) context.Context {
	sum := sha256.Sum256([]byte(scope + "\x00" + key))
	return context.WithValue(ctx, idempotencyKey{}, &idempotency{base: "k:" + base64.RawURLEncoding.EncodeToString(sum[:18]), fingerprint: fingerprint})
}

// HasIdempotencyKey reports whether writes applied with ctx carry a
// client's Idempotency-Key.
func HasIdempotencyKey(ctx context.Context) bool {
	_, ok := ctx.Value(idempotencyKey{}).(*idempotency)
	return ok
}

// newRequest picks the request header of one write.
func (n *Node) newRequest(ctx context.Context) requestHeader {
	if idem, ok := ctx.Value(idempotencyKey{}).(*idempotency); ok {
		seq := idem.next.Add(1)
		return requestHeader{ID: fmt.Sprintf("%s/%d", idem.base, seq), Keep: IdempotencyMemory, Fingerprint: idem.fingerprint}
	}
	// The id starts with the time, big-endian, so that the ids remembered
	// one after the other are neighbours in the requests bucket: a write
	// appends to its last page instead of dirtying a random one. The random
	// rest keeps ids unique across proposers.
	var b [8 + 12]byte
	binary.BigEndian.PutUint64(b[:8], uint64(time.Now().UnixNano()))
	_, _ = rand.Read(b[8:])
	return requestHeader{ID: nodeRequestPrefix + hex.EncodeToString(b[:8]) + base64.RawURLEncoding.EncodeToString(b[8:]), Keep: RequestMemory}
}

// nodeRequestPrefix opens the ids of requests a node names itself (see
// newRequest): they sort by time and share one keep time, so the store
// remembers them in order (store.Request.Ordered). Ids derived from an
// Idempotency-Key never start with it.
const nodeRequestPrefix = "n:"

// applyResult is what one attempt learned: the index of the entry and the
// request's outcome.
type applyResult struct {
	Index    uint64
	Repeated bool
	Created  []string
}

// resultOf turns the FSM's answer for an entry into an attempt's result.
func resultOf(index uint64, res store.Result, h requestHeader) (applyResult, error) {
	if res.Err != nil && !errors.Is(res.Err, store.ErrAlreadyApplied) {
		return applyResult{}, res.Err
	}
	rem, ok := res.Value.(store.Remembered)
	if !ok {
		return applyResult{Index: index, Created: createdIDs(res.Value, nil)}, nil
	}
	var o outcome
	if err := json.Unmarshal(rem.Outcome, &o); err != nil {
		return applyResult{}, fmt.Errorf("decode remembered outcome of request %s: %w", h.ID, err)
	}
	if o.Fingerprint != h.Fingerprint {
		return applyResult{}, ErrIdempotencyKeyReused
	}
	if o.Err != nil {
		return applyResult{}, fromWire(o.Err)
	}
	return applyResult{Index: rem.Index, Repeated: true, Created: o.Created}, nil
}

package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Remembered requests make a log entry idempotent: an entry that carries a
// request id is applied once, and every later entry with the same id gets
// the first one's outcome instead of being applied again. The memory lives
// in the same bbolt file and is written in the same transaction as the data,
// so it is replicated, snapshotted and replayed like everything else.
//
// Expiry is measured on the request clock: the latest proposal time of any
// entry applied so far. It depends only on the log, so every node prunes the
// same requests at the same index whatever its own clock says.
//
// Requests whose ids sort in the order they were made (Request.Ordered) are
// kept apart, in a bucket that is itself the pruning order: remembering one
// appends to its newest page and pruning deletes from its oldest, with no
// expiry index to write as well. That is most writes, so it saves pages in
// most commits.
var (
	// request id -> expiry (8 bytes) | first index (8 bytes) | outcome
	requestBucket = []byte("requests")
	// expiry (8 bytes) | request id -> nothing: the pruning order of
	// requestBucket
	requestExpiryBucket = []byte("requests-by-expiry")
	// ordered request id -> as in requestBucket
	orderedRequestBucket = []byte("requests-ordered")
	requestClockKey      = []byte("request-clock")
	// the request clock at or after which the next prune runs
	requestPruneKey = []byte("request-next-prune")
)

// pruneBatch bounds how many expired requests one transaction deletes, so a
// long idle period followed by one write never makes a huge transaction.
const pruneBatch = 512

// pruneInterval paces pruning on the request clock. Expired requests are
// deleted from the oldest pages of both buckets; pruning in every
// transaction would rewrite those pages at every commit, so it runs once per
// interval instead (again at the next write while a full batch leaves more
// behind). A request may outlive its keep time by up to an interval, the
// same on every node, since the pace depends only on the log.
const pruneInterval = 100 * time.Millisecond

// Request makes an Entry idempotent.
type Request struct {
	// ID names the request. Entries with the same id are applied once.
	ID string
	// Keep is how long, on the request clock, the outcome is remembered.
	Keep time.Duration
	// Outcome encodes what the first application produced: the value and
	// error Apply returned. The bytes come back in a Remembered.
	Outcome func(v any, err error) []byte
	// Ordered says that ids of ordered requests sort in the order they are
	// remembered, give or take the clock skew between proposers, and that
	// they share one Keep: then sorting them also sorts their expiries.
	Ordered bool
}

// Remembered is the Value of a Result whose entry repeated a request that was
// applied before: nothing was changed, and this is the first outcome.
type Remembered struct {
	// Index is the raft index at which the request was first applied.
	Index uint64
	// Outcome is what Request.Outcome encoded then.
	Outcome []byte
}

// lookupRequest finds the remembered outcome of the entry's request.
func lookupRequest(btx *bolt.Tx, e Entry) (Remembered, bool) {
	if e.Request == nil || e.Request.ID == "" {
		return Remembered{}, false
	}
	id := []byte(e.Request.ID)
	var v []byte
	if e.Request.Ordered {
		if b := btx.Bucket(orderedRequestBucket); b != nil {
			v = b.Get(id)
		}
	}
	// An ordered request remembered before ordered ones were kept apart is
	// in the general bucket.
	if v == nil {
		if b := btx.Bucket(requestBucket); b != nil {
			v = b.Get(id)
		}
	}
	if len(v) < 16 {
		return Remembered{}, false
	}
	return Remembered{Index: binary.BigEndian.Uint64(v[8:16]), Outcome: bytes.Clone(v[16:])}, true
}

// rememberRequest records the outcome of the entry's request, advances the
// request clock and prunes what expired. Entries without a request still
// advance the clock, so pruning goes on whatever is written.
func rememberRequest(btx *bolt.Tx, e Entry, v any, applyErr error) error {
	meta := btx.Bucket(metaBucket)
	clock := int64(0)
	if raw := meta.Get(requestClockKey); len(raw) == 8 {
		clock = int64(binary.BigEndian.Uint64(raw))
	}
	if t := e.Time.UnixNano(); !e.Time.IsZero() && t > clock {
		clock = t
		if err := meta.Put(requestClockKey, u64(uint64(clock))); err != nil {
			return fmt.Errorf("advance request clock: %w", err)
		}
	}
	bs, err := requestBuckets(btx)
	if err != nil {
		return err
	}
	if err := prunePaced(meta, bs, clock); err != nil {
		return err
	}
	if e.Request == nil || e.Request.ID == "" {
		return nil
	}
	var outcome []byte
	if e.Request.Outcome != nil {
		outcome = e.Request.Outcome(v, applyErr)
	}
	expiry := uint64(clock + int64(e.Request.Keep))
	id := []byte(e.Request.ID)
	val := make([]byte, 16, 16+len(outcome))
	binary.BigEndian.PutUint64(val[:8], expiry)
	binary.BigEndian.PutUint64(val[8:16], e.Index)
	val = append(val, outcome...)
	if e.Request.Ordered {
		if err := bs.ordered.Put(id, val); err != nil {
			return fmt.Errorf("remember request: %w", err)
		}
		return nil
	}
	if err := bs.general.Put(id, val); err != nil {
		return fmt.Errorf("remember request: %w", err)
	}
	if err := bs.byExpiry.Put(append(u64(expiry), id...), nil); err != nil {
		return fmt.Errorf("remember request expiry: %w", err)
	}
	return nil
}

// requestMemory is the buckets of remembered requests.
type requestMemory struct {
	general, byExpiry, ordered *bolt.Bucket
}

func requestBuckets(btx *bolt.Tx) (requestMemory, error) {
	var bs requestMemory
	for _, b := range []struct {
		into **bolt.Bucket
		name []byte
	}{{&bs.general, requestBucket}, {&bs.byExpiry, requestExpiryBucket}, {&bs.ordered, orderedRequestBucket}} {
		var err error
		if *b.into, err = btx.CreateBucketIfNotExists(b.name); err != nil {
			return bs, fmt.Errorf("%s bucket: %w", b.name, err)
		}
	}
	return bs, nil
}

// prunePaced prunes when the request clock has reached the time set by the
// last prune (a store without one prunes now), and sets the next.
func prunePaced(meta *bolt.Bucket, bs requestMemory, clock int64) error {
	if raw := meta.Get(requestPruneKey); len(raw) == 8 && clock < int64(binary.BigEndian.Uint64(raw)) {
		return nil
	}
	n, err := pruneRequests(bs.general, bs.byExpiry, clock)
	if err != nil {
		return err
	}
	o, err := pruneOrdered(bs.ordered, clock)
	if err != nil {
		return err
	}
	next := clock + int64(pruneInterval)
	if n == pruneBatch || o == pruneBatch {
		next = clock // more may have expired: go on at the next write
	}
	if err := meta.Put(requestPruneKey, u64(uint64(next))); err != nil {
		return fmt.Errorf("set the next prune: %w", err)
	}
	return nil
}

// pruneRequests deletes up to pruneBatch requests expired at clock, and
// returns how many.
func pruneRequests(reqs, byExpiry *bolt.Bucket, clock int64) (int, error) {
	c := byExpiry.Cursor()
	var expired [][]byte
	for k, _ := c.First(); k != nil && len(expired) < pruneBatch; k, _ = c.Next() {
		if len(k) < 8 || int64(binary.BigEndian.Uint64(k[:8])) > clock {
			break
		}
		expired = append(expired, bytes.Clone(k))
	}
	for _, k := range expired {
		if err := byExpiry.Delete(k); err != nil {
			return 0, fmt.Errorf("prune request: %w", err)
		}
		id := k[8:]
		// The id may have been remembered again later with a new expiry;
		// only the record this key points at is removed.
		if v := reqs.Get(id); len(v) >= 8 && bytes.Equal(v[:8], k[:8]) {
			if err := reqs.Delete(id); err != nil {
				return 0, fmt.Errorf("prune request: %w", err)
			}
		}
	}
	return len(expired), nil
}

// pruneOrdered deletes up to pruneBatch expired requests from the oldest
// of the ordered bucket, and returns how many. It stops at the first that
// has not expired: one after it that expires first (its proposer's clock
// behind) waits for it, which keeps it a little longer and never drops one
// early.
func pruneOrdered(b *bolt.Bucket, clock int64) (int, error) {
	c := b.Cursor()
	n := 0
	for k, v := c.First(); k != nil && n < pruneBatch; k, v = c.First() {
		if len(v) >= 8 && int64(binary.BigEndian.Uint64(v[:8])) > clock {
			break
		}
		if err := c.Delete(); err != nil {
			return n, fmt.Errorf("prune request: %w", err)
		}
		n++
	}
	return n, nil
}

// RememberedRequests counts the requests the store remembers now.
func (tx *Tx) RememberedRequests() int {
	n := 0
	for _, name := range [][]byte{requestBucket, orderedRequestBucket} {
		if b := tx.bucket(name); b != nil {
			n += b.Stats().KeyN
		}
	}
	return n
}

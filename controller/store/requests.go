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
var (
	// request id -> expiry (8 bytes) | first index (8 bytes) | outcome
	requestBucket = []byte("requests")
	// expiry (8 bytes) | request id -> nothing: the pruning order
	requestExpiryBucket = []byte("requests-by-expiry")
	requestClockKey     = []byte("request-clock")
)

// pruneBatch bounds how many expired requests one transaction deletes, so a
// long idle period followed by one write never makes a huge transaction.
const pruneBatch = 512

// Request makes an Entry idempotent.
type Request struct {
	// ID names the request. Entries with the same id are applied once.
	ID string
	// Keep is how long, on the request clock, the outcome is remembered.
	Keep time.Duration
	// Outcome encodes what the first application produced: the value and
	// error Apply returned. The bytes come back in a Remembered.
	Outcome func(v any, err error) []byte
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
	b := btx.Bucket(requestBucket)
	if b == nil {
		return Remembered{}, false
	}
	v := b.Get([]byte(e.Request.ID))
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
	reqs, err := btx.CreateBucketIfNotExists(requestBucket)
	if err != nil {
		return fmt.Errorf("requests bucket: %w", err)
	}
	byExpiry, err := btx.CreateBucketIfNotExists(requestExpiryBucket)
	if err != nil {
		return fmt.Errorf("requests expiry bucket: %w", err)
	}
	if err := pruneRequests(reqs, byExpiry, clock); err != nil {
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
	if err := reqs.Put(id, append(val, outcome...)); err != nil {
		return fmt.Errorf("remember request: %w", err)
	}
	if err := byExpiry.Put(append(u64(expiry), id...), nil); err != nil {
		return fmt.Errorf("remember request expiry: %w", err)
	}
	return nil
}

func pruneRequests(reqs, byExpiry *bolt.Bucket, clock int64) error {
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
			return fmt.Errorf("prune request: %w", err)
		}
		id := k[8:]
		// The id may have been remembered again later with a new expiry;
		// only the record this key points at is removed.
		if v := reqs.Get(id); len(v) >= 8 && bytes.Equal(v[:8], k[:8]) {
			if err := reqs.Delete(id); err != nil {
				return fmt.Errorf("prune request: %w", err)
			}
		}
	}
	return nil
}

// RememberedRequests counts the requests the store remembers now.
func (tx *Tx) RememberedRequests() int {
	b := tx.bucket(requestBucket)
	if b == nil {
		return 0
	}
	return b.Stats().KeyN
}

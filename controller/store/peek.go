package store

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"hash/maphash"
	"sync"
	"testing"
)

// Reading a record means decoding its JSON, and the hot paths (every
// request resolves its token to an API session and an identity, every
// policy change walks policies) read the same few records over and over.
// Peek serves them from a cache of decoded records instead.
//
// The cache needs no invalidation: an entry keeps the bytes it was decoded
// from, and a read compares them with the bytes the transaction sees. Equal
// bytes are the same record in every transaction, on every node, before and
// after a restore; anything else is decoded again and replaces the entry.
// The comparison costs a memcmp of the stored value, a small part of what
// decoding it costs.
//
// The price is that a peeked record is shared: its caller must not change
// it, nor anything it points to (slices, maps, times). A caller that wants
// to change a record reads it with Get, which always decodes a fresh copy.
// While tests run (benchmarks aside), every hit checks that the shared
// record still encodes as it did when it was decoded, and panics naming the
// record when it does not.

// peekCacheShards and peekShardEntries bound the cache: a full shard is
// emptied and fills again with what is read next.
const (
	peekCacheShards  = 16
	peekShardEntries = 2048
)

type peekKey struct {
	kind *Kind
	id   string
}

type peeked struct {
	raw []byte // the stored bytes rec was decoded from
	rec Record
	// encoded is rec as encoded when it was cached; kept only in tests, to
	// catch a caller that changed a shared record.
	encoded []byte
}

type peekShard struct {
	mu      sync.Mutex
	entries map[peekKey]peeked
}

type peekCache struct {
	seed   maphash.Seed
	shards [peekCacheShards]peekShard
	// checked says hits verify that the record was not changed.
	checked bool
}

func newPeekCache() *peekCache {
	c := &peekCache{seed: maphash.MakeSeed(), checked: checkingPeeks()}
	for i := range c.shards {
		c.shards[i].entries = make(map[peekKey]peeked)
	}
	return c
}

// checkingPeeks says whether shared records are checked for changes: in
// tests, not in benchmarks, whose figures the check would distort.
func checkingPeeks() bool {
	if !testing.Testing() {
		return false
	}
	bench := flag.Lookup("test.bench")
	return bench == nil || bench.Value.String() == ""
}

func (c *peekCache) shard(id string) *peekShard {
	return &c.shards[maphash.String(c.seed, id)%peekCacheShards]
}

// decode returns the record stored as raw, from the cache when raw is what
// the cached record was decoded from.
func (c *peekCache) decode(k *Kind, id string, raw []byte) (Record, error) {
	key := peekKey{kind: k, id: id}
	sh := c.shard(id)
	sh.mu.Lock()
	e, ok := sh.entries[key]
	sh.mu.Unlock()
	if ok && bytes.Equal(e.raw, raw) {
		if c.checked {
			c.verify(k, id, e)
		}
		return e.rec, nil
	}
	rec, err := k.Decode(id, raw)
	if err != nil {
		return nil, err
	}
	e = peeked{raw: bytes.Clone(raw), rec: rec}
	if c.checked {
		e.encoded, _ = json.Marshal(rec)
	}
	sh.mu.Lock()
	if len(sh.entries) >= peekShardEntries {
		clear(sh.entries)
	}
	sh.entries[key] = e
	sh.mu.Unlock()
	return rec, nil
}

func (c *peekCache) verify(k *Kind, id string, e peeked) {
	now, err := json.Marshal(e.rec)
	if err != nil || !bytes.Equal(now, e.encoded) {
		panic(fmt.Sprintf("store: the shared %s %q returned by Peek was changed by its reader; read it with Get to change it", k.Name, id))
	}
}

// Peek returns the record of kind with id, shared with other readers: the
// caller must not change it or anything it points to (see peek.go). Use Get
// for a copy of one's own.
func (tx *Tx) Peek(k *Kind, id string) (Record, error) {
	v := tx.bucket(dataBucket(k)).Get([]byte(id))
	if v == nil {
		return nil, fmt.Errorf("%s %q: %w", k.Name, id, ErrNotFound)
	}
	return tx.s.peek.decode(k, id, v)
}

// Peek is the typed form of Tx.Peek; the record must not be changed.
func Peek[T Record](tx *Tx, k *Kind, id string) (T, error) {
	return typed[T](tx.Peek(k, id))
}

// ForEachPeek is ForEach with shared records (see Peek): fn must not change
// them.
func (tx *Tx) ForEachPeek(k *Kind, fn func(Record) error) error {
	return tx.ForEachRaw(k, func(id string, raw []byte) error {
		rec, err := tx.s.peek.decode(k, id, raw)
		if err != nil {
			return err
		}
		return fn(rec)
	})
}

// Package store owns the controller's persistent state: one bbolt file whose
// buckets and indexes are all declared in schema.go. Writes happen only inside
// Apply, which the raft FSM calls with the log index of the command being
// applied; that index is written in the same transaction as the data, so a
// replayed log entry is recognised and skipped. Reads use View and see the
// last committed state.
package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

var (
	metaBucket      = []byte("meta")
	appliedIndexKey = []byte("applied-index")
	schemaKey       = []byte("schema-version")
	counterBucket   = []byte("counters")
	markerBucket    = []byte("markers")
)

const schemaVersion = 1

// Change describes one record created, updated or deleted by a transaction.
// Old is nil on create; New is nil on delete.
type Change struct {
	Kind *Kind
	Old  Record
	New  Record
}

// ChangeHook runs inside the writing transaction for every change, cascades
// included. Derived state (policy links) is maintained by hooks.
type ChangeHook func(tx *Tx, c Change) error

// Listener is told, after a transaction commits, what it changed.
type Listener func(index uint64, changes []Change)

// Store is the controller's bbolt database.
type Store struct {
	path string

	mu sync.RWMutex // guards db against a restore swapping it
	db *bolt.DB

	hooks []ChangeHook

	lmu       sync.Mutex
	listeners map[int]Listener
	nextL     int
}

// Options tune how the database is opened.
type Options struct {
	// NoSync skips fsync on commit. Only for tests and benchmarks that build
	// large fixtures; never for a real controller.
	NoSync bool
	// Hooks run inside every writing transaction, in order.
	Hooks []ChangeHook
}

// Open opens (or creates) the database at path and makes sure every declared
// bucket exists.
func Open(path string, opts Options) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create store directory: %w", err)
	}
	s := &Store{path: path, hooks: opts.Hooks, listeners: map[int]Listener{}}
	db, err := openDB(path, opts.NoSync)
	if err != nil {
		return nil, err
	}
	s.db = db
	return s, nil
}

func openDB(path string, noSync bool) (*bolt.DB, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second, NoSync: noSync, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return nil, fmt.Errorf("open bbolt %s: %w", path, err)
	}
	db.NoSync = noSync
	if err := db.Update(ensureSchema); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("prepare schema in %s: %w", path, err)
	}
	return db, nil
}

func ensureSchema(tx *bolt.Tx) error {
	names := [][]byte{metaBucket, counterBucket, markerBucket}
	for _, k := range AllKinds {
		names = append(names, dataBucket(k), attrBucket(k))
		for _, u := range k.Unique {
			names = append(names, uniqueBucket(k, u.Name))
		}
		for _, fk := range k.Refs {
			names = append(names, refBucket(k, fk.Field))
		}
	}
	for _, l := range AllLinks {
		names = append(names, []byte("l/"+l.Name), []byte("l/"+l.Name+"~"))
	}
	for _, n := range names {
		if _, err := tx.CreateBucketIfNotExists(n); err != nil {
			return fmt.Errorf("bucket %s: %w", n, err)
		}
	}
	m := tx.Bucket(metaBucket)
	if v := m.Get(schemaKey); v == nil {
		return m.Put(schemaKey, u64(schemaVersion))
	} else if got := binary.BigEndian.Uint64(v); got > schemaVersion {
		return fmt.Errorf("database schema version %d is newer than this build's %d", got, schemaVersion)
	}
	return nil
}

func dataBucket(k *Kind) []byte               { return []byte("k/" + k.Name) }
func attrBucket(k *Kind) []byte               { return []byte("a/" + k.Name) }
func uniqueBucket(k *Kind, idx string) []byte { return []byte("u/" + k.Name + "/" + idx) }
func refBucket(k *Kind, field string) []byte  { return []byte("r/" + k.Name + "/" + field) }

func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

// Path is the database file's location.
func (s *Store) Path() string { return s.path }

// Close closes the database.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return nil
	}
	err := s.db.Close()
	s.db = nil
	return err
}

// AddHook appends a change hook. Call it before the first Apply.
func (s *Store) AddHook(h ChangeHook) { s.hooks = append(s.hooks, h) }

// Listen registers a listener for committed changes and returns a function
// that removes it. Listeners run synchronously after commit and must be quick.
func (s *Store) Listen(l Listener) (cancel func()) {
	s.lmu.Lock()
	defer s.lmu.Unlock()
	id := s.nextL
	s.nextL++
	s.listeners[id] = l
	return func() {
		s.lmu.Lock()
		defer s.lmu.Unlock()
		delete(s.listeners, id)
	}
}

func (s *Store) notify(index uint64, changes []Change) {
	if len(changes) == 0 {
		return
	}
	s.lmu.Lock()
	ls := make([]Listener, 0, len(s.listeners))
	for _, l := range s.listeners {
		ls = append(ls, l)
	}
	s.lmu.Unlock()
	for _, l := range ls {
		l(index, changes)
	}
}

// View runs fn in a read-only transaction.
func (s *Store) View(fn func(tx *Tx) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return errors.New("store is closed")
	}
	return s.db.View(func(btx *bolt.Tx) error {
		return fn(&Tx{btx: btx, s: s})
	})
}

// AppliedIndex is the raft index of the last command applied.
func (s *Store) AppliedIndex() (uint64, error) {
	var idx uint64
	err := s.View(func(tx *Tx) error {
		idx = tx.AppliedIndex()
		return nil
	})
	return idx, err
}

// ErrAlreadyApplied is returned by Apply for a log index at or below the one
// already applied: the entry was applied before and is skipped.
var ErrAlreadyApplied = errors.New("log entry already applied")

// Entry is one unit of work for ApplyBatch: a raft index, the time its
// proposer stamped, and the function that applies it.
type Entry struct {
	Index uint64
	Time  time.Time
	Apply func(tx *Tx) (any, error)
	// Request, when set, makes the entry idempotent (see Remembered).
	Request *Request
}

// Result is the outcome of one Entry.
type Result struct {
	Value any
	Err   error
}

// Apply applies one entry in its own transaction. See ApplyBatch.
func (s *Store) Apply(e Entry) Result {
	return s.ApplyBatch([]Entry{e})[0]
}

// ApplyBatch applies entries in one bbolt transaction (one fsync for the
// batch). An entry whose function fails leaves no trace: the batch is rolled
// back and its entries are applied again one transaction each, so a failed
// entry is isolated and the others still commit. Entries at or below the
// applied index are skipped with ErrAlreadyApplied. The applied index is
// advanced in the same transaction as the data, even for a failed entry, so
// replay never applies anything twice.
func (s *Store) ApplyBatch(entries []Entry) []Result {
	results := make([]Result, len(entries))
	if len(entries) == 0 {
		return results
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		for i := range results {
			results[i].Err = errors.New("store is closed")
		}
		return results
	}
	var changes []Change
	var last uint64
	failed := false
	err := s.db.Update(func(btx *bolt.Tx) error {
		changes = changes[:0]
		applied := readApplied(btx)
		for i, e := range entries {
			if e.Index != 0 && e.Index <= applied {
				results[i].Err = ErrAlreadyApplied
				continue
			}
			if e.Index > applied {
				applied = e.Index
			}
			if rem, ok := lookupRequest(btx, e); ok {
				results[i].Value = rem
				if err := rememberRequest(btx, Entry{Time: e.Time}, nil, nil); err != nil {
					return err
				}
				continue
			}
			tx := &Tx{btx: btx, s: s, writable: true, index: e.Index, now: e.Time}
			v, err := e.Apply(tx)
			if err != nil {
				failed = true
				return errRollback
			}
			if err := rememberRequest(btx, e, v, nil); err != nil {
				return err
			}
			results[i].Value = v
			changes = append(changes, tx.changes...)
		}
		last = applied
		return btx.Bucket(metaBucket).Put(appliedIndexKey, u64(applied))
	})
	if err == nil {
		s.notify(last, changes)
		return results
	}
	if !failed {
		for i := range results {
			results[i] = Result{Err: fmt.Errorf("commit batch: %w", err)}
		}
		return results
	}
	// Isolate the failure: one transaction per entry.
	for i, e := range entries {
		results[i] = s.applyOne(e)
	}
	return results
}

var errRollback = errors.New("rollback")

func (s *Store) applyOne(e Entry) Result {
	var res Result
	var changes []Change
	err := s.db.Update(func(btx *bolt.Tx) error {
		applied := readApplied(btx)
		if e.Index != 0 && e.Index <= applied {
			res.Err = ErrAlreadyApplied
			return nil
		}
		if rem, ok := lookupRequest(btx, e); ok {
			res.Value = rem
			if err := rememberRequest(btx, Entry{Time: e.Time}, nil, nil); err != nil {
				return err
			}
			return btx.Bucket(metaBucket).Put(appliedIndexKey, u64(e.Index))
		}
		tx := &Tx{btx: btx, s: s, writable: true, index: e.Index, now: e.Time}
		v, err := e.Apply(tx)
		if err != nil {
			res.Err = err
			return errRollback
		}
		if err := rememberRequest(btx, e, v, nil); err != nil {
			return err
		}
		res.Value = v
		changes = tx.changes
		return btx.Bucket(metaBucket).Put(appliedIndexKey, u64(e.Index))
	})
	if errors.Is(err, errRollback) {
		// Record that the entry was seen, so it is not retried on replay,
		// and remember its request's failure so a repeat gets the same.
		if uerr := s.db.Update(func(btx *bolt.Tx) error {
			if e.Index <= readApplied(btx) {
				return nil
			}
			if err := rememberRequest(btx, e, nil, res.Err); err != nil {
				return err
			}
			return btx.Bucket(metaBucket).Put(appliedIndexKey, u64(e.Index))
		}); uerr != nil {
			return Result{Err: fmt.Errorf("%w (and recording the applied index failed: %v)", res.Err, uerr)}
		}
		return res
	}
	if err != nil {
		return Result{Err: fmt.Errorf("commit: %w", err)}
	}
	s.notify(e.Index, changes)
	return res
}

func readApplied(btx *bolt.Tx) uint64 {
	v := btx.Bucket(metaBucket).Get(appliedIndexKey)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

// Tx is a store transaction. Writable transactions exist only inside Apply.
type Tx struct {
	btx      *bolt.Tx
	s        *Store
	writable bool
	index    uint64
	now      time.Time
	changes  []Change
}

// Index is the raft index being applied (0 in read transactions).
func (tx *Tx) Index() uint64 { return tx.index }

// Now is the time stamped on the command being applied.
func (tx *Tx) Now() time.Time { return tx.now }

// AppliedIndex is the last raft index committed before this transaction.
func (tx *Tx) AppliedIndex() uint64 { return readApplied(tx.btx) }

func (tx *Tx) mustWrite() error {
	if !tx.writable {
		return errors.New("write in a read-only transaction")
	}
	return nil
}

// Exists reports whether a record of kind with id exists.
func (tx *Tx) Exists(k *Kind, id string) bool {
	return id != "" && tx.btx.Bucket(dataBucket(k)).Get([]byte(id)) != nil
}

// Get decodes the record of kind with id.
func (tx *Tx) Get(k *Kind, id string) (Record, error) {
	v := tx.btx.Bucket(dataBucket(k)).Get([]byte(id))
	if v == nil {
		return nil, fmt.Errorf("%s %q: %w", k.Name, id, ErrNotFound)
	}
	rec := k.New()
	if err := json.Unmarshal(v, rec); err != nil {
		return nil, fmt.Errorf("decode %s %q: %w", k.Name, id, err)
	}
	return rec, nil
}

// Get is the typed form of Tx.Get.
func Get[T Record](tx *Tx, k *Kind, id string) (T, error) {
	var zero T
	rec, err := tx.Get(k, id)
	if err != nil {
		return zero, err
	}
	t, ok := rec.(T)
	if !ok {
		return zero, fmt.Errorf("%s %q has type %T", k.Name, id, rec)
	}
	return t, nil
}

// Any reports whether a kind holds at least one record.
func (tx *Tx) Any(k *Kind) bool {
	key, _ := tx.btx.Bucket(dataBucket(k)).Cursor().First()
	return key != nil
}

// Count is the number of records of a kind.
func (tx *Tx) Count(k *Kind) int {
	return tx.btx.Bucket(dataBucket(k)).Stats().KeyN
}

// ForEach decodes every record of a kind, in id order, until fn returns an
// error (ErrStop ends the walk without error).
func (tx *Tx) ForEach(k *Kind, fn func(Record) error) error {
	c := tx.btx.Bucket(dataBucket(k)).Cursor()
	for key, v := c.First(); key != nil; key, v = c.Next() {
		rec := k.New()
		if err := json.Unmarshal(v, rec); err != nil {
			return fmt.Errorf("decode %s %q: %w", k.Name, key, err)
		}
		if err := fn(rec); err != nil {
			if errors.Is(err, ErrStop) {
				return nil
			}
			return err
		}
	}
	return nil
}

// IDs lists every id of a kind, in order.
func (tx *Tx) IDs(k *Kind) []string {
	var out []string
	c := tx.btx.Bucket(dataBucket(k)).Cursor()
	for key, _ := c.First(); key != nil; key, _ = c.Next() {
		out = append(out, string(key))
	}
	return out
}

// ErrStop ends a ForEach walk early without an error.
var ErrStop = errors.New("stop")

// Lookup finds the id holding value in a unique index.
func (tx *Tx) Lookup(k *Kind, index, value string) (string, bool) {
	b := tx.btx.Bucket(uniqueBucket(k, index))
	if b == nil || value == "" {
		return "", false
	}
	v := b.Get([]byte(value))
	if v == nil {
		return "", false
	}
	return string(v), true
}

// IDsWithAttribute lists the ids of records of kind that carry attr.
func (tx *Tx) IDsWithAttribute(k *Kind, attr string) []string {
	return prefixScan(tx.btx.Bucket(attrBucket(k)), attr)
}

// Referencing lists ids of src records whose field names target id.
func (tx *Tx) Referencing(src *Kind, field, targetID string) []string {
	b := tx.btx.Bucket(refBucket(src, field))
	if b == nil {
		return nil
	}
	return prefixScan(b, targetID)
}

func pair(a, b string) []byte {
	out := make([]byte, 0, len(a)+len(b)+1)
	out = append(out, a...)
	out = append(out, 0)
	return append(out, b...)
}

func prefixScan(b *bolt.Bucket, prefix string) []string {
	var out []string
	p := append([]byte(prefix), 0)
	c := b.Cursor()
	for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
		out = append(out, string(k[len(p):]))
	}
	return out
}

// Create stores a new record, stamping its times and indexes.
func (tx *Tx) Create(k *Kind, rec Record) error {
	if err := tx.mustWrite(); err != nil {
		return err
	}
	m := rec.Base()
	if m.ID == "" {
		return &FieldError{Kind: k.Name, Field: "id", Reason: "is required", Err: ErrInvalid}
	}
	if tx.Exists(k, m.ID) {
		return &FieldError{Kind: k.Name, Field: "id", Value: m.ID, Reason: "already exists", Err: ErrConflict}
	}
	m.CreatedAt, m.UpdatedAt = tx.now, tx.now
	m.CreateIndex, m.ModifyIndex = tx.index, tx.index
	if err := tx.index1(k, nil, rec); err != nil {
		return err
	}
	if err := tx.put(k, rec); err != nil {
		return err
	}
	return tx.changed(Change{Kind: k, New: rec})
}

// Update replaces an existing record, keeping its creation stamps.
func (tx *Tx) Update(k *Kind, rec Record) (old Record, err error) {
	if err := tx.mustWrite(); err != nil {
		return nil, err
	}
	m := rec.Base()
	old, err = tx.Get(k, m.ID)
	if err != nil {
		return nil, err
	}
	om := old.Base()
	m.CreatedAt, m.CreateIndex = om.CreatedAt, om.CreateIndex
	m.UpdatedAt, m.ModifyIndex = tx.now, tx.index
	if err := tx.index1(k, old, rec); err != nil {
		return nil, err
	}
	if err := tx.put(k, rec); err != nil {
		return nil, err
	}
	return old, tx.changed(Change{Kind: k, Old: old, New: rec})
}

// Delete removes a record, cascading to records that reference it with
// OnDelete Cascade and refusing when a Restrict reference remains.
func (tx *Tx) Delete(k *Kind, id string) error {
	if err := tx.mustWrite(); err != nil {
		return err
	}
	old, err := tx.Get(k, id)
	if err != nil {
		return err
	}
	for _, ref := range k.referencedBy {
		srcIDs := tx.Referencing(ref.Source, ref.Key.Field, id)
		if len(srcIDs) == 0 {
			continue
		}
		if ref.Key.OnDelete == Restrict {
			return &FieldError{Kind: k.Name, Field: "id", Value: id,
				Reason: fmt.Sprintf("is still referenced by %d %s (%s)", len(srcIDs), ref.Source.Name, ref.Key.Field), Err: ErrInvalidReference}
		}
		for _, sid := range srcIDs {
			if err := tx.Delete(ref.Source, sid); err != nil && !errors.Is(err, ErrNotFound) {
				return fmt.Errorf("cascade delete %s %q: %w", ref.Source.Name, sid, err)
			}
		}
	}
	if err := tx.index1(k, old, nil); err != nil {
		return err
	}
	if err := tx.btx.Bucket(dataBucket(k)).Delete([]byte(id)); err != nil {
		return fmt.Errorf("delete %s %q: %w", k.Name, id, err)
	}
	return tx.changed(Change{Kind: k, Old: old})
}

func (tx *Tx) put(k *Kind, rec Record) error {
	v, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode %s: %w", k.Name, err)
	}
	return tx.btx.Bucket(dataBucket(k)).Put([]byte(rec.Base().ID), v)
}

func (tx *Tx) changed(c Change) error {
	for _, h := range tx.s.hooks {
		if err := h(tx, c); err != nil {
			return err
		}
	}
	tx.changes = append(tx.changes, c)
	return nil
}

// index1 moves a record's index entries from old to new (either may be nil).
func (tx *Tx) index1(k *Kind, old, rec Record) error {
	id := ""
	if rec != nil {
		id = rec.Base().ID
	} else {
		id = old.Base().ID
	}
	for _, u := range k.Unique {
		b := tx.btx.Bucket(uniqueBucket(k, u.Name))
		oldV, newV := vals(u.Values, old), vals(u.Values, rec)
		for _, v := range diff(oldV, newV) {
			if err := b.Delete([]byte(v)); err != nil {
				return err
			}
		}
		for _, v := range diff(newV, oldV) {
			if owner := b.Get([]byte(v)); owner != nil && string(owner) != id {
				return &FieldError{Kind: k.Name, Field: u.Name, Value: v, Reason: "is already in use", Err: ErrConflict}
			}
			if err := b.Put([]byte(v), []byte(id)); err != nil {
				return err
			}
		}
	}
	for _, fk := range k.Refs {
		b := tx.btx.Bucket(refBucket(k, fk.Field))
		oldV, newV := vals(fk.Values, old), vals(fk.Values, rec)
		for _, v := range diff(oldV, newV) {
			if err := b.Delete(pair(v, id)); err != nil {
				return err
			}
		}
		for _, v := range diff(newV, oldV) {
			if !tx.Exists(fk.Target, v) {
				return &FieldError{Kind: k.Name, Field: fk.Field, Value: v,
					Reason: fmt.Sprintf("names no existing %s", fk.Target.Name), Err: ErrInvalidReference}
			}
			if err := b.Put(pair(v, id), nil); err != nil {
				return err
			}
		}
	}
	if k.Attributes != nil {
		b := tx.btx.Bucket(attrBucket(k))
		oldV, newV := vals(k.Attributes, old), vals(k.Attributes, rec)
		for _, v := range diff(oldV, newV) {
			if err := b.Delete(pair(v, id)); err != nil {
				return err
			}
		}
		for _, v := range diff(newV, oldV) {
			if err := b.Put(pair(v, id), nil); err != nil {
				return err
			}
		}
	}
	return nil
}

func vals(f func(Record) []string, r Record) []string {
	if r == nil || f == nil {
		return nil
	}
	return f(r)
}

// diff returns the distinct values of a that are not in b, sorted.
func diff(a, b []string) []string {
	if len(a) == 0 {
		return nil
	}
	in := make(map[string]bool, len(b))
	for _, v := range b {
		in[v] = true
	}
	seen := map[string]bool{}
	var out []string
	for _, v := range a {
		if v == "" || in[v] || seen[v] {
			continue
		}
		seen[v] = true
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// NextCounter increments and returns a named counter (used for stable,
// replicated sequence numbers).
func (tx *Tx) NextCounter(name string) (uint64, error) {
	if err := tx.mustWrite(); err != nil {
		return 0, err
	}
	b := tx.btx.Bucket(counterBucket)
	var n uint64
	if v := b.Get([]byte(name)); len(v) == 8 {
		n = binary.BigEndian.Uint64(v)
	}
	n++
	return n, b.Put([]byte(name), u64(n))
}

// SetMarker records a time under a key (for example when an identity's
// service list last changed).
func (tx *Tx) SetMarker(key string, t time.Time) error {
	if err := tx.mustWrite(); err != nil {
		return err
	}
	b, err := t.UTC().MarshalBinary()
	if err != nil {
		return err
	}
	return tx.btx.Bucket(markerBucket).Put([]byte(key), b)
}

// Marker reads a time recorded with SetMarker; ok is false when none was.
func (tx *Tx) Marker(key string) (t time.Time, ok bool) {
	v := tx.btx.Bucket(markerBucket).Get([]byte(key))
	if v == nil {
		return time.Time{}, false
	}
	if err := t.UnmarshalBinary(v); err != nil {
		return time.Time{}, false
	}
	return t, true
}

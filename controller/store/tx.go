package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Tx is a store transaction. Writable transactions exist only inside Apply.
type Tx struct {
	btx      *bolt.Tx
	s        *Store
	writable bool
	index    uint64
	now      time.Time
	changes  []Change
	notes    map[string]map[string]bool
	// opened are the buckets a read transaction has opened (see bucket).
	opened []openedBucket
}

// openedBucket is a bucket a read transaction opened, by name.
type openedBucket struct {
	name   string
	bucket *bolt.Bucket
}

// bucket returns the top-level bucket name. A write transaction's buckets
// are kept by bbolt; a read transaction's are opened again on every
// lookup, which allocates, so a read transaction keeps those it opened (a
// handful: the kinds and indexes one request reads).
func (tx *Tx) bucket(name []byte) *bolt.Bucket {
	if tx.writable {
		return tx.btx.Bucket(name)
	}
	for _, o := range tx.opened {
		if o.name == string(name) {
			return o.bucket
		}
	}
	b := tx.btx.Bucket(name)
	if b != nil {
		tx.opened = append(tx.opened, openedBucket{name: string(name), bucket: b})
	}
	return b
}

// Index is the raft index being applied (0 in read transactions).
func (tx *Tx) Index() uint64 { return tx.index }

// Now is the time stamped on the command being applied.
func (tx *Tx) Now() time.Time { return tx.now }

// WithTime runs fn with Now reporting at, so that a command carrying several
// proposals made at different times applies each at its own (at is part of
// the command, so every node applies the same).
func (tx *Tx) WithTime(at time.Time, fn func() error) error {
	saved := tx.now
	tx.now = at
	defer func() { tx.now = saved }()
	return fn()
}

// ChangeCount is how many changes the transaction has made so far.
func (tx *Tx) ChangeCount() int { return len(tx.changes) }

// AppliedIndex is the last raft index committed before this transaction.
func (tx *Tx) AppliedIndex() uint64 { return readApplied(tx.btx) }

func (tx *Tx) mustWrite() error {
	if !tx.writable {
		return errors.New("write in a read-only transaction")
	}
	return nil
}

// Note records that id is concerned by topic in this entry (for example an
// identity whose grants may have shrunk); settle hooks read it with Noted.
func (tx *Tx) Note(topic, id string) {
	if tx.notes == nil {
		tx.notes = map[string]map[string]bool{}
	}
	if tx.notes[topic] == nil {
		tx.notes[topic] = map[string]bool{}
	}
	tx.notes[topic][id] = true
}

// Noted lists, sorted, the ids noted under topic in this entry.
func (tx *Tx) Noted(topic string) []string {
	out := make([]string, 0, len(tx.notes[topic]))
	for id := range tx.notes[topic] {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// Changes lists what this entry changed so far, cascades included.
func (tx *Tx) Changes() []Change { return tx.changes }

// Exists reports whether a record of kind with id exists.
func (tx *Tx) Exists(k *Kind, id string) bool {
	return id != "" && tx.bucket(dataBucket(k)).Get([]byte(id)) != nil
}

// Get decodes the record of kind with id.
func (tx *Tx) Get(k *Kind, id string) (Record, error) {
	v := tx.bucket(dataBucket(k)).Get([]byte(id))
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
	return typed[T](tx.Get(k, id))
}

// typed asserts the type of a record just read.
func typed[T Record](rec Record, err error) (T, error) {
	var zero T
	if err != nil {
		return zero, err
	}
	t, ok := rec.(T)
	if !ok {
		return zero, fmt.Errorf("record %q has type %T, not %T", rec.Base().ID, rec, zero)
	}
	return t, nil
}

// Any reports whether a kind holds at least one record.
func (tx *Tx) Any(k *Kind) bool {
	key, _ := tx.bucket(dataBucket(k)).Cursor().First()
	return key != nil
}

// Count is the number of records of a kind.
func (tx *Tx) Count(k *Kind) int {
	return tx.bucket(dataBucket(k)).Stats().KeyN
}

// ForEach decodes every record of a kind, in id order, until fn returns an
// error (ErrStop ends the walk without error).
func (tx *Tx) ForEach(k *Kind, fn func(Record) error) error {
	c := tx.bucket(dataBucket(k)).Cursor()
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

// ForEachRaw calls fn with every record of a kind as stored (its JSON), in
// id order, without decoding it; ErrStop from fn ends the walk without
// error. raw is valid only until the transaction ends.
func (tx *Tx) ForEachRaw(k *Kind, fn func(id string, raw []byte) error) error {
	c := tx.bucket(dataBucket(k)).Cursor()
	for key, v := c.First(); key != nil; key, v = c.Next() {
		if err := fn(string(key), v); err != nil {
			if errors.Is(err, ErrStop) {
				return nil
			}
			return err
		}
	}
	return nil
}

// Decode decodes a record of kind k as ForEachRaw gave it.
func (k *Kind) Decode(id string, raw []byte) (Record, error) {
	rec := k.New()
	if err := json.Unmarshal(raw, rec); err != nil {
		return nil, fmt.Errorf("decode %s %q: %w", k.Name, id, err)
	}
	return rec, nil
}

// IDs lists every id of a kind, in order.
func (tx *Tx) IDs(k *Kind) []string {
	var out []string
	c := tx.bucket(dataBucket(k)).Cursor()
	for key, _ := c.First(); key != nil; key, _ = c.Next() {
		out = append(out, string(key))
	}
	return out
}

// ErrStop ends a ForEach walk early without an error.
var ErrStop = errors.New("stop")

// Lookup finds the id holding value in a unique index.
func (tx *Tx) Lookup(k *Kind, index, value string) (string, bool) {
	b := tx.bucket(uniqueBucket(k, index))
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
	return prefixScan(tx.bucket(attrBucket(k)), attr)
}

// Referencing lists ids of src records whose field names target id.
func (tx *Tx) Referencing(src *Kind, field, targetID string) []string {
	b := tx.bucket(refBucket(src, field))
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
	if err := tx.bucket(dataBucket(k)).Delete([]byte(id)); err != nil {
		return fmt.Errorf("delete %s %q: %w", k.Name, id, err)
	}
	return tx.changed(Change{Kind: k, Old: old})
}

func (tx *Tx) put(k *Kind, rec Record) error {
	v, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode %s: %w", k.Name, err)
	}
	return tx.bucket(dataBucket(k)).Put([]byte(rec.Base().ID), v)
}

func (tx *Tx) changed(c Change) error {
	c.Index, c.Time = tx.index, tx.now
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
		b := tx.bucket(uniqueBucket(k, u.Name))
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
		b := tx.bucket(refBucket(k, fk.Field))
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
		b := tx.bucket(attrBucket(k))
		oldV, newV := vals(k.Attributes, old), vals(k.Attributes, rec)
		for _, v := range newV {
			// The index keys are attribute\0id: a NUL inside an attribute
			// would make it read as another attribute.
			if strings.IndexByte(v, 0) >= 0 {
				return &FieldError{Kind: k.Name, Field: "roleAttributes", Value: v, Reason: "may not contain a NUL character", Err: ErrInvalid}
			}
		}
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
	b := tx.bucket(counterBucket)
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
	return tx.bucket(markerBucket).Put([]byte(key), b)
}

// Marker reads a time recorded with SetMarker; ok is false when none was.
func (tx *Tx) Marker(key string) (t time.Time, ok bool) {
	v := tx.bucket(markerBucket).Get([]byte(key))
	if v == nil {
		return time.Time{}, false
	}
	if err := t.UnmarshalBinary(v); err != nil {
		return time.Time{}, false
	}
	return t, true
}

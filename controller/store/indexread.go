package store

import (
	"bytes"
	"errors"
)

// Reads of the secondary indexes for list queries. The unique and attribute
// buckets are written by index1 in the same transaction as the record they
// describe, on every write path (create, update, delete, cascades, a batch
// that rolls back and is applied again), travel inside snapshots and are
// rebuilt by nothing: a follower, a restored snapshot and a reopened file
// all have them exactly as the records are.

// HasUnique reports whether kind k declares the unique index named index.
func (k *Kind) HasUnique(index string) bool {
	for _, u := range k.Unique {
		if u.Name == index {
			return true
		}
	}
	return false
}

// ScanUnique walks the unique index named index of kind k in the byte order
// of its values, from the first value starting with prefix (every value when
// prefix is empty) to the last one that does, calling fn with each value and
// the id that holds it. ErrStop from fn ends the walk without error. value
// and id are valid only until the transaction ends.
func (tx *Tx) ScanUnique(k *Kind, index, prefix string, fn func(value, id []byte) error) error {
	b := tx.bucket(uniqueBucket(k, index))
	if b == nil {
		return nil
	}
	p := []byte(prefix)
	c := b.Cursor()
	for v, id := c.Seek(p); v != nil && bytes.HasPrefix(v, p); v, id = c.Next() {
		if err := fn(v, id); err != nil {
			if errors.Is(err, ErrStop) {
				return nil
			}
			return err
		}
	}
	return nil
}

// AttributeValues lists, sorted, the distinct role attributes that records
// of kind k carry. It costs one seek per distinct attribute, not one step
// per record.
func (tx *Tx) AttributeValues(k *Kind) []string {
	b := tx.bucket(attrBucket(k))
	if b == nil {
		return nil
	}
	var out []string
	c := b.Cursor()
	for key, _ := c.First(); key != nil; {
		i := bytes.IndexByte(key, 0)
		if i < 0 {
			key, _ = c.Next()
			continue
		}
		attr := string(key[:i])
		out = append(out, attr)
		// Every key of this attribute is attr\0id: jump past them all.
		key, _ = c.Seek(append([]byte(attr), 1))
	}
	return out
}

// GetRaw returns the record of kind k with id as stored (its JSON), or nil
// when there is none. It is valid only until the transaction ends.
func (tx *Tx) GetRaw(k *Kind, id string) []byte {
	if id == "" {
		return nil
	}
	return tx.bucket(dataBucket(k)).Get([]byte(id))
}

// ForEachID calls fn with every id of kind k, in order, without reading the
// records; ErrStop from fn ends the walk without error.
func (tx *Tx) ForEachID(k *Kind, fn func(id []byte) error) error {
	c := tx.bucket(dataBucket(k)).Cursor()
	for key, _ := c.First(); key != nil; key, _ = c.Next() {
		if err := fn(key); err != nil {
			if errors.Is(err, ErrStop) {
				return nil
			}
			return err
		}
	}
	return nil
}

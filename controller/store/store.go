// Package store owns the controller's persistent state: one bbolt file whose
// buckets and indexes are all declared in schema.go. Writes happen only inside
// Apply, which the raft FSM calls with the log index of the command being
// applied; that index is written in the same transaction as the data, so a
// replayed log entry is recognised and skipped. Reads use View and see the
// last committed state. The unique and role-attribute indexes are written in
// the same transaction as the records they index, on every write path, so
// list queries can trust them (see indexread.go). Hot readers take records
// through Peek, which shares decoded records while their bytes are unchanged
// (see peek.go).
package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
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
	// Index and Time are the raft index and the proposal time of the entry
	// that made the change: the same on every node.
	Index uint64
	Time  time.Time
}

// ChangeHook runs inside the writing transaction for every change, cascades
// included. Derived state (policy links) is maintained by hooks.
type ChangeHook func(tx *Tx, c Change) error

// SettleHook runs once per applied entry, after its command succeeded and
// before the transaction commits. It sees what the entry noted (Tx.Noted)
// and may write more; an error rolls the entry back. Rules that must hold
// after a whole entry (not after each record) are settled here: sessions
// that lost their grant are revoked in the same transaction that took it.
type SettleHook func(tx *Tx) error

// Listener is told, after a transaction commits, what it changed.
type Listener func(index uint64, changes []Change)

// Store is the controller's bbolt database.
type Store struct {
	path string

	mu sync.RWMutex // guards db against a restore swapping it
	db *bolt.DB

	hooks   []ChangeHook
	settles []SettleHook

	peek *peekCache // decoded records shared by readers (peek.go)

	rebuildable bool
	setAside    string

	lmu       sync.Mutex
	listeners map[int]Listener
	nextL     int
}

// Options tune how the database is opened.
type Options struct {
	// NoSync skips fsync on commit. Only for tests and benchmarks that build
	// large fixtures; never for a real controller.
	NoSync bool
	// Rebuildable says the database can always be made again from
	// elsewhere (the raft log and raft's snapshots), so commits skip fsync
	// and a file left open when the machine stopped is set aside at the
	// next Open instead of trusted. See durability.go.
	Rebuildable bool
	// Hooks run inside every writing transaction, in order.
	Hooks []ChangeHook
	// Settle hooks run once per entry, after its command, in order.
	Settle []SettleHook
}

// Open opens (or creates) the database at path and makes sure every declared
// bucket exists.
func Open(path string, opts Options) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create store directory: %w", err)
	}
	s := &Store{path: path, hooks: opts.Hooks, settles: opts.Settle, listeners: map[int]Listener{}, rebuildable: opts.Rebuildable,
		peek: newPeekCache()}
	if opts.Rebuildable {
		aside, err := prepareRebuildable(path)
		if err != nil {
			return nil, err
		}
		s.setAside = aside
	}
	db, err := openDB(path, opts.NoSync || opts.Rebuildable)
	if err != nil {
		return nil, err
	}
	s.db = db
	return s, nil
}

// SetAside is where Open moved a database that the machine's stop may have
// left incomplete (see Options.Rebuildable), or "" when it found none. The
// store is then empty and must be rebuilt.
func (s *Store) SetAside() string { return s.setAside }

// mmapReserve is the address space a database is mapped with from the
// start (on 64-bit platforms). bbolt maps a file anew whenever it outgrows
// its mapping, and the commit that does so waits until every open read
// transaction has ended while every new one waits for it: a stall of all
// requests. Mapped once this large, the file grows within the mapping. It is
// address space, not memory: a page takes memory once it is read.
const mmapReserve = (strconv.IntSize / 64) << 32

func openDB(path string, noSync bool) (*bolt.DB, error) {
	// The free-page list is not written with each commit but rebuilt when
	// the file is opened: a commit writes fewer pages. A store whose commits
	// are not synced does not sync the file's growth either (bbolt would,
	// flushing every page written since the last sync while the commit
	// waits): its durability is the raft log's.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second, NoSync: noSync, NoGrowSync: noSync,
		NoFreelistSync: true, FreelistType: bolt.FreelistMapType, InitialMmapSize: mmapReserve})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("open %s: %w: another process holds it (is a controller already running on this data directory?)", path, ErrInUse)
	}
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
	var syncErr error
	if s.rebuildable {
		syncErr = s.db.Sync()
	}
	err := s.db.Close()
	s.db = nil
	if err == nil && syncErr == nil && s.rebuildable {
		// Only a database known to be on disk loses its marker.
		err = closeRebuildable(s.path)
	}
	return errors.Join(syncErr, err)
}

// AddHook appends a change hook. Call it before the first Apply.
func (s *Store) AddHook(h ChangeHook) { s.hooks = append(s.hooks, h) }

// AddSettle appends a settle hook. Call it before the first Apply.
func (s *Store) AddSettle(h SettleHook) { s.settles = append(s.settles, h) }

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

// Size is the size of the database in bytes, as a read transaction sees it.
func (s *Store) Size() (int64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return 0, errors.New("store is closed")
	}
	var n int64
	err := s.db.View(func(btx *bolt.Tx) error {
		n = btx.Size()
		return nil
	})
	return n, err
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
			v, err := tx.run(e.Apply)
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

// run applies one entry's function and then the settle hooks.
func (tx *Tx) run(apply func(tx *Tx) (any, error)) (any, error) {
	v, err := apply(tx)
	if err != nil {
		return nil, err
	}
	for _, h := range tx.s.settles {
		if err := h(tx); err != nil {
			return nil, err
		}
	}
	return v, nil
}

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
		v, err := tx.run(e.Apply)
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

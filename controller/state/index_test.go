package state

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ostium-net/ostium/controller/command"
	"github.com/ostium-net/ostium/controller/filter"
	"github.com/ostium-net/ostium/controller/store"
)

// fixture is a real store in a temporary directory, written through the
// commands the raft log carries.
type fixture struct {
	t     *testing.T
	path  string
	st    *store.Store
	index uint64
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, path: filepath.Join(t.TempDir(), "ctrl.db")}
	f.open()
	t.Cleanup(func() { _ = f.st.Close() })
	return f
}

func (f *fixture) open() {
	f.t.Helper()
	st, err := store.Open(f.path, store.Options{NoSync: true})
	if err != nil {
		f.t.Fatal(err)
	}
	f.st = st
}

func (f *fixture) entry(c command.Command) store.Entry {
	f.index++
	return store.Entry{Index: f.index, Time: time.Unix(1700000000+int64(f.index), 0).UTC(), Apply: c.Apply}
}

// apply applies commands one entry each and returns their errors.
func (f *fixture) apply(cmds ...command.Command) []error {
	var errs []error
	for _, c := range cmds {
		errs = append(errs, f.st.Apply(f.entry(c)).Err)
	}
	return errs
}

func (f *fixture) mustApply(cmds ...command.Command) {
	f.t.Helper()
	for i, err := range f.apply(cmds...) {
		if err != nil {
			f.t.Fatalf("command %d: %v", i, err)
		}
	}
}

func create(t *testing.T, k *store.Kind, rec store.Record) command.Command {
	t.Helper()
	c, err := command.NewCreate(k, rec)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ident(id, name string, attrs ...string) *store.Identity {
	return &store.Identity{Meta: store.Meta{ID: id}, Name: name, Type: "Device", RoleAttributes: attrs}
}

// update reads a record, lets change alter it and returns the guarded
// update command, as State.Update builds it.
func (f *fixture) update(k *store.Kind, id string, change func(store.Record)) command.Command {
	f.t.Helper()
	var rec store.Record
	if err := f.st.View(func(tx *store.Tx) error {
		var err error
		rec, err = tx.Get(k, id)
		return err
	}); err != nil {
		f.t.Fatal(err)
	}
	change(rec)
	c, err := command.NewUpdate(k, rec)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

// list runs src through the indexes and through the scan, insists that both
// give the same page and count, and returns the ids on the page.
func (f *fixture) list(k *store.Kind, src string) ([]string, int64) {
	f.t.Helper()
	return f.listOnly(k, src, nil)
}

// listOnly is list restricted to the ids only names, when it is not nil.
func (f *fixture) listOnly(k *store.Kind, src string, only []string) ([]string, int64) {
	f.t.Helper()
	q, err := filter.FromListParams(src, "", nil, nil, filter.DefaultLimit, filter.MaxLimit)
	if err != nil {
		f.t.Fatalf("%s: %v", src, err)
	}
	s := &State{Store: f.st}
	var got [2][]string
	var total [2]int64
	var errs [2]error
	for i, opts := range []ListOptions{{Only: only}, {Only: only, Scan: true}} {
		errs[i] = f.st.View(func(tx *store.Tx) error {
			page, err := s.List(tx, k, q, opts)
			if err != nil {
				return err
			}
			for _, rec := range page.Records {
				got[i] = append(got[i], rec.Base().ID)
			}
			total[i] = page.TotalCount
			return nil
		})
	}
	if (errs[0] == nil) != (errs[1] == nil) {
		f.t.Fatalf("%s: indexed list error %v, scan error %v", src, errs[0], errs[1])
	}
	if !slices.Equal(got[0], got[1]) || total[0] != total[1] {
		f.t.Fatalf("%s (only %d ids): indexed %v of %d, scan %v of %d", src, len(only), got[0], total[0], got[1], total[1])
	}
	return got[0], total[0]
}

// planned reports whether src's predicate is answered from the indexes.
func (f *fixture) planned(k *store.Kind, src string) bool {
	f.t.Helper()
	q, err := filter.Parse(src)
	if err != nil {
		f.t.Fatal(err)
	}
	ok := false
	_ = f.st.View(func(tx *store.Tx) error {
		_, ok = plan(tx, k, q.Predicate)
		return nil
	})
	return ok
}

// expect checks the ids a filter lists, in order, when they all fit on the page.
func (f *fixture) expect(step string, k *store.Kind, src string, want ...string) {
	f.t.Helper()
	f.expectPage(step, k, src, len(want), want...)
}

// expectPage checks the ids on a page, in order, and the count of every match.
func (f *fixture) expectPage(step string, k *store.Kind, src string, count int, want ...string) {
	f.t.Helper()
	got, total := f.list(k, src)
	if !slices.Equal(got, want) || total != int64(count) {
		f.t.Errorf("%s: %s: %v of %d, want %v of %d", step, src, got, total, want, count)
	}
}

// TestIndexedListsFollowEveryWrite lists through the indexes after each
// kind of write a store sees: creates, updates that rename and re-tag,
// deletes, batches whose failing entry is isolated, an atomic batch that
// fails whole, a restored snapshot and a reopened file.
func TestIndexedListsFollowEveryWrite(t *testing.T) {
	f := newFixture(t)
	I, S := store.Identities, store.Services
	for _, src := range []string{`name = "x"`, `name contains "x"`, `name icontains "x"`, `name startsWith "x"`,
		`name in ["a", "b"]`, `anyOf(roleAttributes) = "x"`, `roleAttributes contains "x"`, `id = "x"`,
		`name contains "x" and isAdmin = false`, `name = "a" or roleAttributes = "b"`} {
		if !f.planned(I, src) {
			t.Errorf("%s is not answered from the indexes", src)
		}
	}
	for _, src := range []string{`isAdmin = true`, `name != "x"`, `name not contains "x"`, `name contains ""`,
		`name = "a" or isAdmin = true`, `not (name = "a")`, `allOf(roleAttributes) = "x"`} {
		if f.planned(I, src) {
			t.Errorf("%s is answered from the indexes, which can't", src)
		}
	}

	f.mustApply(create(t, I, ident("i1", "alpha-1", "red")), create(t, I, ident("i2", "alpha-2", "red", "blue")),
		create(t, I, ident("i3", "beta-1", "blue")),
		create(t, S, &store.Service{Meta: store.Meta{ID: "s1"}, Name: "web", RoleAttributes: []string{"http"}}),
		create(t, S, &store.Service{Meta: store.Meta{ID: "s2"}, Name: "db", RoleAttributes: []string{"sql"}}))
	f.expect("create", I, `name contains "alpha" sort by name`, "i1", "i2")
	f.expect("create", I, `anyOf(roleAttributes) = "red" sort by name desc`, "i2", "i1")
	f.expect("create", I, `name = "beta-1"`, "i3")
	f.expect("create", S, `roleAttributes contains "tt"`, "s1")
	f.expect("create", S, `name icontains "DB"`, "s2")
	f.expect("create", I, `id in ["i3", "i1", "nope"]`, "i1", "i3")

	f.mustApply(f.update(I, "i1", func(r store.Record) {
		r.(*store.Identity).Name, r.(*store.Identity).RoleAttributes = "gamma-1", []string{"green"}
	}))
	f.expect("update", I, `name contains "alpha"`, "i2")
	f.expect("update", I, `name = "alpha-1"`)
	f.expect("update", I, `roleAttributes = "red"`, "i2")
	f.expect("update", I, `roleAttributes contains "ree"`, "i1")
	f.expect("update", I, `name startsWith "gam"`, "i1")

	// A patch changes some fields and keeps the others.
	f.mustApply(f.update(I, "i3", func(r store.Record) {
		r.(*store.Identity).RoleAttributes = append(r.(*store.Identity).RoleAttributes, "red")
	}))
	f.expect("patch", I, `roleAttributes = "red" sort by name`, "i2", "i3")
	f.expect("patch", I, `name = "beta-1" and roleAttributes = "blue"`, "i3")

	f.mustApply(&command.DeleteEntity{Kind: I.Name, ID: "i2"})
	f.expect("delete", I, `name contains "alpha"`)
	f.expect("delete", I, `roleAttributes in ["red", "blue"]`, "i3")
	f.expect("delete", I, `id = "i2"`)

	// A batch whose second entry fails (the name is taken) is applied again
	// one entry at a time: the others land, the failed one leaves nothing.
	res := f.st.ApplyBatch([]store.Entry{
		f.entry(create(t, I, ident("i4", "delta-1", "red"))),
		f.entry(create(t, I, ident("i5", "beta-1", "violet"))),
		f.entry(create(t, I, ident("i6", "delta-2", "blue"))),
	})
	if res[0].Err != nil || !errors.Is(res[1].Err, store.ErrConflict) || res[2].Err != nil {
		t.Fatalf("batch: %+v", res)
	}
	f.expect("batch", I, `name startsWith "delta" sort by name desc`, "i6", "i4")
	f.expect("batch", I, `roleAttributes = "violet"`)
	f.expect("batch", I, `roleAttributes = "red" sort by name`, "i3", "i4")
	// An atomic batch fails whole.
	batch, err := command.NewBatch(time.Now(), create(t, I, ident("i7", "omega", "violet")), create(t, I, ident("i8", "delta-1")))
	if err != nil {
		t.Fatal(err)
	}
	if errs := f.apply(batch); !errors.Is(errs[0], store.ErrConflict) {
		t.Fatalf("atomic batch: %v", errs[0])
	}
	f.expect("atomic batch", I, `name = "omega" or roleAttributes = "violet"`)

	// A snapshot restored over later writes brings its indexes with it.
	var snap bytes.Buffer
	if err := f.st.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	f.mustApply(create(t, I, ident("i9", "epsilon", "red")), &command.DeleteEntity{Kind: I.Name, ID: "i4"})
	f.expect("before restore", I, `roleAttributes = "red" sort by name`, "i3", "i9")
	if err := f.st.Restore(&snap); err != nil {
		t.Fatal(err)
	}
	f.expect("restore", I, `roleAttributes = "red" sort by name`, "i3", "i4")
	f.expect("restore", I, `name = "epsilon"`)
	f.expect("restore", I, `name contains "-" sort by name`, "i3", "i4", "i6", "i1")

	if err := f.st.Close(); err != nil {
		t.Fatal(err)
	}
	f.open()
	f.expect("reopen", I, `name icontains "DELTA" or name = "web"`, "i4", "i6")
	f.expect("reopen", S, `name in ["web", "db"] sort by name`, "s2", "s1")
	f.expect("reopen", I, `sort by name desc`, "i1", "i6", "i4", "i3")
	f.expectPage("reopen", I, `sort by name skip 1 limit 2`, 4, "i4", "i6")
	// A record without a name is not in the name index, and sorts first.
	f.mustApply(create(t, I, ident("i0", "")))
	f.expectPage("no name", I, `sort by name limit 3`, 5, "i0", "i3", "i4")
	f.expectPage("no name", I, `sort by name desc skip 3`, 5, "i3", "i0")
}

// TestIndexedListsRefuseWhatTheyCannotIndex: an attribute with a NUL in it
// would read as another one in the index, so the store refuses it.
func TestIndexedListsRefuseWhatTheyCannotIndex(t *testing.T) {
	f := newFixture(t)
	errs := f.apply(create(t, store.Identities, ident("i1", "a", "x\x00y")))
	if !errors.Is(errs[0], store.ErrInvalid) {
		t.Fatalf("an attribute with NUL: %v", errs[0])
	}
}

func TestFirstByIDSelectsTheSmallest(t *testing.T) {
	var rows []row
	for _, i := range []int{9, 3, 7, 1, 8, 2, 6, 4, 5, 0, 19, 13, 17, 11, 18, 12, 16, 14, 15, 10} {
		rows = append(rows, row{id: fmt.Sprintf("%02d", i)})
	}
	got := firstByID(rows, 2)
	if len(got) != 2 || got[0].id != "00" || got[1].id != "01" {
		t.Fatalf("%v", got)
	}
}

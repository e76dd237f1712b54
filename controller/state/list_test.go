package state

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ostium-net/ostium/controller/filter"
	"github.com/ostium-net/ostium/controller/store"
)

// TestListFiltersStoredRecords lists identities from a real store: the path
// that filters stored JSON, the one given fields of its own and the one
// restricted to ids must agree, page for page, with decoded records.
func TestListFiltersStoredRecords(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "ctrl.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	until := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	res := st.Apply(store.Entry{Index: 1, Time: time.Unix(1700000000, 0), Apply: func(tx *store.Tx) (any, error) {
		for i := range 30 {
			ident := &store.Identity{Meta: store.Meta{ID: fmt.Sprintf("id-%02d", i)}, Name: fmt.Sprintf("laptop-%02d", 29-i),
				Type: "Device", RoleAttributes: []string{fmt.Sprint("group", i%3)}}
			if i%5 == 0 {
				ident.Disabled, ident.DisabledUntil = true, &until
			}
			if err := tx.Create(store.Identities, ident); err != nil {
				return nil, err
			}
		}
		return nil, nil
	}})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	s := &State{Store: st}
	list := func(src string, opts ListOptions) (names []string, total int64) {
		t.Helper()
		q, err := filter.FromListParams(src, "", nil, nil, filter.DefaultLimit, filter.MaxLimit)
		if err != nil {
			t.Fatal(err)
		}
		err = st.View(func(tx *store.Tx) error {
			page, err := s.List(tx, store.Identities, q, opts)
			if err != nil {
				return err
			}
			for _, rec := range page.Records {
				names = append(names, rec.(*store.Identity).Name)
			}
			total = page.TotalCount
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return names, total
	}
	var all []string
	for i := range 30 {
		all = append(all, fmt.Sprintf("id-%02d", i))
	}
	for _, tc := range []struct {
		filter string
		want   []string
		total  int64
	}{
		{`name contains "laptop-2" sort by name limit 3`, []string{"laptop-20", "laptop-21", "laptop-22"}, 10},
		{`anyOf(roleAttributes) = "group1" and typeId = "Device" sort by name desc limit 2 skip 1`, []string{"laptop-25", "laptop-22"}, 10},
		{`disabledUntil > datetime(2030-12-31T00:00:00Z) sort by createdAt limit 10`, []string{"laptop-29", "laptop-24", "laptop-19", "laptop-14", "laptop-09", "laptop-04"}, 6},
		{`name = "nobody"`, nil, 0},
	} {
		for _, opts := range []ListOptions{{}, {Fields: FieldsOf}, {Only: all}} {
			got, total := list(tc.filter, opts)
			if !slices.Equal(got, tc.want) || total != tc.total {
				t.Errorf("%s (fields %v, only %v): %v of %d, want %v of %d", tc.filter, opts.Fields != nil, opts.Only != nil, got, total, tc.want, tc.total)
			}
		}
	}
}

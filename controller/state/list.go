package state

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ostium-net/ostium/controller/filter"
	"github.com/ostium-net/ostium/controller/store"
)

// Page is one page of a list.
type Page struct {
	Records    []store.Record
	TotalCount int64
	Limit      int64
	Offset     int64
}

// ListOptions narrow a list beyond the filter.
type ListOptions struct {
	// Only, when not nil, restricts the list to these ids.
	Only []string
	// Fields converts a record to filterable fields; defaults to the fields
	// of its stored JSON (what FieldsOf gives).
	Fields func(store.Record) filter.Fields
	// Scan skips the indexes: every record of the kind is read, and its
	// stored JSON filtered and sorted. Only tests and benchmarks, which
	// compare the two answers, want it.
	Scan bool
}

// row is a record on its way to a page: its id always, its stored JSON, its
// decoded record and its fields only once something needed them.
type row struct {
	id     string
	raw    []byte
	rec    store.Record
	fields filter.Fields
}

// order says what is known of the order of collected rows.
type order int

const (
	orderNone  order = iota // no order
	orderID                 // ascending ids, the order of the scan
	orderQuery              // the query's own sort order already
)

// lister runs one list query in one read transaction.
type lister struct {
	tx       *store.Tx
	k        *store.Kind
	q        *filter.Query
	custom   func(store.Record) filter.Fields // nil: the stored JSON's fields
	identity bool
	scan     bool // use no index, to filter or to sort
}

// List runs a query over a kind: filter, sort (default: by id, which is
// stable), then the page. A filter that the kind's indexes can answer (see
// plan) reads only the records it names; the others read every record's
// stored JSON. Either way only the records on the page are decoded, and the
// total count is that of every match.
func (s *State) List(tx *store.Tx, k *store.Kind, q *filter.Query, opts ListOptions) (*Page, error) {
	l := &lister{tx: tx, k: k, q: q, custom: opts.Fields, identity: k == store.Identities, scan: opts.Scan}
	rows, ord, err := l.collect(opts)
	if err != nil {
		return nil, err
	}
	total := len(rows)
	start, end := q.Window(total)
	switch {
	case ord == orderQuery:
	case len(q.Sort) == 0:
		if ord != orderID {
			rows = firstByID(rows, end)
		}
	case q.Sort[0].Field == "id" && !opts.Scan:
		// Ids are unique: the id decides the whole order, and no record
		// needs reading for it.
		if ord != orderID {
			slices.SortFunc(rows, byID)
		}
		if q.Sort[0].Desc {
			slices.Reverse(rows)
		}
	default:
		if ord != orderID {
			slices.SortFunc(rows, byID) // equal keys keep the scan's order
		}
		if rows, err = l.sort(rows); err != nil {
			return nil, err
		}
	}
	page := &Page{TotalCount: int64(total), Offset: int64(start)}
	if q.Limit != nil {
		page.Limit = *q.Limit
	}
	for i := start; i < end; i++ {
		rec, err := l.record(&rows[i])
		if err != nil {
			return nil, err
		}
		page.Records = append(page.Records, rec)
	}
	return page, nil
}

// collect gathers the rows that match the query's predicate.
func (l *lister) collect(opts ListOptions) ([]row, order, error) {
	indexed := !opts.Scan && opts.Fields == nil
	if indexed && l.q.Predicate != nil && (opts.Only == nil || len(opts.Only) > indexOnlyAbove) {
		if c, ok := plan(l.tx, l.k, l.q.Predicate); ok {
			return l.fromIndex(c, opts.Only)
		}
	}
	var rows []row
	switch {
	case opts.Only != nil:
		ids := slices.Clone(opts.Only)
		slices.Sort(ids)
		for _, id := range slices.Compact(ids) {
			if raw := l.tx.GetRaw(l.k, id); raw != nil {
				rows = append(rows, row{id: id, raw: raw})
			}
		}
		rows, err := l.filter(rows)
		return rows, orderID, err
	case indexed && l.q.Predicate == nil && len(l.q.Sort) > 0 && l.q.Sort[0].Field == "name" && l.k.HasUnique("name"):
		// Every record by name: the name index is that order, when every
		// record has a name (names there are unique, so nothing else counts).
		if rows, ok := l.allByName(); ok {
			return rows, orderQuery, nil
		}
	}
	err := l.tx.ForEachRaw(l.k, func(id string, raw []byte) error {
		rows = append(rows, row{id: id, raw: raw})
		return nil
	})
	if err != nil {
		return nil, orderNone, err
	}
	rows, err = l.filter(rows)
	return rows, orderID, err
}

// indexOnlyAbove is how many ids a list restricted to some ids (Only) must
// name before its filter is looked up in the indexes: reading a few records
// costs less than walking an index.
var indexOnlyAbove = 100

// fromIndex makes rows of the candidates the indexes gave, restricted to
// only when it is not nil, and filters them unless they are exact.
func (l *lister) fromIndex(c candidates, only []string) ([]row, order, error) {
	var in map[string]struct{}
	if only != nil {
		in = setOf(only)
	}
	rows := make([]row, 0, len(c.ids))
	for _, id := range c.ids {
		if in != nil {
			if _, ok := in[id]; !ok {
				continue
			}
		}
		rows = append(rows, row{id: id})
	}
	if !c.exact {
		var err error
		if rows, err = l.filter(rows); err != nil {
			return nil, orderNone, err
		}
	}
	if c.named && len(l.q.Sort) > 0 && l.q.Sort[0].Field == "name" {
		// Names are unique: the name decides the whole order.
		if l.q.Sort[0].Desc {
			slices.Reverse(rows)
		}
		return rows, orderQuery, nil
	}
	return rows, orderNone, nil
}

// allByName lists every record of the kind in the order of the name index,
// unless some record has no name (it is not in the index then).
func (l *lister) allByName() ([]row, bool) {
	total := 0
	_ = l.tx.ForEachID(l.k, func([]byte) error { total++; return nil })
	rows := make([]row, 0, total)
	_ = l.tx.ScanUnique(l.k, "name", "", func(_, id []byte) error {
		rows = append(rows, row{id: string(id)})
		return nil
	})
	if len(rows) != total {
		return nil, false
	}
	if l.q.Sort[0].Desc {
		slices.Reverse(rows)
	}
	return rows, true
}

// filter keeps the rows whose fields match the query's predicate.
func (l *lister) filter(rows []row) ([]row, error) {
	if l.q.Predicate == nil {
		return rows, nil
	}
	kept := rows[:0]
	for i := range rows {
		f, err := l.fields(&rows[i])
		if err != nil {
			return nil, err
		}
		ok, err := l.q.Match(f)
		if err != nil {
			return nil, err
		}
		if ok {
			kept = append(kept, rows[i])
		}
	}
	return kept, nil
}

// stored reads a row's JSON when it has not been read yet.
func (l *lister) stored(r *row) ([]byte, error) {
	if r.raw == nil {
		if r.raw = l.tx.GetRaw(l.k, r.id); r.raw == nil {
			return nil, fmt.Errorf("%s %q is indexed but not stored: %w", l.k.Name, r.id, store.ErrNotFound)
		}
	}
	return r.raw, nil
}

func (l *lister) record(r *row) (store.Record, error) {
	if r.rec == nil {
		raw, err := l.stored(r)
		if err != nil {
			return nil, err
		}
		if r.rec, err = l.k.Decode(r.id, raw); err != nil {
			return nil, err
		}
	}
	return r.rec, nil
}

func (l *lister) fields(r *row) (filter.Fields, error) {
	if r.fields != nil {
		return r.fields, nil
	}
	if l.custom != nil {
		rec, err := l.record(r)
		if err != nil {
			return nil, err
		}
		r.fields = l.custom(rec)
		return r.fields, nil
	}
	raw, err := l.stored(r)
	if err != nil {
		return nil, err
	}
	r.fields = fieldsFromJSON(raw, l.identity)
	return r.fields, nil
}

// sort puts rows, given in id order, in the query's order; equal keys keep
// id order.
func (l *lister) sort(rows []row) ([]row, error) {
	if l.q.Sort[0].Field == "name" && !l.scan && l.custom == nil && len(rows) > byNameIndexAbove && l.k.HasUnique("name") {
		return l.sortByNameIndex(rows)
	}
	return l.sortByFields(rows)
}

// byNameIndexAbove is how many rows make walking the whole name index
// cheaper than reading each row's name from its stored JSON.
var byNameIndexAbove = 1000

func (l *lister) sortByFields(rows []row) ([]row, error) {
	for i := range rows {
		if _, err := l.fields(&rows[i]); err != nil {
			return nil, err
		}
	}
	slices.SortStableFunc(rows, func(a, b row) int { return l.q.CompareRecords(a.fields, b.fields) })
	return rows, nil
}

// sortByNameIndex orders rows by name as the name index lists them. Names
// there are unique and not empty, so the name alone orders those rows; the
// rows without a name (empty or missing, which sort before every name) are
// ordered by their fields and go first, or last when the sort is descending.
func (l *lister) sortByNameIndex(rows []row) ([]row, error) {
	at := make(map[string]int, len(rows))
	for i := range rows {
		at[rows[i].id] = i
	}
	named := make([]row, 0, len(rows))
	taken := make([]bool, len(rows))
	err := l.tx.ScanUnique(l.k, "name", "", func(_, id []byte) error {
		if i, ok := at[string(id)]; ok {
			named = append(named, rows[i])
			taken[i] = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var rest []row
	for i := range rows {
		if !taken[i] {
			rest = append(rest, rows[i])
		}
	}
	if rest, err = l.sortByFields(rest); err != nil {
		return nil, err
	}
	if l.q.Sort[0].Desc {
		slices.Reverse(named)
		return append(named, rest...), nil
	}
	return append(rest, named...), nil
}

func byID(a, b row) int { return strings.Compare(a.id, b.id) }

// firstByID returns rows with its n smallest ids first, in order: the whole
// slice sorted, or when n is small against it, only those n selected.
func firstByID(rows []row, n int) []row {
	if n <= 0 {
		return rows
	}
	if n*8 >= len(rows) {
		slices.SortFunc(rows, byID)
		return rows
	}
	// A max-heap of the n smallest seen so far.
	h := make([]row, 0, n)
	for _, r := range rows {
		if len(h) < n {
			h = append(h, r)
			up(h, len(h)-1)
			continue
		}
		if r.id < h[0].id {
			h[0] = r
			down(h, 0)
		}
	}
	slices.SortFunc(h, byID)
	return h
}

func up(h []row, i int) {
	for i > 0 {
		p := (i - 1) / 2
		if h[p].id >= h[i].id {
			return
		}
		h[p], h[i] = h[i], h[p]
		i = p
	}
}

func down(h []row, i int) {
	for {
		c := 2*i + 1
		if c >= len(h) {
			return
		}
		if c+1 < len(h) && h[c+1].id > h[c].id {
			c++
		}
		if h[i].id >= h[c].id {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}

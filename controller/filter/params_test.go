package filter

import (
	"errors"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

func ptr(n int64) *int64 { return &n }

func TestFromListParams(t *testing.T) {
	tests := []struct {
		name           string
		filter, sort   string
		limit, offset  *int64
		def, max       int64
		wantLimit      int64
		wantSkip       int64
		wantSort       string
		wantPredicate  string
		wantPagination bool // error wraps ErrInvalidPagination
		wantFilter     bool // error wraps ErrInvalidFilter
	}{
		{name: "defaults", wantLimit: 10, wantSkip: 0},
		{name: "caller defaults", def: 25, max: 100, wantLimit: 25},
		{name: "default above max", def: 50, max: 20, wantLimit: 20},
		{name: "params", limit: ptr(50), offset: ptr(100), wantLimit: 50, wantSkip: 100},
		{name: "limit 1", limit: ptr(1), wantLimit: 1},
		{name: "limit max", limit: ptr(500), wantLimit: 500},
		{name: "limit above max", limit: ptr(501), wantPagination: true},
		{name: "limit above caller max", limit: ptr(101), max: 100, wantPagination: true},
		{name: "limit 0", limit: ptr(0), wantPagination: true},
		{name: "limit negative", limit: ptr(-1), wantPagination: true},
		{name: "offset negative", offset: ptr(-1), wantPagination: true},
		{name: "filter clauses", filter: `name = "x" skip 5 limit 7`, wantLimit: 7, wantSkip: 5, wantPredicate: `name = "x"`},
		{name: "params beat clauses", filter: `skip 5 limit 7`, limit: ptr(3), offset: ptr(1), wantLimit: 3, wantSkip: 1},
		{name: "limit param, skip clause", filter: `skip 5 limit 7`, limit: ptr(3), wantLimit: 3, wantSkip: 5},
		{name: "offset param, limit clause", filter: `skip 5 limit 7`, offset: ptr(0), wantLimit: 7, wantSkip: 0},
		{name: "limit none", filter: `true limit none`, wantLimit: 500, wantPredicate: "true"},
		{name: "limit none caller max", filter: `limit none`, max: 50, wantLimit: 50},
		{name: "limit none and param", filter: `limit none`, limit: ptr(5), wantLimit: 5},
		{name: "clause limit above max", filter: `limit 501`, wantLimit: 500},
		{name: "clause limit above caller max", filter: `limit 80`, max: 50, wantLimit: 50},
		{name: "clause limit 0", filter: `limit 0`, wantPagination: true},
		{name: "filter sort", filter: `sort by name desc`, wantLimit: 10, wantSort: "name desc"},
		{name: "sort param", sort: "name, createdAt DESC", wantLimit: 10, wantSort: "name, createdAt desc"},
		{name: "sort param beats clause", filter: `sort by id`, sort: "name desc", wantLimit: 10, wantSort: "name desc"},
		{name: "blank sort param keeps clause", filter: `sort by id`, sort: "  ", wantLimit: 10, wantSort: "id"},
		{name: "bad filter", filter: `name ==`, wantFilter: true},
		{name: "bad sort", sort: `name sideways`, wantFilter: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := FromListParams(tt.filter, tt.sort, tt.limit, tt.offset, tt.def, tt.max)
			switch {
			case tt.wantPagination:
				if !errors.Is(err, ErrInvalidPagination) || errors.Is(err, ErrInvalidFilter) {
					t.Fatalf("error %v, want ErrInvalidPagination", err)
				}
				return
			case tt.wantFilter:
				if !errors.Is(err, ErrInvalidFilter) || errors.Is(err, ErrInvalidPagination) {
					t.Fatalf("error %v, want ErrInvalidFilter", err)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			if q.Limit == nil || *q.Limit != tt.wantLimit || q.NoLimit {
				t.Errorf("limit %v (none %v), want %d", q.Limit, q.NoLimit, tt.wantLimit)
			}
			if q.Skip == nil || *q.Skip != tt.wantSkip {
				t.Errorf("skip %v, want %d", q.Skip, tt.wantSkip)
			}
			if got := FormatSort(q.Sort); got != tt.wantSort {
				t.Errorf("sort %q, want %q", got, tt.wantSort)
			}
			got := ""
			if q.Predicate != nil {
				got = q.Predicate.String()
			}
			if got != tt.wantPredicate {
				t.Errorf("predicate %q, want %q", got, tt.wantPredicate)
			}
		})
	}
}

func TestSortRecords(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2024, 1, d, 0, 0, 0, 0, time.UTC) }
	records := []map[string]any{
		{"id": "1", "name": "beta", "cost": 2, "createdAt": day(3)},
		{"id": "2", "name": "alpha", "cost": 2.5, "createdAt": day(1)},
		{"id": "3", "name": "beta", "cost": 1, "createdAt": day(2)},
		{"id": "4", "cost": 2, "createdAt": day(5)}, // no name
		{"id": "5", "name": "Gamma", "cost": 3, "createdAt": day(4)},
	}
	tests := []struct {
		filter string
		want   string // ids in order
	}{
		{`sort by name`, "4,5,2,1,3"},
		{`sort by name desc`, "1,3,2,5,4"},
		{`sort by name, cost`, "4,5,2,3,1"},
		{`sort by name asc, cost desc`, "4,5,2,1,3"},
		{`sort by cost`, "3,1,4,2,5"},
		{`sort by cost desc, id desc`, "5,2,4,1,3"},
		{`sort by createdAt desc`, "4,5,1,3,2"},
		{`name != null`, "1,2,3,4,5"}, // no sort keys: stable order kept
	}
	for _, tt := range tests {
		q, err := Parse(tt.filter)
		if err != nil {
			t.Fatal(err)
		}
		recs := slices.Clone(records)
		sort.SliceStable(recs, func(i, j int) bool { return q.Less(FromMap(recs[i]), FromMap(recs[j])) })
		if got := ids(recs); got != tt.want {
			t.Errorf("%s with Less: %s, want %s", tt.filter, got, tt.want)
		}
		recs = slices.Clone(records)
		slices.SortStableFunc(recs, func(a, b map[string]any) int { return q.CompareRecords(FromMap(a), FromMap(b)) })
		if got := ids(recs); got != tt.want {
			t.Errorf("%s with CompareRecords: %s, want %s", tt.filter, got, tt.want)
		}
	}
	var nilQuery *Query
	if c := nilQuery.CompareRecords(FromMap(records[0]), FromMap(records[1])); c != 0 {
		t.Errorf("nil query compares %d", c)
	}
}

func ids(recs []map[string]any) string {
	var out []string
	for _, r := range recs {
		out = append(out, r["id"].(string))
	}
	return strings.Join(out, ",")
}

func TestWindow(t *testing.T) {
	tests := []struct {
		q          *Query
		total      int
		start, end int
	}{
		{nil, 5, 0, 5},
		{&Query{}, 5, 0, 5},
		{&Query{}, 0, 0, 0},
		{&Query{Limit: ptr(2)}, 5, 0, 2},
		{&Query{Skip: ptr(1), Limit: ptr(2)}, 5, 1, 3},
		{&Query{Skip: ptr(4), Limit: ptr(2)}, 5, 4, 5},
		{&Query{Skip: ptr(9), Limit: ptr(2)}, 5, 5, 5},
		{&Query{Skip: ptr(-3), Limit: ptr(2)}, 5, 0, 2},
		{&Query{Skip: ptr(1), Limit: ptr(2), NoLimit: true}, 5, 1, 5},
		{&Query{Skip: ptr(1 << 62), Limit: ptr(1 << 62)}, 5, 5, 5},
		{&Query{Skip: ptr(2), Limit: ptr(1<<63 - 1)}, 5, 2, 5},
		{&Query{Limit: ptr(-1)}, 5, 0, 0},
	}
	for _, tt := range tests {
		start, end := tt.q.Window(tt.total)
		if start != tt.start || end != tt.end {
			t.Errorf("%q Window(%d) = %d, %d; want %d, %d", tt.q.String(), tt.total, start, end, tt.start, tt.end)
		}
	}
}

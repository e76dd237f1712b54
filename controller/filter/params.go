package filter

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// ErrInvalidPagination is wrapped by errors about the limit and offset of a list.
var ErrInvalidPagination = errors.New("invalid pagination")

// The page sizes of lists when the caller doesn't choose others.
const (
	DefaultLimit = 10
	MaxLimit     = 500
)

// FromListParams builds the query of a list request from its filter, sort, limit and offset
// parameters. A non-empty sort replaces the filter's sort by clause; limit and offset, when given,
// replace its limit and skip clauses.
//
// The result always has Skip and Limit set and NoLimit false. The limit is, in order: the limit
// parameter, the filter's limit clause, defaultLimit. A limit parameter below 1 or above maxLimit, a
// negative offset, or a limit clause of 0 is an error wrapping ErrInvalidPagination. A limit clause
// above maxLimit, and "limit none", ask for as much as a page may hold: maxLimit. defaultLimit and
// maxLimit fall back to DefaultLimit and MaxLimit when not positive.
func FromListParams(filter, sort string, limit, offset *int64, defaultLimit, maxLimit int64) (*Query, error) {
	if maxLimit <= 0 {
		maxLimit = MaxLimit
	}
	if defaultLimit <= 0 {
		defaultLimit = DefaultLimit
	}
	defaultLimit = min(defaultLimit, maxLimit)

	q, err := Parse(filter)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(sort) != "" {
		fields, err := ParseSort(sort)
		if err != nil {
			return nil, err
		}
		q.Sort = fields
	}

	var n int64
	switch {
	case limit != nil:
		n = *limit
		if n < 1 || n > maxLimit {
			return nil, fmt.Errorf("%w: limit %d is outside 1 to %d", ErrInvalidPagination, n, maxLimit)
		}
	case q.NoLimit:
		n = maxLimit
	case q.Limit != nil:
		n = min(*q.Limit, maxLimit)
		if n < 1 {
			return nil, fmt.Errorf("%w: the filter's limit %d is below 1", ErrInvalidPagination, n)
		}
	default:
		n = defaultLimit
	}
	q.Limit, q.NoLimit = &n, false

	var skip int64
	switch {
	case offset != nil:
		skip = *offset
		if skip < 0 {
			return nil, fmt.Errorf("%w: offset %d is negative", ErrInvalidPagination, skip)
		}
	case q.Skip != nil:
		skip = *q.Skip
	}
	q.Skip = &skip
	return q, nil
}

// CompareRecords orders two records by the query's sort keys and returns -1, 0 or +1. Missing fields
// sort as null, before every other value (after, in descending order). It suits slices.SortStableFunc.
func (q *Query) CompareRecords(a, b Fields) int {
	if q == nil {
		return 0
	}
	for _, f := range q.Sort {
		c := Compare(lookup(a, f.Field), lookup(b, f.Field))
		if f.Desc {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	return 0
}

// Less reports whether record a sorts before record b; it suits sort.SliceStable.
func (q *Query) Less(a, b Fields) bool { return q.CompareRecords(a, b) < 0 }

// Window returns the bounds [start, end) of the page that the query's skip and limit select from
// total sorted matches.
func (q *Query) Window(total int) (start, end int) {
	if total <= 0 {
		return 0, 0
	}
	n := int64(total)
	var skip int64
	if q != nil && q.Skip != nil && *q.Skip > 0 {
		skip = min(*q.Skip, n)
	}
	stop := n
	if q != nil && !q.NoLimit && q.Limit != nil {
		limit := max(*q.Limit, 0)
		if limit < math.MaxInt64-skip {
			stop = min(skip+limit, n)
		}
	}
	return int(skip), int(stop)
}

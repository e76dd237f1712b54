package state

import (
	"bytes"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/ostium-net/ostium/controller/filter"
	"github.com/ostium-net/ostium/controller/store"
)

// The list planner. A list filter whose predicate names records through an
// index is answered from the index instead of reading every record:
//
//   - id = "x", id in [...] look the ids up; id contains/icontains/startsWith/
//     endsWith walk the ids (keys only, no record is read);
//   - name = "x", name in [...] look the name up in the kind's unique name
//     index; name startsWith "x" seeks to the prefix in it; name contains,
//     icontains and endsWith walk its keys (the names, in order), never the
//     records;
//   - roleAttributes (or anyOf(roleAttributes)) = "x" and in [...] read the
//     ids under each attribute in the attribute index; contains, icontains,
//     startsWith and endsWith test the distinct attributes (one seek each) and
//     read the ids under those that match;
//   - an and of terms narrows to the intersection of its indexed terms, an or
//     of indexed terms to their union.
//
// Everything else (not, !=, the negated operators, other fields, a literal
// that is not a non-empty string) is not indexed. A predicate that is not
// indexed at all falls back to the scan; one that is indexed only in part is
// evaluated whole, on the stored JSON of the narrowed records only. The
// indexes are the store's bbolt buckets, written in the same transaction as
// each record (see store.Tx.ScanUnique), so they hold on every node and after
// every restore without being rebuilt.

// candidates is what the indexes say about a predicate.
type candidates struct {
	// ids are the records that may match, each once.
	ids []string
	// exact says that ids are exactly the records that match, so the
	// predicate need not be evaluated on them.
	exact bool
	// named says that ids are in ascending order of their names, and that
	// every one has a non-empty name (they came from the name index).
	named bool
}

// plan narrows a predicate through the indexes of kind k; ok is false when
// no part of it is indexed.
func plan(tx *store.Tx, k *store.Kind, n filter.Node) (c candidates, ok bool) {
	switch n := n.(type) {
	case *filter.Comparison:
		return planComparison(tx, k, n)
	case *filter.And:
		return planAnd(tx, k, n)
	case *filter.Or:
		return planOr(tx, k, n)
	}
	return candidates{}, false
}

func planAnd(tx *store.Tx, k *store.Kind, n *filter.And) (candidates, bool) {
	var parts []candidates
	exact := true
	for _, t := range n.Terms {
		c, ok := plan(tx, k, t)
		if !ok {
			exact = false
			continue
		}
		exact = exact && c.exact
		parts = append(parts, c)
	}
	if len(parts) == 0 {
		return candidates{}, false
	}
	// Narrow the smallest set by the others, keeping its order.
	smallest := 0
	for i, p := range parts {
		if len(p.ids) < len(parts[smallest].ids) {
			smallest = i
		}
	}
	out := parts[smallest]
	out.exact = exact
	for i, p := range parts {
		if i == smallest || len(out.ids) == 0 {
			continue
		}
		in := setOf(p.ids)
		kept := out.ids[:0:0]
		for _, id := range out.ids {
			if _, ok := in[id]; ok {
				kept = append(kept, id)
			}
		}
		out.ids = kept
	}
	return out, true
}

func planOr(tx *store.Tx, k *store.Kind, n *filter.Or) (candidates, bool) {
	out := candidates{exact: true}
	seen := map[string]struct{}{}
	for _, t := range n.Terms {
		c, ok := plan(tx, k, t)
		if !ok {
			return candidates{}, false // some records match only through the unindexed term
		}
		out.exact = out.exact && c.exact
		for _, id := range c.ids {
			if _, dup := seen[id]; !dup {
				seen[id] = struct{}{}
				out.ids = append(out.ids, id)
			}
		}
	}
	return out, true
}

func setOf(ids []string) map[string]struct{} {
	m := make(map[string]struct{}, len(ids))
	for _, id := range ids {
		m[id] = struct{}{}
	}
	return m
}

// operands are the comparison's literals when all are non-empty strings
// without NUL: the only ones an index can answer for exactly.
func operands(n *filter.Comparison) ([]string, bool) {
	if len(n.Values) == 0 {
		return nil, false
	}
	out := make([]string, 0, len(n.Values))
	for _, v := range n.Values {
		if v.Kind() != filter.KindString || v.Str() == "" || strings.IndexByte(v.Str(), 0) >= 0 {
			return nil, false
		}
		out = append(out, v.Str())
	}
	return out, true
}

func planComparison(tx *store.Tx, k *store.Kind, n *filter.Comparison) (candidates, bool) {
	if n.Not || n.Op == filter.OpNe {
		return candidates{}, false
	}
	vals, ok := operands(n)
	if !ok {
		return candidates{}, false
	}
	switch n.Op {
	case filter.OpEq, filter.OpIn:
	case filter.OpContains, filter.OpIContains, filter.OpStartsWith, filter.OpEndsWith:
		if len(vals) != 1 {
			return candidates{}, false
		}
	default:
		return candidates{}, false
	}
	switch {
	case n.Field == "id" && n.Func == filter.SetNone:
		return planID(tx, k, n.Op, vals), true
	case n.Field == "name" && n.Func == filter.SetNone && k.HasUnique("name"):
		return planName(tx, k, n.Op, vals), true
	case n.Field == "roleAttributes" && (n.Func == filter.SetNone || n.Func == filter.SetAnyOf) && k.Attributes != nil:
		return planAttributes(tx, k, n.Op, vals), true
	}
	return candidates{}, false
}

func planID(tx *store.Tx, k *store.Kind, op filter.Op, vals []string) candidates {
	out := candidates{exact: true}
	if op == filter.OpEq || op == filter.OpIn {
		slices.Sort(vals)
		for _, id := range slices.Compact(vals) {
			if tx.GetRaw(k, id) != nil {
				out.ids = append(out.ids, id)
			}
		}
		return out
	}
	test := stringTest(op, vals[0])
	_ = tx.ForEachID(k, func(id []byte) error {
		if test(id) {
			out.ids = append(out.ids, string(id))
		}
		return nil
	})
	return out
}

func planName(tx *store.Tx, k *store.Kind, op filter.Op, vals []string) candidates {
	out := candidates{exact: true, named: true}
	switch op {
	case filter.OpEq, filter.OpIn:
		slices.Sort(vals) // names in order, so the ids are too
		for _, name := range slices.Compact(vals) {
			if id, ok := tx.Lookup(k, "name", name); ok {
				out.ids = append(out.ids, id)
			}
		}
		return out
	case filter.OpStartsWith:
		_ = tx.ScanUnique(k, "name", vals[0], func(_, id []byte) error {
			out.ids = append(out.ids, string(id))
			return nil
		})
		return out
	}
	test := stringTest(op, vals[0])
	_ = tx.ScanUnique(k, "name", "", func(name, id []byte) error {
		if test(name) {
			out.ids = append(out.ids, string(id))
		}
		return nil
	})
	return out
}

func planAttributes(tx *store.Tx, k *store.Kind, op filter.Op, vals []string) candidates {
	attrs := vals
	if op != filter.OpEq && op != filter.OpIn {
		test := stringTest(op, vals[0])
		attrs = nil
		for _, a := range tx.AttributeValues(k) {
			if test([]byte(a)) {
				attrs = append(attrs, a)
			}
		}
	}
	out := candidates{exact: true}
	if len(attrs) == 1 {
		out.ids = tx.IDsWithAttribute(k, attrs[0])
		return out
	}
	seen := map[string]struct{}{}
	for _, a := range attrs {
		for _, id := range tx.IDsWithAttribute(k, a) {
			if _, dup := seen[id]; !dup {
				seen[id] = struct{}{}
				out.ids = append(out.ids, id)
			}
		}
	}
	return out
}

// stringTest is the filter's string operator op with operand sub, on bytes:
// the same answers as filter.Query.Match gives for a string field.
func stringTest(op filter.Op, sub string) func([]byte) bool {
	b := []byte(sub)
	switch op {
	case filter.OpContains:
		return func(s []byte) bool { return bytes.Contains(s, b) }
	case filter.OpStartsWith:
		return func(s []byte) bool { return bytes.HasPrefix(s, b) }
	case filter.OpEndsWith:
		return func(s []byte) bool { return bytes.HasSuffix(s, b) }
	case filter.OpIContains:
		lower := strings.ToLower(sub)
		return func(s []byte) bool {
			if isASCII(s) {
				return asciiLowerContains(s, lower)
			}
			return strings.Contains(strings.ToLower(string(s)), lower)
		}
	}
	return func([]byte) bool { return false }
}

func isASCII(s []byte) bool {
	for _, c := range s {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// asciiLowerContains reports whether lower is within s lowered, for an ASCII s.
func asciiLowerContains(s []byte, lower string) bool {
	n := len(lower)
	for i := 0; i+n <= len(s); i++ {
		j := 0
		for ; j < n; j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != lower[j] {
				break
			}
		}
		if j == n {
			return true
		}
	}
	return false
}

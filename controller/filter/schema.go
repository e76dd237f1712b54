package filter

import (
	"fmt"
	"sort"
	"strings"
)

// FieldSpec describes one filterable field of an entity.
type FieldSpec struct {
	// Kind is the type of the field's values (of its elements, for a list). KindAny accepts values
	// of every type; KindInt and KindFloat both accept numbers.
	Kind Kind
	// Multi says the field holds a list, which set functions apply to.
	Multi bool
}

// Schema lists the filterable fields of an entity by name. A name ending in ".*" (such as "tags.*")
// stands for every dotted name under that prefix.
type Schema map[string]FieldSpec

// Names returns the field names of the schema, sorted.
func (s Schema) Names() []string {
	names := make([]string, 0, len(s))
	for name := range s {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// lookup finds the spec of a field, directly or through a "prefix.*" entry.
func (s Schema) lookup(name string) (FieldSpec, bool) {
	if spec, ok := s[name]; ok {
		return spec, true
	}
	for i := strings.LastIndexByte(name, '.'); i > 0; i = strings.LastIndexByte(name[:i], '.') {
		if spec, ok := s[name[:i]+".*"]; ok {
			return spec, true
		}
	}
	return FieldSpec{}, false
}

// Validate checks that the query names only fields of the schema, in its predicate and in its sort
// keys, and that it compares each field with values of its type. Errors are *Error values wrapping
// ErrInvalidFilter.
func (q *Query) Validate(schema Schema) error {
	if q == nil {
		return nil
	}
	if q.Predicate != nil {
		if err := q.Predicate.check(schema); err != nil {
			return err
		}
	}
	for _, f := range q.Sort {
		if _, ok := schema.lookup(f.Field); !ok {
			return newError(f.ctx, f.pos, "unknown sort field %q%s", f.Field, schema.suggest(f.Field))
		}
	}
	return nil
}

func (n *And) check(s Schema) error { return checkAll(n.Terms, s) }
func (n *Or) check(s Schema) error  { return checkAll(n.Terms, s) }
func (n *Not) check(s Schema) error { return n.Term.check(s) }

func (n *BoolConst) check(Schema) error { return nil }

func checkAll(terms []Node, s Schema) error {
	for _, t := range terms {
		if err := t.check(s); err != nil {
			return err
		}
	}
	return nil
}

func (n *IsEmpty) check(s Schema) error {
	spec, ok := s.lookup(n.Field)
	if !ok {
		return newError("", n.Pos, "unknown field %q%s", n.Field, s.suggest(n.Field))
	}
	if spec.Kind != KindAny && !spec.Multi {
		return newError("", n.Pos, "isEmpty needs a list field, and %q holds a single value", n.Field)
	}
	return nil
}

func (n *Comparison) check(s Schema) error {
	spec, ok := s.lookup(n.Field)
	if !ok {
		return n.errorf("unknown field %q%s", n.Field, s.suggest(n.Field))
	}
	if spec.Kind == KindAny {
		return nil
	}
	if n.Func != SetNone && !spec.Multi {
		return n.errorf("%s needs a list field, and %q holds a single value", n.Func, n.Field)
	}
	if n.Func == SetCount {
		return nil // the parser saw to numeric operands
	}
	for _, v := range n.Values {
		if v.kind == KindNull {
			continue
		}
		if v.kind.class() != spec.Kind.class() {
			return n.errorf("field %q holds %s values, which can't be compared with the %s %s", n.Field, spec.Kind.class(), v.kind.class(), v)
		}
	}
	switch {
	case n.Op >= OpContains && n.Op <= OpEndsWith && spec.Kind != KindString:
		return n.errorf("%s needs a string field, and %q holds %s values", n.Op, n.Field, spec.Kind.class())
	case spec.Kind == KindBool && n.Op != OpEq && n.Op != OpNe && n.Op != OpIn:
		return n.errorf("field %q is a boolean, which %s can't order", n.Field, n.Op)
	}
	return nil
}

// suggest names the field of the schema closest to an unknown one, as
// "; did you mean ...?", when one is close (the same but for case, or at most
// two edits away); "" otherwise.
func (s Schema) suggest(name string) string {
	best, bestDist := "", 3
	for _, known := range s.Names() {
		if strings.HasSuffix(known, ".*") {
			continue
		}
		d := editDistance(strings.ToLower(name), strings.ToLower(known))
		if d < bestDist {
			best, bestDist = known, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", best)
}

// editDistance is the Levenshtein distance of two short strings, in bytes.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

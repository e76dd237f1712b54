package filter

import (
	"strings"
)

// Fields gives access to a record's fields. A field may hold a single value or a list; a field the
// record doesn't have is reported with ok false and counts as null.
type Fields interface {
	Field(name string) (v Value, ok bool)
}

// FieldsFunc adapts a function to the Fields interface.
type FieldsFunc func(name string) (Value, bool)

// Field calls f.
func (f FieldsFunc) Field(name string) (Value, bool) { return f(name) }

// Match reports whether the record satisfies the query's predicate. A query without a predicate
// matches every record. Comparing a field with a value of another type (a string field with a
// number, say) is an *Error wrapping ErrInvalidFilter.
func (q *Query) Match(rec Fields) (bool, error) {
	if q == nil || q.Predicate == nil {
		return true, nil
	}
	return q.Predicate.eval(rec)
}

func lookup(rec Fields, name string) Value {
	if rec == nil {
		return Null()
	}
	v, ok := rec.Field(name)
	if !ok {
		return Null()
	}
	return v
}

func (n *And) eval(rec Fields) (bool, error) {
	for _, t := range n.Terms {
		ok, err := t.eval(rec)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

func (n *Or) eval(rec Fields) (bool, error) {
	for _, t := range n.Terms {
		ok, err := t.eval(rec)
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

func (n *Not) eval(rec Fields) (bool, error) {
	ok, err := n.Term.eval(rec)
	return !ok && err == nil, err
}

func (n *BoolConst) eval(Fields) (bool, error) { return n.Value, nil }

func (n *IsEmpty) eval(rec Fields) (bool, error) {
	return countOf(lookup(rec, n.Field)) == 0, nil
}

// countOf is the number of elements of a field: a list's length, 0 for null, 1 for a single value.
func countOf(v Value) int64 {
	switch v.kind {
	case KindNull:
		return 0
	case KindList:
		return int64(len(v.list))
	}
	return 1
}

// checkArity rejects a comparison with the wrong number of operands, which only a hand-built node
// can have.
func (n *Comparison) checkArity() error {
	want := 1
	switch n.Op {
	case OpBetween:
		want = 2
	case OpIn:
		if len(n.Values) > 0 {
			return nil
		}
	}
	if len(n.Values) != want {
		return n.errorf("%s takes %d values, not %d", n.Op, want, len(n.Values))
	}
	return nil
}

// positive returns the operator without its negation, and whether it was negated.
func (n *Comparison) positive() (Op, bool) {
	if n.Op == OpNe {
		return OpEq, true
	}
	return n.Op, n.Not
}

func (n *Comparison) eval(rec Fields) (bool, error) {
	if err := n.checkArity(); err != nil {
		return false, err
	}
	v := lookup(rec, n.Field)
	op, negated := n.positive()
	switch n.Func {
	case SetCount:
		ok, err := n.test(op, Int(countOf(v)))
		return ok != negated && err == nil, err
	case SetAnyOf, SetAllOf:
		// Each element is tested with the operator as written, negation included.
		items := []Value{v}
		switch v.kind {
		case KindNull:
			items = nil
		case KindList:
			items = v.list
		}
		all := n.Func == SetAllOf
		for _, item := range items {
			ok, err := n.test(op, item)
			if err != nil {
				return false, err
			}
			if ok != negated != all {
				return !all, nil
			}
		}
		return all, nil
	}
	if len(n.Values) == 1 && n.Values[0].kind == KindNull {
		return v.kind == KindNull != negated, nil
	}
	if v.kind != KindList {
		ok, err := n.test(op, v)
		return ok != negated && err == nil, err
	}
	// A list without a set function: anyOf, with the negation applied to the whole.
	for _, item := range v.list {
		ok, err := n.test(op, item)
		if err != nil {
			return false, err
		}
		if ok {
			return !negated, nil
		}
	}
	return negated, nil
}

// test applies a positive operator to one field value. A null value satisfies none.
func (n *Comparison) test(op Op, v Value) (bool, error) {
	if v.kind == KindNull {
		return false, nil
	}
	if v.kind == KindList {
		return false, n.errorf("field %q holds nested lists, which filters can't compare", n.Field)
	}
	switch op {
	case OpContains, OpIContains, OpStartsWith, OpEndsWith:
		if v.kind != KindString {
			return false, n.mismatch(v, n.Values[0])
		}
		s, sub := v.str, n.Values[0].str
		switch op {
		case OpContains:
			return strings.Contains(s, sub), nil
		case OpIContains:
			return containsFold(s, sub), nil
		case OpStartsWith:
			return strings.HasPrefix(s, sub), nil
		}
		return strings.HasSuffix(s, sub), nil
	case OpIn:
		for _, want := range n.Values {
			c, err := n.compare(v, want)
			if err != nil {
				return false, err
			}
			if c == 0 {
				return true, nil
			}
		}
		return false, nil
	case OpBetween:
		lo, err := n.compare(v, n.Values[0])
		if err != nil {
			return false, err
		}
		hi, err := n.compare(v, n.Values[1])
		if err != nil {
			return false, err
		}
		return lo >= 0 && hi < 0, nil
	}
	c, err := n.compare(v, n.Values[0])
	if err != nil {
		return false, err
	}
	switch op {
	case OpEq:
		return c == 0, nil
	case OpLt:
		return c < 0, nil
	case OpLe:
		return c <= 0, nil
	case OpGt:
		return c > 0, nil
	case OpGe:
		return c >= 0, nil
	}
	return false, n.errorf("unknown operator %s", op)
}

// compare orders a field value against an operand of the same class.
func (n *Comparison) compare(v, want Value) (int, error) {
	if v.kind.class() != want.kind.class() {
		return 0, n.mismatch(v, want)
	}
	if v.kind == KindBool && n.Op != OpEq && n.Op != OpNe && n.Op != OpIn {
		return 0, n.errorf("field %q is a boolean, which %s can't order", n.Field, n.Op)
	}
	return Compare(v, want), nil
}

func (n *Comparison) mismatch(v, want Value) *Error {
	return n.errorf("field %q holds a %s, which can't be compared with the %s %s", n.Field, v.kind.class(), want.kind.class(), want)
}

func (n *Comparison) errorf(format string, args ...any) *Error {
	return newError("", n.Pos, format, args...)
}

// containsFold reports whether sub is within s, ignoring case.
func containsFold(s, sub string) bool {
	if sub == "" {
		return true
	}
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

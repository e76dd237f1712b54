package filter

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrInvalidFilter is wrapped by every error about the text or the meaning of a filter or a sort.
var ErrInvalidFilter = errors.New("invalid filter")

// Error is a filter that can't be parsed, validated or evaluated. It wraps ErrInvalidFilter.
type Error struct {
	// Context names the input the error is about: "" for the filter, "sort" for the sort parameter.
	Context string
	// Pos is the byte offset in that input where the problem is, or -1 when it has no place.
	Pos int
	// Msg says what is wrong, for people.
	Msg string
}

func newError(ctx string, pos int, format string, args ...any) *Error {
	return &Error{Context: ctx, Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(ErrInvalidFilter.Error())
	b.WriteString(": ")
	if e.Context != "" {
		b.WriteString(e.Context)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	if e.Pos >= 0 {
		b.WriteString(" (at position ")
		b.WriteString(strconv.Itoa(e.Pos))
		b.WriteString(")")
	}
	return b.String()
}

// Unwrap returns ErrInvalidFilter.
func (e *Error) Unwrap() error { return ErrInvalidFilter }

// Query is a parsed filter with its trailing sort, skip and limit clauses.
type Query struct {
	// Predicate selects records; nil selects every record.
	Predicate Node
	// Sort lists the sort keys, most significant first.
	Sort []SortField
	// Skip and Limit are set when the query says so.
	Skip  *int64
	Limit *int64
	// NoLimit is set by "limit none".
	NoLimit bool
}

// SortField is one sort key.
type SortField struct {
	Field string
	Desc  bool
	pos   int
	ctx   string
}

// String formats the query so that Parse reads it back as the same query.
func (q *Query) String() string {
	if q == nil {
		return ""
	}
	var parts []string
	if q.Predicate != nil {
		parts = append(parts, q.Predicate.String())
	}
	if len(q.Sort) > 0 {
		parts = append(parts, "sort by "+FormatSort(q.Sort))
	}
	if q.Skip != nil {
		parts = append(parts, "skip "+strconv.FormatInt(*q.Skip, 10))
	}
	if q.NoLimit {
		parts = append(parts, "limit none")
	} else if q.Limit != nil {
		parts = append(parts, "limit "+strconv.FormatInt(*q.Limit, 10))
	}
	return strings.Join(parts, " ")
}

// FormatSort formats sort keys as the sort parameter spells them: "name, createdAt desc".
func FormatSort(fields []SortField) string {
	var b strings.Builder
	for i, f := range fields {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(f.Field)
		if f.Desc {
			b.WriteString(" desc")
		}
	}
	return b.String()
}

// Node is a boolean expression of a filter: *And, *Or, *Not, *BoolConst, *Comparison or *IsEmpty.
type Node interface {
	// String formats the expression in the filter language.
	String() string
	eval(rec Fields) (bool, error)
	check(schema Schema) error
}

// And holds when every term holds.
type And struct{ Terms []Node }

// Or holds when some term holds.
type Or struct{ Terms []Node }

// Not holds when its term does not.
type Not struct{ Term Node }

// BoolConst is a literal true or false.
type BoolConst struct{ Value bool }

// IsEmpty holds when the field has no values: it is missing, null or an empty list.
type IsEmpty struct {
	Field string
	Pos   int // byte offset of the predicate in the filter
}

// SetFunc says how a comparison treats a multi-valued field.
type SetFunc uint8

// The set functions. SetNone is a plain comparison, which on a list means anyOf.
const (
	SetNone SetFunc = iota
	SetAnyOf
	SetAllOf
	SetCount
)

func (f SetFunc) String() string {
	switch f {
	case SetAnyOf:
		return "anyOf"
	case SetAllOf:
		return "allOf"
	case SetCount:
		return "count"
	}
	return ""
}

// Op is a comparison operator.
type Op uint8

// The operators. OpNe is written "!="; the word operators may be negated with "not" (Comparison.Not).
const (
	OpEq Op = iota
	OpNe
	OpLt
	OpLe
	OpGt
	OpGe
	OpContains
	OpIContains
	OpStartsWith
	OpEndsWith
	OpIn
	OpBetween
)

var opNames = [...]string{
	OpEq: "=", OpNe: "!=", OpLt: "<", OpLe: "<=", OpGt: ">", OpGe: ">=",
	OpContains: "contains", OpIContains: "icontains", OpStartsWith: "startsWith",
	OpEndsWith: "endsWith", OpIn: "in", OpBetween: "between",
}

func (o Op) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return "op(" + strconv.Itoa(int(o)) + ")"
}

// Comparison compares a field, or a set function of it, with literal values.
type Comparison struct {
	Func  SetFunc
	Field string
	Op    Op
	// Not negates a word operator: "not contains", "not in", "not between", ...
	Not bool
	// Values holds the operand: one value, two for between, the list items for in.
	Values []Value
	// Pos is the byte offset of the comparison in the filter.
	Pos int
}

func (n *And) String() string { return joinTerms(n.Terms, " and ", false) }
func (n *Or) String() string  { return joinTerms(n.Terms, " or ", true) }

// joinTerms writes the terms of an and or an or. A term that is itself an and or an or goes in
// parentheses, so that the shape of the tree survives a round trip, except for an and within an or,
// which binds tighter anyway.
func joinTerms(terms []Node, sep string, inOr bool) string {
	var b strings.Builder
	for i, t := range terms {
		if i > 0 {
			b.WriteString(sep)
		}
		_, isAnd := t.(*And)
		writeTerm(&b, t, inOr && isAnd)
	}
	return b.String()
}

// writeTerm writes an operand of and, or, not, with and and or in parentheses unless bare is set.
func writeTerm(b *strings.Builder, n Node, bare bool) {
	switch n.(type) {
	case *And, *Or:
		if !bare {
			b.WriteByte('(')
			b.WriteString(n.String())
			b.WriteByte(')')
			return
		}
	}
	b.WriteString(n.String())
}

func (n *Not) String() string {
	var b strings.Builder
	b.WriteString("not ")
	writeTerm(&b, n.Term, false)
	return b.String()
}

func (n *BoolConst) String() string { return strconv.FormatBool(n.Value) }

func (n *IsEmpty) String() string { return "isEmpty(" + n.Field + ")" }

func (n *Comparison) String() string {
	var b strings.Builder
	if n.Func == SetNone {
		b.WriteString(n.Field)
	} else {
		b.WriteString(n.Func.String())
		b.WriteByte('(')
		b.WriteString(n.Field)
		b.WriteByte(')')
	}
	if n.Not {
		b.WriteString(" not")
	}
	b.WriteByte(' ')
	b.WriteString(n.Op.String())
	b.WriteByte(' ')
	switch n.Op {
	case OpIn:
		List(n.Values...).format(&b)
	case OpBetween:
		if len(n.Values) == 2 {
			n.Values[0].format(&b)
			b.WriteString(" and ")
			n.Values[1].format(&b)
		}
	default:
		if len(n.Values) > 0 {
			n.Values[0].format(&b)
		}
	}
	return b.String()
}

package filter

import (
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Kind is the type of a Value.
type Kind uint8

// The kinds of values. KindAny is not the kind of any Value: a FieldSpec uses it for fields whose
// values have no fixed type (such as tags).
const (
	KindNull Kind = iota
	KindString
	KindInt
	KindFloat
	KindBool
	KindTime
	KindList
	KindAny
)

// String names the kind the way error messages talk about it.
func (k Kind) String() string {
	switch k {
	case KindNull:
		return "null"
	case KindString:
		return "string"
	case KindInt:
		return "integer"
	case KindFloat:
		return "float"
	case KindBool:
		return "boolean"
	case KindTime:
		return "datetime"
	case KindList:
		return "list"
	case KindAny:
		return "any"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// class groups the kinds that compare with each other: integers and floats are both numbers.
func (k Kind) class() string {
	switch k {
	case KindInt, KindFloat:
		return "number"
	}
	return k.String()
}

// Value is a single field value or literal: null, a string, an integer, a float, a boolean, a time or
// a list of values. The zero Value is null.
type Value struct {
	kind Kind
	num  int64 // KindInt, and KindBool as 0 or 1
	f    float64
	str  string
	t    time.Time
	list []Value
}

// Null returns the null value.
func Null() Value { return Value{} }

// String returns a string value.
func String(s string) Value { return Value{kind: KindString, str: s} }

// Int returns an integer value.
func Int(i int64) Value { return Value{kind: KindInt, num: i} }

// Float returns a floating point value.
func Float(f float64) Value { return Value{kind: KindFloat, f: f} }

// Bool returns a boolean value.
func Bool(b bool) Value {
	v := Value{kind: KindBool}
	if b {
		v.num = 1
	}
	return v
}

// Time returns a time value.
func Time(t time.Time) Value { return Value{kind: KindTime, t: t} }

// List returns a list of values. A list with no elements is empty, not null.
func List(items ...Value) Value {
	if items == nil {
		items = []Value{}
	}
	return Value{kind: KindList, list: items}
}

// Strings returns a list of string values.
func Strings(items ...string) Value {
	list := make([]Value, len(items))
	for i, s := range items {
		list[i] = String(s)
	}
	return Value{kind: KindList, list: list}
}

// Kind returns the kind of v.
func (v Value) Kind() Kind { return v.kind }

// IsNull reports whether v is null.
func (v Value) IsNull() bool { return v.kind == KindNull }

// Str returns the string of a string value, and "" for other kinds.
func (v Value) Str() string { return v.str }

// Int returns the integer of an integer value, and 0 for other kinds.
func (v Value) Int() int64 {
	if v.kind != KindInt {
		return 0
	}
	return v.num
}

// Float returns the number of an integer or float value as a float64, and 0 for other kinds.
func (v Value) Float() float64 {
	switch v.kind {
	case KindInt:
		return float64(v.num)
	case KindFloat:
		return v.f
	}
	return 0
}

// Bool returns the boolean of a boolean value, and false for other kinds.
func (v Value) Bool() bool { return v.kind == KindBool && v.num != 0 }

// Time returns the time of a time value, and the zero time for other kinds.
func (v Value) Time() time.Time { return v.t }

// Items returns the elements of a list value, and nil for other kinds. The caller must not modify
// them.
func (v Value) Items() []Value { return v.list }

// String formats v in the filter language: a literal that parses back to the same value.
func (v Value) String() string {
	var b strings.Builder
	v.format(&b)
	return b.String()
}

func (v Value) format(b *strings.Builder) {
	switch v.kind {
	case KindNull:
		b.WriteString("null")
	case KindString:
		quote(b, v.str)
	case KindInt:
		b.WriteString(strconv.FormatInt(v.num, 10))
	case KindFloat:
		b.WriteString(formatFloat(v.f))
	case KindBool:
		b.WriteString(strconv.FormatBool(v.num != 0))
	case KindTime:
		b.WriteString("datetime(")
		b.WriteString(v.t.Format(time.RFC3339Nano))
		b.WriteString(")")
	case KindList:
		b.WriteByte('[')
		for i, item := range v.list {
			if i > 0 {
				b.WriteString(", ")
			}
			item.format(b)
		}
		b.WriteByte(']')
	default:
		b.WriteString("?")
	}
}

// formatFloat writes a float so that it reads back as a float, not an integer.
func formatFloat(f float64) string {
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if strings.ContainsAny(s, ".eEnN") { // n/N: NaN and Inf, which no literal spells
		return s
	}
	return s + ".0"
}

// quote writes s as a double-quoted string literal.
func quote(b *strings.Builder, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteByte(s[i]) // not UTF-8: keep the byte as it was
			i++
			continue
		}
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if r < 0x20 || r == 0x7f {
				b.WriteString(`\u00`)
				b.WriteByte("0123456789abcdef"[r>>4])
				b.WriteByte("0123456789abcdef"[r&0xf])
			} else {
				b.WriteString(s[i : i+size])
			}
		}
		i += size
	}
	b.WriteByte('"')
}

// rank orders the classes of values for Compare.
func (k Kind) rank() int {
	switch k {
	case KindNull:
		return 0
	case KindBool:
		return 1
	case KindInt, KindFloat:
		return 2
	case KindString:
		return 3
	case KindTime:
		return 4
	case KindList:
		return 5
	}
	return 6
}

// Compare orders two values and returns -1, 0 or +1. It is a total order meant for sorting: values
// of different classes order as null < boolean < number < string < datetime < list; integers and
// floats compare by numeric value (NaN below every other number); strings compare by bytes; lists
// compare element by element.
func Compare(a, b Value) int {
	ra, rb := a.kind.rank(), b.kind.rank()
	if ra != rb {
		return cmpInt(int64(ra), int64(rb))
	}
	switch a.kind {
	case KindNull:
		return 0
	case KindBool:
		return cmpInt(a.num, b.num)
	case KindInt, KindFloat:
		return compareNumbers(a, b)
	case KindString:
		return strings.Compare(a.str, b.str)
	case KindTime:
		return a.t.Compare(b.t)
	case KindList:
		for i := 0; i < len(a.list) && i < len(b.list); i++ {
			if c := Compare(a.list[i], b.list[i]); c != 0 {
				return c
			}
		}
		return cmpInt(int64(len(a.list)), int64(len(b.list)))
	}
	return 0
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func compareNumbers(a, b Value) int {
	switch {
	case a.kind == KindInt && b.kind == KindInt:
		return cmpInt(a.num, b.num)
	case a.kind == KindInt:
		return cmpIntFloat(a.num, b.f)
	case b.kind == KindInt:
		return -cmpIntFloat(b.num, a.f)
	}
	return cmpFloat(a.f, b.f)
}

func cmpFloat(a, b float64) int {
	an, bn := math.IsNaN(a), math.IsNaN(b)
	switch {
	case an && bn:
		return 0
	case an:
		return -1
	case bn:
		return 1
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// cmpIntFloat compares an integer with a float exactly, without rounding the integer to a float.
func cmpIntFloat(i int64, f float64) int {
	const two63 = 9223372036854775808.0
	switch {
	case math.IsNaN(f):
		return 1
	case f >= two63:
		return -1
	case f < -two63:
		return 1
	}
	whole := math.Trunc(f)
	if c := cmpInt(i, int64(whole)); c != 0 {
		return c
	}
	switch frac := f - whole; {
	case frac > 0:
		return -1
	case frac < 0:
		return 1
	}
	return 0
}

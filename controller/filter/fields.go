package filter

import (
	"encoding/json"
	"math"
	"strings"
	"time"
)

// FromMap presents a JSON-like map as Fields. A dotted name is looked up as a key first, then by
// walking nested maps (map[string]any or map[string]string): "tags.env" finds m["tags"]["env"].
//
// Values convert as follows: nil to null; string; signed and unsigned integers, json.Number, float32
// and float64 to numbers; bool; time.Time and *time.Time; []string, []any, []int, []int64,
// []float64, []bool and []time.Time to lists; a Value as it is. Values of other types, such as maps
// and structs, are reported as missing.
func FromMap(m map[string]any) Fields { return mapFields(m) }

type mapFields map[string]any

func (m mapFields) Field(name string) (Value, bool) {
	if raw, ok := m[name]; ok {
		return ValueOf(raw)
	}
	var cur any = map[string]any(m)
	rest := name
	for rest != "" {
		key := rest
		if i := strings.IndexByte(rest, '.'); i >= 0 {
			key, rest = rest[:i], rest[i+1:]
		} else {
			rest = ""
		}
		switch node := cur.(type) {
		case map[string]any:
			next, ok := node[key]
			if !ok {
				return Null(), false
			}
			cur = next
		case map[string]string:
			next, ok := node[key]
			if !ok {
				return Null(), false
			}
			cur = next
		default:
			return Null(), false
		}
	}
	return ValueOf(cur)
}

// ValueOf converts a Go value as FromMap does, reporting false for types it doesn't know.
func ValueOf(x any) (Value, bool) {
	switch x := x.(type) {
	case nil:
		return Null(), true
	case Value:
		return x, true
	case string:
		return String(x), true
	case bool:
		return Bool(x), true
	case int:
		return Int(int64(x)), true
	case int8:
		return Int(int64(x)), true
	case int16:
		return Int(int64(x)), true
	case int32:
		return Int(int64(x)), true
	case int64:
		return Int(x), true
	case uint:
		return uintValue(uint64(x)), true
	case uint8:
		return Int(int64(x)), true
	case uint16:
		return Int(int64(x)), true
	case uint32:
		return Int(int64(x)), true
	case uint64:
		return uintValue(x), true
	case float32:
		return Float(float64(x)), true
	case float64:
		return Float(x), true
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return Int(i), true
		}
		if f, err := x.Float64(); err == nil {
			return Float(f), true
		}
		return Null(), false
	case time.Time:
		return Time(x), true
	case *time.Time:
		if x == nil {
			return Null(), true
		}
		return Time(*x), true
	case []string:
		return Strings(x...), true
	case []int:
		return listOf(x, func(i int) Value { return Int(int64(i)) }), true
	case []int64:
		return listOf(x, Int), true
	case []float64:
		return listOf(x, Float), true
	case []bool:
		return listOf(x, Bool), true
	case []time.Time:
		return listOf(x, Time), true
	case []Value:
		return List(x...), true
	case []any:
		items := make([]Value, 0, len(x))
		for _, item := range x {
			v, ok := ValueOf(item)
			if !ok {
				return Null(), false
			}
			items = append(items, v)
		}
		return List(items...), true
	}
	return Null(), false
}

func uintValue(u uint64) Value {
	if u > math.MaxInt64 {
		return Float(float64(u))
	}
	return Int(int64(u))
}

func listOf[T any](xs []T, conv func(T) Value) Value {
	items := make([]Value, len(xs))
	for i, x := range xs {
		items[i] = conv(x)
	}
	return List(items...)
}

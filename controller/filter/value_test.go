package filter

import (
	"encoding/json"
	"math"
	"testing"
	"time"
)

func TestCompare(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	// Each value sorts strictly before the next.
	ordered := []Value{
		Null(),
		Bool(false),
		Bool(true),
		Float(math.NaN()),
		Float(math.Inf(-1)),
		Int(math.MinInt64),
		Float(-1.5),
		Int(-1),
		Float(-0.5),
		Int(0),
		Float(0.5),
		Int(1),
		Float(1.0000001),
		Int(math.MaxInt64 - 1),
		Int(math.MaxInt64),
		Float(9223372036854775808.0),
		Float(math.Inf(1)),
		String(""),
		String("A"),
		String("a"),
		String("ab"),
		String("b"),
		Time(t0),
		Time(t0.Add(time.Nanosecond)),
		List(),
		List(Int(1)),
		List(Int(1), Int(2)),
		List(Int(2)),
	}
	for i := range ordered {
		for j := range ordered {
			want := 0
			switch {
			case i < j:
				want = -1
			case i > j:
				want = 1
			}
			if got := Compare(ordered[i], ordered[j]); got != want {
				t.Errorf("Compare(%v, %v) = %d, want %d", ordered[i], ordered[j], got, want)
			}
		}
	}

	equal := [][2]Value{
		{Int(3), Float(3)},
		{Float(math.Copysign(0, -1)), Int(0)},
		{Float(math.NaN()), Float(math.NaN())},
		{Time(t0), Time(t0.In(time.FixedZone("x", 3600)))},
		{List(Int(1), String("a")), List(Float(1), String("a"))},
		{Value{}, Null()},
	}
	for _, pair := range equal {
		if got := Compare(pair[0], pair[1]); got != 0 {
			t.Errorf("Compare(%v, %v) = %d, want 0", pair[0], pair[1], got)
		}
	}
	// Integers beyond float64 precision compare exactly.
	if got := Compare(Int(math.MaxInt64), Float(math.MaxInt64)); got != -1 {
		t.Errorf("MaxInt64 vs its float rounding: %d, want -1", got)
	}
	if got := Compare(Int(1<<53+1), Float(1<<53)); got != 1 {
		t.Errorf("2^53+1 vs 2^53: %d, want 1", got)
	}
}

func TestValueAccessorsAndString(t *testing.T) {
	t0 := time.Date(2024, 1, 2, 3, 4, 5, 600, time.FixedZone("", -7*3600))
	tests := []struct {
		v    Value
		kind Kind
		text string
	}{
		{Null(), KindNull, "null"},
		{String("a\"b\\c\n\x01\x7fé"), KindString, `"a\"b\\c\n\u0001\u007fé"`},
		{String("\xff"), KindString, "\"\xff\""},
		{Int(-42), KindInt, "-42"},
		{Float(2), KindFloat, "2.0"},
		{Float(math.Copysign(0, -1)), KindFloat, "-0.0"},
		{Float(1e21), KindFloat, "1e+21"},
		{Float(0.1), KindFloat, "0.1"},
		{Float(math.Inf(1)), KindFloat, "+Inf"},
		{Bool(true), KindBool, "true"},
		{Bool(false), KindBool, "false"},
		{Time(t0), KindTime, "datetime(2024-01-02T03:04:05.0000006-07:00)"},
		{List(Int(1), String("x")), KindList, `[1, "x"]`},
		{List(), KindList, "[]"},
		{Strings("a", "b"), KindList, `["a", "b"]`},
	}
	for _, tt := range tests {
		if tt.v.Kind() != tt.kind {
			t.Errorf("%v: kind %v, want %v", tt.v, tt.v.Kind(), tt.kind)
		}
		if got := tt.v.String(); got != tt.text {
			t.Errorf("String() = %q, want %q", got, tt.text)
		}
	}
	if v := Int(7); v.Int() != 7 || v.Float() != 7 || v.Str() != "" || v.Bool() {
		t.Errorf("Int accessors: %d %v %q %v", v.Int(), v.Float(), v.Str(), v.Bool())
	}
	if v := Float(1.5); v.Float() != 1.5 || v.Int() != 0 {
		t.Errorf("Float accessors: %v %d", v.Float(), v.Int())
	}
	if v := Bool(true); !v.Bool() || v.Int() != 0 {
		t.Error("Bool accessors")
	}
	if v := String("s"); v.Str() != "s" || v.Float() != 0 || v.IsNull() {
		t.Error("String accessors")
	}
	if v := Time(t0); !v.Time().Equal(t0) {
		t.Error("Time accessor")
	}
	if v := List(Int(1)); len(v.Items()) != 1 || Null().Items() != nil || List().Items() == nil {
		t.Error("List accessors")
	}
	if !Null().IsNull() || !(Value{}).IsNull() {
		t.Error("IsNull")
	}
	for k := KindNull; k <= KindAny+1; k++ {
		if k.String() == "" {
			t.Errorf("kind %d has no name", k)
		}
	}
	// String literals print so that they parse back to the same text.
	for _, s := range []string{"", "plain", "q\"b\\s/", "\x00\x1f\t\r\n", "ünï", "\U0001F600", "\xff\xfe"} {
		q, err := Parse("a = " + String(s).String())
		if err != nil {
			t.Errorf("literal of %q: %v", s, err)
			continue
		}
		if got := q.Predicate.(*Comparison).Values[0].Str(); got != s {
			t.Errorf("literal of %q reads back as %q", s, got)
		}
	}
}

func TestFromMap(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var nilTime *time.Time
	m := map[string]any{
		"s": "x", "b": true, "i": 3, "i8": int8(-8), "i16": int16(16), "i32": int32(32), "i64": int64(64),
		"u": uint(1), "u8": uint8(8), "u16": uint16(16), "u32": uint32(32), "u64": uint64(64),
		"bigU": uint64(math.MaxUint64), "f32": float32(1.5), "f64": 2.5,
		"jsonInt": json.Number("12"), "jsonFloat": json.Number("1.25"), "jsonBad": json.Number("x"),
		"t": t0, "tp": &t0, "tnil": nilTime, "nil": nil, "val": Int(9),
		"strs": []string{"a"}, "ints": []int{1}, "i64s": []int64{2}, "fs": []float64{0.5},
		"bs": []bool{true}, "ts": []time.Time{t0}, "vals": []Value{String("v")},
		"anys": []any{"a", 1, nil, []any{}}, "badAnys": []any{struct{}{}},
		"struct": struct{}{}, "map": map[string]any{"k": map[string]string{"kk": "v"}},
		"dotted.key": "direct",
	}
	tests := []struct {
		name string
		want Value
		ok   bool
	}{
		{"s", String("x"), true},
		{"b", Bool(true), true},
		{"i", Int(3), true},
		{"i8", Int(-8), true},
		{"i16", Int(16), true},
		{"i32", Int(32), true},
		{"i64", Int(64), true},
		{"u", Int(1), true},
		{"u8", Int(8), true},
		{"u16", Int(16), true},
		{"u32", Int(32), true},
		{"u64", Int(64), true},
		{"bigU", Float(math.MaxUint64), true},
		{"f32", Float(1.5), true},
		{"f64", Float(2.5), true},
		{"jsonInt", Int(12), true},
		{"jsonFloat", Float(1.25), true},
		{"jsonBad", Null(), false},
		{"t", Time(t0), true},
		{"tp", Time(t0), true},
		{"tnil", Null(), true},
		{"nil", Null(), true},
		{"val", Int(9), true},
		{"strs", Strings("a"), true},
		{"ints", List(Int(1)), true},
		{"i64s", List(Int(2)), true},
		{"fs", List(Float(0.5)), true},
		{"bs", List(Bool(true)), true},
		{"ts", List(Time(t0)), true},
		{"vals", List(String("v")), true},
		{"anys", List(String("a"), Int(1), Null(), List()), true},
		{"badAnys", Null(), false},
		{"struct", Null(), false},
		{"map", Null(), false},
		{"map.k.kk", String("v"), true},
		{"map.k.other", Null(), false},
		{"map.k.kk.deeper", Null(), false},
		{"map.x", Null(), false},
		{"s.x", Null(), false},
		{"dotted.key", String("direct"), true},
		{"missing", Null(), false},
	}
	rec := FromMap(m)
	for _, tt := range tests {
		got, ok := rec.Field(tt.name)
		if ok != tt.ok || got.Kind() != tt.want.Kind() || Compare(got, tt.want) != 0 {
			t.Errorf("Field(%q) = %v, %v; want %v, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

package filter

import (
	"errors"
	"testing"
	"time"
)

// record is a sample entity with one field of every kind.
func record() Fields {
	return FromMap(map[string]any{
		"id":        "r1",
		"name":      "Web-Server",
		"cost":      10,
		"weight":    2.5,
		"isAdmin":   true,
		"disabled":  false,
		"createdAt": time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC),
		"roles":     []string{"ops", "web", "eu"},
		"ports":     []any{80, 443},
		"empty":     []string{},
		"nothing":   nil,
		"times":     []time.Time{time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)},
		"withNull":  []any{"a", nil},
		"identity":  map[string]any{"name": "alice", "meta": map[string]any{"level": 3}},
		"tags":      map[string]string{"env": "prod"},
	})
}

func TestMatch(t *testing.T) {
	tests := []struct {
		filter string
		want   bool
	}{
		// empty and constant filters
		{``, true},
		{`true`, true},
		{`false`, false},
		{`sort by name limit 1`, true},

		// strings
		{`name = "Web-Server"`, true},
		{`name = "web-server"`, false},
		{`name != "web-server"`, true},
		{`name != "Web-Server"`, false},
		{`name < "X"`, true},
		{`name < "Web-Server"`, false},
		{`name <= "Web-Server"`, true},
		{`name > "Web"`, true},
		{`name > "Z"`, false},
		{`name >= "Web-Server"`, true},
		{`name contains "b-S"`, true},
		{`name contains "b-s"`, false},
		{`name not contains "b-s"`, true},
		{`name not contains "b-S"`, false},
		{`name icontains "B-s"`, true},
		{`name icontains ""`, true},
		{`name not icontains "B-s"`, false},
		{`name icontains "xyz"`, false},
		{`name startsWith "Web"`, true},
		{`name startsWith "web"`, false},
		{`name not startsWith "web"`, true},
		{`name endsWith "Server"`, true},
		{`name endsWith "server"`, false},
		{`name not endsWith "Server"`, false},
		{`name in ["a", "Web-Server"]`, true},
		{`name in ["a", "b"]`, false},
		{`name not in ["a", "b"]`, true},
		{`name not in ["Web-Server"]`, false},
		{`name between "A" and "X"`, true},
		{`name between "Web-Server" and "X"`, true},
		{`name between "A" and "Web-Server"`, false},
		{`name not between "A" and "Web-Server"`, true},

		// integers, compared with integers and floats
		{`cost = 10`, true},
		{`cost = 10.0`, true},
		{`cost = 10.5`, false},
		{`cost != 10`, false},
		{`cost != 11`, true},
		{`cost < 11`, true},
		{`cost < 10`, false},
		{`cost < 10.5`, true},
		{`cost <= 10`, true},
		{`cost <= 9.99`, false},
		{`cost > 9`, true},
		{`cost > 9.99`, true},
		{`cost > 10`, false},
		{`cost >= 10`, true},
		{`cost >= 1e1`, true},
		{`cost >= 11`, false},
		{`cost > -5`, true},
		{`cost in [1, 10]`, true},
		{`cost in [1.5, 10.0]`, true},
		{`cost in [1, 2]`, false},
		{`cost not in [1, 2]`, true},
		{`cost between 10 and 11`, true},
		{`cost between 1 and 10`, false},
		{`cost between 9.5 and 10.5`, true},
		{`cost not between 1 and 10`, true},

		// floats
		{`weight = 2.5`, true},
		{`weight = 2`, false},
		{`weight != 2.5`, false},
		{`weight > 2`, true},
		{`weight < 3`, true},
		{`weight <= 2.5`, true},
		{`weight >= 2.50001`, false},
		{`weight in [1, 2.5]`, true},
		{`weight between 2 and 3`, true},
		{`weight between 2.5 and 3`, true},
		{`weight between 1 and 2.5`, false},

		// booleans
		{`isAdmin = true`, true},
		{`isAdmin = false`, false},
		{`isAdmin != false`, true},
		{`isAdmin`, true},
		{`disabled`, false},
		{`not disabled`, true},
		{`disabled = false`, true},
		{`isAdmin in [true]`, true},
		{`isAdmin not in [true]`, false},

		// datetimes
		{`createdAt = datetime(2024-03-01T12:00:00Z)`, true},
		{`createdAt = datetime(2024-03-01T13:00:00+01:00)`, true},
		{`createdAt != datetime(2024-03-01T12:00:00Z)`, false},
		{`createdAt > datetime(2024-03-01T11:59:59Z)`, true},
		{`createdAt > datetime(2024-03-01T12:00:00Z)`, false},
		{`createdAt >= datetime(2024-03-01T12:00:00Z)`, true},
		{`createdAt < datetime(2024-03-01T12:00:00.000000001Z)`, true},
		{`createdAt <= datetime(2024-03-01T11:00:00Z)`, false},
		{`createdAt in [datetime(2024-03-01T12:00:00Z)]`, true},
		{`createdAt between datetime(2024-01-01T00:00:00Z) and datetime(2025-01-01T00:00:00Z)`, true},
		{`createdAt not between datetime(2024-01-01T00:00:00Z) and datetime(2024-03-01T12:00:00Z)`, true},

		// dotted names through nested maps
		{`identity.name = "alice"`, true},
		{`identity.meta.level >= 3`, true},
		{`identity.meta.missing = null`, true},
		{`tags.env = "prod"`, true},
		{`tags.env != "prod"`, false},
		{`tags.other = null`, true},

		// null semantics
		{`missing = null`, true},
		{`nothing = null`, true},
		{`name = null`, false},
		{`missing != null`, false},
		{`nothing != null`, false},
		{`name != null`, true},
		{`roles = null`, false},
		{`empty = null`, false},
		{`empty != null`, true},
		{`missing = "x"`, false},
		{`missing != "x"`, true},
		{`missing < 3`, false},
		{`missing >= 3`, false},
		{`missing contains "x"`, false},
		{`missing not contains "x"`, true},
		{`missing in ["x"]`, false},
		{`missing not in ["x"]`, true},
		{`missing between 1 and 2`, false},
		{`missing not between 1 and 2`, true},
		{`missing`, false},
		{`not missing`, true},

		// lists without a set function: anyOf, negation outside
		{`roles = "web"`, true},
		{`roles = "db"`, false},
		{`roles != "web"`, false},
		{`roles != "db"`, true},
		{`roles contains "e"`, true},
		{`roles not contains "e"`, false},
		{`roles not contains "z"`, true},
		{`roles in ["db", "eu"]`, true},
		{`roles not in ["db", "eu"]`, false},
		{`roles startsWith "w"`, true},
		{`roles > "p"`, true},
		{`roles > "web"`, false},
		{`ports = 443`, true},
		{`ports between 100 and 200`, false},
		{`ports between 400 and 500`, true},
		{`times > datetime(2024-06-01T00:00:00Z)`, true},
		{`empty = "x"`, false},
		{`empty != "x"`, true},
		{`withNull = "a"`, true},
		{`withNull != "b"`, true},

		// anyOf
		{`anyOf(roles) = "ops"`, true},
		{`anyOf(roles) = "db"`, false},
		{`anyOf(roles) != "ops"`, true},
		{`anyOf(roles) not in ["ops", "web", "eu"]`, false},
		{`anyOf(roles) not contains "o"`, true},
		{`anyOf(ports) > 100`, true},
		{`anyOf(ports) > 500`, false},
		{`anyOf(empty) = "x"`, false},
		{`anyOf(empty) != "x"`, false},
		{`anyOf(missing) = "x"`, false},
		{`anyOf(name) = "Web-Server"`, true},
		{`anyOf(withNull) != "a"`, true},

		// allOf
		{`allOf(roles) = "ops"`, false},
		{`allOf(roles) in ["ops", "web", "eu"]`, true},
		{`allOf(roles) in ["ops", "web"]`, false},
		{`allOf(roles) != "db"`, true},
		{`allOf(roles) != "ops"`, false},
		{`allOf(roles) not contains "z"`, true},
		{`allOf(ports) >= 80`, true},
		{`allOf(ports) > 80`, false},
		{`allOf(times) < datetime(2026-01-01T00:00:00Z)`, true},
		{`allOf(empty) = "x"`, true},
		{`allOf(missing) = "x"`, true},
		{`allOf(withNull) = "a"`, false},
		{`allOf(name) icontains "web"`, true},

		// count and isEmpty
		{`count(roles) = 3`, true},
		{`count(roles) > 3`, false},
		{`count(roles) >= 3`, true},
		{`count(roles) < 3.5`, true},
		{`count(roles) != 3`, false},
		{`count(roles) in [1, 3]`, true},
		{`count(roles) not in [1, 3]`, false},
		{`count(roles) between 1 and 3`, false},
		{`count(roles) between 3 and 4`, true},
		{`count(empty) = 0`, true},
		{`count(missing) = 0`, true},
		{`count(nothing) = 0`, true},
		{`count(name) = 1`, true},
		{`isEmpty(empty)`, true},
		{`isEmpty(missing)`, true},
		{`isEmpty(nothing)`, true},
		{`isEmpty(roles)`, false},
		{`not isEmpty(roles)`, true},
		{`isEmpty(name)`, false},

		// combinations
		{`name = "x" or cost = 10`, true},
		{`name = "x" or cost = 11`, false},
		{`name = "Web-Server" and cost = 10 and isAdmin`, true},
		{`name = "Web-Server" and cost = 11`, false},
		{`not (name = "x" or cost = 11)`, true},
		{`(name = "x" or cost = 10) and anyOf(roles) = "web"`, true},
		{`name = "x" or cost = 11 or true`, true},
		{`name = "x" and cost = 10 or isAdmin`, true},
		{`name = "x" and (cost = 10 or isAdmin)`, false},
		{`NOT name = "x" AND cost = 10`, true},
	}
	rec := record()
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			q, err := Parse(tt.filter)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			got, err := q.Match(rec)
			if err != nil {
				t.Fatalf("Match: %v", err)
			}
			if got != tt.want {
				t.Fatalf("Match = %v, want %v", got, tt.want)
			}
			// The formatted query means the same.
			again, err := Parse(q.String())
			if err != nil {
				t.Fatalf("reparse %q: %v", q.String(), err)
			}
			if got, err := again.Match(rec); err != nil || got != tt.want {
				t.Fatalf("reparsed %q: Match = %v, %v; want %v", q.String(), got, err, tt.want)
			}
		})
	}
}

func TestMatchTypeMismatch(t *testing.T) {
	tests := []struct {
		filter string
		msg    string
	}{
		{`name = 1`, `field "name" holds a string, which can't be compared with the number 1`},
		{`name > datetime(2024-01-01T00:00:00Z)`, `holds a string, which can't be compared with the datetime`},
		{`name = true`, `holds a string, which can't be compared with the boolean true`},
		{`name`, `holds a string, which can't be compared with the boolean true`},
		{`cost = "10"`, `field "cost" holds a number, which can't be compared with the string "10"`},
		{`cost contains "1"`, `field "cost" holds a number, which can't be compared with the string "1"`},
		{`weight in ["a"]`, `holds a number`},
		{`isAdmin = 1`, `field "isAdmin" holds a boolean`},
		{`isAdmin between 0 and 1`, `field "isAdmin" holds a boolean`},
		{`createdAt > "2024"`, `field "createdAt" holds a datetime`},
		{`roles = 1`, `field "roles" holds a string`},
		{`anyOf(ports) startsWith "8"`, `field "ports" holds a number`},
		{`allOf(roles) < 3`, `field "roles" holds a string`},
		{`nested = "x"`, `nested lists`},
	}
	rec := FromMap(map[string]any{
		"name": "x", "cost": 10, "weight": 1.5, "isAdmin": true,
		"createdAt": time.Now(), "roles": []string{"a"}, "ports": []int{80},
		"nested": []any{[]any{"x"}},
	})
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			q, err := Parse(tt.filter)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			ok, err := q.Match(rec)
			if err == nil {
				t.Fatalf("Match = %v, want an error", ok)
			}
			checkFilterError(t, err, 0, tt.msg)
		})
	}

	// The error reports where the comparison is, and stops and/or/not.
	q, _ := Parse(`cost = 10 and not (name = 1)`)
	_, err := q.Match(rec)
	checkFilterError(t, err, 19, `field "name" holds a string`)
	q, _ = Parse(`cost = 11 or name = 1`)
	_, err = q.Match(rec)
	checkFilterError(t, err, 13, `field "name" holds a string`)
	// Short-circuit: a term that isn't reached raises nothing.
	q, _ = Parse(`cost = 11 and name = 1`)
	if ok, err := q.Match(rec); ok || err != nil {
		t.Errorf("short-circuited and = %v, %v", ok, err)
	}
}

func TestMatchNilQueryAndRecord(t *testing.T) {
	var q *Query
	if ok, err := q.Match(record()); !ok || err != nil {
		t.Errorf("nil query: %v, %v", ok, err)
	}
	q, _ = Parse(`name = null and isEmpty(roles) and count(roles) = 0`)
	if ok, err := q.Match(nil); !ok || err != nil {
		t.Errorf("nil record: %v, %v", ok, err)
	}
}

func TestMatchFieldsFunc(t *testing.T) {
	rec := FieldsFunc(func(name string) (Value, bool) {
		switch name {
		case "name":
			return String("a"), true
		case "scores":
			return List(Int(1), Float(2.5), Int(3)), true
		}
		return Value{}, false
	})
	q, err := Parse(`name = "a" and anyOf(scores) = 2.5 and allOf(scores) < 4 and count(scores) = 3`)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := q.Match(rec); !ok || err != nil {
		t.Errorf("Match = %v, %v", ok, err)
	}
}

func TestMatchBuiltNodes(t *testing.T) {
	// Nodes built by hand (not by Parse) evaluate too and don't panic on odd shapes.
	q := &Query{Predicate: &Or{Terms: []Node{
		&Comparison{Field: "flag", Op: OpLt, Values: []Value{Bool(true)}},
	}}}
	_, err := q.Match(FromMap(map[string]any{"flag": false}))
	if !errors.Is(err, ErrInvalidFilter) {
		t.Errorf("ordering booleans: %v", err)
	}
	for _, c := range []*Comparison{
		{Field: "x", Op: OpEq},
		{Field: "x", Op: OpIn},
		{Field: "x", Op: OpBetween, Values: []Value{Int(1)}},
		{Field: "x", Op: OpContains, Values: []Value{String("a"), String("b")}},
	} {
		q = &Query{Predicate: c}
		if _, err := q.Match(FromMap(map[string]any{"x": 1})); !errors.Is(err, ErrInvalidFilter) {
			t.Errorf("%s with %d values: %v", c.Op, len(c.Values), err)
		}
	}
	q = &Query{Predicate: &Comparison{Field: "x", Op: Op(99), Values: []Value{Int(1)}}}
	if _, err := q.Match(FromMap(map[string]any{"x": 1})); !errors.Is(err, ErrInvalidFilter) {
		t.Errorf("unknown operator: %v", err)
	}
}

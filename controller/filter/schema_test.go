package filter

import (
	"reflect"
	"testing"
)

var identitySchema = Schema{
	"id":             {Kind: KindString},
	"name":           {Kind: KindString},
	"isAdmin":        {Kind: KindBool},
	"createdAt":      {Kind: KindTime},
	"cost":           {Kind: KindInt},
	"roleAttributes": {Kind: KindString, Multi: true},
	"tags.*":         {Kind: KindAny},
	"appData":        {Kind: KindAny},
}

func TestValidate(t *testing.T) {
	valid := []string{
		``,
		`true`,
		`name = "x" and isAdmin and cost > 2.5`,
		`cost in [1, 2] and cost between 1.5 and 3`,
		`createdAt > datetime(2024-01-01T00:00:00Z)`,
		`anyOf(roleAttributes) = "x" and allOf(roleAttributes) contains "y"`,
		`roleAttributes = "x" and count(roleAttributes) > 1 and isEmpty(roleAttributes)`,
		`tags.env = "prod" and tags.cost > 3 and tags.a.b = true and anyOf(tags.list) = 1`,
		`appData = 1 and appData contains "x"`,
		`name = null and cost != null`,
		`isAdmin in [true, false] and not isAdmin != true`,
		`sort by name desc, tags.env, createdAt`,
	}
	for _, src := range valid {
		q, err := Parse(src)
		if err != nil {
			t.Fatalf("Parse(%q): %v", src, err)
		}
		if err := q.Validate(identitySchema); err != nil {
			t.Errorf("Validate(%q): %v", src, err)
		}
	}

	invalid := []struct {
		src string
		pos int
		msg string
	}{
		{`nme = "x"`, 0, `unknown field "nme"; did you mean "name"?`},
		{`IsAdmin = true`, 0, `unknown field "IsAdmin"; did you mean "isAdmin"?`},
		{`name = "x" or (true and bogus > 1)`, 24, `unknown field "bogus"`},
		{`not isEmpty(bogus)`, 4, `unknown field "bogus"`},
		{`anyOf(bogus) = 1`, 0, `unknown field "bogus"`},
		{`tags = "x"`, 0, `unknown field "tags"`},
		{`tagsx.env = "x"`, 0, `unknown field "tagsx.env"`},
		{`name = 1`, 0, `field "name" holds string values, which can't be compared with the number 1`},
		{`cost = "1"`, 0, `field "cost" holds number values`},
		{`cost in [1, 2] and cost in ["a"]`, 19, `field "cost" holds number values`},
		{`createdAt > 5`, 0, `field "createdAt" holds datetime values`},
		{`isAdmin = "true"`, 0, `field "isAdmin" holds boolean values`},
		{`isAdmin`, -1, ""},
		{`cost contains "1"`, 0, `field "cost" holds number values`},
		{`anyOf(name) = "x"`, 0, `anyOf needs a list field, and "name" holds a single value`},
		{`count(name) = 1`, 0, `count needs a list field`},
		{`isEmpty(name)`, 0, `isEmpty needs a list field`},
		{`roleAttributes = 1`, 0, `field "roleAttributes" holds string values`},
		{`name = "x" sort by bogus`, 19, `unknown sort field "bogus"`},
	}
	for _, tt := range invalid {
		q, err := Parse(tt.src)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.src, err)
		}
		err = q.Validate(identitySchema)
		if tt.pos == -1 {
			if err != nil {
				t.Errorf("Validate(%q): %v", tt.src, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("Validate(%q) succeeded", tt.src)
			continue
		}
		checkFilterError(t, err, tt.pos, tt.msg)
	}

	// Sort fields from the sort parameter carry its context.
	q, err := FromListParams(`name = "x"`, "name, bogus desc", nil, nil, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	err = q.Validate(identitySchema)
	checkFilterError(t, err, 6, `unknown sort field "bogus"`)
	if fe := err.(*Error); fe.Context != "sort" {
		t.Errorf("context %q, want sort", fe.Context)
	}

	var nilQuery *Query
	if err := nilQuery.Validate(identitySchema); err != nil {
		t.Errorf("nil query: %v", err)
	}
}

func TestValidateHandBuiltOrdering(t *testing.T) {
	q := &Query{Predicate: &Comparison{Field: "isAdmin", Op: OpLt, Values: []Value{Bool(true)}}}
	checkFilterError(t, q.Validate(identitySchema), 0, `field "isAdmin" is a boolean, which < can't order`)
}

func TestSchemaNames(t *testing.T) {
	got := Schema{"b": {}, "a": {}, "tags.*": {}}.Names()
	if want := []string{"a", "b", "tags.*"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Names = %v, want %v", got, want)
	}
}

package filter

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestParseValid(t *testing.T) {
	tests := []struct {
		src  string
		want string // q.String()
	}{
		{``, ``},
		{"  \t\n ", ``},
		{`true`, `true`},
		{`FALSE`, `false`},
		{`name = "web"`, `name = "web"`},
		{`name="web"`, `name = "web"`},
		{`name != "a\"b\\c"`, `name != "a\"b\\c"`},
		{`name = "\u00e9\n\t\/"`, "name = \"\u00e9\\n\\t/\""},
		{`name = "\ud83d\ude00"`, "name = \"\U0001F600\""},
		{`cost < 10`, `cost < 10`},
		{`cost <= -3`, `cost <= -3`},
		{`cost > 1.5`, `cost > 1.5`},
		{`cost >= 2e3`, `cost >= 2000.0`},
		{`cost >= 1.0`, `cost >= 1.0`},
		{`cost = 1E-2`, `cost = 0.01`},
		{`createdAt > datetime(2024-01-02T03:04:05Z)`, `createdAt > datetime(2024-01-02T03:04:05Z)`},
		{`createdAt > DateTime ( 2024-01-02T03:04:05.5+02:00 )`, `createdAt > datetime(2024-01-02T03:04:05.5+02:00)`},
		{`isAdmin = true`, `isAdmin = true`},
		{`isAdmin`, `isAdmin = true`},
		{`not isAdmin`, `not isAdmin = true`},
		{`authPolicyId = null`, `authPolicyId = null`},
		{`authPolicyId != NULL`, `authPolicyId != null`},
		{`name contains "x"`, `name contains "x"`},
		{`name NOT Contains "x"`, `name not contains "x"`},
		{`name icontains "x"`, `name icontains "x"`},
		{`name not icontains "x"`, `name not icontains "x"`},
		{`name startswith "x"`, `name startsWith "x"`},
		{`name not STARTSWITH "x"`, `name not startsWith "x"`},
		{`name endsWith "x"`, `name endsWith "x"`},
		{`name not endsWith "x"`, `name not endsWith "x"`},
		{`name in ["a", "b"]`, `name in ["a", "b"]`},
		{`name not in ["a"]`, `name not in ["a"]`},
		{`cost in [1, 2.5, 3]`, `cost in [1, 2.5, 3]`},
		{`isAdmin in [true,false]`, `isAdmin in [true, false]`},
		{`cost between 1 and 5`, `cost between 1 and 5`},
		{`cost not between 1 and 5.5`, `cost not between 1 and 5.5`},
		{`name between "a" and "m"`, `name between "a" and "m"`},
		{`createdAt between datetime(2024-01-01T00:00:00Z) and datetime(2025-01-01T00:00:00Z)`, `createdAt between datetime(2024-01-01T00:00:00Z) and datetime(2025-01-01T00:00:00Z)`},
		{`a = 1 and b = 2 and c = 3`, `a = 1 and b = 2 and c = 3`},
		{`a = 1 or b = 2 and c = 3`, `a = 1 or b = 2 and c = 3`},
		{`(a = 1 or b = 2) and c = 3`, `(a = 1 or b = 2) and c = 3`},
		{`a = 1 and (b = 2 and c = 3)`, `a = 1 and (b = 2 and c = 3)`},
		{`((a = 1))`, `a = 1`},
		{`not (a = 1 or b = 2)`, `not (a = 1 or b = 2)`},
		{`not not a = 1`, `not not a = 1`},
		{`a = 1 AND b = 2 OR c = 3`, `a = 1 and b = 2 or c = 3`},
		{`(a = 1 and b = 2) or c = 3`, `a = 1 and b = 2 or c = 3`},
		{`a = 1 or (b = 2 or c = 3)`, `a = 1 or (b = 2 or c = 3)`},
		{`not (not a = 1)`, `not not a = 1`},
		{`anyOf(roleAttributes) = "ops"`, `anyOf(roleAttributes) = "ops"`},
		{`ANYOF(roleAttributes) not contains "x"`, `anyOf(roleAttributes) not contains "x"`},
		{`allOf(roleAttributes) in ["a", "b"]`, `allOf(roleAttributes) in ["a", "b"]`},
		{`count(roleAttributes) > 3`, `count(roleAttributes) > 3`},
		{`count(roleAttributes) between 1 and 3`, `count(roleAttributes) between 1 and 3`},
		{`count(roleAttributes) not in [0, 2]`, `count(roleAttributes) not in [0, 2]`},
		{`isEmpty(roleAttributes)`, `isEmpty(roleAttributes)`},
		{`not isempty(roleAttributes) and true`, `not isEmpty(roleAttributes) and true`},
		{`identity.name = "x"`, `identity.name = "x"`},
		{`tags.env = "prod"`, `tags.env = "prod"`},
		{`tags.limit = 1`, `tags.limit = 1`},
		{`_private_1 = 1`, `_private_1 = 1`},
		{`sort by name`, `sort by name`},
		{`sort by name limit 5`, `sort by name limit 5`},
		{`SORT BY name ASC, createdAt DESC`, `sort by name, createdAt desc`},
		{`true limit none`, `true limit none`},
		{`skip 0`, `skip 0`},
		{`limit 0`, `limit 0`},
		{`name = "x" sort by name desc skip 10 limit 20`, `name = "x" sort by name desc skip 10 limit 20`},
		{`name = "x" limit 20 skip 10 sort by name`, `name = "x" sort by name skip 10 limit 20`},
		{`isAdmin sort by name`, `isAdmin = true sort by name`},
		{`(isAdmin) limit 1`, `isAdmin = true limit 1`},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			q, err := Parse(tt.src)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.src, err)
			}
			if got := q.String(); got != tt.want {
				t.Fatalf("Parse(%q).String() = %q, want %q", tt.src, got, tt.want)
			}
			again, err := Parse(q.String())
			if err != nil {
				t.Fatalf("reparse %q: %v", q.String(), err)
			}
			if !equalQuery(q, again) {
				t.Fatalf("reparse of %q gives a different query: %q", q.String(), again.String())
			}
		})
	}
}

func TestParseStructure(t *testing.T) {
	q, err := Parse(`anyOf(roleAttributes) not in ["a", "b"] or cost between 1 and 2.5 sort by name, cost desc skip 3 limit 4`)
	if err != nil {
		t.Fatal(err)
	}
	or, ok := q.Predicate.(*Or)
	if !ok || len(or.Terms) != 2 {
		t.Fatalf("predicate = %#v, want an Or of 2 terms", q.Predicate)
	}
	in := or.Terms[0].(*Comparison)
	if in.Func != SetAnyOf || in.Field != "roleAttributes" || in.Op != OpIn || !in.Not || len(in.Values) != 2 || in.Values[1].Str() != "b" {
		t.Errorf("first term = %#v", in)
	}
	if in.Pos != 0 {
		t.Errorf("first term at %d, want 0", in.Pos)
	}
	between := or.Terms[1].(*Comparison)
	if between.Op != OpBetween || between.Values[0].Kind() != KindInt || between.Values[1].Kind() != KindFloat || between.Values[1].Float() != 2.5 {
		t.Errorf("second term = %#v", between)
	}
	if between.Pos != 43 {
		t.Errorf("second term at %d, want 43", between.Pos)
	}
	if len(q.Sort) != 2 || q.Sort[0].Field != "name" || q.Sort[0].Desc || q.Sort[1].Field != "cost" || !q.Sort[1].Desc {
		t.Errorf("sort = %+v", q.Sort)
	}
	if q.Skip == nil || *q.Skip != 3 || q.Limit == nil || *q.Limit != 4 || q.NoLimit {
		t.Errorf("skip/limit = %v/%v/%v", q.Skip, q.Limit, q.NoLimit)
	}

	q, err = Parse(`createdAt >= datetime(2024-01-02T03:04:05.123+01:00) limit none`)
	if err != nil {
		t.Fatal(err)
	}
	c := q.Predicate.(*Comparison)
	want := time.Date(2024, 1, 2, 2, 4, 5, 123e6, time.UTC)
	if c.Values[0].Kind() != KindTime || !c.Values[0].Time().Equal(want) {
		t.Errorf("datetime = %v, want %v", c.Values[0], want)
	}
	if !q.NoLimit || q.Limit != nil {
		t.Errorf("limit none: NoLimit=%v Limit=%v", q.NoLimit, q.Limit)
	}

	q, err = Parse("")
	if err != nil || q.Predicate != nil || q.Sort != nil || q.Skip != nil || q.Limit != nil || q.NoLimit {
		t.Errorf("empty filter = %+v, %v", q, err)
	}
}

func TestParseInvalid(t *testing.T) {
	tests := []struct {
		src string
		pos int
		msg string
	}{
		{`name`, -2, ""}, // valid: a bare boolean field; checked below to keep the table honest
		{`name =`, 6, "expected a value, found end of input"},
		{`= "x"`, 0, "expected a field name"},
		{`name == "x"`, 5, `"==" is not an operator`},
		{`name <> "x"`, 5, `"<>" is not an operator`},
		{`name ! "x"`, 5, `unexpected "!"`},
		{`name = "x`, 7, "string is not closed"},
		{`name = "x\`, 9, "string is not closed"},
		{`name = "\q"`, 8, `unknown escape \q`},
		{`name = "\u12"`, 8, `\u must be followed by 4 hex digits`},
		{`name = "\ud83d"`, 8, "half of a surrogate pair"},
		{`name = "\ude00\ud83d"`, 8, "half of a surrogate pair"},
		{`name = 'x'`, 7, `unexpected character '\''`},
		{`name = x`, 7, `expected a value, found "x"`},
		{`name = 1.`, 7, `malformed number "1."`},
		{`name = 1e`, 7, `malformed number "1e"`},
		{`name = 12abc`, 7, `malformed number "12a"`},
		{`name = -`, 7, `"-" must be followed by digits`},
		{`name = 9223372036854775808`, 7, "integer 9223372036854775808 is out of range"},
		{`name = 1e400`, 7, "number 1e400 is out of range"},
		{`a.`, 1, "a name part after"},
		{`a.1 = 2`, 1, "a name part after"},
		{`name = "x" name = "y"`, 11, `expected "and", "or", sort by, skip, limit or the end, found "name"`},
		{`name = "x" and`, 14, "expected a field name, a set function"},
		{`name = "x" or or`, 14, `found the keyword "or"`},
		{`and = 1`, 0, `found the keyword "and"`},
		{`limit = 1`, 6, "a non-negative integer"},
		{`(name = "x"`, 11, `expected "and", "or" or ")"`},
		{`name = "x")`, 10, `expected "and", "or", sort by, skip, limit or the end, found ")"`},
		{`()`, 1, "expected a field name"},
		{`name contains 1`, 14, "contains needs a string"},
		{`name startsWith true`, 16, "startsWith needs a string"},
		{`name not = "x"`, 9, "contains, icontains, startsWith, endsWith, in or between after not"},
		{`name not like "x"`, 9, "after not"},
		{`name like "x"`, 5, "expected an operator"},
		{`name < null`, 7, "null can only be compared with = or !="},
		{`name contains null`, 14, "null can only be compared"},
		{`isAdmin > true`, 10, "booleans can only be compared with = or !="},
		{`anyOf(tags) = null`, 14, "anyOf(...) can't be compared with null"},
		{`count(tags) = "3"`, 14, "count(...) can only be compared with numbers"},
		{`count(tags) contains "3"`, 21, "count(...) can only be compared with numbers"},
		{`count(tags) between "a" and "b"`, 20, "count(...) can only be compared with numbers"},
		{`anyOf tags = 1`, 6, `expected "(" after anyOf`},
		{`anyOf(tags = 1`, 11, `expected ")"`},
		{`anyOf(and) = 1`, 6, `found the keyword "and"`},
		{`isEmpty(tags) = true`, 14, `expected "and", "or", sort by, skip, limit or the end`},
		{`name in "a"`, 8, `expected "[" after in`},
		{`name in []`, 9, "expected a value"},
		{`name in ["a",]`, 13, "expected a value"},
		{`name in ["a" "b"]`, 13, `expected "," or "]"`},
		{`name in ["a", 1]`, 14, "a list can't mix string and number values"},
		{`name in ["a", null]`, 14, "null can't be in a list"},
		{`name in [true, datetime(2024-01-01T00:00:00Z)]`, 15, "a list can't mix boolean and datetime values"},
		{`name in [1, 2`, 13, `expected "," or "]"`},
		{`cost between 1`, 14, `expected "and" in between`},
		{`cost between 1 and`, 18, "expected a value"},
		{`cost between 1 and "5"`, 19, "between can't mix number and string"},
		{`cost between true and false`, 13, "between needs numbers, strings or datetimes"},
		{`cost between null and 1`, 13, "between needs numbers, strings or datetimes"},
		{`t > datetime(2024-01-02)`, 13, "is not an RFC3339 date and time"},
		{`t > datetime(2024-01-02T03:04:05Z`, 12, "datetime( is not closed"},
		{`t > datetime`, 4, `expected a value, found "datetime"`},
		{`sort name`, 5, `expected "by" after "sort"`},
		{`sort by`, 7, "expected a field name"},
		{`sort by name,`, 13, "expected a field name"},
		{`sort by name desc asc`, 18, `expected sort by, skip, limit or the end, found "asc"`},
		{`sort by a sort by b`, 10, "sort by is given twice"},
		{`skip 1 skip 2`, 7, "skip is given twice"},
		{`limit 1 limit 2`, 8, "limit is given twice"},
		{`skip -1`, 5, "a non-negative integer after skip"},
		{`skip 1.5`, 5, "a non-negative integer after skip"},
		{`limit x`, 6, `a non-negative integer or "none" after limit`},
		{`limit 5 name = "x"`, 8, `expected sort by, skip, limit or the end, found "name"`},
		{"name = \"x\" \x00", 11, "unexpected character '\\x00'"},
		{"name = \"x\" \xff", 11, "unexpected byte 0xff"},
		{"name = \"x\" é", 11, "unexpected character 'é'"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			q, err := Parse(tt.src)
			if tt.pos == -2 {
				if err != nil {
					t.Fatalf("Parse(%q): %v", tt.src, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Parse(%q) = %q, want an error", tt.src, q.String())
			}
			checkFilterError(t, err, tt.pos, tt.msg)
		})
	}
}

func checkFilterError(t *testing.T, err error, pos int, msg string) {
	t.Helper()
	if !errors.Is(err, ErrInvalidFilter) {
		t.Fatalf("error %v does not wrap ErrInvalidFilter", err)
	}
	var fe *Error
	if !errors.As(err, &fe) {
		t.Fatalf("error %v is not an *Error", err)
	}
	if fe.Pos != pos {
		t.Errorf("error %q at %d, want %d", fe.Msg, fe.Pos, pos)
	}
	if !strings.Contains(fe.Msg, msg) {
		t.Errorf("error %q does not say %q", fe.Msg, msg)
	}
}

func TestParseLimits(t *testing.T) {
	long := `name = "` + strings.Repeat("a", MaxLength) + `"`
	_, err := Parse(long)
	checkFilterError(t, err, MaxLength, "longer than 4096 bytes")

	ok := `name = "` + strings.Repeat("a", MaxLength-10) + `"`
	if _, err := Parse(ok); err != nil {
		t.Errorf("filter of %d bytes: %v", len(ok), err)
	}

	deep := strings.Repeat("(", MaxDepth) + "a = 1" + strings.Repeat(")", MaxDepth)
	if _, err := Parse(deep); err != nil {
		t.Errorf("%d levels of parentheses: %v", MaxDepth, err)
	}
	tooDeep := strings.Repeat("(", MaxDepth+1) + "a = 1" + strings.Repeat(")", MaxDepth+1)
	_, err = Parse(tooDeep)
	checkFilterError(t, err, MaxDepth, "nested deeper than 32 levels")

	nots := strings.Repeat("not ", MaxDepth+1) + "a = 1"
	_, err = Parse(nots)
	checkFilterError(t, err, 4*MaxDepth, "nested deeper than 32 levels")

	mixed := strings.Repeat("not (", MaxDepth/2) + "a = 1" + strings.Repeat(")", MaxDepth/2)
	if _, err := Parse(mixed); err != nil {
		t.Errorf("%d levels of not and parentheses: %v", MaxDepth, err)
	}

	// Siblings don't add depth.
	wide := strings.Repeat("(a = 1) and ", 100) + "(a = 1)"
	if _, err := Parse(wide); err != nil {
		t.Errorf("wide filter: %v", err)
	}

	items := make([]string, MaxInItems)
	for i := range items {
		items[i] = "1"
	}
	if _, err := Parse("a in [" + strings.Join(items, ",") + "]"); err != nil {
		t.Errorf("in list of %d: %v", MaxInItems, err)
	}
	src := "a in [" + strings.Join(items, ",") + ",1]"
	_, err = Parse(src)
	checkFilterError(t, err, len(src)-2, "at most 256 values")
}

func TestParseSort(t *testing.T) {
	tests := []struct {
		src  string
		want []SortField
	}{
		{"", nil},
		{"  ", nil},
		{"name", []SortField{{Field: "name"}}},
		{"name asc, createdAt DESC", []SortField{{Field: "name"}, {Field: "createdAt", Desc: true}}},
		{"identity.name desc,id", []SortField{{Field: "identity.name", Desc: true}, {Field: "id"}}},
	}
	for _, tt := range tests {
		got, err := ParseSort(tt.src)
		if err != nil {
			t.Errorf("ParseSort(%q): %v", tt.src, err)
			continue
		}
		if len(got) != len(tt.want) {
			t.Errorf("ParseSort(%q) = %+v, want %+v", tt.src, got, tt.want)
			continue
		}
		for i := range got {
			if got[i].Field != tt.want[i].Field || got[i].Desc != tt.want[i].Desc {
				t.Errorf("ParseSort(%q)[%d] = %+v, want %+v", tt.src, i, got[i], tt.want[i])
			}
		}
	}

	bad := []struct {
		src string
		pos int
		msg string
	}{
		{"sort by name", 0, `found the keyword "sort"`},
		{"name up", 5, `expected "," or the end, found "up"`},
		{"name,", 5, "expected a field name"},
		{", name", 0, "expected a field name"},
		{`"name"`, 0, "expected a field name"},
	}
	for _, tt := range bad {
		_, err := ParseSort(tt.src)
		if err == nil {
			t.Errorf("ParseSort(%q) succeeded", tt.src)
			continue
		}
		checkFilterError(t, err, tt.pos, tt.msg)
		if fe := (*Error)(nil); errors.As(err, &fe) && fe.Context != "sort" {
			t.Errorf("ParseSort(%q) error context %q, want sort", tt.src, fe.Context)
		}
	}
}

func TestErrorText(t *testing.T) {
	_, err := Parse(`name = `)
	if got, want := err.Error(), "invalid filter: expected a value, found end of input (at position 7)"; got != want {
		t.Errorf("error text %q, want %q", got, want)
	}
	_, err = ParseSort(`a b`)
	if got, want := err.Error(), `invalid filter: sort: expected "," or the end, found "b" (at position 2)`; got != want {
		t.Errorf("error text %q, want %q", got, want)
	}
	e := &Error{Pos: -1, Msg: "no place"}
	if got := e.Error(); got != "invalid filter: no place" {
		t.Errorf("error text %q", got)
	}
}

// equalQuery compares two queries by structure and values (times by instant).
func equalQuery(a, b *Query) bool {
	if (a.Skip == nil) != (b.Skip == nil) || a.Skip != nil && *a.Skip != *b.Skip {
		return false
	}
	if (a.Limit == nil) != (b.Limit == nil) || a.Limit != nil && *a.Limit != *b.Limit {
		return false
	}
	if a.NoLimit != b.NoLimit || len(a.Sort) != len(b.Sort) {
		return false
	}
	for i := range a.Sort {
		if a.Sort[i].Field != b.Sort[i].Field || a.Sort[i].Desc != b.Sort[i].Desc {
			return false
		}
	}
	return equalNode(a.Predicate, b.Predicate)
}

func equalNode(a, b Node) bool {
	switch a := a.(type) {
	case nil:
		return b == nil
	case *And:
		b, ok := b.(*And)
		return ok && equalNodes(a.Terms, b.Terms)
	case *Or:
		b, ok := b.(*Or)
		return ok && equalNodes(a.Terms, b.Terms)
	case *Not:
		b, ok := b.(*Not)
		return ok && equalNode(a.Term, b.Term)
	case *BoolConst:
		b, ok := b.(*BoolConst)
		return ok && a.Value == b.Value
	case *IsEmpty:
		b, ok := b.(*IsEmpty)
		return ok && a.Field == b.Field
	case *Comparison:
		b, ok := b.(*Comparison)
		if !ok || a.Func != b.Func || a.Field != b.Field || a.Op != b.Op || a.Not != b.Not || len(a.Values) != len(b.Values) {
			return false
		}
		for i := range a.Values {
			if !equalValue(a.Values[i], b.Values[i]) {
				return false
			}
		}
		return true
	}
	return false
}

func equalNodes(a, b []Node) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !equalNode(a[i], b[i]) {
			return false
		}
	}
	return true
}

func equalValue(a, b Value) bool {
	if a.Kind() != b.Kind() {
		return false
	}
	if a.Kind() == KindFloat && math.Signbit(a.Float()) != math.Signbit(b.Float()) {
		return false // Compare puts -0 and 0 together; a literal round trip must not
	}
	return Compare(a, b) == 0
}

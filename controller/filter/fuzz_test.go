package filter

import (
	"errors"
	"testing"
	"time"
)

var fuzzSeeds = []string{
	``,
	`true`,
	`name = "web" and cost > 2.5 or not isAdmin`,
	`name not icontains "a\"b\\c\u00e9" sort by name desc, id skip 3 limit none`,
	`anyOf(roleAttributes) in ["a", "b"] and allOf(ports) between 1 and 1e3`,
	`count(roleAttributes) >= 2 and isEmpty(tags.list) or createdAt < datetime(2024-01-02T03:04:05.5+02:00)`,
	`(a = 1 or (b != null and c startsWith "x")) and not (d endsWith "y" or e not between -1 and 2.0)`,
	`sort by name limit 5`,
	`limit 0 skip 9223372036854775807`,
	`identity.name contains "x" and tags.env in ["prod", "dev"]`,
	`x = -0.0 and y = 1.7976931348623157e308 and z = 5e-324`,
	"x = \"\\ud83d\\ude00\x01\"",
	`((((((a))))))`,
	`name = "x`,
	`a in [1, "b"]`,
}

// FuzzParse checks that parsing never panics, that what parses formats to text that parses again
// to the same query, and that evaluating and validating a parsed query never panics.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	rec := FromMap(map[string]any{
		"name": "web", "cost": 3, "x": 1.5, "isAdmin": true, "a": 1,
		"createdAt":      time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		"roleAttributes": []string{"a", "b"}, "ports": []any{80, 8.5, nil},
		"tags": map[string]any{"env": "prod", "list": []any{}},
	})
	f.Fuzz(func(t *testing.T, src string) {
		q, err := Parse(src)
		if err != nil {
			var fe *Error
			if !errors.As(err, &fe) || !errors.Is(err, ErrInvalidFilter) {
				t.Fatalf("Parse(%q) error %v is not an *Error wrapping ErrInvalidFilter", src, err)
			}
			if fe.Pos < 0 || fe.Pos > len(src) {
				t.Fatalf("Parse(%q) error position %d outside the input", src, fe.Pos)
			}
			return
		}
		text := q.String()
		// Formatting may lengthen a filter (escapes, float spelling) past the size limit.
		if len(text) <= MaxLength {
			again, err := Parse(text)
			if err != nil {
				t.Fatalf("Parse(%q) formats as %q, which does not parse: %v", src, text, err)
			}
			if !equalQuery(q, again) {
				t.Fatalf("Parse(%q) formats as %q, which parses to a different query %q", src, text, again.String())
			}
			if again.String() != text {
				t.Fatalf("formatting is not stable: %q then %q", text, again.String())
			}
		}
		if _, err := q.Match(rec); err != nil && !errors.Is(err, ErrInvalidFilter) {
			t.Fatalf("Match error %v does not wrap ErrInvalidFilter", err)
		}
		if err := q.Validate(identitySchema); err != nil && !errors.Is(err, ErrInvalidFilter) {
			t.Fatalf("Validate error %v does not wrap ErrInvalidFilter", err)
		}
		q.CompareRecords(rec, rec)
		q.Window(10)
	})
}

// FuzzSortParam checks that the sort parameter parser never panics and round-trips.
func FuzzSortParam(f *testing.F) {
	for _, s := range []string{"", "name", "name asc, createdAt DESC", "a.b desc,c", "name,", "sort by x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		fields, err := ParseSort(src)
		if err != nil {
			if !errors.Is(err, ErrInvalidFilter) {
				t.Fatalf("ParseSort(%q) error %v does not wrap ErrInvalidFilter", src, err)
			}
			return
		}
		again, err := ParseSort(FormatSort(fields))
		if err != nil || FormatSort(again) != FormatSort(fields) {
			t.Fatalf("ParseSort(%q) formats as %q, which reads back as %q, %v", src, FormatSort(fields), FormatSort(again), err)
		}
	})
}

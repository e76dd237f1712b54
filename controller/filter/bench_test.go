package filter

import (
	"testing"
	"time"
)

func BenchmarkMatch(b *testing.B) {
	q, err := Parse(`name icontains "web" and (isAdmin or anyOf(roleAttributes) in ["ops", "eu"]) and createdAt > datetime(2024-01-01T00:00:00Z) and count(roleAttributes) < 5`)
	if err != nil {
		b.Fatal(err)
	}
	created := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	roles := Strings("web", "ops", "eu")
	rec := FieldsFunc(func(name string) (Value, bool) {
		switch name {
		case "name":
			return String("Web-Server-01"), true
		case "isAdmin":
			return Bool(false), true
		case "roleAttributes":
			return roles, true
		case "createdAt":
			return Time(created), true
		}
		return Value{}, false
	})
	b.ReportAllocs()
	for b.Loop() {
		ok, err := q.Match(rec)
		if err != nil || !ok {
			b.Fatalf("Match = %v, %v", ok, err)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	src := `name icontains "web" and (isAdmin or anyOf(roleAttributes) in ["ops", "eu"]) sort by name desc limit 50`
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(src); err != nil {
			b.Fatal(err)
		}
	}
}

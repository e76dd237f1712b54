// Package filter owns the list query language of the controller's REST APIs: the `filter`
// query parameter (and the `sort`, `limit` and `offset` parameters that go with it).
//
// A query is a boolean predicate followed by optional trailing clauses:
//
//	name contains "web" and (isAdmin = true or anyOf(roleAttributes) = "ops") sort by name desc skip 10 limit 5
//
// Predicates compare a field with a literal: strings ("double-quoted", with \" \\ and JSON-style
// escapes), numbers (integers and floats), datetime(RFC3339), booleans true/false and null. The
// operators are = != < <= > >=, [not] contains, [not] icontains, [not] startsWith, [not] endsWith,
// [not] in [v1, v2, ...] and [not] between X and Y (X inclusive, Y exclusive). Predicates combine
// with and, or, not and parentheses; a bare field name means "field = true", and true and false
// stand alone. Field names may be dotted (tags.env). Keywords are case-insensitive.
//
// Multi-valued fields take set functions: anyOf(f) op v holds when some element matches, allOf(f)
// op v when every element does (an empty list satisfies allOf), count(f) op n compares the number of
// elements, and isEmpty(f) holds when there are none. To set functions a missing or null field is an
// empty list and a single value a list of one. A comparison on a multi-valued field without a
// set function means anyOf, and its negated operators (!=, not contains, not in, ...) negate the
// whole comparison: tags != "x" holds when no element equals "x".
//
// A missing field is null: f = null holds when f is missing or null, and every other comparison
// with a missing field is false, except the negated operators, which are true.
//
// The trailing clauses are sort by f [asc|desc], g ..., skip N and limit N|none, each at most once.
// A query may consist of trailing clauses alone, and the empty query matches everything.
//
// Parse turns text into a Query; Query.Match evaluates it against a record seen through the Fields
// interface, Query.Validate checks it against an entity's filterable fields, and FromListParams
// combines it with the list query parameters and their pagination rules.
package filter

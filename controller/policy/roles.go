// Package policy owns who may use what: role lists (#attr, @id, #all) and
// their AllOf/AnyOf semantics, the derived links between policies and the
// identities, services, routers and posture checks they select (kept current
// by a store hook on every change), and the lookups built on those links.
package policy

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ostium-net/ostium/controller/store"
)

// RoleAll selects every entity of a kind.
const RoleAll = "#all"

// Roles is a parsed role list.
type Roles struct {
	All   bool
	Attrs []string
	IDs   []string
}

// MaxRoleLength bounds a single role entry.
const MaxRoleLength = 255

// ParseRoles checks a role list: entries are "#attr", "@id" or "#all", and
// "#all" stands alone. Anything else is an error wrapping store.ErrInvalid.
func ParseRoles(field string, roles []string) (Roles, error) {
	var r Roles
	for _, role := range roles {
		bad := func(reason string) error {
			return &store.FieldError{Kind: "policy", Field: field, Value: role, Reason: reason, Err: store.ErrInvalid}
		}
		if len(role) > MaxRoleLength {
			return Roles{}, bad(fmt.Sprintf("is longer than %d characters", MaxRoleLength))
		}
		switch {
		case role == RoleAll:
			r.All = true
		case strings.HasPrefix(role, "#") && len(role) > 1:
			r.Attrs = append(r.Attrs, role[1:])
		case strings.HasPrefix(role, "@") && len(role) > 1:
			r.IDs = append(r.IDs, role[1:])
		default:
			return Roles{}, bad("must be #all, #<attribute> or @<id>")
		}
	}
	if r.All && len(roles) > 1 {
		return Roles{}, &store.FieldError{Kind: "policy", Field: field, Value: RoleAll, Reason: "must be the only role when present", Err: store.ErrInvalid}
	}
	return r, nil
}

// ValidateSemantic accepts AllOf, AnyOf and empty (meaning AllOf).
func ValidateSemantic(s string) error {
	switch s {
	case "", store.SemanticAllOf, store.SemanticAnyOf:
		return nil
	}
	return &store.FieldError{Kind: "policy", Field: "semantic", Value: s, Reason: "must be AllOf or AnyOf", Err: store.ErrInvalid}
}

// Matches reports whether an entity with id and attrs is selected by roles.
// Named ids and #all always select; attribute roles need all (AllOf) or any
// (AnyOf) of their attributes to be present.
func (r Roles) Matches(id string, attrs []string, semantic string) bool {
	if r.All || slices.Contains(r.IDs, id) {
		return true
	}
	if len(r.Attrs) == 0 {
		return false
	}
	if semantic == store.SemanticAnyOf {
		for _, a := range r.Attrs {
			if slices.Contains(attrs, a) {
				return true
			}
		}
		return false
	}
	for _, a := range r.Attrs {
		if !slices.Contains(attrs, a) {
			return false
		}
	}
	return true
}

// Select lists the ids of kind chosen by roles, using the attribute index.
func Select(tx *store.Tx, k *store.Kind, r Roles, semantic string) []string {
	if r.All {
		return tx.IDs(k)
	}
	set := map[string]bool{}
	for _, id := range r.IDs {
		if tx.Exists(k, id) {
			set[id] = true
		}
	}
	if len(r.Attrs) > 0 {
		if semantic == store.SemanticAnyOf {
			for _, a := range r.Attrs {
				for _, id := range tx.IDsWithAttribute(k, a) {
					set[id] = true
				}
			}
		} else {
			// Start from the rarest attribute and intersect.
			lists := make([][]string, len(r.Attrs))
			for i, a := range r.Attrs {
				lists[i] = tx.IDsWithAttribute(k, a)
			}
			slices.SortFunc(lists, func(a, b []string) int { return len(a) - len(b) })
			cand := lists[0]
			for _, l := range lists[1:] {
				in := make(map[string]bool, len(l))
				for _, id := range l {
					in[id] = true
				}
				next := cand[:0:0]
				for _, id := range cand {
					if in[id] {
						next = append(next, id)
					}
				}
				cand = next
			}
			for _, id := range cand {
				set[id] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for id := range set {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

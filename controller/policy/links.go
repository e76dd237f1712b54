package policy

import (
	"fmt"
	"slices"

	"github.com/ostium-net/ostium/controller/store"
)

// side is one role list of a policy kind and the link table it fills.
type side struct {
	link  *store.Link
	field string
	roles func(store.Record) []string
}

func semanticOf(r store.Record) string {
	switch p := r.(type) {
	case *store.ServicePolicy:
		return p.Semantic
	case *store.EdgeRouterPolicy:
		return p.Semantic
	case *store.ServiceEdgeRouterPolicy:
		return p.Semantic
	}
	return ""
}

var policySides = map[*store.Kind][]side{
	store.ServicePolicies: {
		{store.ServicePolicyIdentities, "identityRoles", func(r store.Record) []string { return r.(*store.ServicePolicy).IdentityRoles }},
		{store.ServicePolicyServices, "serviceRoles", func(r store.Record) []string { return r.(*store.ServicePolicy).ServiceRoles }},
		{store.ServicePolicyPostureChecks, "postureCheckRoles", func(r store.Record) []string { return r.(*store.ServicePolicy).PostureCheckRoles }},
	},
	store.EdgeRouterPolicies: {
		{store.EdgeRouterPolicyIdentities, "identityRoles", func(r store.Record) []string { return r.(*store.EdgeRouterPolicy).IdentityRoles }},
		{store.EdgeRouterPolicyRouters, "edgeRouterRoles", func(r store.Record) []string { return r.(*store.EdgeRouterPolicy).EdgeRouterRoles }},
	},
	store.ServiceEdgeRouterPolicies: {
		{store.ServiceEdgeRouterPolicyServices, "serviceRoles", func(r store.Record) []string { return r.(*store.ServiceEdgeRouterPolicy).ServiceRoles }},
		{store.ServiceEdgeRouterPolicyRouters, "edgeRouterRoles", func(r store.Record) []string { return r.(*store.ServiceEdgeRouterPolicy).EdgeRouterRoles }},
	},
}

// entitySides lists, for each selectable kind, the policy sides that select it.
var entitySides = func() map[*store.Kind][]side {
	out := map[*store.Kind][]side{}
	for _, sides := range policySides {
		for _, s := range sides {
			out[s.link.To] = append(out[s.link.To], s)
		}
	}
	return out
}()

// MarkerAllServices is the marker moved when something that may change any
// identity's service list changes (a service, a config, a posture check).
const MarkerAllServices = "services:*"

// ServicesMarker is the marker key of one identity's service list.
func ServicesMarker(identityID string) string { return "services:" + identityID }

// Hook keeps policy links and service-list markers current. Install it on the
// store (store.Options.Hooks or Store.AddHook); it runs inside every write.
func Hook(tx *store.Tx, c store.Change) error {
	if sides, ok := policySides[c.Kind]; ok {
		return onPolicy(tx, c, sides)
	}
	if sides, ok := entitySides[c.Kind]; ok {
		if err := onEntity(tx, c, sides); err != nil {
			return err
		}
	}
	switch c.Kind {
	case store.Services, store.Configs, store.ConfigTypes, store.PostureChecks:
		return tx.SetMarker(MarkerAllServices, tx.Now())
	}
	return nil
}

func onPolicy(tx *store.Tx, c store.Change, sides []side) error {
	var id string
	if c.New != nil {
		id = c.New.Base().ID
		if err := validatePolicy(tx, c, sides); err != nil {
			return err
		}
	} else {
		id = c.Old.Base().ID
	}
	affected := map[string]bool{}
	servicesChanged := false
	for _, s := range sides {
		var want []string
		if c.New != nil {
			r, _ := ParseRoles(s.field, s.roles(c.New))
			want = Select(tx, s.link.To, r, semanticOf(c.New))
		}
		added, removed, err := tx.SetTargets(s.link, id, want)
		if err != nil {
			return fmt.Errorf("link %s: %w", s.link.Name, err)
		}
		if s.link == store.ServicePolicyIdentities {
			for _, x := range append(added, removed...) {
				affected[x] = true
			}
		} else if s.link.From == store.ServicePolicies && (len(added) > 0 || len(removed) > 0) {
			servicesChanged = true
		}
	}
	if c.Kind == store.ServicePolicies && c.New != nil && c.Old != nil &&
		c.New.(*store.ServicePolicy).Type != c.Old.(*store.ServicePolicy).Type {
		servicesChanged = true
	}
	if servicesChanged {
		for _, x := range tx.Targets(store.ServicePolicyIdentities, id) {
			affected[x] = true
		}
	}
	return markIdentities(tx, affected)
}

// validatePolicy checks a policy's semantic, type and role lists, and that
// every @id it newly names exists.
func validatePolicy(tx *store.Tx, c store.Change, sides []side) error {
	if err := ValidateSemantic(semanticOf(c.New)); err != nil {
		return err
	}
	if sp, ok := c.New.(*store.ServicePolicy); ok && sp.Type != store.PolicyDial && sp.Type != store.PolicyBind {
		return &store.FieldError{Kind: c.Kind.Name, Field: "type", Value: sp.Type, Reason: "must be Dial or Bind", Err: store.ErrInvalid}
	}
	for _, s := range sides {
		r, err := ParseRoles(s.field, s.roles(c.New))
		if err != nil {
			return err
		}
		var before []string
		if c.Old != nil {
			if old, err := ParseRoles(s.field, s.roles(c.Old)); err == nil {
				before = old.IDs
			}
		}
		for _, ref := range r.IDs {
			if slices.Contains(before, ref) {
				continue
			}
			if !tx.Exists(s.link.To, ref) {
				return &store.FieldError{Kind: c.Kind.Name, Field: s.field, Value: "@" + ref,
					Reason: fmt.Sprintf("names no existing %s", s.link.To.Name), Err: store.ErrInvalidReference}
			}
		}
	}
	return nil
}

func onEntity(tx *store.Tx, c store.Change, sides []side) error {
	var id string
	var attrs []string
	if c.New != nil {
		id = c.New.Base().ID
		attrs = c.Kind.Attributes(c.New)
		if c.Old != nil && slices.Equal(c.Kind.Attributes(c.Old), attrs) {
			return nil // same attributes: same policies
		}
	} else {
		id = c.Old.Base().ID
	}
	affected := map[string]bool{}
	for _, s := range sides {
		var want []string
		if c.New != nil {
			err := tx.ForEachPeek(s.link.From, func(p store.Record) error {
				r, err := ParseRoles(s.field, s.roles(p))
				if err != nil {
					return nil // stored policies were validated; skip defensively
				}
				if r.Matches(id, attrs, semanticOf(p)) {
					want = append(want, p.Base().ID)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		added, removed, err := tx.SetSources(s.link, id, want)
		if err != nil {
			return fmt.Errorf("link %s: %w", s.link.Name, err)
		}
		switch s.link {
		case store.ServicePolicyIdentities:
			if len(added)+len(removed) > 0 || c.New == nil {
				affected[id] = true
			}
		case store.ServicePolicyServices, store.ServicePolicyPostureChecks:
			for _, p := range append(added, removed...) {
				for _, x := range tx.Targets(store.ServicePolicyIdentities, p) {
					affected[x] = true
				}
			}
		}
	}
	if c.Kind == store.Identities && c.New == nil {
		delete(affected, id)
	}
	return markIdentities(tx, affected)
}

// NoteGrantsChanged is the store note topic (store.Tx.Note) under which the
// hook names every identity whose service grants may have changed in the
// entry being applied; revocation settles them before the entry commits.
const NoteGrantsChanged = "grants-changed"

func markIdentities(tx *store.Tx, ids map[string]bool) error {
	for id := range ids {
		tx.Note(NoteGrantsChanged, id)
		if err := tx.SetMarker(ServicesMarker(id), tx.Now()); err != nil {
			return err
		}
	}
	return nil
}

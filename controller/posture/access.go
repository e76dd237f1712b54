package posture

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ostium-net/ostium/controller/policy"
	"github.com/ostium-net/ostium/controller/store"
)

// QueryResult is one posture check of a service policy, evaluated for one
// API session.
type QueryResult struct {
	Check            *store.PostureCheck
	Passing          bool
	TimeoutRemaining int64
	Reason           string
}

// PolicyResult is one service policy granting a service, with its checks
// evaluated. A policy without checks passes.
type PolicyResult struct {
	PolicyID   string
	PolicyType string
	Passing    bool
	Queries    []QueryResult
}

// DataOf reads the posture data of an API session; nil when it reported none.
func DataOf(tx *store.Tx, apiSessionID string) *store.PostureData {
	d, err := store.Get[*store.PostureData](tx, store.PostureDatas, apiSessionID)
	if err != nil {
		return nil
	}
	return d
}

// EvaluatePolicies evaluates, for an API session, the service policies that
// grant its identity the service with permission typ (Dial or Bind; empty
// for both), in policy-id order.
func EvaluatePolicies(tx *store.Tx, as *store.APISession, serviceID, typ string, now time.Time) []PolicyResult {
	ids := policy.GrantingPolicies(tx, as.IdentityID, serviceID, typ)
	slices.Sort(ids)
	data := DataOf(tx, as.ID)
	mfa := MFAStateOf(as)
	out := make([]PolicyResult, 0, len(ids))
	for _, pid := range ids {
		sp, err := store.Peek[*store.ServicePolicy](tx, store.ServicePolicies, pid)
		if err != nil {
			continue
		}
		res := PolicyResult{PolicyID: pid, PolicyType: sp.Type, Passing: true}
		checks := policy.PolicyPostureChecks(tx, pid)
		slices.Sort(checks)
		for _, cid := range checks {
			pc, err := store.Peek[*store.PostureCheck](tx, store.PostureChecks, cid)
			if err != nil {
				continue
			}
			ok, remaining, reason := Evaluate(pc, data, mfa, now)
			res.Queries = append(res.Queries, QueryResult{Check: pc, Passing: ok, TimeoutRemaining: remaining, Reason: reason})
			res.Passing = res.Passing && ok
		}
		out = append(out, res)
	}
	return out
}

// Allowed reports whether one of the policies passes.
func Allowed(results []PolicyResult) bool {
	return slices.ContainsFunc(results, func(r PolicyResult) bool { return r.Passing })
}

// Failing lists the failing checks of the policies, each once, in order.
func Failing(results []PolicyResult) []QueryResult {
	var out []QueryResult
	seen := map[string]bool{}
	for _, r := range results {
		for _, q := range r.Queries {
			if !q.Passing && !seen[q.Check.ID] {
				seen[q.Check.ID] = true
				out = append(out, q)
			}
		}
	}
	return out
}

// Describe names failing checks for an error message.
func Describe(failing []QueryResult) string {
	parts := make([]string, 0, len(failing))
	for _, q := range failing {
		parts = append(parts, fmt.Sprintf("%s (%s, %s): %s", q.Check.Name, q.Check.ID, q.Check.TypeID, q.Reason))
	}
	return strings.Join(parts, "; ")
}

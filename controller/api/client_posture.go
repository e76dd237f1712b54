package api

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/go-openapi/runtime/middleware"

	"github.com/ostium-net/ostium/controller/access"
	"github.com/ostium-net/ostium/controller/domain"

	postureops "github.com/ostium-net/ostium/controller/internal/restserver/clientapi/operations/posture"
	"github.com/ostium-net/ostium/controller/policy"
	"github.com/ostium-net/ostium/controller/posture"
	"github.com/ostium-net/ostium/controller/store"
	"github.com/ostium-net/ostium/sdk/restapi/models"
)

// Posture responses are kept per API session in one store.PostureData
// record, written through raft so that every controller evaluates the same
// facts. The write itself deletes the caller's sessions that no longer pass
// their service policies' checks (access.Settle); routers are told and close
// them.

// CodeInvalidPosture refuses a session whose posture passes no policy.
const CodeInvalidPosture = "INVALID_POSTURE"

// postureSweepInterval is how often the raft leader looks for sessions that
// stopped passing with time alone (MFA timeouts).
const postureSweepInterval = 2 * time.Second

// createPostureResponse answers POST /posture-response.
func (s *Server) createPostureResponse(p postureops.CreatePostureResponseParams, pr any) middleware.Responder {
	if p.PostureResponse == nil {
		return fail(validationError("typeId", "is required", nil))
	}
	return s.postureResponses(p.HTTPRequest, principalOf(pr), http.StatusCreated, []models.PostureResponseCreate{p.PostureResponse})
}

// createPostureResponseBulk answers POST /posture-response-bulk.
func (s *Server) createPostureResponseBulk(p postureops.CreatePostureResponseBulkParams, pr any) middleware.Responder {
	return s.postureResponses(p.HTTPRequest, principalOf(pr), http.StatusOK, p.PostureResponse)
}

// postureResponses checks every response, stores them all in one write and
// then removes the caller's sessions that stopped passing.
func (s *Server) postureResponses(r *http.Request, caller *Principal, status int, responses []models.PostureResponseCreate) middleware.Responder {
	if caller == nil || caller.Session == nil {
		return fail(errUnauthorized)
	}
	now := time.Now().UTC()
	reports := make([]domain.PostureReport, 0, len(responses))
	for i, resp := range responses {
		field := ""
		if len(responses) > 1 || status == http.StatusOK {
			field = fmt.Sprintf("[%d].", i)
		}
		u, err := postureUpdate(field, resp, now)
		if err != nil {
			return fail(err)
		}
		reports = append(reports, u)
	}
	// One entry stores them all, creating the posture data on the first
	// report, and removes the caller's sessions that stop passing.
	if err := s.State.Apply(requestContext(r), &domain.ReportPosture{APISessionID: caller.Session.ID, Reports: reports}); err != nil {
		return fail(err)
	}
	out := &models.PostureResponse{Services: []*models.PostureResponseService{}}
	_ = s.State.View(func(tx *store.Tx) error {
		out.Services = timedServices(tx, caller, time.Now())
		return nil
	})
	return respond{status: status, body: envelope{Data: out, Meta: newMeta()}}
}

// postureUpdate checks one response and returns it as a report.
func postureUpdate(field string, resp models.PostureResponseCreate, now time.Time) (domain.PostureReport, error) {
	var none domain.PostureReport
	if resp == nil {
		return none, validationError(field+"typeId", "is required", nil)
	}
	if resp.ID() == nil || *resp.ID() == "" {
		return none, validationError(field+"id", "is required", nil)
	}
	switch b := resp.(type) {
	case *models.PostureResponseOperatingSystemCreate:
		if b.Type == nil || *b.Type == "" {
			return none, validationError(field+"type", "is required", nil)
		}
		if b.Version == nil || *b.Version == "" {
			return none, validationError(field+"version", "is required", nil)
		}
		return domain.PostureReport{OS: &store.PostureOSData{Type: *b.Type, Version: *b.Version, Build: b.Build, ReportedAt: now}}, nil
	case *models.PostureResponseProcessCreate:
		if b.Path == nil || *b.Path == "" {
			return none, validationError(field+"path", "is required", nil)
		}
		return domain.PostureReport{Process: &store.PostureProcessData{Path: *b.Path, IsRunning: b.IsRunning, Hash: b.Hash,
			SignerFingerprints: strs(b.SignerFingerprints), ReportedAt: now}}, nil
	case *models.PostureResponseDomainCreate:
		if b.Domain == nil {
			return none, validationError(field+"domain", "is required", nil)
		}
		return domain.PostureReport{Domain: &store.PostureDomainData{Domain: *b.Domain, ReportedAt: now}}, nil
	case *models.PostureResponseMacAddressCreate:
		if b.MacAddresses == nil {
			return none, validationError(field+"macAddresses", "is required", nil)
		}
		for i, m := range b.MacAddresses {
			if posture.NormalizeMAC(m) == "" {
				return none, validationError(fmt.Sprintf("%smacAddresses[%d]", field, i), "must not be empty", m)
			}
		}
		return domain.PostureReport{MAC: &store.PostureMACData{Addresses: strs(b.MacAddresses), ReportedAt: now}}, nil
	case *models.PostureResponseEndpointStateCreate:
		return domain.PostureReport{Woken: b.Woken, Unlocked: b.Unlocked}, nil
	}
	return none, validationError(field+"typeId", "must be one of OS, PROCESS, DOMAIN, MAC, ENDPOINT_STATE", resp.TypeID())
}

// revokeDeniedSessions deletes, in one entry, the sessions that posture no
// longer lets stand with time alone (MFA timeouts); everything else that
// takes a grant away revokes in its own entry (see package access).
func (s *Server) revokeDeniedSessions(ctx context.Context) {
	var denied []string
	if err := s.State.View(func(tx *store.Tx) error {
		denied = access.DeniedSessions(tx, time.Now())
		return nil
	}); err != nil || len(denied) == 0 {
		return
	}
	if err := s.State.Apply(ctx, &domain.RevokeSessions{IDs: denied, IfDenied: true}); err != nil {
		s.Log.Warn("could not remove sessions that fail posture", "sessions", len(denied), "error", err)
		return
	}
	s.Log.Info("removed sessions that fail posture", "sessions", len(denied))
}

// sweepPosture removes, while this node leads the cluster, sessions that
// stopped passing posture with time alone (MFA timeouts), until ctx ends.
// Every other change that fails a session revokes it in its own write.
func (s *Server) sweepPosture(ctx context.Context) {
	s.everyWhileLeading(ctx, postureSweepInterval, func(ctx context.Context) {
		sweep, cancel := context.WithTimeout(ctx, postureSweepInterval*5)
		s.revokeDeniedSessions(sweep)
		cancel()
	})
}

// timedServices lists, for the caller's services, the MFA checks that time
// out, with the seconds each has left.
func timedServices(tx *store.Tx, caller *Principal, now time.Time) []*models.PostureResponseService {
	as := currentAPISession(tx, caller)
	out := []*models.PostureResponseService{}
	perms := policy.IdentityServices(tx, caller.Identity.ID)
	ids := keys(perms)
	slices.Sort(ids)
	for _, sid := range ids {
		name := nameOf(tx, store.Services, sid)
		seen := map[string]bool{}
		for _, pr := range posture.EvaluatePolicies(tx, as, sid, "", now) {
			for _, q := range pr.Queries {
				if q.Check.TypeID != store.PostureMFA || q.Check.TimeoutSeconds <= 0 || seen[q.Check.ID] {
					continue
				}
				seen[q.Check.ID] = true
				out = append(out, &models.PostureResponseService{ID: ptr(sid), Name: ptr(name), PostureQueryType: ptr(store.PostureMFA),
					Timeout: ptr(q.Check.TimeoutSeconds), TimeoutRemaining: ptr(q.TimeoutRemaining)})
			}
		}
	}
	return out
}

// currentAPISession reads the caller's API session as stored now, so that
// MFA completed during this request counts.
func currentAPISession(tx *store.Tx, caller *Principal) *store.APISession {
	if as, err := store.Get[*store.APISession](tx, store.APISessions, caller.Session.ID); err == nil {
		return as
	}
	return caller.Session
}

// postureQueriesOf describes, per service policy granting the service to the
// API session, its posture checks and whether they pass now.
func postureQueriesOf(tx *store.Tx, as *store.APISession, serviceID string, now time.Time) []*models.PostureQueries {
	out := []*models.PostureQueries{}
	if as == nil {
		return out
	}
	for _, pr := range posture.EvaluatePolicies(tx, as, serviceID, "", now) {
		pq := &models.PostureQueries{PolicyID: ptr(pr.PolicyID), PolicyType: models.DialBind(pr.PolicyType), IsPassing: ptr(pr.Passing),
			PostureQueries: []*models.PostureQuery{}}
		for _, q := range pr.Queries {
			pq.PostureQueries = append(pq.PostureQueries, postureQueryModel(q))
		}
		out = append(out, pq)
	}
	return out
}

func postureQueryModel(q posture.QueryResult) *models.PostureQuery {
	typ := models.PostureCheckType(q.Check.TypeID)
	timeout := posture.NoTimeout
	if q.Check.TypeID == store.PostureMFA && q.Check.TimeoutSeconds > 0 {
		timeout = q.Check.TimeoutSeconds
	}
	m := &models.PostureQuery{BaseEntity: baseOf(store.PostureChecks, &q.Check.Meta), IsPassing: ptr(q.Passing), QueryType: &typ,
		Timeout: ptr(timeout), TimeoutRemaining: ptr(q.TimeoutRemaining), Processes: []*models.PostureQueryProcess{}}
	switch q.Check.TypeID {
	case store.PostureProcess:
		if p := q.Check.Process; p != nil {
			m.Process = &models.PostureQueryProcess{OsType: models.OsType(p.OSType), Path: p.Path}
		}
	case store.PostureProcessMulti:
		for _, p := range q.Check.Processes {
			m.Processes = append(m.Processes, &models.PostureQueryProcess{OsType: models.OsType(p.OSType), Path: p.Path})
		}
	}
	return m
}

// invalidPosture refuses a session: no granting policy's checks all pass.
func invalidPosture(results []posture.PolicyResult) *APIError {
	failing := posture.Failing(results)
	ids := make([]string, 0, len(failing))
	for _, q := range failing {
		ids = append(ids, q.Check.ID)
	}
	desc := posture.Describe(failing)
	return &APIError{Status: http.StatusConflict, Code: CodeInvalidPosture,
		Message: "the posture of the API session passes no service policy's checks: " + desc,
		Cause:   &FieldCause{Field: "postureChecks", Reason: desc, Value: ids}}
}

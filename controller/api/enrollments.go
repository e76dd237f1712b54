package api

import (
	"net/http"
	"time"

	"github.com/go-openapi/runtime/middleware"
	"github.com/go-openapi/strfmt"

	"github.com/ostium-net/ostium/controller/auth"
	"github.com/ostium-net/ostium/controller/domain"

	"github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/enrollment"
	"github.com/ostium-net/ostium/controller/state"
	"github.com/ostium-net/ostium/controller/store"
	"github.com/ostium-net/ostium/sdk/restapi/models"
)

// listEnrollments answers GET /enrollments.
func (s *Server) listEnrollments(p enrollment.ListEnrollmentsParams, _ any) middleware.Responder {
	return s.listOf(store.Enrollments, listParams{p.Filter, p.Sort, p.Limit, p.Offset}, nil, s.enrollmentModel)
}

// detailEnrollment answers GET /enrollments/{id}.
func (s *Server) detailEnrollment(p enrollment.DetailEnrollmentParams, _ any) middleware.Responder {
	return s.detailOf(store.Enrollments, p.ID, s.enrollmentModel)
}

// handleCreateEnrollment answers POST /enrollments.
func (s *Server) handleCreateEnrollment(p enrollment.CreateEnrollmentParams, _ any) middleware.Responder {
	return s.createEnrollment(p.HTTPRequest, p.Enrollment)
}

// refreshEnrollment answers POST /enrollments/{id}/refresh.
func (s *Server) refreshEnrollment(p enrollment.RefreshEnrollmentParams, _ any) middleware.Responder {
	expires, err := futureTime("expiresAt", p.Refresh.ExpiresAt)
	if err != nil {
		return fail(err)
	}
	err = s.State.Update(requestContext(p.HTTPRequest), store.Enrollments, p.ID, func(r store.Record) error {
		e := r.(*store.Enrollment)
		// A new nonce derives a new token: the old one stops working.
		e.TokenNonce = state.RandomID()
		e.TokenHash, e.ExpiresAt, e.JWT = auth.TokenHash(s.enrollmentToken(e)), expires, ""
		return nil
	})
	if err != nil {
		return fail(err)
	}
	return respond{status: http.StatusOK, body: envelope{Data: map[string]any{"id": p.ID, "_links": links(selfLink(store.Enrollments, p.ID))}, Meta: newMeta()}}
}

// deleteEnrollment answers DELETE /enrollments/{id}.
func (s *Server) deleteEnrollment(p enrollment.DeleteEnrollmentParams, _ any) middleware.Responder {
	return s.deleteOf(p.HTTPRequest, store.Enrollments, p.ID)
}

// futureTime requires a time after now.
func futureTime(field string, t *strfmt.DateTime) (time.Time, error) {
	if t == nil {
		return time.Time{}, validationError(field, "is required", nil)
	}
	at := time.Time(*t)
	if !at.After(time.Now()) {
		return time.Time{}, validationError(field, "must be in the future", t.String())
	}
	return at.UTC(), nil
}

func (s *Server) createEnrollment(r *http.Request, b *models.EnrollmentCreate) middleware.Responder {
	expires, err := futureTime("expiresAt", b.ExpiresAt)
	if err != nil {
		return fail(err)
	}
	method, identityID := str(b.Method), str(b.IdentityID)
	e := s.newEnrollment(method, identityID, time.Now().UTC())
	e.ExpiresAt = expires
	switch method {
	case store.EnrollmentOTT:
		if str(b.CaID) != "" || str(b.Username) != "" {
			return fail(validationError("method", "an ott enrollment takes neither caId nor username", method))
		}
	case store.EnrollmentOTTCA:
		if str(b.CaID) == "" {
			return fail(validationError("caId", "is required for an ottca enrollment", nil))
		}
		e.CAID = *b.CaID
	case store.EnrollmentUpdb:
		if err := checkUsername("username", str(b.Username)); err != nil {
			return fail(err)
		}
		e.Username = *b.Username
	default:
		return fail(validationError("method", "must be ott, ottca or updb", method))
	}
	// The entry checks that the identity and CA exist, that no enrollment
	// of the kind is pending and no password is set, and revokes the
	// identity's certificates for a certificate enrollment.
	o, err := s.State.ApplyOutcome(requestContext(r), &domain.IssueEnrollment{Enrollment: e})
	if err != nil {
		return fail(err)
	}
	id := state.CreatedID(o, e.ID)
	return created(id, selfLink(store.Enrollments, id))
}

func (s *Server) enrollmentModel(tx *store.Tx, rec store.Record) any {
	e := rec.(*store.Enrollment)
	d := &models.EnrollmentDetail{
		BaseEntity: baseOf(store.Enrollments, &e.Meta),
		ExpiresAt:  dt(e.ExpiresAt),
		Method:     ptr(e.Method),
	}
	// The token is stored only as a hash; both are derived anew.
	jwt, token := s.enrollmentJWT(e)
	d.Jwt, d.Token = jwt, ptr(token)
	if e.IdentityID != "" {
		d.IdentityID = ptr(e.IdentityID)
		d.Identity = refOf(store.Identities, e.IdentityID, nameOf(tx, store.Identities, e.IdentityID))
	}
	if e.EdgeRouterID != "" {
		d.EdgeRouterID = ptr(e.EdgeRouterID)
		d.EdgeRouter = refOf(store.EdgeRouters, e.EdgeRouterID, nameOf(tx, store.EdgeRouters, e.EdgeRouterID))
	}
	if e.CAID != "" {
		d.CaID = ptr(e.CAID)
		d.Ca = refOf(store.CAs, e.CAID, nameOf(tx, store.CAs, e.CAID))
	}
	if e.Username != "" {
		d.Username = ptr(e.Username)
	}
	return d
}

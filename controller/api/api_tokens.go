package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/go-openapi/runtime/middleware"

	"github.com/ostium-net/ostium/controller/command"
	"github.com/ostium-net/ostium/controller/filter"

	tokenops "github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/api_token"
	"github.com/ostium-net/ostium/controller/state"
	"github.com/ostium-net/ostium/controller/store"
	"github.com/ostium-net/ostium/sdk/restapi/models"
)

// API tokens let automation use the management API without signing in. A
// token reads "ostium_at_<id>_<secret>": the id finds the stored record, the
// secret (32 random bytes) is compared, by its SHA-256 hash, in constant
// time. The prefix keeps them apart from OIDC access tokens, which are also
// sent as "Authorization: Bearer". Each request reads the token from the
// replicated store, so a revocation (a delete) holds on every node as soon as
// it is applied there. Uses are recorded in memory and written in batches,
// like API-session activity.

// APITokenPrefix starts every API token.
const APITokenPrefix = "ostium_at_"

// maxAPITokenLifetime bounds how far away an API token's expiry may be.
const maxAPITokenLifetime = 10 * 365 * 24 * time.Hour

// CodeForbidden answers a valid credential that may not do what it asked.
const CodeForbidden = "FORBIDDEN"

// refusal is an authorization failure the go-openapi runtime passes on as
// it is (it keeps errors that carry their own HTTP code).
type refusal struct{ ae *APIError }

func (r refusal) Error() string { return r.ae.Error() }
func (r refusal) Code() int32   { return int32(r.ae.Status) }
func (r refusal) Unwrap() error { return r.ae }

var errReadOnlyToken = refusal{newErr(http.StatusForbidden, CodeForbidden,
	"this API token is read-only: it may only call GET operations")}

// The types of actor: who made a write (audit records, the createdBy of
// API tokens).
const (
	actorTypeIdentity = store.ActorIdentity
	actorTypeAPIToken = store.ActorAPIToken
)

// Actor names the caller: its type ("identity" or "api-token"), id and
// name. Writes made by the caller are attributed to it.
func (p *Principal) Actor() (typ, id, name string) {
	switch {
	case p == nil:
		return "", "", ""
	case p.APIToken != nil:
		return actorTypeAPIToken, p.APIToken.ID, p.APIToken.Name
	case p.Identity != nil:
		return actorTypeIdentity, p.Identity.ID, p.Identity.Name
	}
	return "", "", ""
}

// readOnly reports whether the caller may only read.
func (p *Principal) readOnly() bool { return p.APIToken != nil && p.APIToken.ReadOnly() }

func apiTokenSecretHash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// parseAPIToken splits a token into its id and secret.
func parseAPIToken(token string) (id, secret string, ok bool) {
	rest, found := strings.CutPrefix(token, APITokenPrefix)
	if !found || len(token) > 256 {
		return "", "", false
	}
	id, secret, found = strings.Cut(rest, "_")
	return id, secret, found && id != "" && secret != ""
}

// authenticateManagement reads the zt-session header of the management API:
// an API token or an API session's token.
func (s *Server) authenticateManagement(token string) (any, error) {
	if strings.HasPrefix(token, APITokenPrefix) {
		return s.authenticateAPIToken(token)
	}
	return s.authenticateToken(token)
}

// authenticateAPIToken turns an API token into a Principal. Unknown,
// revoked and expired tokens are refused alike (401).
func (s *Server) authenticateAPIToken(token string) (*Principal, error) {
	id, secret, ok := parseAPIToken(token)
	if !ok {
		return nil, errUnauthorized
	}
	var t *store.APIToken
	err := s.State.View(func(tx *store.Tx) error {
		var err error
		t, err = store.Get[*store.APIToken](tx, store.APITokens, id)
		return err
	})
	if err != nil {
		return nil, errUnauthorized
	}
	if subtle.ConstantTimeCompare([]byte(t.SecretHash), []byte(apiTokenSecretHash(secret))) != 1 {
		return nil, errUnauthorized
	}
	now := time.Now()
	if t.Expired(now) {
		return nil, errUnauthorized
	}
	s.tokenUse.Touch(t.ID, now)
	return &Principal{APIToken: t}, nil
}

// handleListAPITokens answers GET /api-tokens.
func (s *Server) handleListAPITokens(p tokenops.ListAPITokensParams, _ any) middleware.Responder {
	return s.listAPITokens(listParams{Filter: p.Filter, Sort: p.Sort, Limit: p.Limit, Offset: p.Offset})
}

// detailAPIToken answers GET /api-tokens/{id}.
func (s *Server) detailAPIToken(p tokenops.DetailAPITokenParams, _ any) middleware.Responder {
	return s.detailOf(store.APITokens, p.ID, s.apiTokenModel)
}

// getCurrentAPIToken answers GET /current-api-token.
func (s *Server) getCurrentAPIToken(_ tokenops.GetCurrentAPITokenParams, pr any) middleware.Responder {
	caller := principalOf(pr)
	if caller == nil || caller.APIToken == nil {
		return fail(newErr(http.StatusNotFound, CodeNotFound, "this request was made with an API session, not an API token"))
	}
	return s.detailOf(store.APITokens, caller.APIToken.ID, s.apiTokenModel)
}

// handleCreateAPIToken answers POST /api-tokens.
func (s *Server) handleCreateAPIToken(p tokenops.CreateAPITokenParams, pr any) middleware.Responder {
	return s.createAPIToken(p.HTTPRequest, principalOf(pr), p.APIToken)
}

// deleteAPIToken answers DELETE /api-tokens/{id}.
func (s *Server) deleteAPIToken(p tokenops.DeleteAPITokenParams, _ any) middleware.Responder {
	if err := s.State.Delete(requestContext(p.HTTPRequest), store.APITokens, p.ID); err != nil {
		return fail(err)
	}
	s.tokenUse.Forget(p.ID)
	return okEmpty()
}

func (s *Server) createAPIToken(r *http.Request, caller *Principal, body *models.APITokenCreate) middleware.Responder {
	if body == nil || body.Name == nil || body.Role == nil || body.ExpiresAt == nil {
		return fail(validationError("apiToken", "name, role and expiresAt are required", nil))
	}
	name := strings.TrimSpace(*body.Name)
	if name == "" {
		return fail(validationError("name", "the name is empty", *body.Name))
	}
	role := *body.Role
	if role != store.APITokenAdmin && role != store.APITokenReadOnly {
		return fail(validationError("role", "the role is admin or read-only", role))
	}
	now := time.Now().UTC()
	expires := time.Time(*body.ExpiresAt).UTC()
	switch {
	case !expires.After(now):
		return fail(validationError("expiresAt", "the expiry is in the past", body.ExpiresAt.String()))
	case expires.Sub(now) > maxAPITokenLifetime:
		return fail(validationError("expiresAt", "the expiry is more than ten years away", body.ExpiresAt.String()))
	}
	// No token makes a token with more rights than its own: a read-only
	// one makes none (its POST is refused before this), and an admin one
	// makes none that outlive it.
	if caller != nil && caller.APIToken != nil {
		if caller.readOnly() && role != store.APITokenReadOnly {
			return fail(refusal{newErr(http.StatusForbidden, CodeForbidden, "a read-only API token cannot make an admin token")})
		}
		if expires.After(caller.APIToken.ExpiresAt) {
			return fail(refusal{newErr(http.StatusForbidden, CodeForbidden,
				"an API token cannot make a token that expires after itself ("+caller.APIToken.ExpiresAt.UTC().Format(time.RFC3339)+")")})
		}
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return fail(err)
	}
	secret := base64.RawURLEncoding.EncodeToString(raw[:])
	rec := &store.APIToken{Meta: store.Meta{ID: state.NewID()}, Name: name, Role: role,
		SecretHash: apiTokenSecretHash(secret), ExpiresAt: expires}
	rec.CreatedByType, rec.CreatedByID, rec.CreatedByName = caller.Actor()
	if _, err := s.State.Create(requestContext(r), store.APITokens, rec); err != nil {
		return fail(err)
	}
	token := APITokenPrefix + rec.ID + "_" + secret
	return respond{status: http.StatusCreated, body: envelope{Meta: newMeta(), Data: &models.APITokenSecretDetail{
		ID: ptr(rec.ID), Name: ptr(rec.Name), Role: ptr(rec.Role), ExpiresAt: dt(rec.ExpiresAt), Token: ptr(token)}}}
}

// apiTokenModel shows a token without its secret.
func (s *Server) apiTokenModel(_ *store.Tx, rec store.Record) any {
	t := rec.(*store.APIToken)
	m := &models.APITokenDetail{ID: ptr(t.ID), Name: ptr(t.Name), Role: ptr(t.Role), ExpiresAt: dt(t.ExpiresAt),
		Expired: t.Expired(time.Now()), CreatedAt: dt(t.CreatedAt),
		CreatedBy: &models.APITokenCreator{Type: ptr(t.CreatedByType), ID: ptr(t.CreatedByID), Name: t.CreatedByName}}
	last := t.LastUsedAt
	if u, ok := s.tokenUse.Last(t.ID); ok && u.At.After(last) {
		last = u.At
	}
	if !last.IsZero() {
		m.LastUsedAt = dt(last.UTC())
	}
	return m
}

// apiTokenSchema lists the fields a filter or sort of the token list may
// name; others are refused (INVALID_FILTER), the secret's hash first.
var apiTokenSchema = filter.Schema{
	"id": {Kind: filter.KindString}, "name": {Kind: filter.KindString}, "role": {Kind: filter.KindString},
	"expiresAt": {Kind: filter.KindTime}, "lastUsedAt": {Kind: filter.KindTime}, "createdAt": {Kind: filter.KindTime},
	"updatedAt": {Kind: filter.KindTime}, "createdBy": {Kind: filter.KindString}, "createdBy.id": {Kind: filter.KindString},
	"createdBy.type": {Kind: filter.KindString}, "createdBy.name": {Kind: filter.KindString},
}

// apiTokenFields are the values of apiTokenSchema's fields.
func apiTokenFields(rec store.Record) filter.Fields {
	t := rec.(*store.APIToken)
	m := map[string]any{"id": t.ID, "name": t.Name, "role": t.Role, "expiresAt": t.ExpiresAt,
		"createdAt": t.CreatedAt, "updatedAt": t.UpdatedAt, "createdBy": t.CreatedByID,
		"createdBy.id": t.CreatedByID, "createdBy.type": t.CreatedByType, "createdBy.name": t.CreatedByName}
	if !t.LastUsedAt.IsZero() {
		m["lastUsedAt"] = t.LastUsedAt
	}
	return filter.FromMap(m)
}

func (s *Server) listAPITokens(lp listParams) middleware.Responder {
	q, err := filter.FromListParams(str(lp.Filter), str(lp.Sort), lp.Limit, lp.Offset, filter.DefaultLimit, filter.MaxLimit)
	if err == nil {
		err = q.Validate(apiTokenSchema)
	}
	if err != nil {
		return fail(err)
	}
	data := []any{}
	var page *state.Page
	err = s.State.View(func(tx *store.Tx) error {
		var err error
		if page, err = s.State.List(tx, store.APITokens, q, state.ListOptions{Fields: apiTokenFields}); err != nil {
			return err
		}
		for _, rec := range page.Records {
			data = append(data, s.apiTokenModel(tx, rec))
		}
		return nil
	})
	if err != nil {
		return fail(err)
	}
	return list(data, pagination{Limit: page.Limit, Offset: page.Offset, TotalCount: page.TotalCount})
}

// keepAPITokenUse writes the token uses this node saw, once per interval,
// until ctx ends, and once more then if it still can.
func (s *Server) keepAPITokenUse(ctx context.Context) {
	ticker := time.NewTicker(UpkeepInterval(s.SessionIdleTimeout))
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			s.flushAPITokenUse(context.WithoutCancel(ctx), time.Second)
			return
		case <-ticker.C:
		}
		s.flushAPITokenUse(ctx, UpkeepInterval(s.SessionIdleTimeout))
	}
}

func (s *Server) flushAPITokenUse(ctx context.Context, timeout time.Duration) {
	uses := s.tokenUse.TakeMoved()
	if len(uses) == 0 {
		return
	}
	touch := &command.TouchAPITokens{Uses: make(map[string]time.Time, len(uses))}
	for id, u := range uses {
		touch.Uses[id] = u.At.UTC()
	}
	ctx, cancel := context.WithTimeout(ctx, max(timeout, 5*time.Second))
	defer cancel()
	if err := s.State.Apply(ctx, touch); err != nil {
		if !errors.Is(err, context.Canceled) {
			s.tokenUse.Requeue(uses)
		}
		s.Log.Debug("recording API-token use failed; retrying", "tokens", len(uses), "err", err)
	}
	_ = s.State.View(func(tx *store.Tx) error {
		s.tokenUse.Retain(func(id string) bool { return tx.Exists(store.APITokens, id) })
		return nil
	})
}

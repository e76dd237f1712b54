// Package api holds the hand-written handlers of the Edge Client and Edge
// Management APIs. The servers themselves are generated from specs/ into
// controller/internal/restserver; New builds both, assigns every handler
// explicitly, and mounts them on one http.Handler with the error envelope
// used for every failure, the runtime's own included.
package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-openapi/runtime"
	"github.com/go-openapi/runtime/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ostium-net/ostium/controller/activity"
	"github.com/ostium-net/ostium/controller/auth"
	"github.com/ostium-net/ostium/controller/cluster"
	"github.com/ostium-net/ostium/controller/command"
	"github.com/ostium-net/ostium/controller/domain"
	"github.com/ostium-net/ostium/controller/events"
	mgmtops "github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations"
	"github.com/ostium-net/ostium/controller/oidc"
	"github.com/ostium-net/ostium/controller/pki"
	"github.com/ostium-net/ostium/controller/state"
	"github.com/ostium-net/ostium/controller/store"
	"github.com/ostium-net/ostium/internal/ops"
)

// DefaultSessionIdleTimeout ends API sessions unused for this long unless
// configured otherwise.
const DefaultSessionIdleTimeout = 30 * time.Minute

// Deps are what the handlers need.
type Deps struct {
	State *state.State
	Node  *cluster.Node
	CA    *pki.Authority
	Log   *slog.Logger
	// Advertise is the API's host:port as clients reach it.
	Advertise string
	// SessionIdleTimeout ends API sessions unused for this long.
	SessionIdleTimeout time.Duration
	// Activity records the use of API sessions on this node (REST calls
	// here, router heartbeats there); nil makes one for the API alone.
	Activity *activity.Tracker
	// Routers reports which edge routers are connected; nil means none.
	Routers RouterDirectory
	// Mesh reports the links between routers and their circuits; nil means none.
	Mesh MeshDirectory
	// JWKSClient fetches the key sets of external JWT signers; nil means a
	// client trusting the system roots.
	JWKSClient *http.Client
	// Lockout says when repeated authentication failures lock an identity
	// out from a source address; zero fields take DefaultLockoutPolicy's.
	Lockout LockoutPolicy
	// OIDC configures OpenID Connect sign-in (on unless disabled).
	OIDC OIDCOptions
	// Metrics, when set, receives the API's metrics (requests by operation
	// and status, their latency, authentications).
	Metrics prometheus.Registerer
	// SessionMaxLifetime ends API sessions this long after they began,
	// however busy (default DefaultSessionMaxLifetime, or the idle timeout
	// when longer).
	SessionMaxLifetime time.Duration
	// MaxRequestBytes bounds request bodies (default DefaultMaxRequestBytes).
	MaxRequestBytes int64
	// AuthLimits bound the work of authentication attempts (limits.go).
	AuthLimits AuthLimits
	// Events is the bus the event stream (GET /events) subscribes to; nil
	// serves none.
	Events *events.Bus
	// AuditRetention is how long audit records are kept
	// (DefaultAuditRetention when zero).
	AuditRetention time.Duration
}

// DefaultSessionMaxLifetime is the absolute lifetime of API sessions unless
// configured otherwise.
const DefaultSessionMaxLifetime = 24 * time.Hour

// Server carries the handlers' shared state.
type Server struct {
	Deps
	tokens *auth.Deriver
	mgmt   *mgmtops.EdgeManagementAPI // for client operations an admin may also use
	jwks   jwksCache                  // key sets of external JWT signers
	mfa    *mfaKeys                   // seal TOTP secrets, hash recovery codes
	// started is when this API started serving.
	started time.Time
	oidc    *oidc.Provider // nil when OIDC is disabled
	met     *apiMetrics
	// passwords bounds the password hashes computed at once; anon counts
	// the failed attempts naming no identity until they are written.
	passwords *auth.Limiter
	anon      anonFailures
	// tokenUse is when this node last saw each API token used.
	tokenUse *activity.Tracker
	// pending are the sign-ins answered before they were applied here.
	pending *pendingLogins
	// sessions are the sessions answered before they were applied here.
	sessions *pendingSessions
}

// Principal is the caller of an authenticated operation. Session and
// Identity are shared with other readers (store.Peek): handlers read them
// and never change them.
type Principal struct {
	Session  *store.APISession
	Identity *store.Identity
	// Token is the credential the request presented for Session.
	Token string
	// MFAEnrolled is set when the identity has a verified MFA enrollment.
	MFAEnrolled bool
	// APIToken is set, instead of Session and Identity, when the request
	// was made with an API token (management API only): its ID and Role say
	// what it may do, and Actor names it as the maker of writes.
	APIToken *store.APIToken
}

// mfaPending reports whether the session still waits for its MFA step.
func (p *Principal) mfaPending() bool {
	return p.Session != nil && p.Session.IsMFARequired && !p.Session.IsMFAComplete
}

// allowedWhileMFAPending reports whether a session still waiting for its MFA
// step may make request r: complete MFA, read or end itself, and, when it
// has no verified enrollment yet (MFA required by its auth policy), enroll.
func allowedWhileMFAPending(r *http.Request, p *Principal) bool {
	path := strings.TrimSuffix(r.URL.Path, "/")
	switch {
	case r.Method == http.MethodPost && (path == clientBase+"/authenticate/mfa" || path == managementBase+"/authenticate/mfa"):
		return true
	case (r.Method == http.MethodGet || r.Method == http.MethodDelete) && (path == clientBase+"/current-api-session" || path == managementBase+"/current-api-session"):
		return true
	case !p.MFAEnrolled && (path == clientBase+"/current-identity/mfa" || strings.HasPrefix(path, clientBase+"/current-identity/mfa/")):
		return true
	}
	return false
}

const (
	managementBase = "/edge/management/v1"
	clientBase     = "/edge/client/v1"
)

// API is the HTTP handler serving both APIs, with the periodic work behind
// them.
type API struct {
	http.Handler
	s *Server
}

// RunJobs runs the API's periodic work until ctx ends: every node records
// the API-session use it saw and the failed sign-ins naming no identity;
// while this node leads the cluster, it also sweeps sessions whose posture
// lapsed with time, expires idle and over-age API sessions, forgets token
// revocations past their end and deletes authentication events past their
// retention. The controller runs it under a context it owns and cancels on
// Close.
func (a *API) RunJobs(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(7)
	go func() { defer wg.Done(); a.s.pruneAudit(ctx) }()
	go func() { defer wg.Done(); a.s.sweepPosture(ctx) }()
	go func() { defer wg.Done(); a.s.keepAPISessions(ctx) }()
	go func() { defer wg.Done(); a.s.keepRevocations(ctx) }()
	go func() { defer wg.Done(); a.s.keepAnonymousFailures(ctx) }()
	go func() { defer wg.Done(); a.s.keepAuthEvents(ctx) }()
	go func() { defer wg.Done(); a.s.keepAPITokenUse(ctx) }()
	wg.Wait()
}

// New builds the HTTP handler serving both APIs; its jobs run once RunJobs
// is called.
func New(d Deps) (*API, error) {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.SessionIdleTimeout <= 0 {
		d.SessionIdleTimeout = DefaultSessionIdleTimeout
	}
	if d.Activity == nil {
		d.Activity = activity.New()
	}
	if d.SessionMaxLifetime <= 0 {
		d.SessionMaxLifetime = max(DefaultSessionMaxLifetime, d.SessionIdleTimeout)
	}
	if d.MaxRequestBytes <= 0 {
		d.MaxRequestBytes = DefaultMaxRequestBytes
	}
	d.Lockout = d.Lockout.withDefaults()
	d.AuthLimits = d.AuthLimits.withDefaults()
	s := &Server{Deps: d, started: time.Now().UTC(), met: newAPIMetrics(),
		passwords: auth.NewLimiter(d.AuthLimits.PasswordChecks, d.AuthLimits.PasswordQueueWait), tokenUse: activity.New()}
	s.pending = newPendingLogins(d.Log, func(ctx context.Context, logins []domain.TimedLogin) error {
		return s.State.Apply(ctx, &domain.AuthenticateMany{Logins: logins})
	})
	s.sessions = newPendingSessions(d.Log, s.proposeSessions)
	if d.State != nil && d.State.Store != nil {
		s.pending.listen(d.State.Store)
		s.sessions.listen(d.State.Store)
	}
	collectors := append(s.met.collectors(), s.pending.collectors()...)
	if err := ops.Register(d.Metrics, append(collectors, s.sessions.collectors()...)...); err != nil {
		return nil, err
	}
	secret, err := d.CA.DeriveSecret("bearer tokens")
	if err != nil {
		return nil, err
	}
	if s.tokens, err = auth.NewDeriver(secret); err != nil {
		return nil, err
	}
	if s.mfa, err = newMFAKeys(d.CA); err != nil {
		return nil, err
	}
	if s.oidc, err = s.newOIDC(); err != nil {
		return nil, err
	}
	s.registerSigning()
	mgmt, err := s.managementHandler()
	if err != nil {
		return nil, err
	}
	client, err := s.clientHandler()
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle(managementBase+"/", forAPI(apiManagement, "", mgmt))
	mux.Handle(clientBase+"/", forAPI(apiClient, "", client))
	if s.oidc != nil {
		mux.Handle(oidc.PathPrefix+"/", forAPI(apiOIDC, apiOIDC, s.oidc))
		mux.Handle("/.well-known/openid-configuration", forAPI(apiOIDC, apiOIDC, s.oidc))
	}
	// Everything else is the client API at the root (legacy paths: /version,
	// /.well-known/est/cacerts, /authenticate, ...; see compat.go).
	mux.Handle("/", forAPI(apiClient, "", atRoot(client)))
	a := &API{s: s}
	// /health answers load balancers without a token, and from this
	// controller's own state, even when it has no leader.
	top := http.NewServeMux()
	top.Handle("/health", forAPI(apiHealth, apiHealth, a.HealthHandler()))
	top.Handle("/", withBodyLimit(d.MaxRequestBytes, withEnvelopedRuntimeErrors(s.withConsistency(mux))))
	a.Handler = s.met.instrument(withInstanceID(newInstanceID(), withRequestID(s.Log, top)))
	return a, nil
}

func (s *Server) managementHandler() (http.Handler, error) {
	doc, err := managementSpec()
	if err != nil {
		return nil, fmt.Errorf("load management spec: %w", err)
	}
	a := mgmtops.NewEdgeManagementAPI(doc)
	a.Logger = func(format string, args ...any) { s.Log.Debug(fmt.Sprintf(format, args...)) }
	a.ServeError = func(w http.ResponseWriter, r *http.Request, err error) { writeError(w, r, err) }
	a.ZtSessionAuth = s.authenticateManagement
	a.Oauth2Auth = func(string, []string) (any, error) { return nil, errUnauthorized }
	a.BearerAuthenticator = s.managementBearerAuthenticator
	a.APIAuthorizer = adminOnly{}
	a.ApplicationJwtProducer = runtime.TextProducer()
	s.routeManagement(a)
	s.mgmt = a
	if err := a.Validate(); err != nil {
		return nil, fmt.Errorf("management API: %w", err)
	}
	return a.Serve(routeBuilder), nil
}

// adminOnly lets only administrators and API tokens use the management
// API; read-only tokens only for GET.
type adminOnly struct{}

func (adminOnly) Authorize(r *http.Request, principal any) error {
	p, ok := principal.(*Principal)
	if ok && p.APIToken != nil {
		if p.readOnly() && r.Method != http.MethodGet && r.Method != http.MethodHead {
			return errReadOnlyToken
		}
		return nil
	}
	if !ok || p.Identity == nil || !p.Identity.IsAdmin {
		return errUnauthorized
	}
	if p.mfaPending() && !allowedWhileMFAPending(r, p) {
		return errUnauthorized
	}
	return nil
}

// authenticateToken turns a zt-session token into a Principal.
func (s *Server) authenticateToken(token string) (any, error) {
	if token == "" || len(token) > 512 {
		return nil, errUnauthorized
	}
	var p Principal
	var lastUse time.Time
	hash := auth.TokenHash(token)
	// A pending login is looked for first: it stops pending only once its
	// session is committed, so missing it means the store has the session
	// (or never will).
	pending := s.pending.find(hash)
	err := s.State.View(func(tx *store.Tx) error {
		var sess *store.APISession
		if pending != nil {
			sess = pending
		} else {
			id, ok := tx.Lookup(store.APISessions, "token", hash)
			if !ok {
				return errUnauthorized
			}
			var err error
			if sess, err = store.Peek[*store.APISession](tx, store.APISessions, id); err != nil {
				return errUnauthorized
			}
		}
		identity, err := store.Peek[*store.Identity](tx, store.Identities, sess.IdentityID)
		if err != nil {
			return errUnauthorized
		}
		p = Principal{Session: sess, Identity: identity, Token: token}
		lastUse = s.lastActivity(tx, sess)
		if sess.IsMFARequired && !sess.IsMFAComplete {
			m, found := mfaOf(tx, identity.ID)
			p.MFAEnrolled = found && m.IsVerified
		}
		return nil
	})
	if err != nil {
		return nil, errUnauthorized
	}
	now := time.Now()
	if s.sessionEnded(p.Session, lastUse, now) {
		return nil, errUnauthorized
	}
	if identityDisabled(p.Identity, now) {
		return nil, errUnauthorized
	}
	s.Activity.Touch(p.Session.ID, now)
	return &p, nil
}

func identityDisabled(i *store.Identity, now time.Time) bool { return i.IsDisabled(now) }

// lastActivity is the latest use of an API session known here: its last
// update, the uses the cluster recorded (when tx is given) and the uses seen
// by this node.
func (s *Server) lastActivity(tx *store.Tx, sess *store.APISession) time.Time {
	last := sess.UpdatedAt
	if tx != nil {
		if rec, err := store.Peek[*store.APISessionActivity](tx, store.APISessionActivities, sess.ID); err == nil && rec.LastActivityAt.After(last) {
			last = rec.LastActivityAt
		}
	}
	if u, ok := s.Activity.Last(sess.ID); ok && u.At.After(last) {
		last = u.At
	}
	return last
}

func principalOf(p any) *Principal {
	pr, _ := p.(*Principal)
	return pr
}

// withEnvelopedRuntimeErrors rewrites the plain-text answers the go-openapi
// runtime writes for operations without a handler (501) into the envelope.
func withEnvelopedRuntimeErrors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(&envelopeWriter{ResponseWriter: w, r: r}, r)
	})
}

type envelopeWriter struct {
	http.ResponseWriter
	r        *http.Request
	swallow  bool
	buffered bytes.Buffer
}

func (e *envelopeWriter) WriteHeader(status int) {
	if status == http.StatusNotImplemented {
		e.swallow = true
		writeError(e.ResponseWriter, e.r, &APIError{Status: 501, Code: "NOT_IMPLEMENTED", Message: "this operation is not implemented by this controller"})
		return
	}
	e.ResponseWriter.WriteHeader(status)
}

func (e *envelopeWriter) Write(p []byte) (int, error) {
	if e.swallow {
		e.buffered.Write(p)
		return len(p), nil
	}
	return e.ResponseWriter.Write(p)
}

// Unwrap lets the error envelope find the request's writer beneath.
func (e *envelopeWriter) Unwrap() http.ResponseWriter { return e.ResponseWriter }

func (e *envelopeWriter) Flush() {
	if f, ok := e.ResponseWriter.(http.Flusher); ok && !e.swallow {
		f.Flush()
	}
}

// requestContext gives handlers a context bounded by the request.
// A management write made with it is audited: its changes are recorded
// with the caller as their actor (state.WithActor).
func requestContext(r *http.Request) context.Context {
	if r == nil {
		return context.Background()
	}
	ctx := r.Context()
	if r.Method == http.MethodGet || r.Method == http.MethodHead || !strings.HasPrefix(r.URL.Path, managementBase+"/") {
		return ctx
	}
	if _, ok := state.ActorFrom(ctx); ok {
		return ctx
	}
	p := principalOf(middleware.SecurityPrincipalFrom(r))
	if p == nil || (p.Identity == nil && p.APIToken == nil) {
		return ctx
	}
	typ, id, name := p.Actor()
	return state.WithActor(ctx, command.Actor{Type: typ, ID: id, Name: name, Source: clientIP(r), RequestID: requestID(r)})
}

// clientIP is the caller's address without the port.
func clientIP(r *http.Request) string {
	if r == nil {
		return ""
	}
	host := r.RemoteAddr
	if i := strings.LastIndexByte(host, ':'); i > 0 {
		host = host[:i]
	}
	return strings.Trim(host, "[]")
}

var _ middleware.Responder = respond{}
var _ = errors.New

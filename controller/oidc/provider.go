// Package oidc is the controller's OpenID Connect provider: the edge-oidc
// API of OpenZiti v1.x and later controllers, which its SDKs (the C SDK
// behind ziti-edge-tunnel and the Python, Node, Swift and Android SDKs, and
// the Go SDK) use instead of POST /authenticate when /version lists the
// OIDC_AUTH capability.
//
// The flow is the authorization code grant with PKCE (S256) for public
// clients ("openziti", "native") redirecting to a loopback callback, in
// which the credential is the client certificate of the TLS connection, a
// password, or an external JWT:
//
//	GET|POST /oidc/authorize?client_id&redirect_uri&code_challenge&state...
//	    → 302 /oidc/login/{cert|username|ext-jwt}?authRequestID=ID
//	POST /oidc/login/{cert|password|username|ext-jwt}?id=ID   (JSON or form)
//	    → 302 /oidc/authorize/callback?id=ID, or 200 {"authQueries": [...]}
//	      with totp-required: true, then POST /oidc/login/totp {id, code}
//	GET /oidc/authorize/callback?id=ID → 302 redirect_uri?state=S&code=C
//	POST /oidc/oauth/token (also /oidc/token): authorization_code,
//	    refresh_token, or token exchange (RFC 8693) of a refresh or access
//	    token → {access_token, refresh_token, id_token, expires_in}
//	POST /oidc/revoke (also /oidc/oauth/revoke), GET|POST /oidc/end_session
//	GET /oidc/keys, /oidc/userinfo, /oidc/.well-known/openid-configuration
//
// A sign-in opens an API session like POST /authenticate does (same
// credential checks, auth policies, lockouts, MFA and events, through the
// Backend); the tokens name it (z_asid), so it shows up, expires and is
// revoked like any other. Access and refresh tokens are JWTs signed with a
// key every controller derives alike (Keys), so any node and every router
// verifies them; ending the session records a revocation that routers
// receive. Every error is an OAuth error document, never an HTML page or a
// 500.
package oidc

import (
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/ostium-net/ostium/internal/apitoken"
)

// PathPrefix is where the provider is served; /version names it as the
// edge-oidc API.
const PathPrefix = "/oidc"

// Default token lifetimes (OpenZiti's).
const (
	DefaultAccessTokenLifetime  = 30 * time.Minute
	DefaultRefreshTokenLifetime = 24 * time.Hour
	DefaultIDTokenLifetime      = 30 * time.Minute
	// MaxAccessTokenLifetime bounds a configured access token lifetime: a
	// revocation must be kept that long.
	MaxAccessTokenLifetime = 24 * time.Hour
)

// Scopes.
const (
	ScopeOpenID        = "openid"
	ScopeOfflineAccess = "offline_access"
)

// Token type URNs of RFC 8693.
const (
	TokenTypeAccess   = "urn:ietf:params:oauth:token-type:access_token"
	TokenTypeRefresh  = "urn:ietf:params:oauth:token-type:refresh_token"
	TokenTypeID       = "urn:ietf:params:oauth:token-type:id_token"
	GrantTypeExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
)

// clients are the public clients OpenZiti's SDKs identify as: the C SDK
// says openziti, the Go SDK native. They are one client under two names
// (a token one obtained the other may refresh).
var clients = map[string]bool{"openziti": true, "native": true}

// sameClient reports whether a and b name the same client.
func sameClient(a, b string) bool { return a == b || (clients[a] && clients[b]) }

// Config configures a Provider.
type Config struct {
	Keys    *Keys
	Backend Backend
	Log     *slog.Logger
	// Advertise is the API's host:port as clients reach it; issuers name it
	// when a request's Host cannot be used.
	Advertise string
	// Token lifetimes; zero takes the defaults.
	AccessTokenLifetime  time.Duration
	RefreshTokenLifetime time.Duration
	IDTokenLifetime      time.Duration
	// RedirectURIs are redirect URIs allowed besides the loopback callbacks
	// of native clients (http://localhost|127.0.0.1|[::1]:<any port>/auth/callback).
	RedirectURIs []string
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
}

// Provider serves the OIDC endpoints.
type Provider struct {
	cfg     Config
	pending *pendingRequests
	mux     *http.ServeMux
}

// New builds a Provider.
func New(cfg Config) *Provider {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.AccessTokenLifetime <= 0 {
		cfg.AccessTokenLifetime = DefaultAccessTokenLifetime
	}
	cfg.AccessTokenLifetime = min(cfg.AccessTokenLifetime, MaxAccessTokenLifetime)
	if cfg.RefreshTokenLifetime <= 0 {
		cfg.RefreshTokenLifetime = DefaultRefreshTokenLifetime
	}
	if cfg.IDTokenLifetime <= 0 {
		cfg.IDTokenLifetime = DefaultIDTokenLifetime
	}
	p := &Provider{cfg: cfg, pending: newPendingRequests(maxPending), mux: http.NewServeMux()}
	p.routes()
	return p
}

func (p *Provider) routes() {
	m := p.mux
	discovery := http.HandlerFunc(p.discovery)
	m.Handle("GET /.well-known/openid-configuration", discovery)
	m.Handle("GET "+PathPrefix+"/.well-known/openid-configuration", discovery)
	m.HandleFunc("GET "+PathPrefix+"/keys", p.keys)
	for _, path := range []string{"/authorize", "/authorization"} {
		m.HandleFunc("GET "+PathPrefix+path, p.authorize)
		m.HandleFunc("POST "+PathPrefix+path, p.authorize)
	}
	m.HandleFunc("GET "+PathPrefix+"/authorize/callback", p.callback)
	for _, method := range []string{"password", "username", "cert", "ext-jwt"} {
		m.HandleFunc("GET "+PathPrefix+"/login/"+method, p.loginPage)
		m.HandleFunc("POST "+PathPrefix+"/login/"+method, p.login)
	}
	m.HandleFunc("POST "+PathPrefix+"/login/totp", p.totp)
	m.HandleFunc("GET "+PathPrefix+"/login/auth-queries", p.authQueries)
	for _, path := range []string{"/oauth/token", "/token"} {
		m.HandleFunc("POST "+PathPrefix+path, p.token)
	}
	for _, path := range []string{"/revoke", "/oauth/revoke"} {
		m.HandleFunc("POST "+PathPrefix+path, p.revoke)
	}
	m.HandleFunc("GET "+PathPrefix+"/userinfo", p.userinfo)
	m.HandleFunc("POST "+PathPrefix+"/userinfo", p.userinfo)
	m.HandleFunc("GET "+PathPrefix+"/end_session", p.endSession)
	m.HandleFunc("POST "+PathPrefix+"/end_session", p.endSession)
	m.HandleFunc("GET "+PathPrefix+"/logged-out", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("signed out\n"))
	})
}

// ServeHTTP answers the OIDC endpoints; anything else under /oidc is an
// OAuth error, as is a method an endpoint does not take.
func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h, pattern := p.mux.Handler(r)
	if pattern == "" {
		status := http.StatusNotFound
		desc := "no such OIDC endpoint"
		// The mux answers 405 for a known path with another method.
		rec := &statusOnly{header: http.Header{}}
		h.ServeHTTP(rec, r)
		if rec.status == http.StatusMethodNotAllowed {
			status, desc = http.StatusMethodNotAllowed, r.Method+" is not allowed on this endpoint"
			if allow := rec.header.Get("Allow"); allow != "" {
				w.Header().Set("Allow", allow)
			}
		}
		writeError(w, newError(status, ErrCodeInvalidRequest, desc))
		return
	}
	h.ServeHTTP(w, r)
}

// statusOnly records what the mux's own not-found and not-allowed handlers
// would answer.
type statusOnly struct {
	header http.Header
	status int
}

func (s *statusOnly) Header() http.Header         { return s.header }
func (s *statusOnly) Write(b []byte) (int, error) { return len(b), nil }
func (s *statusOnly) WriteHeader(status int)      { s.status = status }

// issuer is the provider's URL as the client addressed it: OpenZiti's SDKs
// derive the issuer they expect from the address they use.
func (p *Provider) issuer(r *http.Request) string {
	host := r.Host
	if !validHost(host) {
		host = p.cfg.Advertise
	}
	return "https://" + host + PathPrefix
}

// validHost accepts a host[:port] of a DNS name or an IP address.
func validHost(hostport string) bool {
	if hostport == "" || len(hostport) > 300 {
		return false
	}
	host := hostport
	if h, port, err := net.SplitHostPort(hostport); err == nil {
		if port == "" || strings.Trim(port, "0123456789") != "" {
			return false
		}
		host = h
	}
	if net.ParseIP(strings.Trim(host, "[]")) != nil {
		return true
	}
	for _, label := range strings.Split(host, ".") {
		if label == "" || len(label) > 63 || strings.Trim(strings.ToLower(label), "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
			return false
		}
	}
	return true
}

func (p *Provider) now() time.Time { return p.cfg.Now() }

// discovery answers the OpenID Provider Metadata.
func (p *Provider) discovery(w http.ResponseWriter, r *http.Request) {
	iss := p.issuer(r)
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                     iss,
		"authorization_endpoint":                     iss + "/authorize",
		"token_endpoint":                             iss + "/oauth/token",
		"userinfo_endpoint":                          iss + "/userinfo",
		"revocation_endpoint":                        iss + "/revoke",
		"end_session_endpoint":                       iss + "/end_session",
		"jwks_uri":                                   iss + "/keys",
		"scopes_supported":                           []string{ScopeOpenID, ScopeOfflineAccess},
		"response_types_supported":                   []string{"code"},
		"response_modes_supported":                   []string{"query"},
		"grant_types_supported":                      []string{"authorization_code", "refresh_token", GrantTypeExchange},
		"subject_types_supported":                    []string{"public"},
		"id_token_signing_alg_values_supported":      []string{apitoken.Algorithm.String()},
		"token_endpoint_auth_methods_supported":      []string{"none", "client_secret_basic", "client_secret_post"},
		"revocation_endpoint_auth_methods_supported": []string{"none", "client_secret_basic", "client_secret_post"},
		"code_challenge_methods_supported":           []string{"S256"},
		"claims_supported": []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "amr", "nonce", "azp", "sid", "name",
			"z_asid", "z_ia", "z_eid", "z_ct", "z_cfs", "z_ice", "z_t"},
		"request_parameter_supported":     false,
		"request_uri_parameter_supported": false,
	})
}

func (p *Provider) keys(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Cache-Control", "max-age=300")
	_, _ = w.Write(p.cfg.Keys.KeySet())
}

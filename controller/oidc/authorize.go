package oidc

import (
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// Bounds of what a client sends.
const (
	maxFormBytes  = 64 << 10
	maxParamBytes = 2048
)

// authorizeParams are the parameters of an authorization request.
type authorizeParams struct {
	ClientID, RedirectURI, ResponseType, Scope, State, Nonce string
	Challenge, ChallengeMethod, Method, ResponseMode         string
}

// parseForm reads the query and, for a POST, a form body, within bounds.
func parseForm(w http.ResponseWriter, r *http.Request) *Error {
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	}
	// A body of another type is not read: the C SDK posts its
	// authorization request with the parameters in the query.
	if err := r.ParseForm(); err != nil {
		return badRequest("the request's parameters cannot be read: " + err.Error())
	}
	for k, vs := range r.Form {
		if len(k) > maxParamBytes {
			return badRequest("a parameter name is too long")
		}
		for _, v := range vs {
			if len(v) > maxParamBytes*8 {
				return badRequest("parameter " + k + " is too long")
			}
		}
	}
	return nil
}

// single returns the one value of a parameter; more than one is an error
// (RFC 6749 §3.1).
func single(form url.Values, name string) (string, *Error) {
	vs := form[name]
	switch {
	case len(vs) == 0:
		return "", nil
	case len(vs) > 1:
		return "", badRequest("parameter " + name + " is given more than once")
	case len(vs[0]) > maxParamBytes:
		return "", badRequest("parameter " + name + " is too long")
	}
	return vs[0], nil
}

func readAuthorizeParams(form url.Values) (authorizeParams, *Error) {
	var a authorizeParams
	for name, dst := range map[string]*string{
		"client_id": &a.ClientID, "redirect_uri": &a.RedirectURI, "response_type": &a.ResponseType, "scope": &a.Scope,
		"state": &a.State, "nonce": &a.Nonce, "code_challenge": &a.Challenge, "code_challenge_method": &a.ChallengeMethod,
		"method": &a.Method, "response_mode": &a.ResponseMode,
	} {
		v, err := single(form, name)
		if err != nil {
			return a, err
		}
		*dst = v
	}
	return a, nil
}

// redirectAllowed accepts the loopback callbacks of native clients on any
// port (RFC 8252 §7.3) and the configured URIs.
func (p *Provider) redirectAllowed(raw string) bool {
	if raw == "" || len(raw) > maxParamBytes {
		return false
	}
	if slices.Contains(p.cfg.RedirectURIs, raw) {
		return true
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.User != nil || u.Fragment != "" || u.Path != "/auth/callback" {
		return false
	}
	switch host := u.Hostname(); {
	case host == "localhost":
	case net.ParseIP(host) != nil && net.ParseIP(host).IsLoopback():
	default:
		return false
	}
	if port := u.Port(); port != "" && strings.Trim(port, "0123456789") != "" {
		return false
	}
	return true
}

// authorize starts a sign-in: it checks the client, its redirect URI and
// its PKCE challenge, files the request, and sends the client to the login
// endpoint of its credential (a certificate on the connection: cert; a
// bearer JWT: ext-jwt; otherwise: a password).
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		writeError(w, err)
		return
	}
	a, perr := readAuthorizeParams(r.Form)
	if perr != nil {
		writeError(w, perr)
		return
	}
	// Until client and redirect URI are trusted, errors go to the caller,
	// never to the redirect URI (RFC 6749 §4.1.2.1).
	if !clients[a.ClientID] {
		writeError(w, newError(http.StatusBadRequest, ErrCodeUnauthorizedClient, "unknown client_id "+quote(a.ClientID)))
		return
	}
	if !p.redirectAllowed(a.RedirectURI) {
		writeError(w, badRequest("redirect_uri is missing or not allowed for this client"))
		return
	}
	redirectErr := func(e *Error) {
		q := url.Values{"error": {e.Code}, "error_description": {e.Description}}
		if a.State != "" {
			q.Set("state", a.State)
		}
		http.Redirect(w, r, withQuery(a.RedirectURI, q.Encode()), http.StatusFound)
	}
	switch {
	case a.ResponseType != "code":
		redirectErr(newError(http.StatusBadRequest, ErrCodeUnsupportedResponseType, "response_type must be code"))
		return
	case a.ResponseMode != "" && a.ResponseMode != "query":
		redirectErr(badRequest("response_mode must be query"))
		return
	case a.Challenge == "":
		redirectErr(badRequest("code_challenge is required (PKCE)"))
		return
	case a.ChallengeMethod != "S256":
		redirectErr(badRequest("code_challenge_method must be S256"))
		return
	case !isBase64URL(a.Challenge) || len(a.Challenge) != 43:
		redirectErr(badRequest("code_challenge must be the base64url SHA-256 of the code verifier"))
		return
	}
	scopes := strings.Fields(a.Scope)
	if !slices.Contains(scopes, ScopeOpenID) {
		redirectErr(newError(http.StatusBadRequest, ErrCodeInvalidScope, "scope must include openid"))
		return
	}
	method := a.Method
	switch method {
	case "cert", "password", "ext-jwt":
	case "", "default":
		method = "password"
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			method = "cert"
		} else if strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
			method = "ext-jwt"
		}
	default:
		redirectErr(badRequest("method must be cert, password or ext-jwt"))
		return
	}
	var known []string
	for _, s := range scopes {
		if s == ScopeOpenID || s == ScopeOfflineAccess {
			known = append(known, s) // others are ignored (RFC 6749 §3.3)
		}
	}
	ar := &authRequest{clientID: a.ClientID, redirectURI: a.RedirectURI, state: a.State, nonce: a.Nonce,
		challenge: a.Challenge, scopes: known, method: method}
	p.pending.add(ar, p.now())
	page := method
	if page == "password" {
		page = "username"
	}
	http.Redirect(w, r, PathPrefix+"/login/"+page+"?authRequestID="+url.QueryEscape(ar.id), http.StatusFound)
}

// callback issues the authorization code of a completed sign-in and sends
// the client to its redirect URI. The code is the last parameter: OpenZiti's
// C SDK reads everything after "code=" as the code.
func (p *Provider) callback(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		writeError(w, err)
		return
	}
	id, err := single(r.Form, "id")
	if err != nil {
		writeError(w, err)
		return
	}
	ar, code, e := p.pending.issueCode(id, p.now())
	if e != nil {
		writeError(w, e)
		return
	}
	q := ""
	if ar.state != "" {
		q = "state=" + url.QueryEscape(ar.state) + "&"
	}
	q += "code=" + url.QueryEscape(code)
	http.Redirect(w, r, withQuery(ar.redirectURI, q), http.StatusFound)
}

func withQuery(uri, query string) string {
	if strings.Contains(uri, "?") {
		return uri + "&" + query
	}
	return uri + "?" + query
}

func isBase64URL(s string) bool {
	return s != "" && strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == ""
}

func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return `"` + s + `"`
}

package oidc

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ostium-net/ostium/internal/apitoken"
)

// clientOf authenticates the public client of a token, revocation or end
// session request: its client_id in the form or as HTTP Basic user with an
// empty secret (public clients have none). Both, when given, must agree.
func clientOf(r *http.Request) (string, *Error) {
	formID, err := single(r.PostForm, "client_id")
	if err != nil {
		return "", err
	}
	if secret, _ := single(r.PostForm, "client_secret"); secret != "" {
		return "", newError(http.StatusUnauthorized, ErrCodeInvalidClient, "public clients have no secret")
	}
	id := formID
	if auth := r.Header.Get("Authorization"); auth != "" {
		user, secret, ok := basicAuth(auth)
		if !ok {
			return "", newError(http.StatusUnauthorized, ErrCodeInvalidClient, "the Authorization header is not HTTP Basic client authentication")
		}
		if secret != "" || (formID != "" && formID != user) {
			return "", newError(http.StatusUnauthorized, ErrCodeInvalidClient, "client authentication failed")
		}
		id = user
	}
	if !clients[id] {
		return "", newError(http.StatusUnauthorized, ErrCodeInvalidClient, "unknown client_id "+quote(id))
	}
	return id, nil
}

// basicAuth reads "Basic base64(user:secret)"; the C SDK encodes it with
// the URL-safe alphabet.
func basicAuth(header string) (user, secret string, ok bool) {
	enc, found := strings.CutPrefix(header, "Basic ")
	if !found || len(enc) > 1024 {
		return "", "", false
	}
	var raw []byte
	var err error
	for _, e := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if raw, err = e.DecodeString(strings.TrimSpace(enc)); err == nil {
			break
		}
	}
	if err != nil {
		return "", "", false
	}
	u, s, found := strings.Cut(string(raw), ":")
	if !found {
		return "", "", false
	}
	for _, part := range []*string{&u, &s} {
		if v, err := url.QueryUnescape(*part); err == nil { // RFC 6749 §2.3.1
			*part = v
		}
	}
	return u, s, true
}

// readTokenForm reads a token endpoint request: a form POST.
func readTokenForm(w http.ResponseWriter, r *http.Request) *Error {
	mt := strings.TrimSpace(strings.SplitN(r.Header.Get("Content-Type"), ";", 2)[0])
	if mt != "application/x-www-form-urlencoded" {
		return badRequest("the request must be a form (application/x-www-form-urlencoded)")
	}
	return parseForm(w, r)
}

// tokenResponse is the answer of the token endpoint.
type tokenResponse struct {
	AccessToken     string `json:"access_token"`
	TokenType       string `json:"token_type"`
	ExpiresIn       int64  `json:"expires_in,omitempty"`
	RefreshToken    string `json:"refresh_token,omitempty"`
	IDToken         string `json:"id_token,omitempty"`
	Scope           string `json:"scope,omitempty"`
	IssuedTokenType string `json:"issued_token_type,omitempty"`
}

// session is what tokens are issued from: the grant of an API session and
// what the client asked for.
type session struct {
	grant       *Grant
	clientID    string
	scopes      []string
	authMethods []string
	nonce       string
	authTime    time.Time
}

// token answers the token endpoint.
func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	if err := readTokenForm(w, r); err != nil {
		writeError(w, err)
		return
	}
	clientID, cerr := clientOf(r)
	if cerr != nil {
		writeError(w, cerr)
		return
	}
	grantType, err := single(r.PostForm, "grant_type")
	if err != nil {
		writeError(w, err)
		return
	}
	var resp *tokenResponse
	var terr error
	switch grantType {
	case "authorization_code":
		resp, terr = p.exchangeCode(r, clientID)
	case "refresh_token":
		resp, terr = p.refresh(r, clientID)
	case GrantTypeExchange:
		resp, terr = p.exchangeToken(r, clientID)
	case "":
		terr = badRequest("grant_type is required")
	default:
		terr = newError(http.StatusBadRequest, ErrCodeUnsupportedGrantType, "grant_type "+quote(grantType)+" is not supported")
	}
	if terr != nil {
		writeError(w, terr)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// exchangeCode redeems an authorization code (RFC 6749 §4.1.3, RFC 7636).
func (p *Provider) exchangeCode(r *http.Request, clientID string) (*tokenResponse, error) {
	code, err := single(r.PostForm, "code")
	if err != nil {
		return nil, err
	}
	// OpenZiti's C SDK takes the rest of its callback's query as the code.
	code, _, _ = strings.Cut(code, "&")
	verifier, err := single(r.PostForm, "code_verifier")
	if err != nil {
		return nil, err
	}
	redirect, err := single(r.PostForm, "redirect_uri")
	if err != nil {
		return nil, err
	}
	if code == "" || verifier == "" {
		return nil, badRequest("code and code_verifier are required")
	}
	ar, replayed, ok := p.pending.redeem(code, p.now())
	switch {
	case !ok:
		return nil, invalidGrant("the authorization code is unknown, used or expired")
	case replayed:
		// A code used twice was stolen or replayed: what the first use got
		// is ended too (RFC 6749 §4.1.2).
		_ = p.cfg.Backend.EndSession(r, ar.grant.APISessionID)
		return nil, invalidGrant("the authorization code was used already; its sign-in has been ended")
	case !sameClient(ar.clientID, clientID):
		return nil, invalidGrant("the authorization code was issued to another client")
	case redirect != ar.redirectURI:
		return nil, invalidGrant("redirect_uri does not match the authorization request")
	case !pkceMatches(verifier, ar.challenge):
		return nil, invalidGrant("code_verifier does not match the code challenge")
	}
	grant, gerr := p.cfg.Backend.Session(r, ar.grant.APISessionID)
	if gerr != nil {
		return nil, gerr
	}
	return p.issue(r, session{grant: grant, clientID: clientID, scopes: ar.scopes, authMethods: ar.authMethods,
		nonce: ar.nonce, authTime: grant.AuthTime}, true)
}

// pkceMatches checks an S256 code verifier (RFC 7636 §4.6).
func pkceMatches(verifier, challenge string) bool {
	if len(verifier) < 43 || len(verifier) > 128 {
		return false
	}
	sum := sha256.Sum256([]byte(verifier))
	want := base64.RawURLEncoding.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(want), []byte(challenge)) == 1
}

// refresh answers the refresh_token grant (RFC 6749 §6).
func (p *Provider) refresh(r *http.Request, clientID string) (*tokenResponse, error) {
	token, err := single(r.PostForm, "refresh_token")
	if err != nil {
		return nil, err
	}
	s, serr := p.sessionOfRefresh(r, clientID, token)
	if serr != nil {
		return nil, serr
	}
	return p.issue(r, s, true)
}

// sessionOfRefresh checks a refresh token and the API session it names.
func (p *Provider) sessionOfRefresh(r *http.Request, clientID, token string) (session, error) {
	if token == "" {
		return session{}, badRequest("refresh_token is required")
	}
	c, err := apitoken.Verify(p.cfg.Keys.Public(), token, apitoken.TypeRefresh, apitoken.Audience, p.now())
	if err != nil {
		return session{}, invalidGrant("the refresh token is not valid: " + err.Error())
	}
	if !sameClient(c.ClientID, clientID) {
		return session{}, invalidGrant("the refresh token was issued to another client")
	}
	grant, gerr := p.cfg.Backend.Session(r, c.APISessionID)
	if gerr != nil {
		return session{}, gerr
	}
	if grant.IdentityID != c.Subject {
		return session{}, invalidGrant("the refresh token does not match its API session")
	}
	return session{grant: grant, clientID: clientID, scopes: c.Scopes, authMethods: c.AuthMethods, authTime: time.Unix(c.AuthTime, 0)}, nil
}

// exchangeToken answers a token exchange (RFC 8693) as OpenZiti's Go SDK
// refreshes: a refresh (or unexpired access) token for new tokens of the
// requested type.
func (p *Provider) exchangeToken(r *http.Request, clientID string) (*tokenResponse, error) {
	subject, err := single(r.PostForm, "subject_token")
	if err != nil {
		return nil, err
	}
	subjectType, err := single(r.PostForm, "subject_token_type")
	if err != nil {
		return nil, err
	}
	requested, err := single(r.PostForm, "requested_token_type")
	if err != nil {
		return nil, err
	}
	var s session
	switch subjectType {
	case TokenTypeRefresh:
		var serr error
		if s, serr = p.sessionOfRefresh(r, clientID, subject); serr != nil {
			return nil, serr
		}
	case TokenTypeAccess:
		c, verr := apitoken.Verify(p.cfg.Keys.Public(), subject, apitoken.TypeAccess, apitoken.Audience, p.now())
		if verr != nil {
			return nil, invalidGrant("the subject token is not valid: " + verr.Error())
		}
		grant, gerr := p.cfg.Backend.Session(r, c.APISessionID)
		if gerr != nil {
			return nil, gerr
		}
		if grant.IdentityID != c.Subject {
			return nil, invalidGrant("the subject token does not match its API session")
		}
		s = session{grant: grant, clientID: clientID, scopes: c.Scopes, authMethods: c.AuthMethods, authTime: time.Unix(c.AuthTime, 0)}
	case "":
		return nil, badRequest("subject_token_type is required")
	default:
		return nil, badRequest("subject_token_type must be a refresh or an access token")
	}
	switch requested {
	case TokenTypeRefresh, "":
		resp, ierr := p.issue(r, s, subjectType == TokenTypeRefresh || slices.Contains(s.scopes, ScopeOfflineAccess))
		if ierr != nil {
			return nil, ierr
		}
		resp.IssuedTokenType = TokenTypeRefresh
		if resp.RefreshToken == "" {
			resp.IssuedTokenType = TokenTypeAccess
		}
		return resp, nil
	case TokenTypeAccess:
		resp, ierr := p.issue(r, s, false)
		if ierr != nil {
			return nil, ierr
		}
		resp.IDToken, resp.IssuedTokenType = "", TokenTypeAccess
		return resp, nil
	case TokenTypeID:
		resp, ierr := p.issue(r, s, false)
		if ierr != nil {
			return nil, ierr
		}
		// The ID token travels in access_token, token type N_A (RFC 8693 §2.2.1).
		return &tokenResponse{AccessToken: resp.IDToken, TokenType: "N_A", ExpiresIn: int64(p.cfg.IDTokenLifetime.Seconds()),
			IssuedTokenType: TokenTypeID}, nil
	default:
		return nil, badRequest("requested_token_type must be an access, refresh or ID token")
	}
}

// issue signs the tokens of a session: an access token, a refresh token
// when offline access was asked for (and withRefresh), and an ID token.
func (p *Provider) issue(r *http.Request, s session, withRefresh bool) (*tokenResponse, error) {
	now := p.now()
	g := s.grant
	lifetime := p.cfg.AccessTokenLifetime
	if g.AccessTokenLifetime > 0 {
		lifetime = min(lifetime, g.AccessTokenLifetime)
	}
	iss := p.issuer(r)
	common := apitoken.Claims{Issuer: iss, Subject: g.IdentityID, IssuedAt: now.Unix(), ClientID: s.clientID,
		AuthTime: s.authTime.Unix(), AuthMethods: s.authMethods, Scopes: s.scopes, APISessionID: g.APISessionID,
		ExternalID: g.ExternalID, IsAdmin: g.IsAdmin, ConfigTypes: g.ConfigTypes, CertFingerprints: g.CertFingerprints,
		IsCertExtendable: g.CertExtendable, AuthenticatorID: g.AuthenticatorID}
	access := common
	access.Type, access.ID, access.Audience = apitoken.TypeAccess, randomID(), apitoken.Audiences{apitoken.Audience}
	access.ExpiresAt = now.Add(lifetime).Unix()
	at, err := p.cfg.Keys.Sign(&access)
	if err != nil {
		return nil, err
	}
	out := &tokenResponse{AccessToken: at, TokenType: "Bearer", ExpiresIn: int64(lifetime.Seconds()), Scope: strings.Join(s.scopes, " ")}
	if withRefresh && slices.Contains(s.scopes, ScopeOfflineAccess) {
		refresh := common
		refresh.Type, refresh.ID, refresh.Audience = apitoken.TypeRefresh, randomID(), apitoken.Audiences{apitoken.Audience}
		refresh.ExpiresAt = now.Add(p.cfg.RefreshTokenLifetime).Unix()
		if out.RefreshToken, err = p.cfg.Keys.Sign(&refresh); err != nil {
			return nil, err
		}
	}
	if slices.Contains(s.scopes, ScopeOpenID) {
		id := apitoken.Claims{Issuer: iss, Subject: g.IdentityID, Audience: apitoken.Audiences{s.clientID}, AuthorizedParty: s.clientID,
			IssuedAt: now.Unix(), ExpiresAt: now.Add(p.cfg.IDTokenLifetime).Unix(), AuthTime: s.authTime.Unix(),
			AuthMethods: s.authMethods, Nonce: s.nonce, SessionID: g.APISessionID, Name: g.IdentityName,
			Type: apitoken.TypeID, ID: randomID(), APISessionID: g.APISessionID, IsAdmin: g.IsAdmin, ExternalID: g.ExternalID}
		if out.IDToken, err = p.cfg.Keys.Sign(&id); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// VerifyAccessToken checks an access token's signature, type, audience and
// times; the API session it names is for the caller to check.
func (p *Provider) VerifyAccessToken(token string) (*apitoken.Claims, error) {
	return apitoken.Verify(p.cfg.Keys.Public(), token, apitoken.TypeAccess, apitoken.Audience, p.now())
}

// revoke answers token revocation (RFC 7009): a refresh or access token of
// this provider ends its API session, so every token of that sign-in stops
// working, on routers too. Tokens that are not valid are not an error.
func (p *Provider) revoke(w http.ResponseWriter, r *http.Request) {
	if err := readTokenForm(w, r); err != nil {
		writeError(w, err)
		return
	}
	if _, err := clientOf(r); err != nil {
		writeError(w, err)
		return
	}
	token, err := single(r.PostForm, "token")
	if err != nil {
		writeError(w, err)
		return
	}
	if token == "" {
		writeError(w, badRequest("token is required"))
		return
	}
	if c, perr := apitoken.Parse(p.cfg.Keys.Public(), token); perr == nil && c.APISessionID != "" &&
		(c.Type == apitoken.TypeAccess || c.Type == apitoken.TypeRefresh) && c.ExpiresAt > p.now().Unix() {
		if err := p.cfg.Backend.EndSession(r, c.APISessionID); err != nil {
			writeError(w, err)
			return
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// bearerOf reads an access token from the Authorization header or, for a
// form POST, the access_token field (RFC 6750 §2).
func bearerOf(r *http.Request) string {
	if v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return strings.TrimSpace(v)
	}
	if r.Method == http.MethodPost {
		return r.PostForm.Get("access_token")
	}
	return ""
}

// userinfo answers the claims of the identity an access token names.
func (p *Provider) userinfo(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		writeError(w, err)
		return
	}
	token := bearerOf(r)
	if token == "" {
		writeError(w, newError(http.StatusUnauthorized, ErrCodeInvalidToken, "no access token"))
		return
	}
	c, err := p.VerifyAccessToken(token)
	if err != nil {
		writeError(w, newError(http.StatusUnauthorized, ErrCodeInvalidToken, err.Error()))
		return
	}
	g, gerr := p.cfg.Backend.Session(r, c.APISessionID)
	if gerr != nil {
		if errors.Is(gerr, ErrSessionEnded) {
			gerr = newError(http.StatusUnauthorized, ErrCodeInvalidToken, "the sign-in has ended")
		}
		writeError(w, gerr)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"sub": g.IdentityID, "name": g.IdentityName, "z_asid": g.APISessionID, "z_ia": g.IsAdmin})
}

// endSession is RP-initiated logout: the ID token hint names the sign-in
// to end; the client may be sent back to an allowed redirect URI.
func (p *Provider) endSession(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		writeError(w, err)
		return
	}
	hint, err := single(r.Form, "id_token_hint")
	if err != nil {
		writeError(w, err)
		return
	}
	back, err := single(r.Form, "post_logout_redirect_uri")
	if err != nil {
		writeError(w, err)
		return
	}
	state, err := single(r.Form, "state")
	if err != nil {
		writeError(w, err)
		return
	}
	if hint == "" {
		writeError(w, badRequest("id_token_hint is required"))
		return
	}
	// An expired ID token still names the sign-in to end.
	c, perr := apitoken.Parse(p.cfg.Keys.Public(), hint)
	if perr != nil || c.Type != apitoken.TypeID || c.SessionID == "" {
		writeError(w, badRequest("id_token_hint is not an ID token of this provider"))
		return
	}
	target := PathPrefix + "/logged-out"
	if back != "" {
		if !p.redirectAllowed(back) {
			writeError(w, badRequest("post_logout_redirect_uri is not allowed"))
			return
		}
		target = back
		if state != "" {
			target = withQuery(back, "state="+url.QueryEscape(state))
		}
	}
	if err := p.cfg.Backend.EndSession(r, c.SessionID); err != nil {
		writeError(w, err)
		return
	}
	http.Redirect(w, r, target, http.StatusFound)
}

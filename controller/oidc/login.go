package oidc

import (
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
)

// Headers of the login endpoints, as OpenZiti's SDKs read them.
const (
	HeaderAuthRequestID = "auth-request-id"
	HeaderTOTPRequired  = "totp-required"
)

// loginBody is what a login or TOTP request posts, as JSON (the C SDK) or
// as a form (the Go SDK, browsers).
type loginBody struct {
	ID          string
	Username    string
	Password    string
	Code        string
	ConfigTypes []string
	EnvInfo     map[string]string
	SDKInfo     map[string]string
}

// Bounds of a login body's lists and maps.
const (
	maxConfigTypes = 64
	maxInfoEntries = 32
	maxInfoValue   = 512
)

// form field names of the Go SDK's env and SDK info.
var (
	envFormFields = map[string]string{"envArch": "arch", "envOs": "os", "envOsRelease": "osRelease", "envOsVersion": "osVersion"}
	sdkFormFields = map[string]string{"sdkAppID": "appId", "sdkAppVersion": "appVersion", "sdkBranch": "branch",
		"sdkRevision": "revision", "sdkType": "type", "sdkVersion": "version"}
)

// errBadLoginBody explains a body that cannot be read.
var errBadLoginBody = errors.New("the request body is not a login")

// parseLoginBody reads a login body of contentType. The request id may
// also come in the query (query); both, when given, must agree.
func parseLoginBody(contentType string, body []byte, query url.Values) (loginBody, error) {
	var out loginBody
	mt := ""
	if contentType != "" {
		var err error
		if mt, _, err = mime.ParseMediaType(contentType); err != nil {
			return out, fmt.Errorf("%w: content type: %v", errBadLoginBody, err)
		}
	}
	switch {
	case len(strings.TrimSpace(string(body))) == 0:
	case mt == "application/json":
		var j struct {
			ID             string         `json:"id"`
			AuthRequestID  string         `json:"authRequestId"`
			AuthRequestID2 string         `json:"authRequestID"`
			Username       string         `json:"username"`
			Password       string         `json:"password"`
			Code           string         `json:"code"`
			ConfigTypes    []string       `json:"configTypes"`
			EnvInfo        map[string]any `json:"envInfo"`
			SDKInfo        map[string]any `json:"sdkInfo"`
		}
		if err := json.Unmarshal(body, &j); err != nil {
			return out, fmt.Errorf("%w: %v", errBadLoginBody, err)
		}
		out = loginBody{ID: firstOf(j.ID, j.AuthRequestID, j.AuthRequestID2), Username: j.Username, Password: j.Password,
			Code: j.Code, ConfigTypes: j.ConfigTypes}
		var err error
		if out.EnvInfo, err = infoMap("envInfo", j.EnvInfo); err != nil {
			return out, err
		}
		if out.SDKInfo, err = infoMap("sdkInfo", j.SDKInfo); err != nil {
			return out, err
		}
	case mt == "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return out, fmt.Errorf("%w: %v", errBadLoginBody, err)
		}
		out = loginBody{ID: firstOf(form.Get("id"), form.Get("authRequestId"), form.Get("authRequestID")),
			Username: form.Get("username"), Password: form.Get("password"), Code: form.Get("code"), ConfigTypes: form["configTypes"]}
		out.EnvInfo, out.SDKInfo = formInfo(form, envFormFields), formInfo(form, sdkFormFields)
	default:
		return out, fmt.Errorf("%w: send application/json or application/x-www-form-urlencoded", errBadLoginBody)
	}
	if q := firstOf(query.Get("id"), query.Get("authRequestID"), query.Get("authRequestId")); q != "" {
		if out.ID != "" && out.ID != q {
			return out, fmt.Errorf("%w: the query and the body name different requests", errBadLoginBody)
		}
		out.ID = q
	}
	if len(out.ConfigTypes) > maxConfigTypes {
		return out, fmt.Errorf("%w: more than %d configTypes", errBadLoginBody, maxConfigTypes)
	}
	for _, s := range append([]string{out.ID, out.Username, out.Password, out.Code}, out.ConfigTypes...) {
		if len(s) > maxParamBytes {
			return out, fmt.Errorf("%w: a value is longer than %d bytes", errBadLoginBody, maxParamBytes)
		}
	}
	return out, nil
}

func firstOf(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// infoMap keeps the scalar entries of a client's env or SDK info.
func infoMap(field string, in map[string]any) (map[string]string, error) {
	if len(in) == 0 {
		return nil, nil
	}
	if len(in) > maxInfoEntries {
		return nil, fmt.Errorf("%w: %s has more than %d entries", errBadLoginBody, field, maxInfoEntries)
	}
	out := map[string]string{}
	for k, v := range in {
		var s string
		switch x := v.(type) {
		case string:
			s = x
		case float64, bool:
			s = fmt.Sprint(x)
		default:
			continue
		}
		if len(s) > maxInfoValue || len(k) > maxInfoValue {
			return nil, fmt.Errorf("%w: %s.%.32s is too long", errBadLoginBody, field, k)
		}
		out[k] = s
	}
	return out, nil
}

func formInfo(form url.Values, fields map[string]string) map[string]string {
	var out map[string]string
	for name, key := range fields {
		if v := form.Get(name); v != "" && len(v) <= maxInfoValue {
			if out == nil {
				out = map[string]string{}
			}
			out[key] = v
		}
	}
	return out
}

// readLogin reads the body of a login or TOTP request.
func readLogin(w http.ResponseWriter, r *http.Request) (loginBody, *Error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxFormBytes))
	if err != nil {
		return loginBody{}, badRequest("the request body cannot be read: " + err.Error())
	}
	b, err := parseLoginBody(r.Header.Get("Content-Type"), body, r.URL.Query())
	if err != nil {
		return b, badRequest(err.Error())
	}
	if b.ID == "" {
		return b, badRequest("the authorization request id (id or authRequestID) is missing")
	}
	return b, nil
}

var errUnknownRequest = badRequest("unknown or expired authorization request; start again at the authorization endpoint")

// loginPage answers GET on a login endpoint: the id header the Go SDK
// reads, and for passwords a form a browser can fill in.
func (p *Provider) loginPage(w http.ResponseWriter, r *http.Request) {
	id := firstOf(r.URL.Query().Get("authRequestID"), r.URL.Query().Get("id"))
	if !p.pending.with(id, p.now(), func(*authRequest) {}) {
		writeError(w, errUnknownRequest)
		return
	}
	w.Header().Set(HeaderAuthRequestID, id)
	w.Header().Set("Cache-Control", "no-store")
	method := path.Base(r.URL.Path)
	if method == "username" || method == "password" {
		renderPage(w, http.StatusOK, loginPage, pageData{ID: id, Action: PathPrefix + "/login/password"})
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = fmt.Fprintf(w, "POST to this address to sign in with your %s.\n", map[string]string{"cert": "certificate", "ext-jwt": "external JWT (Authorization: Bearer)"}[method])
}

// login checks the primary credential of a sign-in.
func (p *Provider) login(w http.ResponseWriter, r *http.Request) {
	html := wantsHTML(r)
	body, err := readLogin(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	method := path.Base(r.URL.Path)
	if method == "username" {
		method = "password"
	}
	signedIn := false
	if !p.pending.with(body.ID, p.now(), func(ar *authRequest) { signedIn = ar.grant != nil }) {
		writeError(w, errUnknownRequest)
		return
	}
	if signedIn {
		writeError(w, badRequest("this authorization request is signed in already"))
		return
	}
	grant, serr := p.cfg.Backend.SignIn(r, method, Credentials{Username: body.Username, Password: body.Password,
		ConfigTypes: body.ConfigTypes, EnvInfo: body.EnvInfo, SDKInfo: body.SDKInfo}, p.cfg.AccessTokenLifetime)
	if serr != nil {
		if html && method == "password" {
			renderPage(w, asError(serr).Status, loginPage, pageData{ID: body.ID, Action: PathPrefix + "/login/password", Error: asError(serr).Description})
			return
		}
		writeError(w, serr)
		return
	}
	attached := false
	p.pending.with(body.ID, p.now(), func(ar *authRequest) {
		if ar.grant == nil {
			ar.grant, ar.authMethods, attached = grant, []string{method}, true
		}
	})
	if !attached {
		// Another login of the same request won, or the request expired
		// meanwhile: the session opened here has no one to go to.
		_ = p.cfg.Backend.EndSession(r, grant.APISessionID)
		writeError(w, errUnknownRequest)
		return
	}
	if grant.MFAPending {
		if html {
			renderPage(w, http.StatusOK, totpPage, pageData{ID: body.ID, Action: PathPrefix + "/login/totp"})
			return
		}
		writeAuthQueries(w, true)
		return
	}
	http.Redirect(w, r, callbackURL(body.ID), http.StatusFound)
}

func callbackURL(id string) string {
	return PathPrefix + "/authorize/callback?id=" + url.QueryEscape(id)
}

// mfaQuery is the auth query of a pending TOTP step.
func mfaQuery() map[string]any {
	return map[string]any{"typeId": "MFA", "provider": "ziti", "httpMethod": "POST", "httpUrl": PathPrefix + "/login/totp",
		"format": "alphaNumeric", "minLength": 4, "maxLength": 8}
}

// writeAuthQueries answers with the steps that remain.
func writeAuthQueries(w http.ResponseWriter, totp bool) {
	queries := []any{}
	if totp {
		w.Header().Set(HeaderTOTPRequired, "true")
		queries = append(queries, mfaQuery())
	}
	writeJSON(w, http.StatusOK, map[string]any{"authQueries": queries})
}

// authQueries lists the steps that remain of a sign-in.
func (p *Provider) authQueries(w http.ResponseWriter, r *http.Request) {
	id := firstOf(r.URL.Query().Get("id"), r.URL.Query().Get("authRequestID"))
	pending := false
	if !p.pending.with(id, p.now(), func(ar *authRequest) { pending = ar.grant != nil && ar.grant.MFAPending }) {
		writeError(w, errUnknownRequest)
		return
	}
	writeAuthQueries(w, pending)
}

// totp completes the MFA step of a sign-in with a TOTP or recovery code.
func (p *Provider) totp(w http.ResponseWriter, r *http.Request) {
	html := wantsHTML(r)
	body, err := readLogin(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	var grant *Grant
	if !p.pending.with(body.ID, p.now(), func(ar *authRequest) { grant = ar.grant }) {
		writeError(w, errUnknownRequest)
		return
	}
	if grant == nil || !grant.MFAPending {
		writeError(w, badRequest("this authorization request has no TOTP step pending"))
		return
	}
	if body.Code == "" {
		writeError(w, badRequest("code is required"))
		return
	}
	if err := p.cfg.Backend.CompleteMFA(r, grant.APISessionID, body.Code); err != nil {
		if html {
			renderPage(w, asError(err).Status, totpPage, pageData{ID: body.ID, Action: PathPrefix + "/login/totp", Error: asError(err).Description})
			return
		}
		writeError(w, err)
		return
	}
	p.pending.with(body.ID, p.now(), func(ar *authRequest) {
		done := *ar.grant
		done.MFAPending, done.MFADone = false, true
		ar.grant = &done
		ar.authMethods = append(ar.authMethods, "totp")
	})
	http.Redirect(w, r, callbackURL(body.ID), http.StatusFound)
}

// wantsHTML tells a browser's form post from an SDK's.
func wantsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

type pageData struct {
	ID, Action, Error string
}

var (
	pageStyle = `<style>body{font-family:sans-serif;max-width:24em;margin:4em auto}label,input,button{display:block;width:100%;margin:.4em 0}p.error{color:#b00}</style>`
	loginPage = template.Must(template.New("login").Parse(`<!doctype html><html><head><meta charset="utf-8"><title>Sign in</title>` + pageStyle + `</head><body>
<h1>Sign in</h1>{{if .Error}}<p class="error">{{.Error}}</p>{{end}}
<form method="post" action="{{.Action}}"><input type="hidden" name="id" value="{{.ID}}">
<label>Username <input name="username" autocomplete="username" required></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button></form></body></html>`))
	totpPage = template.Must(template.New("totp").Parse(`<!doctype html><html><head><meta charset="utf-8"><title>One-time code</title>` + pageStyle + `</head><body>
<h1>One-time code</h1>{{if .Error}}<p class="error">{{.Error}}</p>{{end}}
<form method="post" action="{{.Action}}"><input type="hidden" name="id" value="{{.ID}}">
<label>Code from your authenticator app, or a recovery code <input name="code" autocomplete="one-time-code" required></label>
<button type="submit">Continue</button></form></body></html>`))
)

func renderPage(w http.ResponseWriter, status int, t *template.Template, d pageData) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'")
	h.Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	_ = t.Execute(w, d)
}

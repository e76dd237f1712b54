package oidc

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ostium-net/ostium/controller/pki"
	"github.com/ostium-net/ostium/internal/apitoken"
)

// TestKeysAreTheSameOnEveryNode: two controllers loading the same PKI (the
// nodes of a cluster) derive the same key, so a token one signs the other
// verifies; another network's key does not verify it.
func TestKeysAreTheSameOnEveryNode(t *testing.T) {
	files, err := pki.Init(t.TempDir(), pki.InitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	load := func(f *pki.Files) *Keys {
		ca, err := pki.Load(f.Config())
		if err != nil {
			t.Fatal(err)
		}
		k, err := DeriveKeys(ca.DeriveSecret)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	a, b := load(files), load(files)
	if a.KeyID() == "" || a.KeyID() != b.KeyID() || string(a.KeySet()) != string(b.KeySet()) {
		t.Fatalf("nodes derived different keys: %s %s", a.KeyID(), b.KeyID())
	}
	now := time.Now()
	token, err := a.Sign(&apitoken.Claims{Issuer: "https://a/oidc", Subject: "i", Audience: apitoken.Audiences{apitoken.Audience},
		ExpiresAt: now.Add(time.Minute).Unix(), Type: apitoken.TypeAccess, APISessionID: "s"})
	if err != nil {
		t.Fatal(err)
	}
	set, err := apitoken.ParseKeySet(b.KeySet())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := apitoken.Verify(set, token, apitoken.TypeAccess, apitoken.Audience, now); err != nil {
		t.Fatalf("the other node refused the token: %v", err)
	}
	other, err := pki.Init(t.TempDir(), pki.InitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := apitoken.Verify(load(other).Public(), token, apitoken.TypeAccess, apitoken.Audience, now); err == nil {
		t.Fatal("another network's key verified the token")
	}
}

func TestPendingRequestsAreBoundedAndExpire(t *testing.T) {
	p := newPendingRequests(3)
	now := time.Now()
	var ids []string
	for range 4 {
		ar := &authRequest{clientID: "openziti"}
		p.add(ar, now)
		ids = append(ids, ar.id)
	}
	if len(p.byID) != 3 || p.with(ids[0], now, func(*authRequest) {}) {
		t.Fatalf("the oldest request was not evicted: %d held", len(p.byID))
	}
	if !p.with(ids[3], now, func(ar *authRequest) { ar.grant = &Grant{APISessionID: "s"} }) {
		t.Fatal("the newest request is gone")
	}
	_, code, err := p.issueCode(ids[3], now)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.issueCode(ids[3], now); err == nil {
		t.Fatal("a second code for one request")
	}
	if _, replayed, ok := p.redeem(code, now); !ok || replayed {
		t.Fatal("first redemption")
	}
	if _, replayed, ok := p.redeem(code, now); !ok || !replayed {
		t.Fatal("second redemption not seen as a replay")
	}
	if _, _, ok := p.redeem(code, now.Add(codeLifetime)); ok {
		t.Fatal("an expired code was redeemed")
	}
	p.add(&authRequest{}, now.Add(requestLifetime))
	if len(p.byID) != 1 {
		t.Fatalf("expired requests kept: %d", len(p.byID))
	}
}

func TestBasicAuth(t *testing.T) {
	for header, want := range map[string][2]string{
		"Basic b3BlbnppdGk6":         {"openziti", ""},
		"Basic YX5-fjo=":             {"a~~~", ""},
		"Basic bmF0aXZlOnNlY3JldA==": {"native", "secret"},
		"Basic bmF0aXZlJTNBOng=":     {"native:", "x"},
	} {
		u, s, ok := basicAuth(header)
		if !ok || u != want[0] || s != want[1] {
			t.Errorf("%s: %q %q %v", header, u, s, ok)
		}
	}
	for _, bad := range []string{"Bearer x", "Basic !!!", "Basic bm9jb2xvbg=="} {
		if _, _, ok := basicAuth(bad); ok {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestRedirectURIs(t *testing.T) {
	p := New(Config{RedirectURIs: []string{"https://app.example/cb"}})
	for uri, want := range map[string]bool{
		"http://localhost:20314/auth/callback": true, "http://127.0.0.1:8080/auth/callback": true,
		"http://[::1]:9/auth/callback": true, "http://localhost/auth/callback": true, "https://app.example/cb": true,
		"https://localhost:1/auth/callback": false, "http://evil.example/auth/callback": false,
		"http://localhost:1/auth/callback#x": false, "http://user@localhost:1/auth/callback": false,
		"http://localhost:1/other": false, "http://10.0.0.1:1/auth/callback": false, "": false,
	} {
		if got := p.redirectAllowed(uri); got != want {
			t.Errorf("%q: %v, want %v", uri, got, want)
		}
	}
}

// refusing is a Backend that refuses every sign-in and knows no session:
// what the fuzzers reach past parsing is then always a refusal.
type refusing struct{}

func (refusing) SignIn(*http.Request, string, Credentials, time.Duration) (*Grant, error) {
	return nil, newError(http.StatusUnauthorized, ErrCodeAccessDenied, "no")
}
func (refusing) CompleteMFA(*http.Request, string, string) error { return ErrSessionEnded }
func (refusing) Session(*http.Request, string) (*Grant, error)   { return nil, ErrSessionEnded }
func (refusing) EndSession(*http.Request, string) error          { return nil }

func fuzzProvider(t testing.TB) *Provider {
	files, err := pki.Init(t.TempDir(), pki.InitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ca, err := pki.Load(files.Config())
	if err != nil {
		t.Fatal(err)
	}
	keys, err := DeriveKeys(ca.DeriveSecret)
	if err != nil {
		t.Fatal(err)
	}
	return New(Config{Keys: keys, Backend: refusing{}, Advertise: "ctrl.example:1280"})
}

// checkAnswer fails unless rec is a redirect, a success, or a 4xx OAuth
// error document.
func checkAnswer(t *testing.T, what string, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code >= 500 {
		t.Fatalf("%s: %d %s", what, rec.Code, rec.Body)
	}
	if rec.Code >= 400 {
		var doc map[string]string
		if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil || doc["error"] == "" || doc["error_description"] == "" {
			t.Fatalf("%s: %d answer is not an OAuth error: %s", what, rec.Code, rec.Body)
		}
	}
}

// FuzzEndpoints sends arbitrary queries and form bodies to every endpoint
// of the provider.
func FuzzEndpoints(f *testing.F) {
	p := fuzzProvider(f)
	f.Add("client_id=openziti&redirect_uri=http%3A%2F%2Flocalhost%3A1%2Fauth%2Fcallback&response_type=code&scope=openid&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256", "grant_type=authorization_code&client_id=openziti&code=x&code_verifier=y")
	f.Add("id=abc&authRequestID=abc", "grant_type=refresh_token&client_id=native&refresh_token=eyJ.eyJ.x")
	f.Add("%", "grant_type=urn:ietf:params:oauth:grant-type:token-exchange&subject_token=a&subject_token_type=urn:ietf:params:oauth:token-type:access_token")
	f.Add("id_token_hint=eyJ.e30.", "token=x&client_id=openziti")
	paths := []string{"/oidc/authorize", "/oidc/authorize/callback", "/oidc/login/cert", "/oidc/login/password", "/oidc/login/totp",
		"/oidc/login/auth-queries", "/oidc/oauth/token", "/oidc/revoke", "/oidc/userinfo", "/oidc/end_session", "/oidc/keys",
		"/.well-known/openid-configuration"}
	f.Fuzz(func(t *testing.T, query, body string) {
		for _, path := range paths {
			for _, method := range []string{"GET", "POST"} {
				for _, ct := range []string{"application/x-www-form-urlencoded", "application/json"} {
					req := httptest.NewRequest(method, "https://ctrl.example:1280"+path, strings.NewReader(body))
					req.URL.RawQuery = query
					req.Header.Set("Content-Type", ct)
					rec := httptest.NewRecorder()
					p.ServeHTTP(rec, req)
					checkAnswer(t, method+" "+path, rec)
				}
			}
		}
	})
}

// FuzzLoginBody: a login body is read or refused with an explanation.
func FuzzLoginBody(f *testing.F) {
	f.Add("application/json", []byte(`{"id":"a","username":"u","password":"p","configTypes":["all"],"envInfo":{"os":"linux","n":3},"sdkInfo":{"type":"c"}}`), "id=a")
	f.Add("application/x-www-form-urlencoded", []byte("id=a&username=u&envArch=amd64&sdkType=go&configTypes=x&configTypes=y"), "")
	f.Add("application/json; charset=utf-8", []byte(`{"authRequestId":"b"}`), "authRequestID=c")
	f.Add("text/plain", []byte("x"), "")
	f.Fuzz(func(t *testing.T, ct string, body []byte, query string) {
		q, _ := url.ParseQuery(query)
		b, err := parseLoginBody(ct, body, q)
		if err != nil {
			if !errors.Is(err, errBadLoginBody) {
				t.Fatalf("unexplained error %v", err)
			}
			return
		}
		if len(b.ConfigTypes) > maxConfigTypes || len(b.EnvInfo) > maxInfoEntries || len(b.SDKInfo) > maxInfoEntries {
			t.Fatalf("bounds not kept: %+v", b)
		}
		for _, s := range []string{b.ID, b.Username, b.Password, b.Code} {
			if len(s) > maxParamBytes {
				t.Fatalf("over-long value accepted")
			}
		}
	})
}

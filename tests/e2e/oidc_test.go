package e2e

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ostium-net/ostium/sdk/identity"
	"github.com/ostium-net/ostium/sdk/wire"
	"github.com/ostium-net/ostium/tests/harness"
)

// oidcSession is an OpenZiti SDK's OIDC sign-in with an identity's
// certificate, kept to refresh and revoke it.
type oidcSession struct {
	t       *testing.T
	base    string
	hc      *http.Client
	access  string
	refresh string
}

func oidcSignIn(t *testing.T, n *harness.Network, id *identity.Identity) *oidcSession {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: id.ClientTLS()}
	t.Cleanup(tr.CloseIdleConnections)
	s := &oidcSession{t: t, base: n.URL(), hc: &http.Client{Transport: tr, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	var b [32]byte
	_, _ = rand.Read(b[:])
	verifier := base64.RawURLEncoding.EncodeToString(b[:])
	sum := sha256.Sum256([]byte(verifier))
	redirect := "http://localhost:20314/auth/callback"
	q := url.Values{"client_id": {"openziti"}, "scope": {"openid offline_access"}, "response_type": {"code"}, "redirect_uri": {redirect},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}, "state": {"st"}}
	loc := s.expectRedirect("POST", "/oidc/authorize?"+q.Encode(), "", "")
	id2 := loc.Query().Get("authRequestID")
	loc = s.expectRedirect("POST", "/oidc/login/cert?id="+url.QueryEscape(id2), "application/json", `{"sdkInfo":{"type":"ziti-sdk-c"}}`)
	loc = s.expectRedirect("GET", loc.RequestURI(), "", "")
	s.tokens(url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "code_verifier": {verifier},
		"client_id": {"openziti"}, "redirect_uri": {redirect}})
	return s
}

func (s *oidcSession) do(method, path, contentType, body string, header map[string]string) (int, []byte, http.Header) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.base+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, resp.Header
}

func (s *oidcSession) expectRedirect(method, path, contentType, body string) *url.URL {
	s.t.Helper()
	status, raw, hdr := s.do(method, path, contentType, body, nil)
	loc, err := url.Parse(hdr.Get("Location"))
	if status != http.StatusFound || err != nil {
		s.t.Fatalf("%s %s: %d %s", method, path, status, raw)
	}
	return loc
}

func (s *oidcSession) tokens(form url.Values) {
	s.t.Helper()
	status, raw, _ := s.do("POST", "/oidc/oauth/token", "application/x-www-form-urlencoded", form.Encode(), nil)
	var out struct {
		Access  string `json:"access_token"`
		Refresh string `json:"refresh_token"`
	}
	if status != 200 || json.Unmarshal(raw, &out) != nil || out.Access == "" || out.Refresh == "" {
		s.t.Fatalf("token endpoint: %d %s", status, raw)
	}
	s.access, s.refresh = out.Access, out.Refresh
}

func (s *oidcSession) renew() {
	s.t.Helper()
	s.tokens(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {s.refresh}, "client_id": {"openziti"}})
}

// api calls the client API with the access token and returns the status.
func (s *oidcSession) api(path string) int {
	s.t.Helper()
	status, _, _ := s.do("GET", path, "", "", map[string]string{"Authorization": "Bearer " + s.access})
	return status
}

// hello connects to a router and says Hello with token; it returns the
// channel when the router accepts it, nil when it refuses.
func hello(t *testing.T, id *identity.Identity, addr, token string) *wire.Conn {
	t.Helper()
	cfg := id.ClientTLS()
	cfg.ServerName, _, _ = net.SplitHostPort(addr)
	raw, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	wc := wire.NewConn(raw, func(m *wire.Message) { m.Release() }, wire.ConnConfig{})
	t.Cleanup(func() { _ = wc.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	reply, err := wc.Request(ctx, wire.NewHello(id.Chain[0].Subject.CommonName, []byte(token)))
	if err != nil {
		return nil
	}
	if _, err := wire.ParseHelloResult(reply); err != nil {
		_ = wc.Close()
		return nil
	}
	return wc
}

// TestOIDCTokensOnTheRouter: an edge router accepts the access token of an
// OIDC sign-in by its signature, takes the refreshed one, keeps accepting
// while the controller is down, and once the sign-in is revoked closes its
// channels and refuses the token, as the API does.
func TestOIDCTokensOnTheRouter(t *testing.T) {
	n := harness.Start(t)
	n.OpenPolicies()
	r := n.Router("router-1")
	id := n.Identity("oidc-client")
	s := oidcSignIn(t, n, id)
	if status := s.api("/current-identity"); status != 200 {
		t.Fatalf("API with the access token: %d", status)
	}

	first := hello(t, id, r.Addr, s.access)
	if first == nil {
		t.Fatal("the router refused a fresh access token")
	}
	s.renew()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	reply, err := first.Request(ctx, wire.NewMessage(wire.ContentTypeUpdateToken, []byte(s.access)))
	if err != nil || reply.ContentType != wire.ContentTypeUpdateTokenSuccess {
		t.Fatalf("update token: %v %v", reply, err)
	}

	// The controller goes away: the router verifies the token by itself.
	n.StopController()
	second := hello(t, id, r.Addr, s.access)
	if second == nil {
		t.Fatal("the router refused a valid token while the controller was down")
	}
	n.StartController()
	r.WaitOnline()

	status, raw, _ := s.do("POST", "/oidc/revoke", "application/x-www-form-urlencoded",
		url.Values{"client_id": {"openziti"}, "token": {s.refresh}}.Encode(), nil)
	if status != 200 {
		t.Fatalf("revoke: %d %s", status, raw)
	}
	for _, ch := range []*wire.Conn{first, second} {
		select {
		case <-ch.Done():
		case <-time.After(15 * time.Second):
			t.Fatal("a channel of the revoked sign-in stayed open")
		}
	}
	if hello(t, id, r.Addr, s.access) != nil {
		t.Fatal("the router accepted a revoked token")
	}
	if status := s.api("/current-identity"); status != 401 {
		t.Fatalf("API with a revoked token: %d", status)
	}
}

package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/ostium-net/ostium/sdk"
	"github.com/ostium-net/ostium/tests/harness"
)

// TestSDKAnswersMFAWithItsCallback: once an identity has TOTP, the sdk asks
// its MFACode callback during authentication and carries on.
func TestSDKAnswersMFAWithItsCallback(t *testing.T) {
	n := harness.Start(t)
	n.OpenPolicies()
	n.Service("mfa-svc", false)
	n.Router("router-1")
	id := n.Identity("mfa-user", "mfa-svc-dial")

	first := n.Context(id)
	if err := first.Authenticate(context.Background()); err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: id.CAs}}}
	defer hc.CloseIdleConnections()
	call := func(method, path string, body any) map[string]any {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, n.URL()+"/edge/client/v1"+path, rd)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("zt-session", first.APISessionToken())
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode/100 != 2 {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
		}
		env := map[string]any{}
		_ = json.Unmarshal(raw, &env)
		return env
	}
	call("POST", "/current-identity/mfa", map[string]any{})
	status := call("GET", "/current-identity/mfa", nil)["data"].(map[string]any)
	key, err := otp.NewKeyFromURL(status["provisioningUrl"].(string))
	if err != nil {
		t.Fatal(err)
	}
	// Each code is taken once: the verification uses the current step's code, the sdk's
	// callback the next step's (the controller accepts one step either side).
	codeAt := func(at time.Time) string {
		c, err := totp.GenerateCode(key.Secret(), at)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	verifyCode := codeAt(time.Now())
	call("POST", "/current-identity/mfa/verify", map[string]any{"code": verifyCode})

	// Without a callback the sdk cannot finish authenticating.
	bare, _ := sdk.New(id, sdk.Options{DisableRenewal: true})
	defer bare.Close()
	if err := bare.Authenticate(context.Background()); err == nil {
		t.Fatal("authenticated an MFA identity without a code")
	}
	// A code already used is refused.
	replay, _ := sdk.New(id, sdk.Options{DisableRenewal: true, MFACode: func(context.Context) (string, error) {
		return verifyCode, nil
	}})
	defer replay.Close()
	if err := replay.Authenticate(context.Background()); err == nil {
		t.Fatal("authenticated with an MFA code that was used already")
	}
	asked := 0
	withMFA, _ := sdk.New(id, sdk.Options{DisableRenewal: true, MFACode: func(context.Context) (string, error) {
		asked++
		return codeAt(time.Now().Add(30 * time.Second)), nil
	}})
	defer withMFA.Close()
	services, err := withMFA.Services(context.Background())
	if err != nil {
		t.Fatalf("services with the MFA callback: %v", err)
	}
	if asked != 1 || len(services) != 1 {
		t.Fatalf("callback asked %d times, %d services", asked, len(services))
	}
}

package console

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/ostium-net/ostium/tests/harness"
)

// signInWithMFA: an administrator with TOTP enrolled signs in with the
// password, is asked for the code, and only then reaches the console.
func signInWithMFA(t *testing.T, n *harness.Network) {
	id := n.Create("/identities", map[string]any{"name": "ops", "type": "User", "isAdmin": true})
	n.Create("/authenticators", map[string]any{"method": "updb", "identityId": id, "username": "operator", "password": "ops-password-1"})

	// ops enrolls TOTP through the client API, as an authenticator app would.
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: n.Ctl.CAPool()}}}
	defer hc.CloseIdleConnections()
	token := ""
	call := func(method, path string, body any) map[string]any {
		t.Helper()
		raw, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, n.URL()+"/edge/client/v1"+path, bytes.NewReader(raw))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("zt-session", token)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		if resp.StatusCode/100 != 2 {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, out)
		}
		env := map[string]any{}
		_ = json.Unmarshal(out, &env)
		return env
	}
	token = call("POST", "/authenticate?method=password", map[string]string{"username": "operator", "password": "ops-password-1"})["data"].(map[string]any)["token"].(string)
	call("POST", "/current-identity/mfa", map[string]any{})
	key, err := otp.NewKeyFromURL(call("GET", "/current-identity/mfa", nil)["data"].(map[string]any)["provisioningUrl"].(string))
	if err != nil {
		t.Fatal(err)
	}
	code := func(at time.Time) string {
		c, err := totp.GenerateCode(key.Secret(), at)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	call("POST", "/current-identity/mfa/verify", map[string]string{"code": code(time.Now())})

	b := newBrowser(t, n.URL())
	defer b.close()
	b.open("")
	b.typeInto(`#signin-password input[name=username]`, "operator")
	b.typeInto(`#signin-password input[name=password]`, "ops-password-1")
	b.click(`#signin-password button[type=submit]`)
	b.waitFor("the MFA step", `!!document.querySelector('#signin-mfa')`)
	if evalJS[bool](b, `!!document.querySelector('.shell')`) {
		t.Fatal("the console opened before the MFA code was given")
	}
	// A wrong code is refused and said so.
	b.typeInto(`#signin-mfa input[name=code]`, "000000")
	b.click(`#signin-mfa button[type=submit]`)
	b.waitText(".signin-card .notice.error", "INVALID")
	// The code of the next step (the one just used for enrolling is spent).
	b.do(setValue(`#signin-mfa input[name=code]`, code(time.Now().Add(30*time.Second))))
	b.click(`#signin-mfa button[type=submit]`)
	b.waitText(".topbar .who", "ops")
	b.waitText("main h1", "Dashboard")
}

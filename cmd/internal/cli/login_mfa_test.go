package cli_test

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/ostium-net/ostium/cmd/internal/cli"
)

// adminEnrollsTOTP enrolls MFA for the default admin through the client API
// and returns the TOTP secret (the verifying code took the current time
// step) and the recovery codes.
func adminEnrollsTOTP(t *testing.T, url string) (string, []string) {
	t.Helper()
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer hc.CloseIdleConnections()
	token := ""
	call := func(method, path string, body any) map[string]any {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, url+"/edge/client/v1"+path, rd)
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("zt-session", token)
		}
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
	token = call("POST", "/authenticate?method=password", map[string]string{"username": "admin", "password": adminPassword})["data"].(map[string]any)["token"].(string)
	call("POST", "/current-identity/mfa", map[string]any{})
	detail := call("GET", "/current-identity/mfa", nil)["data"].(map[string]any)
	key, err := otp.NewKeyFromURL(detail["provisioningUrl"].(string))
	if err != nil {
		t.Fatal(err)
	}
	var recovery []string
	for _, c := range detail["recoveryCodes"].([]any) {
		recovery = append(recovery, c.(string))
	}
	if len(recovery) < 2 {
		t.Fatalf("recovery codes: %v", detail["recoveryCodes"])
	}
	code, _ := totp.GenerateCode(key.Secret(), time.Now())
	call("POST", "/current-identity/mfa/verify", map[string]any{"code": code})
	return key.Secret(), recovery
}

// notACode is a six-digit code that no time step near now gives for secret.
func notACode(t *testing.T, secret string) string {
	t.Helper()
	valid := map[string]bool{}
	for step := -2; step <= 2; step++ {
		c, err := totp.GenerateCode(secret, time.Now().Add(time.Duration(step)*30*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		valid[c] = true
	}
	for i := 0; ; i++ {
		if c := fmt.Sprintf("%06d", i); !valid[c] {
			return c
		}
	}
}

func TestLoginCompletesMFA(t *testing.T) {
	url := startController(t)
	secret, recovery := adminEnrollsTOTP(t, url)
	tm := newTerm(t)
	// A wrong code: refused, nothing stored, and the CLI cannot be used.
	r := tm.runIn(notACode(t, secret)+"\n", "login", url, "-u", "admin", "-p", adminPassword, "--yes")
	if r.code != cli.ExitUnauthorized || !strings.Contains(r.stderr, "MFA code: ") || !strings.Contains(r.stderr, "MFA:") {
		t.Fatalf("login with a wrong MFA code: exit %d, stderr %q", r.code, r.stderr)
	}
	tm.fails(cli.ExitUnauthorized, "ostium login", "list", "services")
	// The code asked on the terminal: the next time step's, as the
	// enrollment took the current one and each step is taken once.
	next, err := totp.GenerateCode(secret, time.Now().Add(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	r = tm.runIn(next+"\n", "login", url, "-u", "admin", "-p", adminPassword, "--yes")
	if r.code != 0 {
		t.Fatalf("login with the MFA code on the terminal: exit %d, stderr %q", r.code, r.stderr)
	}
	tm.ok("list", "services")
	// A recovery code given as a flag, asking nothing.
	other := newTerm(t)
	r = other.runIn("", "login", url, "-u", "admin", "-p", adminPassword, "--yes", "--mfa-code", recovery[0])
	if r.code != 0 || strings.Contains(r.stderr, "MFA code: ") {
		t.Fatalf("login with --mfa-code: exit %d, stderr %q", r.code, r.stderr)
	}
	other.ok("list", "identities")
	// Used once, it is refused the second time.
	third := newTerm(t)
	third.fails(cli.ExitUnauthorized, "MFA", "login", url, "-u", "admin", "-p", adminPassword, "--yes", "--mfa-code", recovery[0])
}

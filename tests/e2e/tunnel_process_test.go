package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/ostium-net/ostium/sdk"
	"github.com/ostium-net/ostium/sdk/identity"
	"github.com/ostium-net/ostium/tests/harness"
)

// buildTunnel builds ostium-tunnel into the test's temporary directory.
func buildTunnel(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ostium-tunnel")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/ostium-net/ostium/tunnel/cmd/ostium-tunnel").CombinedOutput()
	if err != nil {
		t.Fatalf("building ostium-tunnel: %v\n%s", err, out)
	}
	return bin
}

// enrollTOTP enrolls and verifies TOTP MFA for an identity with its own API
// session, and returns the secret and the code the verification used.
func enrollTOTP(t *testing.T, n *harness.Network, id *identity.Identity) (secret, usedCode string) {
	t.Helper()
	c := n.Context(id)
	if err := c.Authenticate(context.Background()); err != nil {
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
		req.Header.Set("zt-session", c.APISessionToken())
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
	key, err := otp.NewKeyFromURL(call("GET", "/current-identity/mfa", nil)["data"].(map[string]any)["provisioningUrl"].(string))
	if err != nil {
		t.Fatal(err)
	}
	code, _ := totp.GenerateCode(key.Secret(), time.Now())
	call("POST", "/current-identity/mfa/verify", map[string]any{"code": code})
	return key.Secret(), code
}

// TestTunnelerAnswersPostureAndMFA runs ostium-tunnel proxy as its own
// process for an identity with MFA enrolled, towards a service whose Dial
// policy checks the operating system and a completed MFA step: the
// tunneler takes the TOTP code from its code file, reports this machine's
// posture, and carries plain TCP to the hosted target. Without a code
// source and without a terminal, it says why it cannot sign in.
func TestTunnelerAnswersPostureAndMFA(t *testing.T) {
	osType, _, _ := sdk.HostPosture{}.OperatingSystem()
	if runtime.GOOS != "linux" {
		t.Skipf("the posture check names Linux; this machine reports %s", osType)
	}
	bin := buildTunnel(t)
	n := harness.Start(t)
	n.OpenPolicies()
	n.Router("router-1")
	echo := plainEchoServer(t)
	svc := n.Create("/services", map[string]any{"name": "guarded-proxy", "encryptionRequired": true})
	hcfg := n.Create("/configs", map[string]any{"name": "guarded-proxy-host", "configTypeId": "host.v1",
		"data": map[string]any{"protocol": "tcp", "address": echo.IP.String(), "port": echo.Port}})
	n.Mgmt("PATCH", "/services/"+svc, map[string]any{"configs": []string{hcfg}}, nil)
	osCheck := n.Create("/posture-checks", map[string]any{"typeId": "OS", "name": "linux-only",
		"operatingSystems": []any{map[string]any{"type": "Linux"}}})
	mfaCheck := n.Create("/posture-checks", map[string]any{"typeId": "MFA", "name": "mfa-done", "timeoutSeconds": 3600})
	n.Create("/service-policies", map[string]any{"name": "guarded-proxy-dial", "type": "Dial", "semantic": "AnyOf",
		"identityRoles": []string{"#guarded-proxy-dial"}, "serviceRoles": []string{"@" + svc}, "postureCheckRoles": []string{"@" + osCheck, "@" + mfaCheck}})
	n.Create("/service-policies", map[string]any{"name": "guarded-proxy-bind", "type": "Bind", "semantic": "AnyOf",
		"identityRoles": []string{"#guarded-proxy-bind"}, "serviceRoles": []string{"@" + svc}})
	runTunneler(t, tunnelContext(t, n, n.Identity("guarded-host", "guarded-proxy-bind")), n, "host")

	client := n.Identity("guarded-client", "guarded-proxy-dial")
	secret, _ := enrollTOTP(t, n, client)
	dir := t.TempDir()
	idFile := filepath.Join(dir, "client.json")
	if err := client.Save(idFile); err != nil {
		t.Fatal(err)
	}

	// Without a code source, and with no terminal to ask on, it cannot sign in and says so.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "proxy", "--identity", idFile, fmt.Sprintf("guarded-proxy:%d", freePort(t))).CombinedOutput()
	if err == nil || ctx.Err() != nil || !strings.Contains(string(out), "no code source") {
		t.Fatalf("a tunneler with no MFA code source: %v\n%s", err, out)
	}

	// With a code file holding the next step's code (the enrollment took this step's).
	codeFile := filepath.Join(dir, "totp")
	code, _ := totp.GenerateCode(secret, time.Now().Add(30*time.Second))
	if err := os.WriteFile(codeFile, []byte(code+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	var logs bytes.Buffer
	cmd := exec.Command(bin, "proxy", "--identity", idFile, "--mfa-code-file", codeFile, fmt.Sprintf("guarded-proxy:127.0.0.1:%d", port))
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := plainRoundTrip(addr, 64<<10, 5)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("plain client → ostium-tunnel (posture, MFA) → router → host: %v\ntunneler logs:\n%s", err, logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

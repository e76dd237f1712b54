package api_test

import (
	"bytes"
	"crypto/tls"
	"image/png"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// totpSecret parses the secret out of a provisioning URL.
func totpSecret(t *testing.T, provisioningURL string) string {
	t.Helper()
	key, err := otp.NewKeyFromURL(provisioningURL)
	if err != nil {
		t.Fatalf("provisioning URL %q: %v", provisioningURL, err)
	}
	if key.Type() != "totp" || key.Secret() == "" {
		t.Fatalf("provisioning URL %q: type %q", provisioningURL, key.Type())
	}
	return key.Secret()
}

// totpNow is the current TOTP code of secret, as an authenticator app shows
// it. The controller takes every code once: use it only where the code is
// not checked, and totpCodes.next where it is accepted.
func totpNow(t *testing.T, secret string) string {
	t.Helper()
	code, err := totp.GenerateCode(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// totpPeriod is the TOTP time step, in seconds.
const totpPeriod = 30

// totpCodes gives out the codes of one TOTP secret, each of a later time
// step than the one before, since the controller takes every step once.
// It uses the steps the controller accepts around now (one before, the
// current one, one after) and waits for the next step when they are spent.
type totpCodes struct {
	secret string
	last   int64 // the time step of the last code given out
}

// at is the code of one time step.
func (g *totpCodes) at(t *testing.T, step int64) string {
	t.Helper()
	code, err := totp.GenerateCode(g.secret, time.Unix(step*totpPeriod, 0))
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// next is a code of a later step than any given out before, still valid
// when it reaches the controller.
func (g *totpCodes) next(t *testing.T) string {
	t.Helper()
	for {
		now := time.Now()
		step := now.Unix() / totpPeriod
		earliest := step
		// The previous step's code is good until the current step ends:
		// use it only well before then.
		if time.Unix((step+1)*totpPeriod, 0).Sub(now) > 10*time.Second {
			earliest = step - 1
		}
		if s := max(g.last+1, earliest); s <= step+1 {
			g.last = s
			return g.at(t, s)
		}
		time.Sleep(time.Unix((step+1)*totpPeriod, 0).Sub(now))
	}
}

// lastCode is the code given out last.
func (g *totpCodes) lastCode(t *testing.T) string {
	t.Helper()
	return g.at(t, g.last)
}

// settledStep is the current time step, once at least 10 seconds of it
// remain: codes of it and of the step before are still valid when they
// reach the controller.
func settledStep() int64 {
	for {
		now := time.Now()
		step := now.Unix() / totpPeriod
		left := time.Unix((step+1)*totpPeriod, 0).Sub(now)
		if left > 10*time.Second {
			return step
		}
		time.Sleep(left)
	}
}

// wrongTOTP is a six-digit code that is not valid for secret now, nor in the
// steps around now that the controller accepts.
func wrongTOTP(t *testing.T, secret string) string {
	t.Helper()
	valid := map[string]bool{}
	for _, d := range []time.Duration{-60 * time.Second, -30 * time.Second, 0, 30 * time.Second, 60 * time.Second} {
		code, err := totp.GenerateCode(secret, time.Now().Add(d))
		if err != nil {
			t.Fatal(err)
		}
		valid[code] = true
	}
	for _, c := range []string{"000000", "111111", "222222", "333333", "444444", "555555"} {
		if !valid[c] {
			return c
		}
	}
	t.Fatal("no wrong code found")
	return ""
}

// clientLogin authenticates on the client API with a password and returns
// the status, the Retry-After header and the envelope.
func clientLogin(t *testing.T, c *testCtl, username, password string) (int, string, map[string]any, *apiClient) {
	t.Helper()
	cl := &apiClient{t: t, ctl: c, prefix: "/edge/client/v1"}
	body := []byte(`{"username":` + strconv.Quote(username) + `,"password":` + strconv.Quote(password) + `}`)
	status, hdr, out := cl.raw("POST", "/authenticate?method=password", "application/json", body)
	env := decodeEnvelope(t, out)
	if status == 200 {
		cl.token = data(env)["token"].(string)
	}
	return status, hdr.Get("Retry-After"), env, cl
}

// startTOTP starts an MFA enrollment for cl without verifying it, returning
// the code source of its secret and the recovery codes shown.
func startTOTP(t *testing.T, cl *apiClient) (*totpCodes, []string) {
	t.Helper()
	if status, env := cl.do("POST", "/current-identity/mfa", nil); status != 201 {
		t.Fatalf("enroll: %d %v", status, env)
	}
	_, env := cl.do("GET", "/current-identity/mfa", nil)
	secret := totpSecret(t, data(env)["provisioningUrl"].(string))
	return &totpCodes{secret: secret}, stringList(data(env)["recoveryCodes"])
}

// enrollTOTP enrolls and verifies MFA for cl, returning the code source of
// its secret (the verifying code was its first) and the recovery codes
// shown during enrollment.
func enrollTOTP(t *testing.T, cl *apiClient) (*totpCodes, []string) {
	t.Helper()
	codes, recovery := startTOTP(t, cl)
	if status, env := cl.do("POST", "/current-identity/mfa/verify", map[string]any{"code": codes.next(t)}); status != 200 {
		t.Fatalf("verify: %d %v", status, env)
	}
	return codes, recovery
}

func stringList(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// qrCode fetches the QR code of the enrollment as an image client would.
func qrCode(t *testing.T, cl *apiClient) (int, string, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", cl.ctl.base+"/edge/client/v1/current-identity/mfa/qr-code", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "image/png, application/json")
	req.Header.Set("zt-session", cl.token)
	resp, err := cl.ctl.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), body
}

// expectPending checks that a login answer asks for the MFA step.
func expectPending(t *testing.T, env map[string]any) {
	t.Helper()
	d := data(env)
	queries, _ := d["authQueries"].([]any)
	if d["isMfaRequired"] != true || d["isMfaComplete"] != false || len(queries) != 1 {
		t.Fatalf("login does not ask for MFA: %v", d)
	}
	q := queries[0].(map[string]any)
	if q["typeId"] != "MFA" || q["provider"] != "ziti" || q["httpMethod"] != "POST" || q["httpUrl"] != "./authenticate/mfa" ||
		q["format"] != "alphaNumeric" || q["minLength"] != float64(4) || q["maxLength"] != float64(6) {
		t.Fatalf("auth query: %v", q)
	}
}

func TestMFAEnrollVerifyAuthenticate(t *testing.T) {
	t.Parallel()
	c := newTestController(t)
	admin := c.adminClient(t)
	alice, aliceID := clientFor(t, c, admin, "alice")

	if status, _ := alice.do("GET", "/current-identity/mfa", nil); status != 404 {
		t.Fatalf("MFA before enrollment: %d", status)
	}
	if status, _, _ := qrCode(t, alice); status != 404 {
		t.Fatalf("QR code before enrollment: %d", status)
	}
	if status, env := alice.do("POST", "/current-identity/mfa", nil); status != 201 || data(env)["id"] == "" {
		t.Fatalf("enroll: %d %v", status, env)
	}
	if status, env := alice.do("POST", "/current-identity/mfa", nil); status != 409 {
		t.Fatalf("second enrollment: %d %v", status, env)
	}
	status, env := alice.do("GET", "/current-identity/mfa", nil)
	d := data(env)
	if status != 200 || d["isVerified"] != false {
		t.Fatalf("unverified enrollment: %d %v", status, env)
	}
	url := d["provisioningUrl"].(string)
	if !strings.HasPrefix(url, "otpauth://totp/") || !strings.Contains(url, "alice") {
		t.Fatalf("provisioning URL: %q", url)
	}
	secret := totpSecret(t, url)
	tc := &totpCodes{secret: secret}
	codes := stringList(d["recoveryCodes"])
	if len(codes) != 20 || len(slices.Compact(slices.Sorted(slices.Values(codes)))) != 20 {
		t.Fatalf("recovery codes: %v", codes)
	}
	for _, rc := range codes {
		if len(rc) < 8 {
			t.Fatalf("recovery code %q is short", rc)
		}
	}

	// The QR code encodes the enrollment as a PNG while it is unverified.
	status, ctype, body := qrCode(t, alice)
	if status != 200 || ctype != "image/png" {
		t.Fatalf("QR code: %d %s", status, ctype)
	}
	img, err := png.Decode(bytes.NewReader(body))
	if err != nil || img.Bounds().Dx() < 100 {
		t.Fatalf("QR code is not a PNG: %v", err)
	}
	if status, env := alice.do("GET", "/current-identity/mfa/recovery-codes", nil); status != 400 {
		t.Fatalf("recovery codes of an unverified enrollment: %d %v", status, env)
	}

	// Verification needs a good code.
	if status, env := alice.do("POST", "/current-identity/mfa/verify", map[string]any{"code": wrongTOTP(t, secret)}); status != 401 {
		t.Fatalf("verify with a wrong code: %d %v", status, env)
	}
	if status, env := alice.do("POST", "/current-identity/mfa/verify", map[string]any{"code": tc.next(t)}); status != 200 {
		t.Fatalf("verify: %d %v", status, env)
	}
	if status, _ := alice.do("POST", "/current-identity/mfa/verify", map[string]any{"code": totpNow(t, secret)}); status != 400 {
		t.Fatalf("verify twice: %d", status)
	}
	_, env = alice.do("GET", "/current-identity/mfa", nil)
	if d := data(env); d["isVerified"] != true || d["provisioningUrl"] != nil || len(stringList(d["recoveryCodes"])) != 0 {
		t.Fatalf("verified enrollment shows its secrets: %v", d)
	}
	if status, _, _ := qrCode(t, alice); status != 404 {
		t.Fatalf("QR code after verification: %d", status)
	}
	if _, env := alice.do("GET", "/current-identity", nil); data(env)["isMfaEnabled"] != true {
		t.Fatalf("current identity: %v", data(env))
	}
	if _, env := admin.do("GET", "/identities/"+aliceID, nil); data(env)["isMfaEnabled"] != true {
		t.Fatalf("identity detail: %v", data(env))
	}
	// The session that enrolled stays usable.
	if status, _ := alice.do("GET", "/services", nil); status != 200 {
		t.Fatalf("enrolling session after verification: %d", status)
	}

	// A new authentication must complete MFA before anything else.
	status, _, env, pending := clientLogin(t, c, "alice-user", "alice-password")
	if status != 200 {
		t.Fatalf("login: %d %v", status, env)
	}
	expectPending(t, env)
	for _, path := range []string{"/services", "/current-identity", "/sessions", "/current-identity/mfa"} {
		if status, env := pending.do("GET", path, nil); status != 401 || errorCode(env) != "UNAUTHORIZED" {
			t.Fatalf("%s before MFA: %d %v", path, status, env)
		}
	}
	if status, _ := pending.do("POST", "/current-identity/mfa", nil); status != 401 {
		t.Fatalf("enrolling again before MFA: %d", status)
	}
	status, env = pending.do("GET", "/current-api-session", nil)
	if status != 200 || data(env)["isMfaComplete"] != false {
		t.Fatalf("current session before MFA: %d %v", status, env)
	}
	if status, env := pending.do("POST", "/authenticate/mfa", map[string]any{"code": wrongTOTP(t, secret)}); status != 401 || errorCode(env) != "INVALID_AUTH" {
		t.Fatalf("wrong MFA code: %d %v", status, env)
	}
	if status, _ := pending.do("GET", "/services", nil); status != 401 {
		t.Fatalf("a wrong code opened the session: %d", status)
	}
	if status, env := pending.do("POST", "/authenticate/mfa", map[string]any{"code": tc.next(t)}); status != 200 {
		t.Fatalf("MFA: %d %v", status, env)
	}
	if status, _ := pending.do("GET", "/services", nil); status != 200 {
		t.Fatalf("services after MFA: %d", status)
	}
	_, env = pending.do("GET", "/current-api-session", nil)
	if d := data(env); d["isMfaComplete"] != true || d["isMfaRequired"] != true || len(d["authQueries"].([]any)) != 0 {
		t.Fatalf("session after MFA: %v", d)
	}

	// A recovery code works once.
	_, _, _, second := clientLogin(t, c, "alice-user", "alice-password")
	if status, env := second.do("POST", "/authenticate/mfa", map[string]any{"code": codes[0]}); status != 200 {
		t.Fatalf("recovery code: %d %v", status, env)
	}
	_, _, _, third := clientLogin(t, c, "alice-user", "alice-password")
	if status, _ := third.do("POST", "/authenticate/mfa", map[string]any{"code": codes[0]}); status != 401 {
		t.Fatalf("used recovery code accepted again: %d", status)
	}
	if status, _ := third.do("GET", "/services", nil); status != 401 {
		t.Fatal("a used recovery code opened the session")
	}

	// Viewing recovery codes needs a code in the mfa-validation-code
	// header; a recovery code given there is used up too.
	if status, _ := alice.do("GET", "/current-identity/mfa/recovery-codes", nil); status != 400 {
		t.Fatalf("recovery codes without a code: %d", status)
	}
	left := recoveryCodes(t, alice, codes[1])
	if len(left) != 18 || slices.Contains(left, codes[0]) || slices.Contains(left, codes[1]) || !slices.Contains(left, codes[2]) {
		t.Fatalf("unused recovery codes: %v", left)
	}
	if status, _ := recoveryCodesStatus(t, alice, codes[1]); status != 401 {
		t.Fatalf("recovery codes shown for a used recovery code: %d", status)
	}
	// Regenerating replaces every code.
	if status, env := alice.do("POST", "/current-identity/mfa/recovery-codes", map[string]any{"code": codes[2]}); status != 200 {
		t.Fatalf("regenerate: %d %v", status, env)
	}
	fresh := recoveryCodes(t, alice, tc.next(t))
	if len(fresh) != 20 {
		t.Fatalf("fresh codes: %v", fresh)
	}
	for _, old := range codes {
		if slices.Contains(fresh, old) {
			t.Fatalf("old code %s survived regeneration", old)
		}
	}
	if status, _ := third.do("POST", "/authenticate/mfa", map[string]any{"code": codes[3]}); status != 401 {
		t.Fatalf("a replaced recovery code accepted: %d", status)
	}
	if status, _ := third.do("POST", "/authenticate/mfa", map[string]any{"code": fresh[5]}); status != 200 {
		t.Fatalf("a fresh recovery code refused: %d", status)
	}

	// Disabling needs a code, given in the mfa-validation-code header (a
	// recovery code here; TestTOTPCodesAreSingleUse disables with TOTP).
	if status, _ := alice.do("DELETE", "/current-identity/mfa", nil); status != 400 {
		t.Fatalf("disable without a code: %d", status)
	}
	if status := deleteMFA(t, alice, wrongTOTP(t, secret)); status != 401 {
		t.Fatalf("disable with a wrong code: %d", status)
	}
	if status := deleteMFA(t, alice, fresh[6]); status != 200 {
		t.Fatalf("disable: %d", status)
	}
	if status, _ := alice.do("GET", "/current-identity/mfa", nil); status != 404 {
		t.Fatalf("MFA after disabling: %d", status)
	}
	status, _, env, plain := clientLogin(t, c, "alice-user", "alice-password")
	if status != 200 || data(env)["isMfaRequired"] != false || len(data(env)["authQueries"].([]any)) != 0 {
		t.Fatalf("login without MFA: %d %v", status, env)
	}
	if status, _ := plain.do("GET", "/services", nil); status != 200 {
		t.Fatalf("services without MFA: %d", status)
	}
}

// recoveryCodes shows the unused recovery codes, with code in the
// mfa-validation-code header.
func recoveryCodes(t *testing.T, cl *apiClient, code string) []string {
	t.Helper()
	status, env := recoveryCodesStatus(t, cl, code)
	if status != 200 {
		t.Fatalf("recovery codes: %d %v", status, env)
	}
	return stringList(data(env)["recoveryCodes"])
}

// recoveryCodesStatus asks for the recovery codes and returns the answer.
func recoveryCodesStatus(t *testing.T, cl *apiClient, code string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest("GET", cl.ctl.base+"/edge/client/v1/current-identity/mfa/recovery-codes", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("zt-session", cl.token)
	req.Header.Set("mfa-validation-code", code)
	resp, err := cl.ctl.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, decodeEnvelope(t, body)
}

func deleteMFA(t *testing.T, cl *apiClient, code string) int {
	t.Helper()
	req, err := http.NewRequest("DELETE", cl.ctl.base+"/edge/client/v1/current-identity/mfa", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("zt-session", cl.token)
	req.Header.Set("mfa-validation-code", code)
	resp, err := cl.ctl.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func TestMFAAdminRemoval(t *testing.T) {
	t.Parallel()
	c := newTestController(t)
	admin := c.adminClient(t)
	bob, bobID := clientFor(t, c, admin, "bob")
	enrollTOTP(t, bob)
	status, _, env, _ := clientLogin(t, c, "bob-user", "bob-password")
	if status != 200 {
		t.Fatalf("login: %d", status)
	}
	expectPending(t, env)

	if status, env := admin.do("DELETE", "/identities/"+bobID+"/mfa", nil); status != 200 {
		t.Fatalf("admin removal: %d %v", status, env)
	}
	if _, env := admin.do("GET", "/identities/"+bobID, nil); data(env)["isMfaEnabled"] != false {
		t.Fatalf("identity after removal: %v", data(env))
	}
	status, _, env, cl := clientLogin(t, c, "bob-user", "bob-password")
	if status != 200 || data(env)["isMfaRequired"] != false {
		t.Fatalf("login after removal: %d %v", status, env)
	}
	if status, _ := cl.do("GET", "/services", nil); status != 200 {
		t.Fatalf("services after removal: %d", status)
	}
	// Removing again is fine; an unknown identity is not.
	if status, _ := admin.do("DELETE", "/identities/"+bobID+"/mfa", nil); status != 200 {
		t.Fatalf("second removal: %d", status)
	}
	if status, _ := admin.do("DELETE", "/identities/nope/mfa", nil); status != 404 {
		t.Fatalf("removal for an unknown identity: %d", status)
	}
	// Bob can enroll anew.
	enrollTOTP(t, cl)
}

func TestMFARequiredByAuthPolicy(t *testing.T) {
	t.Parallel()
	c := newTestController(t)
	admin := c.adminClient(t)
	policy := fullAuthPolicy("totp-required")
	updb := policy["primary"].(map[string]any)["updb"].(map[string]any)
	updb["requireSpecialChar"], updb["requireMixedCase"] = false, false
	policy["secondary"] = map[string]any{"requireTotp": true}
	policyID := admin.create("/auth-policies", policy)
	id := admin.create("/identities", map[string]any{"name": "carol", "type": "User", "isAdmin": false, "authPolicyId": policyID})
	admin.create("/authenticators", map[string]any{"method": "updb", "identityId": id, "username": "carol-user", "password": "carol-password"})

	status, _, env, carol := clientLogin(t, c, "carol-user", "carol-password")
	if status != 200 {
		t.Fatalf("login: %d %v", status, env)
	}
	expectPending(t, env)
	if status, _ := carol.do("GET", "/services", nil); status != 401 {
		t.Fatalf("services before enrolling: %d", status)
	}
	// Without an enrollment, the MFA step cannot be completed: only enrolling is open.
	if status, env := carol.do("POST", "/authenticate/mfa", map[string]any{"code": "123456"}); status != 400 {
		t.Fatalf("MFA step without an enrollment: %d %v", status, env)
	}
	tc, _ := enrollTOTP(t, carol)
	if status, _ := carol.do("GET", "/services", nil); status != 200 {
		t.Fatalf("services after enrolling: %d", status)
	}
	// Later sessions do the MFA step.
	_, _, env, again := clientLogin(t, c, "carol-user", "carol-password")
	expectPending(t, env)
	if status, _ := again.do("POST", "/current-identity/mfa", nil); status != 401 {
		t.Fatalf("enrollment endpoints open to a pending session of an enrolled identity: %d", status)
	}
	if status, _ := again.do("POST", "/authenticate/mfa", map[string]any{"code": tc.next(t)}); status != 200 {
		t.Fatalf("MFA: %d", status)
	}
	if status, _ := again.do("GET", "/services", nil); status != 200 {
		t.Fatalf("services after MFA: %d", status)
	}
}

func TestMFAManagementSession(t *testing.T) {
	t.Parallel()
	c := newTestController(t)
	admin := c.adminClient(t)
	// The admin enrolls through the client API.
	cl := &apiClient{t: t, ctl: c, prefix: "/edge/client/v1", token: admin.token}
	tc, recovery := enrollTOTP(t, cl)

	login := func() *apiClient {
		t.Helper()
		m := c.managementClient(t)
		status, env := m.do("POST", "/authenticate?method=password", map[string]any{"username": "admin", "password": testAdminPassword})
		if status != 200 {
			t.Fatalf("admin login: %d %v", status, env)
		}
		expectPending(t, env)
		m.token = data(env)["token"].(string)
		return m
	}
	m := login()
	if status, _ := m.do("GET", "/identities", nil); status != 401 {
		t.Fatalf("management before MFA: %d", status)
	}
	if status, _ := m.do("GET", "/current-api-session", nil); status != 200 {
		t.Fatalf("current session before MFA: %d", status)
	}
	// The management API's own MFA step: a wrong code, an empty one, then the right one.
	if status, env := m.do("POST", "/authenticate/mfa", map[string]any{"code": wrongTOTP(t, tc.secret)}); status != 401 || errorCode(env) != "INVALID_AUTH" {
		t.Fatalf("wrong MFA code on the management API: %d %v", status, env)
	}
	if status, _ := m.do("POST", "/authenticate/mfa", map[string]any{"code": ""}); status/100 != 4 {
		t.Fatalf("empty MFA code on the management API: %d", status)
	}
	if status, _ := m.do("GET", "/identities", nil); status != 401 {
		t.Fatalf("a wrong code opened the management session: %d", status)
	}
	if status, env := m.do("POST", "/authenticate/mfa", map[string]any{"code": tc.next(t)}); status != 200 {
		t.Fatalf("MFA on the management API: %d %v", status, env)
	}
	if status, _ := m.do("GET", "/identities", nil); status != 200 {
		t.Fatalf("management after MFA: %d", status)
	}
	// A recovery code completes it too, and the client API's step serves a
	// management session as well.
	second := login()
	if status, env := second.do("POST", "/authenticate/mfa", map[string]any{"code": recovery[0]}); status != 200 {
		t.Fatalf("recovery code on the management API: %d %v", status, env)
	}
	if status, _ := second.do("GET", "/identities", nil); status != 200 {
		t.Fatalf("management after a recovery code: %d", status)
	}
	third := login()
	step := &apiClient{t: t, ctl: c, prefix: "/edge/client/v1", token: third.token}
	if status, env := step.do("POST", "/authenticate/mfa", map[string]any{"code": recovery[1]}); status != 200 {
		t.Fatalf("MFA through the client API: %d %v", status, env)
	}
	if status, _ := third.do("GET", "/identities", nil); status != 200 {
		t.Fatalf("management after MFA through the client API: %d", status)
	}
}

func TestMFAWrongCodesLockOut(t *testing.T) {
	t.Parallel()
	c := newTestController(t, withLockout(3, time.Minute, time.Hour))
	admin := c.adminClient(t)
	dave, daveID := clientFor(t, c, admin, "dave")
	tc, _ := enrollTOTP(t, dave)
	secret := tc.secret

	_, _, env, pending := clientLogin(t, c, "dave-user", "dave-password")
	expectPending(t, env)
	for i := 1; i <= 3; i++ {
		status, hdr, _ := pending.raw("POST", "/authenticate/mfa", "application/json", []byte(`{"code":"`+wrongTOTP(t, secret)+`"}`))
		if status != 401 {
			t.Fatalf("wrong code %d: %d", i, status)
		}
		if locked := hdr.Get("Retry-After") != ""; locked != (i == 3) {
			t.Fatalf("wrong code %d: Retry-After %q", i, hdr.Get("Retry-After"))
		}
	}
	// Locked: even the right code is refused without being checked, and so is the password.
	status, hdr, body := pending.raw("POST", "/authenticate/mfa", "application/json", []byte(`{"code":"`+totpNow(t, secret)+`"}`))
	if status != 401 || hdr.Get("Retry-After") == "" || !strings.Contains(string(body), "locked") {
		t.Fatalf("right code during the lock: %d %v %s", status, hdr, body)
	}
	if status, retry, _, _ := clientLogin(t, c, "dave-user", "dave-password"); status != 401 || retry == "" {
		t.Fatalf("password during the lock: %d %q", status, retry)
	}
	// Another address is not affected.
	other := c.fromSource(t, "127.0.0.2")
	status, _, env, elsewhere := clientLogin(t, other, "dave-user", "dave-password")
	if status != 200 {
		t.Fatalf("login from another address: %d %v", status, env)
	}
	if status, _ := elsewhere.do("POST", "/authenticate/mfa", map[string]any{"code": tc.next(t)}); status != 200 {
		t.Fatalf("MFA from another address: %d", status)
	}

	_, env = admin.do("GET", "/auth-events?filter="+urlQuery(`identityId="`+daveID+`" and eventType="mfa-failure"`), nil)
	if n := len(items(env)); n < 4 {
		t.Fatalf("mfa-failure events: %d %v", n, env)
	}
	if status, _ := admin.do("DELETE", "/identities/"+daveID+"/auth-locks", nil); status != 200 {
		t.Fatalf("clear: %d", status)
	}
	if status, env := pending.do("POST", "/authenticate/mfa", map[string]any{"code": tc.next(t)}); status != 200 {
		t.Fatalf("MFA after the lock was cleared: %d %v", status, env)
	}
}

// fromSource is a copy of the test controller whose client connects from
// the given loopback address (Linux routes all of 127/8 to lo).
func (c *testCtl) fromSource(t testing.TB, ip string) *testCtl {
	t.Helper()
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	tr := &http.Transport{DialContext: dialer.DialContext, TLSClientConfig: &tls.Config{RootCAs: c.ctl.CAPool(), MinVersion: tls.VersionTLS12}}
	t.Cleanup(tr.CloseIdleConnections)
	cp := *c
	cp.client = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	return &cp
}

// TestTOTPCodesAreSingleUse: a TOTP code is accepted once, wherever it is
// presented (verification, the MFA step of a login, showing or regenerating
// recovery codes, disabling MFA), and so is no code of an earlier step.
func TestTOTPCodesAreSingleUse(t *testing.T) {
	t.Parallel()
	c := newTestController(t)
	admin := c.adminClient(t)

	// mfaStep completes the MFA step of a fresh login of name with code.
	mfaStep := func(name, code string) (int, map[string]any, *apiClient) {
		t.Helper()
		status, _, env, pending := clientLogin(t, c, name+"-user", name+"-password")
		if status != 200 {
			t.Fatalf("%s login: %d %v", name, status, env)
		}
		expectPending(t, env)
		status, env = pending.do("POST", "/authenticate/mfa", map[string]any{"code": code})
		return status, env, pending
	}
	refused := func(what string, status int, env map[string]any) {
		t.Helper()
		if status != 401 || errorCode(env) != "INVALID_AUTH" {
			t.Fatalf("%s: %d %v, want 401 INVALID_AUTH", what, status, env)
		}
	}

	// The MFA step: the code that verified the enrollment cannot complete a
	// login, and a code that completed one cannot complete another.
	alice, aliceID := clientFor(t, c, admin, "alice")
	tc, _ := enrollTOTP(t, alice)
	status, env, pending := mfaStep("alice", tc.lastCode(t))
	refused("MFA step with the verifying code", status, env)
	if status, _ := pending.do("GET", "/services", nil); status != 401 {
		t.Fatalf("a replayed code completed the login: %d", status)
	}
	code := tc.next(t)
	if status, env, cl := mfaStep("alice", code); status != 200 {
		t.Fatalf("MFA step with a new code: %d %v", status, env)
	} else if status, _ := cl.do("GET", "/services", nil); status != 200 {
		t.Fatalf("services after MFA: %d", status)
	}
	status, env, pending = mfaStep("alice", code)
	refused("MFA step with a code used by another login", status, env)
	if status, _ := pending.do("GET", "/services", nil); status != 401 {
		t.Fatalf("a replayed code completed the login: %d", status)
	}
	_, env = admin.do("GET", "/auth-events?filter="+urlQuery(`identityId="`+aliceID+`" and eventType="mfa-failure" and reason="TOTP code already used"`), nil)
	if n := len(items(env)); n != 2 {
		t.Fatalf("replays recorded: %d %v", n, env)
	}

	// A code of an earlier step than the last one accepted is refused, even
	// while it is still current.
	bob, _ := clientFor(t, c, admin, "bob")
	bobCodes, _ := startTOTP(t, bob)
	step := settledStep()
	if status, env := bob.do("POST", "/current-identity/mfa/verify", map[string]any{"code": bobCodes.at(t, step+1)}); status != 200 {
		t.Fatalf("verify with the next step's code: %d %v", status, env)
	}
	status, env, _ = mfaStep("bob", bobCodes.at(t, step))
	refused("MFA step with a code of an earlier step", status, env)
	status, env, _ = mfaStep("bob", bobCodes.at(t, step+1))
	refused("MFA step with the verifying code", status, env)

	// Showing the recovery codes takes the code; it then opens nothing else.
	carol, _ := clientFor(t, c, admin, "carol")
	carolCodes, _ := enrollTOTP(t, carol)
	code = carolCodes.next(t)
	if got := recoveryCodes(t, carol, code); len(got) != 20 {
		t.Fatalf("recovery codes: %v", got)
	}
	status, env = recoveryCodesStatus(t, carol, code)
	refused("recovery codes shown twice for one code", status, env)
	status, env = carol.do("POST", "/current-identity/mfa/recovery-codes", map[string]any{"code": code})
	refused("regeneration with the code that showed the recovery codes", status, env)

	// Regenerating the recovery codes takes the code.
	dave, _ := clientFor(t, c, admin, "dave")
	daveCodes, daveRecovery := enrollTOTP(t, dave)
	code = daveCodes.next(t)
	if status, env := dave.do("POST", "/current-identity/mfa/recovery-codes", map[string]any{"code": code}); status != 200 {
		t.Fatalf("regenerate: %d %v", status, env)
	}
	status, env = dave.do("POST", "/current-identity/mfa/recovery-codes", map[string]any{"code": code})
	refused("regenerating twice with one code", status, env)
	if status := deleteMFA(t, dave, code); status != 401 {
		t.Fatalf("disable with the code that regenerated: %d", status)
	}
	if status, env := dave.do("GET", "/current-identity/mfa", nil); status != 200 || data(env)["isVerified"] != true {
		t.Fatalf("enrollment after a refused disable: %d %v", status, env)
	}
	// Recovery codes stay single-use: the regenerated ones replaced the old ones.
	if status, env, _ := mfaStep("dave", daveRecovery[0]); status != 401 {
		t.Fatalf("a replaced recovery code: %d %v", status, env)
	}

	// Disabling MFA takes the code too: the verifying code cannot disable it.
	erin, _ := clientFor(t, c, admin, "erin")
	erinCodes, _ := enrollTOTP(t, erin)
	if status := deleteMFA(t, erin, erinCodes.lastCode(t)); status != 401 {
		t.Fatalf("disable with the verifying code: %d", status)
	}
	if status := deleteMFA(t, erin, erinCodes.next(t)); status != 200 {
		t.Fatalf("disable with a new code: %d", status)
	}
	if status, _ := erin.do("GET", "/current-identity/mfa", nil); status != 404 {
		t.Fatalf("MFA after disabling: %d", status)
	}
}

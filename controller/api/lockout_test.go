package api_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ostium-net/ostium/controller"
	"github.com/ostium-net/ostium/controller/api"
)

func withLockout(threshold int, base, maxLock time.Duration) controller.StartOption {
	return controller.WithLockoutPolicy(api.LockoutPolicy{Threshold: threshold, BaseLock: base, MaxLock: maxLock})
}

// failLogins sends n wrong passwords for username and returns the
// Retry-After of the last answer; only the last may carry one.
func failLogins(t *testing.T, c *testCtl, username string, n int) int {
	t.Helper()
	retry := ""
	for i := 1; i <= n; i++ {
		status, r, env, _ := clientLogin(t, c, username, "not-the-password")
		if status != 401 || errorCode(env) != "INVALID_AUTH" {
			t.Fatalf("wrong password %d: %d %v", i, status, env)
		}
		if i < n && r != "" {
			t.Fatalf("wrong password %d of %d already locks (Retry-After %s)", i, n, r)
		}
		retry = r
	}
	if retry == "" {
		return 0
	}
	secs, err := strconv.Atoi(retry)
	if err != nil {
		t.Fatalf("Retry-After %q: %v", retry, err)
	}
	return secs
}

func TestLockoutPerSource(t *testing.T) {
	t.Parallel()
	c := newTestController(t, withLockout(3, time.Minute, time.Hour))
	admin := c.adminClient(t)
	_, eveID := clientFor(t, c, admin, "eve")
	other := c.fromSource(t, "127.0.0.2")

	secs := failLogins(t, c, "eve-user", 3)
	if secs < 55 || secs > 60 {
		t.Fatalf("the third failure should lock for a minute: Retry-After %d", secs)
	}
	// While locked, even the right password is refused: it is not checked.
	status, retry, env, _ := clientLogin(t, c, "eve-user", "eve-password")
	msg, _ := env["error"].(map[string]any)["message"].(string)
	if status != 401 || errorCode(env) != "INVALID_AUTH" || retry == "" || !strings.Contains(msg, "locked for") {
		t.Fatalf("right password during the lock: %d %q %v", status, retry, env)
	}
	// Another source is not affected, and has its own counter.
	if status, _, env, _ := clientLogin(t, other, "eve-user", "eve-password"); status != 200 {
		t.Fatalf("login from another address: %d %v", status, env)
	}
	if n := failLogins(t, other, "eve-user", 2); n != 0 {
		t.Fatalf("another address inherited the lock: Retry-After %d", n)
	}
	if status, retry, _, _ := clientLogin(t, c, "eve-user", "eve-password"); status != 401 || retry == "" {
		t.Fatalf("lock lapsed early: %d %q", status, retry)
	}

	// The admin sees the active lock and can clear it.
	_, env = admin.do("GET", "/auth-locks", nil)
	locks := items(env)
	if len(locks) != 1 || locks[0]["identityId"] != eveID || locks[0]["source"] != "127.0.0.1" || locks[0]["failures"] != float64(3) || locks[0]["lockedUntil"] == nil {
		t.Fatalf("locks: %v", env)
	}
	if _, env := admin.do("GET", "/auth-locks?filter="+urlQuery(`source="127.0.0.2"`), nil); len(items(env)) != 0 {
		t.Fatalf("the other address is listed as locked: %v", env)
	}
	if status, _ := admin.do("DELETE", "/identities/"+eveID+"/auth-locks", nil); status != 200 {
		t.Fatalf("clear the identity's locks: %d", status)
	}
	if status, _, env, _ := clientLogin(t, c, "eve-user", "eve-password"); status != 200 {
		t.Fatalf("login after the admin cleared the lock: %d %v", status, env)
	}
	if _, env := admin.do("GET", "/auth-locks", nil); len(items(env)) != 0 {
		t.Fatalf("locks after clearing: %v", env)
	}

	// One lock can be cleared by its id.
	if secs := failLogins(t, c, "eve-user", 3); secs == 0 {
		t.Fatal("no lock after three more failures")
	}
	_, env = admin.do("GET", "/auth-locks", nil)
	if len(items(env)) != 1 {
		t.Fatalf("locks: %v", env)
	}
	lockID := items(env)[0]["id"].(string)
	if status, _ := admin.do("DELETE", "/auth-locks/"+lockID, nil); status != 200 {
		t.Fatalf("clear the lock: %d", status)
	}
	if status, _, _, _ := clientLogin(t, c, "eve-user", "eve-password"); status != 200 {
		t.Fatalf("login after the lock was cleared: %d", status)
	}
	if status, _ := admin.do("DELETE", "/auth-locks/"+lockID, nil); status != 404 {
		t.Fatalf("clearing a cleared lock: %d", status)
	}
	if status, _ := admin.do("DELETE", "/identities/nope/auth-locks", nil); status != 404 {
		t.Fatalf("clearing locks of an unknown identity: %d", status)
	}
	// Client identities cannot see or clear locks.
	eve, _ := clientFor(t, c, admin, "eve2")
	mgmt := &apiClient{t: t, ctl: c, prefix: "/edge/management/v1", token: eve.token}
	if status, _ := mgmt.do("GET", "/auth-locks", nil); status != 401 {
		t.Fatalf("a client lists locks: %d", status)
	}

	// Unknown user names never lock anything.
	if secs := failLogins(t, c, "nobody", 4); secs != 0 {
		t.Fatalf("an unknown user name was locked: %d", secs)
	}
}

func TestLockoutExpiresAndDoubles(t *testing.T) {
	t.Parallel()
	// Locks of 1 s, then 2 s, then at most 3 s.
	c := newTestController(t, withLockout(3, time.Second, 3*time.Second))
	admin := c.adminClient(t)
	_, ginaID := clientFor(t, c, admin, "gina")

	// lockRound places a lock with three wrong passwords and waits until
	// it has lapsed (Retry-After counts from the answer).
	lockRound := func() {
		t.Helper()
		time.Sleep(time.Duration(failLogins(t, c, "gina-user", 3)) * time.Second)
	}
	// lockDurations are the lengths of the locks placed so far, oldest first,
	// as the "locked" events record them.
	lockDurations := func() []string {
		t.Helper()
		_, env := admin.do("GET", "/auth-events?filter="+urlQuery(fmt.Sprintf(`identityId=%q and eventType="locked"`, ginaID))+"&sort="+urlQuery("createdAt asc"), nil)
		var out []string
		for _, e := range items(env) {
			reason, _ := e["reason"].(string)
			out = append(out, reason[strings.LastIndex(reason, " ")+1:])
		}
		return out
	}

	// After a lock lapses, failures count again and each lock doubles, up to the cap.
	lockRound()
	lockRound()
	lockRound()
	if got := strings.Join(lockDurations(), " "); got != "1s 2s 3s" {
		t.Fatalf("lock durations: %q, want 1s 2s 3s", got)
	}
	// The lock expires: the right password works again once it has, and
	// resets the counter.
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, retry, env, _ := clientLogin(t, c, "gina-user", "gina-password")
		if status == 200 {
			break
		}
		secs, err := strconv.Atoi(retry)
		if status != 401 || err != nil || time.Now().After(deadline) {
			t.Fatalf("login after the lock: %d %q %v", status, retry, env)
		}
		time.Sleep(time.Duration(secs) * time.Second)
	}
	if _, env := admin.do("GET", "/auth-locks", nil); len(items(env)) != 0 {
		t.Fatalf("expired locks are listed: %v", env)
	}
	lockRound()
	if got := strings.Join(lockDurations(), " "); got != "1s 2s 3s 1s" {
		t.Fatalf("lock durations after a successful login: %q, want 1s 2s 3s 1s", got)
	}
}

func TestAuthEvents(t *testing.T) {
	t.Parallel()
	c := newTestController(t, controller.WithAuthLimits(api.AuthLimits{FailureFlush: 100 * time.Millisecond}))
	admin := c.adminClient(t)
	_, frankID := clientFor(t, c, admin, "frank")
	failLogins(t, c, "frank-user", 2)
	failLogins(t, c, "no-such-user", 1)

	byIdentity := "/auth-events?filter=" + urlQuery(fmt.Sprintf("identityId=%q", frankID))
	status, env := admin.do("GET", byIdentity, nil)
	events := items(env)
	if status != 200 || len(events) != 3 {
		t.Fatalf("frank's events: %d %v", status, env)
	}
	// Newest first by default.
	want := []string{"password-failure", "password-failure", "password-success"}
	for i, e := range events {
		if e["eventType"] != want[i] || e["sourceAddress"] != "127.0.0.1" || e["identityId"] != frankID || e["id"] == "" {
			t.Fatalf("event %d: %v", i, e)
		}
	}
	if events[0]["reason"] != "wrong password" {
		t.Fatalf("failure reason: %v", events[0])
	}
	_, env = admin.do("GET", byIdentity+"&sort="+urlQuery("createdAt asc"), nil)
	if items(env)[0]["eventType"] != "password-success" {
		t.Fatalf("sorted oldest first: %v", env)
	}

	_, env = admin.do("GET", "/auth-events?filter="+urlQuery(fmt.Sprintf(`identityId=%q and eventType="password-failure"`, frankID)), nil)
	if len(items(env)) != 2 {
		t.Fatalf("frank's failures: %v", env)
	}
	// Failures naming no identity are written with the next flush.
	eventually(t, "the failure naming no identity", 10*time.Second, func() bool {
		_, env = admin.do("GET", "/auth-events?filter="+urlQuery(`eventType="password-failure" and identityId=null`), nil)
		return len(items(env)) > 0
	})
	if list := items(env); len(list) != 1 || list[0]["reason"] != "unknown username" {
		t.Fatalf("failures naming no identity: %v", env)
	}
	_, env = admin.do("GET", "/auth-events?filter="+urlQuery(`eventType="password-success"`), nil)
	if len(items(env)) < 2 { // the admin's and frank's
		t.Fatalf("successes: %v", env)
	}
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if _, env := admin.do("GET", "/auth-events?filter="+urlQuery("createdAt > datetime("+future+")"), nil); len(items(env)) != 0 {
		t.Fatalf("events from the future: %v", env)
	}
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	if _, env := admin.do("GET", "/auth-events?filter="+urlQuery("createdAt > datetime("+past+")")+"&limit=2", nil); len(items(env)) != 2 {
		t.Fatalf("a page of recent events: %v", env)
	}
	if status, env := admin.do("GET", "/auth-events?filter="+urlQuery("eventType = = 1"), nil); status != 400 || errorCode(env) != "INVALID_FILTER" {
		t.Fatalf("bad filter: %d %v", status, env)
	}

	// The trail outlives the identity.
	if status, _ := admin.do("DELETE", "/identities/"+frankID, nil); status != 200 {
		t.Fatalf("delete frank: %d", status)
	}
	if _, env := admin.do("GET", byIdentity, nil); len(items(env)) != 3 {
		t.Fatalf("events after the identity was deleted: %v", env)
	}
}

// attemptsPolicy is an auth policy allowing passwords, with the given
// primary.updb.maxAttempts and lockoutDurationMinutes.
func attemptsPolicy(name string, maxAttempts, lockoutMinutes int) map[string]any {
	p := fullAuthPolicy(name)
	updb := p["primary"].(map[string]any)["updb"].(map[string]any)
	updb["requireSpecialChar"], updb["requireMixedCase"] = false, false
	updb["maxAttempts"], updb["lockoutDurationMinutes"] = maxAttempts, lockoutMinutes
	return p
}

// userWithPolicy creates an identity under an auth policy, with the
// password name-password for the user name name-user.
func userWithPolicy(t *testing.T, admin *apiClient, name, policyID string) string {
	t.Helper()
	id := admin.create("/identities", map[string]any{"name": name, "type": "User", "isAdmin": false, "authPolicyId": policyID})
	admin.create("/authenticators", map[string]any{"method": "updb", "identityId": id, "username": name + "-user", "password": name + "-password"})
	return id
}

// refusedLogin logs in as username and expects a refusal: 401 INVALID_AUTH
// in the error envelope (never 429). It returns the Retry-After in seconds
// (0 when absent) and the error message.
func refusedLogin(t *testing.T, c *testCtl, username, password string) (int, string) {
	t.Helper()
	status, retry, env, _ := clientLogin(t, c, username, password)
	e, _ := env["error"].(map[string]any)
	msg, _ := e["message"].(string)
	if status != 401 || errorCode(env) != "INVALID_AUTH" || msg == "" {
		t.Fatalf("login of %s: %d %v, want 401 INVALID_AUTH", username, status, env)
	}
	if retry == "" {
		return 0, msg
	}
	secs, err := strconv.Atoi(retry)
	if err != nil || secs <= 0 {
		t.Fatalf("Retry-After %q", retry)
	}
	return secs, msg
}

// identityDisabled reads disabled, disabledAt and disabledUntil of an identity.
func identityDisabled(t *testing.T, admin *apiClient, id string) (bool, time.Time, time.Time) {
	t.Helper()
	status, env := admin.do("GET", "/identities/"+id, nil)
	if status != 200 {
		t.Fatalf("identity %s: %d %v", id, status, env)
	}
	parse := func(v any) time.Time {
		s, _ := v.(string)
		if s == "" {
			return time.Time{}
		}
		at, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatalf("time %q: %v", s, err)
		}
		return at
	}
	d := data(env)
	return d["disabled"] == true, parse(d["disabledAt"]), parse(d["disabledUntil"])
}

func TestAuthPolicyMaxAttemptsDisablesIdentity(t *testing.T) {
	t.Parallel()
	c := newTestController(t) // the controller's own lockout: 5 per address
	admin := c.adminClient(t)
	policy := admin.create("/auth-policies", attemptsPolicy("three-strikes", 3, 1))
	ivyID := userWithPolicy(t, admin, "ivy", policy)
	status, _, env, session := clientLogin(t, c, "ivy-user", "ivy-password")
	if status != 200 {
		t.Fatalf("login: %d %v", status, env)
	}
	wrong := func(from *testCtl, n int) {
		t.Helper()
		for i := 1; i <= n; i++ {
			if secs, msg := refusedLogin(t, from, "ivy-user", "not-the-password"); secs != 0 {
				t.Fatalf("wrong password %d of %d refused with Retry-After %d: %s", i, n, secs, msg)
			}
		}
	}

	// The right password ends a run of wrong ones: the count starts again.
	wrong(c, 2)
	if status, _, env, _ := clientLogin(t, c, "ivy-user", "ivy-password"); status != 200 {
		t.Fatalf("login after two wrong passwords: %d %v", status, env)
	}
	wrong(c, 2)
	if disabled, _, _ := identityDisabled(t, admin, ivyID); disabled {
		t.Fatal("disabled after two wrong passwords in a row")
	}
	// The third in a row disables the identity for the policy's minute,
	// wherever it comes from.
	other := c.fromSource(t, "127.0.0.2")
	secs, msg := refusedLogin(t, other, "ivy-user", "not-the-password")
	if secs < 1 || secs > 60 || !strings.Contains(msg, "disabled") {
		t.Fatalf("third wrong password: Retry-After %d, %q", secs, msg)
	}
	disabled, at, until := identityDisabled(t, admin, ivyID)
	if !disabled || at.IsZero() || until.Sub(at) != time.Minute {
		t.Fatalf("identity after the third wrong password: disabled %v at %v until %v", disabled, at, until)
	}
	// While disabled, even the right password is refused, from any address.
	for _, from := range []*testCtl{c, other, c.fromSource(t, "127.0.0.3")} {
		if secs, msg := refusedLogin(t, from, "ivy-user", "ivy-password"); secs < 1 || secs > 60 || !strings.Contains(msg, "disabled") {
			t.Fatalf("right password while disabled: Retry-After %d, %q", secs, msg)
		}
	}
	// Disabling ended the API session the identity had.
	if status, _ := session.do("GET", "/current-identity", nil); status != 401 {
		t.Fatalf("API session of the disabled identity: %d", status)
	}
	_, env = admin.do("GET", "/auth-events?filter="+urlQuery(`identityId="`+ivyID+`" and eventType="locked"`), nil)
	if events := items(env); len(events) != 1 || !strings.Contains(events[0]["reason"].(string), "auth policy") || events[0]["sourceAddress"] != "127.0.0.2" {
		t.Fatalf("locked events: %v", env)
	}
	// It is not a lock of one address.
	if _, env := admin.do("GET", "/auth-locks", nil); len(items(env)) != 0 {
		t.Fatalf("address locks: %v", env)
	}

	// An administrator enables it again; the count starts afresh.
	if status, env := admin.do("POST", "/identities/"+ivyID+"/enable", nil); status != 200 {
		t.Fatalf("enable: %d %v", status, env)
	}
	if status, _, env, _ := clientLogin(t, c, "ivy-user", "ivy-password"); status != 200 {
		t.Fatalf("login once enabled: %d %v", status, env)
	}
	wrong(c, 2)
	if disabled, _, _ := identityDisabled(t, admin, ivyID); disabled {
		t.Fatal("disabled again by two wrong passwords")
	}
}

func TestAuthPolicyLockoutUntilEnabled(t *testing.T) {
	t.Parallel()
	c := newTestController(t, withLockout(100, time.Minute, time.Hour)) // the address lock stays out of the way
	admin := c.adminClient(t)

	// lockoutDurationMinutes 0: disabled until an administrator enables it.
	jackID := userWithPolicy(t, admin, "jack", admin.create("/auth-policies", attemptsPolicy("two-strikes", 2, 0)))
	if secs, _ := refusedLogin(t, c, "jack-user", "not-the-password"); secs != 0 {
		t.Fatalf("first wrong password: Retry-After %d", secs)
	}
	if secs, msg := refusedLogin(t, c, "jack-user", "not-the-password"); secs != 0 || !strings.Contains(msg, "until an administrator enables it") {
		t.Fatalf("second wrong password: Retry-After %d, %q", secs, msg)
	}
	if disabled, at, until := identityDisabled(t, admin, jackID); !disabled || at.IsZero() || !until.IsZero() {
		t.Fatalf("identity: disabled %v at %v until %v", disabled, at, until)
	}
	if secs, msg := refusedLogin(t, c, "jack-user", "jack-password"); secs != 0 || !strings.Contains(msg, "disabled") {
		t.Fatalf("right password while disabled: Retry-After %d, %q", secs, msg)
	}
	if status, _ := admin.do("POST", "/identities/"+jackID+"/enable", nil); status != 200 {
		t.Fatalf("enable: %d", status)
	}
	if status, _, env, _ := clientLogin(t, c, "jack-user", "jack-password"); status != 200 {
		t.Fatalf("login once enabled: %d %v", status, env)
	}

	// maxAttempts 0: no limit.
	kimID := userWithPolicy(t, admin, "kim", admin.create("/auth-policies", attemptsPolicy("unlimited", 0, 0)))
	for i := 0; i < 8; i++ {
		if secs, _ := refusedLogin(t, c, "kim-user", "not-the-password"); secs != 0 {
			t.Fatalf("wrong password %d without a limit: Retry-After %d", i+1, secs)
		}
	}
	if disabled, _, _ := identityDisabled(t, admin, kimID); disabled {
		t.Fatal("disabled without a limit")
	}
	if status, _, _, _ := clientLogin(t, c, "kim-user", "kim-password"); status != 200 {
		t.Fatalf("login without a limit: %d", status)
	}

	// The default admin is never disabled by its policy: nobody could
	// enable it again.
	_, env := admin.do("GET", "/current-identity", nil)
	adminID := data(env)["id"].(string)
	strict := admin.create("/auth-policies", attemptsPolicy("one-strike", 1, 0))
	if status, env := admin.do("PATCH", "/identities/"+adminID, map[string]any{"authPolicyId": strict}); status != 200 {
		t.Fatalf("patch admin: %d %v", status, env)
	}
	for i := 0; i < 3; i++ {
		refusedLogin(t, c, "admin", "not-the-password")
	}
	if disabled, _, _ := identityDisabled(t, admin, adminID); disabled {
		t.Fatal("the default admin was disabled")
	}
	c.adminClient(t)
}

func TestLockoutCombinesWithAuthPolicy(t *testing.T) {
	t.Parallel()
	c := newTestController(t, withLockout(2, time.Minute, time.Hour))
	admin := c.adminClient(t)
	leeID := userWithPolicy(t, admin, "lee", admin.create("/auth-policies", attemptsPolicy("three-strikes", 3, 5)))

	// From one address, the controller's lock comes first.
	if secs, _ := refusedLogin(t, c, "lee-user", "not-the-password"); secs != 0 {
		t.Fatalf("first wrong password: Retry-After %d", secs)
	}
	if secs, msg := refusedLogin(t, c, "lee-user", "not-the-password"); secs < 55 || secs > 60 || !strings.Contains(msg, "locked for") {
		t.Fatalf("second wrong password: Retry-After %d, %q", secs, msg)
	}
	// While it holds, attempts from that address are refused unchecked and
	// count toward neither lockout.
	for _, password := range []string{"lee-password", "not-the-password", "not-the-password"} {
		if secs, msg := refusedLogin(t, c, "lee-user", password); secs == 0 || !strings.Contains(msg, "locked for") {
			t.Fatalf("attempt during the address lock: Retry-After %d, %q", secs, msg)
		}
	}
	if disabled, _, _ := identityDisabled(t, admin, leeID); disabled {
		t.Fatal("attempts refused by the address lock counted toward the auth policy")
	}
	// Another address may still try, and its wrong password is the third in
	// a row for the identity: the auth policy disables it for five minutes.
	other := c.fromSource(t, "127.0.0.2")
	if secs, msg := refusedLogin(t, other, "lee-user", "not-the-password"); secs < 295 || secs > 300 || !strings.Contains(msg, "disabled") {
		t.Fatalf("third wrong password in a row: Retry-After %d, %q", secs, msg)
	}
	if disabled, at, until := identityDisabled(t, admin, leeID); !disabled || until.Sub(at) != 5*time.Minute {
		t.Fatalf("identity: disabled %v at %v until %v", disabled, at, until)
	}
	// Now no address gets in, and the first address still sees its own lock.
	if secs, msg := refusedLogin(t, c.fromSource(t, "127.0.0.3"), "lee-user", "lee-password"); secs < 295 || !strings.Contains(msg, "disabled") {
		t.Fatalf("right password from a third address: Retry-After %d, %q", secs, msg)
	}
	if secs, msg := refusedLogin(t, c, "lee-user", "lee-password"); secs > 60 || !strings.Contains(msg, "locked for") {
		t.Fatalf("right password from the locked address: Retry-After %d, %q", secs, msg)
	}
}

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
	c := newTestController(t)
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
	_, env = admin.do("GET", "/auth-events?filter="+urlQuery(`eventType="password-failure" and identityId=null`), nil)
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

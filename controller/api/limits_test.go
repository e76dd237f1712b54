package api_test

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ostium-net/ostium/controller"
	"github.com/ostium-net/ostium/controller/api"
)

// eventually polls cond until it holds, failing after limit.
func eventually(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// appliedIndex is how far the test controller applied its raft log.
func appliedIndex(t *testing.T, c *testCtl) uint64 {
	t.Helper()
	members, err := c.ctl.Node().Members()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range members {
		if m.Self {
			return m.AppliedIndex
		}
	}
	t.Fatal("the node is not among its members")
	return 0
}

func TestRequestBodiesAreBounded(t *testing.T) {
	t.Parallel()
	c := newTestController(t)
	admin := c.adminClient(t)
	big := []byte(`{"name":"` + strings.Repeat("x", api.DefaultMaxRequestBytes) + `"}`)
	check := func(what string, status int, hdr http.Header, out []byte) {
		t.Helper()
		env := decodeEnvelope(t, out)
		if status != http.StatusRequestEntityTooLarge || errorCode(env) != "REQUEST_TOO_LARGE" || hdr.Get("Content-Type") == "" {
			t.Fatalf("%s: %d %s", what, status, out)
		}
	}
	// Told by Content-Length, authenticated or not.
	status, hdr, out := admin.raw("POST", "/identities", "application/json", big)
	check("a large create", status, hdr, out)
	anon := c.managementClient(t)
	status, hdr, out = anon.raw("POST", "/authenticate?method=password", "application/json", big)
	check("a large sign-in", status, hdr, out)
	// Streamed without a length: found out while reading.
	req, err := http.NewRequest("POST", c.base+"/edge/client/v1/authenticate?method=password", io.MultiReader(bytes.NewReader(big)))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = -1
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	out, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	check("a large chunked sign-in", resp.StatusCode, resp.Header, out)
	// A body just under the limit still reaches the handler (and fails there).
	under := []byte(`{"name":"` + strings.Repeat("x", api.DefaultMaxRequestBytes-100) + `"}`)
	if status, _, _ := admin.raw("POST", "/services", "application/json", under); status == http.StatusRequestEntityTooLarge {
		t.Fatalf("a body under the limit was refused as too large")
	}
}

func TestSlowHeadersAreCutOff(t *testing.T) {
	t.Parallel()
	c := newConfiguredController(t, func(cfg *controller.Config) { cfg.API.ReadHeaderTimeout = controller.Duration(time.Second) })
	conn, err := tls.Dial("tcp", c.ctl.Addr(), &tls.Config{RootCAs: c.ctl.CAPool()})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Half a request line, then nothing: the server must hang up, not wait.
	if _, err := conn.Write([]byte("GET /version HTTP/1.1\r\nHost: x\r\n")); err != nil {
		t.Fatal(err)
	}
	// Well before the default of 10s, so that an ignored setting fails.
	_ = conn.SetReadDeadline(time.Now().Add(8 * time.Second))
	got, err := io.ReadAll(conn)
	if ne, ok := err.(interface{ Timeout() bool }); ok && ne.Timeout() {
		t.Fatal("the server kept a connection whose headers never finished")
	}
	if strings.Contains(string(got), "200 OK") {
		t.Fatalf("answered an unfinished request: %q", got)
	}
}

func TestPasswordChecksAreBoundedThenRefused429(t *testing.T) {
	t.Parallel()
	c := newTestController(t, controller.WithAuthLimits(api.AuthLimits{PasswordChecks: 1, PasswordQueueWait: time.Millisecond}))
	admin := c.adminClient(t)
	clientFor(t, c, admin, "hana")
	const n = 16
	var wg sync.WaitGroup
	statuses := make(chan int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := "hana-user"
			if i%2 == 1 {
				user = "nobody-" + fmt.Sprint(i) // unknown names cost a hash too
			}
			cl := &apiClient{t: t, ctl: c, prefix: "/edge/client/v1"}
			body := []byte(`{"username":"` + user + `","password":"hana-password"}`)
			status, hdr, out := cl.raw("POST", "/authenticate?method=password", "application/json", body)
			if status == http.StatusTooManyRequests {
				env := decodeEnvelope(t, out)
				if errorCode(env) != "RATE_LIMITED" || hdr.Get("Retry-After") == "" {
					t.Errorf("429 without the envelope or Retry-After: %v %q", env, hdr.Get("Retry-After"))
				}
			}
			statuses <- status
		}()
	}
	wg.Wait()
	close(statuses)
	busy := 0
	for s := range statuses {
		switch s {
		case 200, 401:
		case http.StatusTooManyRequests:
			busy++
		default:
			t.Errorf("unexpected status %d", s)
		}
	}
	if busy == 0 {
		t.Fatalf("%d concurrent sign-ins with one hashing slot and no wait: none refused", n)
	}
	// A refused check is not an attempt: it locked nothing and recorded nothing.
	if _, env := admin.do("GET", "/auth-locks", nil); len(items(env)) != 0 {
		t.Fatalf("busy refusals placed locks: %v", env)
	}
}

func TestFailuresNamingNoIdentityAreWrittenTogether(t *testing.T) {
	t.Parallel()
	c := newTestController(t, controller.WithAuthLimits(api.AuthLimits{FailureFlush: time.Second, PasswordQueueWait: time.Minute}))
	admin := c.adminClient(t)
	before := appliedIndex(t, c)
	const n, workers = 30, 5
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range n / workers {
				if status, _, env, _ := clientLogin(t, c, "nobody-at-all", "guess"); status != 401 {
					t.Errorf("unknown user: %d %v", status, env)
				}
			}
		}()
	}
	wg.Wait()
	// counted sums the attempts the events stand for.
	var events []map[string]any
	counted := func() int {
		_, env := admin.do("GET", "/auth-events?limit=500&filter="+urlQuery(`eventType="password-failure" and identityId=null`), nil)
		events = items(env)
		total := 0
		for _, e := range events {
			reason, _ := e["reason"].(string)
			if !strings.HasPrefix(reason, "unknown username") || e["sourceAddress"] != "127.0.0.1" {
				t.Fatalf("event: %v", e)
			}
			k := 1
			if i := strings.LastIndex(reason, "("); i >= 0 {
				if _, err := fmt.Sscanf(reason[i+1:], "%d attempts)", &k); err != nil {
					t.Fatalf("reason %q", reason)
				}
			}
			total += k
		}
		return total
	}
	eventually(t, "every attempt to be written", 20*time.Second, func() bool { return counted() == n })
	// The attempts were written together: fewer events than attempts, and
	// the log grew by about one entry per flush, not one per attempt.
	if len(events) >= n {
		t.Fatalf("%d attempts were written as %d events", n, len(events))
	}
	if grown := appliedIndex(t, c) - before; grown > uint64(len(events))+3 {
		t.Fatalf("%d attempts in %d events grew the log by %d entries", n, len(events), grown)
	}
}

func TestOldAuthEventsArePruned(t *testing.T) {
	t.Parallel()
	c := newTestController(t, controller.WithAuthLimits(api.AuthLimits{EventRetention: 2 * time.Second, PruneEvery: 200 * time.Millisecond}))
	admin := c.adminClient(t)
	_, ivoID := clientFor(t, c, admin, "ivo")
	failLogins(t, c, "ivo-user", 1)
	byIvo := "/auth-events?filter=" + urlQuery(fmt.Sprintf("identityId=%q", ivoID))
	if _, env := admin.do("GET", byIvo, nil); len(items(env)) == 0 {
		t.Fatal("no event recorded")
	}
	eventually(t, "events past their retention to be deleted", 15*time.Second, func() bool {
		_, env := admin.do("GET", byIvo, nil)
		return len(items(env)) == 0
	})
	// New events are kept until they are old.
	failLogins(t, c, "ivo-user", 1)
	if _, env := admin.do("GET", byIvo, nil); len(items(env)) != 1 {
		t.Fatalf("a new event: %v", env)
	}
}

func TestLockoutPerIdentityAcrossAddresses(t *testing.T) {
	t.Parallel()
	if p := api.DefaultLockoutPolicy(); p.IdentityThreshold <= 0 || p.IdentityThreshold < p.Threshold {
		t.Fatalf("the default policy locks no identity across addresses: %+v", p)
	}
	c := newTestController(t, controller.WithLockoutPolicy(api.LockoutPolicy{Threshold: 3, BaseLock: time.Minute, MaxLock: time.Hour, IdentityThreshold: 4}))
	admin := c.adminClient(t)
	_, joID := clientFor(t, c, admin, "jo")
	second, third := c.fromSource(t, "127.0.0.2"), c.fromSource(t, "127.0.0.3")
	// Two wrong passwords from each of two addresses: under each address's
	// threshold of three, but four against the identity.
	failLogins(t, c, "jo-user", 2)
	if secs := failLogins(t, second, "jo-user", 2); secs == 0 {
		t.Fatal("the fourth failure from any address placed no lock")
	}
	// A third address, the right password: refused while the lock holds.
	secs, msg := refusedLogin(t, third, "jo-user", "jo-password")
	if secs < 55 || !strings.Contains(msg, "locked for") {
		t.Fatalf("right password from a new address during the identity's lock: %d %q", secs, msg)
	}
	_, env := admin.do("GET", "/auth-locks?filter="+urlQuery(fmt.Sprintf("identityId=%q", joID)), nil)
	if l := items(env); len(l) != 1 || l[0]["source"] != "*" {
		t.Fatalf("locks of jo: %v", env)
	}
	// Clearing it lets jo in, and the right password resets the count.
	if status, _ := admin.do("DELETE", "/identities/"+joID+"/auth-locks", nil); status != 200 {
		t.Fatal("clearing jo's locks")
	}
	if status, _, env, _ := clientLogin(t, third, "jo-user", "jo-password"); status != 200 {
		t.Fatalf("login after the lock was cleared: %d %v", status, env)
	}
}

func TestAPISessionsEndAtTheirMaxLifetime(t *testing.T) {
	t.Parallel()
	c := newConfiguredController(t, func(cfg *controller.Config) { cfg.API.SessionMaxLifetime = controller.Duration(2 * time.Second) })
	admin := c.adminClient(t)
	clientFor(t, c, admin, "kai")
	status, _, env, kai := clientLogin(t, c, "kai-user", "kai-password")
	if status != 200 {
		t.Fatalf("login: %d %v", status, env)
	}
	expires, _ := time.Parse(time.RFC3339, data(env)["expiresAt"].(string))
	if time.Until(expires) > 5*time.Second {
		t.Fatalf("expiresAt %v ignores the max lifetime", expires)
	}
	// Used all the time, it still ends.
	eventually(t, "the API session to end", 15*time.Second, func() bool {
		status, _ := kai.do("GET", "/current-api-session", nil)
		return status == 401
	})
}

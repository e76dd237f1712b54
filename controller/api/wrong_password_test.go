package api_test

import (
	"strings"
	"testing"

	"github.com/ostium-net/ostium/controller"
	"github.com/ostium-net/ostium/controller/api"
)

// TestWrongPasswordIsOneAnswer: every failed password login, on both APIs,
// answers 401 INVALID_AUTH "wrong username or password", whatever the
// length of what was typed, and whether the user name exists or not: never
// a validation error that tells a short password from a wrong one.
func TestWrongPasswordIsOneAnswer(t *testing.T) {
	t.Parallel()
	c := newTestController(t, controller.WithLockoutPolicy(api.LockoutPolicy{Threshold: 1000}))
	type attempt struct{ username, password string }
	var attempts []attempt
	for _, n := range []int{1, 3, 4, 5, 16, 100, 101, 4096} {
		attempts = append(attempts, attempt{"admin", strings.Repeat("x", n)}, attempt{strings.Repeat("u", n), testAdminPassword})
	}
	attempts = append(attempts, attempt{"admin", ""}, attempt{"", "whatever"}, attempt{"nobody", "admin-password-2"})
	for _, prefix := range []string{"/edge/management/v1", "/edge/client/v1"} {
		cl := c.managementClient(t)
		for _, a := range attempts {
			status, env := cl.do("POST", prefix+"/authenticate?method=password", map[string]any{"username": a.username, "password": a.password})
			e, _ := env["error"].(map[string]any)
			if status != 401 || e["code"] != "INVALID_AUTH" || e["message"] != "wrong username or password" {
				t.Errorf("%s user %d chars, password %d chars: %d %v", prefix, len(a.username), len(a.password), status, env["error"])
			}
		}
	}
	// And the right password still works.
	if status := loginStatus(t, c, "admin", testAdminPassword); status != 200 {
		t.Fatalf("admin login: %d", status)
	}
}

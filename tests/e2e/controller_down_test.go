package e2e

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ostium-net/ostium/sdk"
	"github.com/ostium-net/ostium/tests/harness"
	"github.com/ostium-net/ostium/tunnel"
)

// recordedLog keeps the messages logged through it, by level.
type recordedLog struct {
	mu   sync.Mutex
	msgs []string // "LEVEL message"
}

func (r *recordedLog) Enabled(context.Context, slog.Level) bool { return true }
func (r *recordedLog) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	r.msgs = append(r.msgs, rec.Level.String()+" "+rec.Message)
	r.mu.Unlock()
	return nil
}
func (r *recordedLog) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recordedLog) WithGroup(string) slog.Handler      { return r }

// count is how many messages were logged at level starting with prefix.
func (r *recordedLog) count(level slog.Level, prefix string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msgs {
		if strings.HasPrefix(m, level.String()+" "+prefix) {
			n++
		}
	}
	return n
}

// TestSignInWaitsForTheController covers a client started while the
// controller is down: it is told once that the controller cannot be reached,
// and signs in as soon as the controller is back.
func TestSignInWaitsForTheController(t *testing.T) {
	n := harness.Start(t)
	id := n.Identity("patient", "x")
	n.StopController()
	c := n.Context(id)
	var told atomic.Int32
	firstErr := make(chan error, 1)
	done := make(chan error, 1)
	go func() {
		done <- c.AuthenticateWait(context.Background(), func(err error) {
			told.Add(1)
			firstErr <- err
		})
	}()
	select {
	case err := <-firstErr:
		if !sdk.IsUnreachable(err) || !strings.Contains(err.Error(), "connection refused") {
			t.Fatalf("the first failure %q is not an unreachable controller", err)
		}
	case err := <-done:
		t.Fatalf("AuthenticateWait returned %v while the controller is down", err)
	case <-time.After(time.Minute):
		t.Fatal("no word of the controller being down")
	}
	n.StartController()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("AuthenticateWait: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("no sign-in after the controller came back")
	}
	if told.Load() != 1 {
		t.Fatalf("told of the outage %d times, want once", told.Load())
	}
	if _, err := c.Services(context.Background()); err != nil {
		t.Fatalf("services after the wait: %v", err)
	}

	// A refused identity is not waited for: its error comes back at once.
	n.Mgmt("DELETE", "/identities/"+identityIDOf(t, n, "patient"), nil, nil)
	other := n.Context(id)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := other.AuthenticateWait(ctx, func(error) { t.Error("a refused identity was treated as an outage") })
	if err == nil || sdk.IsUnreachable(err) || ctx.Err() != nil {
		t.Fatalf("sign-in of a deleted identity: %v", err)
	}
}

// identityIDOf finds an identity's id by name.
func identityIDOf(t *testing.T, n *harness.Network, name string) string {
	t.Helper()
	var list []struct {
		ID string `json:"id"`
	}
	n.Mgmt("GET", fmt.Sprintf(`/identities?filter=name=%q`, name), nil, &list)
	if len(list) != 1 {
		t.Fatalf("%d identities named %s", len(list), name)
	}
	return list[0].ID
}

// TestTunnelerLogsAControllerOutageOnce covers a tunneler whose controller
// goes away: one warning, quiet retries, one word when it is back.
func TestTunnelerLogsAControllerOutageOnce(t *testing.T) {
	n := harness.Start(t)
	n.OpenPolicies()
	n.Router("router-1")
	c := tunnelContext(t, n, n.Identity("steady", "x"))
	rec := &recordedLog{}
	tun := tunnel.New(c, tunnel.Options{Poll: 20 * time.Millisecond, Logger: slog.New(rec)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = tun.Run(ctx)
	}()
	defer func() { cancel(); <-done }()

	const failing, retrying, back = "cannot read the service list", "still cannot read", "reading the service list again"
	n.StopController()
	eventually(t, "retries while the controller is down", func() error {
		if got := rec.count(slog.LevelDebug, retrying); got < 3 {
			return fmt.Errorf("%d quiet retries so far", got)
		}
		return nil
	})
	n.StartController()
	eventually(t, "word that the controller is back", func() error {
		if rec.count(slog.LevelInfo, back) != 1 {
			return errors.New("not yet")
		}
		return nil
	})
	if got := rec.count(slog.LevelWarn, failing); got != 1 {
		t.Fatalf("%d warnings for one outage, want 1", got)
	}
}

// TestProxyChecksItsServicesAtStart covers proxy mappings naming a service
// that does not exist and one the identity may only bind: both are named in
// one error, before anything listens.
func TestProxyChecksItsServicesAtStart(t *testing.T) {
	n := harness.Start(t)
	n.OpenPolicies()
	n.Service("both", false)
	n.Service("bindonly", false)
	c := n.Context(n.Identity("mapper", "both-dial", "bindonly-bind"))
	if err := c.Authenticate(context.Background()); err != nil {
		t.Fatal(err)
	}
	var mappings []tunnel.Mapping
	for _, s := range []string{"both:0", "bindonly:0", "nosuch:0"} {
		m, err := tunnel.ParseMapping(s)
		if err != nil {
			t.Fatal(err)
		}
		mappings = append(mappings, m)
	}
	err := tunnel.CheckMappings(context.Background(), c, c.IdentityName(), mappings)
	if err == nil {
		t.Fatal("mappings to a missing and a bind-only service passed the check")
	}
	for _, want := range []string{
		`service "nosuch" does not exist or identity mapper may not use it`,
		`identity mapper may bind service "bindonly" but not dial it`,
		"ostium policy-advisor mapper nosuch",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("check error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), `"both"`) {
		t.Errorf("the dialable service is named in %q", err)
	}
	if err := tunnel.CheckMappings(context.Background(), c, c.IdentityName(), mappings[:1]); err != nil {
		t.Fatalf("a dialable service failed the check: %v", err)
	}
}

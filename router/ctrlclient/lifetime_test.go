package ctrlclient

import (
	"slices"
	"testing"
	"time"

	"github.com/ostium-net/ostium/internal/ctrlproto"
)

func TestAPISessionsEndAtTheirLifetimeWithoutTheController(t *testing.T) {
	h := startHarness(t, func(c *Config) { c.ExpirySweep = 20 * time.Millisecond })
	sess := h.server.next(t)
	short := apiSession("short", "tok-short")
	short.ExpiresAt = time.Now().Add(500 * time.Millisecond)
	long := apiSession("long", "tok-long")
	long.ExpiresAt = time.Now().Add(time.Hour)
	sess.push(t, ctrlproto.TypeSync, ctrlproto.Sync{Index: 1, APISessions: []ctrlproto.APISession{short, long, apiSession("forever", "tok-forever")}})
	eventually(t, "the sync", h.client.Synced)
	if _, ok := h.client.APISession("tok-short"); !ok {
		t.Fatal("an API session within its lifetime was refused")
	}
	// The controller goes away; the lifetime still ends.
	_ = sess.conn.Close()
	eventually(t, "the short API session to be reported removed", func() bool {
		apis, _ := h.removed.snapshot()
		return slices.Contains(apis, "short")
	})
	if _, ok := h.client.APISession("tok-short"); ok {
		t.Fatal("an API session past its lifetime is still accepted")
	}
	for _, tok := range []string{"tok-long", "tok-forever"} {
		if _, ok := h.client.APISession(tok); !ok {
			t.Fatalf("%s was dropped", tok)
		}
	}
	if apis, _ := h.removed.snapshot(); len(apis) != 1 {
		t.Fatalf("removed: %v, want only short", apis)
	}
}

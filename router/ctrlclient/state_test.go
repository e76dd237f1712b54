package ctrlclient

import (
	"crypto/tls"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ostium-net/ostium/internal/ctrlproto"
)

// offlineConfig is the configuration of a client that is never run, on a state file.
func offlineConfig(statePath string) Config {
	return Config{Address: "127.0.0.1:1", Logger: slog.New(slog.DiscardHandler), RouterID: "router-1", StatePath: statePath,
		TLS: &tls.Config{GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &tls.Certificate{}, nil }}}
}

// restarted makes a new Client, as a restarted router would, on the state file of cfg.
func restarted(t *testing.T, statePath string) *Client {
	t.Helper()
	c, err := New(offlineConfig(statePath))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestStateSurvivesARestart: what the controller pushed (by Sync and by Events) is saved, and
// a client made again on the same file, with no controller, serves it: API sessions, sessions,
// services, signed tokens and their revocations, third-party CAs, the mesh and the cluster's
// controllers.
func TestStateSurvivesARestart(t *testing.T) {
	statePath := filepath.Join(t.TempDir(), "data", "router-state.json")
	signer := newTokenSigner(t)
	partner := newPartnerCA(t, "partner")
	h := startHarness(t, func(cfg *Config) { cfg.RouterID = "router-1"; cfg.StatePath = statePath })
	sess := h.nextConnected(t)
	sess.push(t, ctrlproto.TypeSync, ctrlproto.Sync{
		RouterID: "router-1", Index: 7,
		APISessions: []ctrlproto.APISession{apiSession("a1", "tok-a1")},
		Sessions:    []ctrlproto.Session{session("s1", "a1", "svc1", "tok-s1")},
		Services:    []ctrlproto.Service{{ID: "svc1", Name: "one", EncryptionRequired: true}},
		TokenKeys:   signer.set,
		Revocations: []ctrlproto.Revocation{{APISessionID: "gone", ExpiresAt: time.Now().Add(time.Hour)}},
		CAs:         []ctrlproto.CA{{ID: "ca1", Name: "partner", CertPEM: partner.pem}},
		Routers:     []ctrlproto.Router{{ID: "router-2", Name: "two", Link: &ctrlproto.LinkListener{Address: "10.0.0.2:6000"}}},
		Terminators: []ctrlproto.Terminator{{ID: "t1", LocalID: "l1", ServiceID: "svc1", RouterID: "router-2"}},
	})
	sess.push(t, ctrlproto.TypeEvents, ctrlproto.Events{Index: 8, Events: []ctrlproto.Event{
		{Kind: ctrlproto.EventUpsert, Session: &ctrlproto.Session{ID: "s2", APISessionID: "a1", ServiceID: "svc1", Type: "Bind", TokenHash: ctrlproto.TokenHash("tok-s2")}},
	}})
	eventually(t, "the events", func() bool { _, ok := h.client.Session("tok-s2"); return ok })
	h.stop(t)

	c := restarted(t, statePath)
	if !c.Synced() {
		t.Error("a client that loaded a saved state does not say it is synced")
	}
	if a, ok := c.APISession("tok-a1"); !ok || a.ID != "a1" || a.IdentityID != "identity-a1" {
		t.Errorf("API session after the restart: %+v, %v", a, ok)
	}
	if s, ok := c.Session("tok-s1"); !ok || s.ID != "s1" || !s.ServiceEncryptionRequired {
		t.Errorf("session of the Sync after the restart: %+v, %v", s, ok)
	}
	if s, ok := c.Session("tok-s2"); !ok || s.ID != "s2" || s.Type != "Bind" {
		t.Errorf("session of the events after the restart: %+v, %v", s, ok)
	}
	if _, ok := c.APISession(signer.access(t, "signed-1", time.Hour)); !ok {
		t.Error("a signed access token is refused after the restart")
	}
	if _, ok := c.APISession(signer.access(t, "gone", time.Hour)); ok {
		t.Error("a revoked API session's signed token is accepted after the restart")
	}
	if !trusts(c, partner) {
		t.Error("the third-party CA is not trusted after the restart")
	}
	if r := c.Routers(); len(r) != 1 || r[0].Link == nil || r[0].Link.Address != "10.0.0.2:6000" {
		t.Errorf("routers after the restart: %+v", r)
	}
	if ts := c.ServiceTerminators("svc1"); len(ts) != 1 || ts[0].RouterID != "router-2" {
		t.Errorf("terminators after the restart: %+v", ts)
	}
	c.cache.mu.RLock()
	index := c.cache.index
	c.cache.mu.RUnlock()
	if index != 8 {
		t.Errorf("index after the restart = %d, want 8", index)
	}
}

// writeState writes a state file by hand.
func writeState(t *testing.T, st savedState) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "router-state.json")
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestStateIsLoadedOnlyWhenItFits: a state the controller last confirmed more than
// StateMaxAge ago, one of another router, one of another format and a damaged file are left
// unused; the client starts empty.
func TestStateIsLoadedOnlyWhenItFits(t *testing.T) {
	good := savedState{Format: stateFormat, RouterID: "router-1", SavedAt: time.Now(), HeardAt: time.Now(),
		State: ctrlproto.Sync{APISessions: []ctrlproto.APISession{apiSession("a1", "tok-a1")}}}
	if c := restarted(t, writeState(t, good)); !c.Synced() {
		t.Fatal("a fitting state was not loaded")
	}
	old := good
	old.HeardAt = time.Now().Add(-DefaultStateMaxAge - time.Minute)
	other := good
	other.RouterID = "router-2"
	future := good
	future.Format = stateFormat + 1
	ahead := good
	ahead.HeardAt = time.Now().Add(time.Hour)
	damaged := filepath.Join(t.TempDir(), "router-state.json")
	if err := os.WriteFile(damaged, []byte(`{"format":1,"routerId":"router-1","state":{"apiSessions":[{`), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, path := range map[string]string{"too old": writeState(t, old), "another router's": writeState(t, other),
		"another format": writeState(t, future), "future-dated": writeState(t, ahead), "damaged": damaged, "missing": filepath.Join(t.TempDir(), "none.json")} {
		c := restarted(t, path)
		if _, ok := c.APISession("tok-a1"); ok || c.Synced() {
			t.Errorf("a %s state was loaded", name)
		}
	}
}

// FuzzStateFile: whatever the state file holds, a client starts (using it or not) and answers
// lookups without panicking.
func FuzzStateFile(f *testing.F) {
	good, _ := json.Marshal(savedState{Format: stateFormat, RouterID: "router-1", SavedAt: time.Now(), HeardAt: time.Now(),
		State: ctrlproto.Sync{APISessions: []ctrlproto.APISession{apiSession("a1", "tok-a1")},
			Sessions:    []ctrlproto.Session{session("s1", "a1", "svc1", "tok-s1")},
			TokenKeys:   json.RawMessage(`{"keys":[]}`),
			CAs:         []ctrlproto.CA{{ID: "x", CertPEM: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}},
			Revocations: []ctrlproto.Revocation{{APISessionID: "r", ExpiresAt: time.Now().Add(time.Hour)}}}})
	f.Add(good)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"format":1,"routerId":"router-1","heardAt":"2999-01-01T00:00:00Z","state":{"tokenKeys":"not a jwks"}}`))
	f.Add([]byte(`null`))
	f.Add([]byte{0xff, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "router-state.json")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := New(offlineConfig(path))
		if err != nil {
			t.Fatal(err)
		}
		c.APISession("tok-a1")
		c.Session("tok-s1")
		c.ThirdPartyCAs()
		c.Routers()
	})
}

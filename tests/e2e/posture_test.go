package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ostium-net/ostium/sdk"
)

// TestPostureFailingCutsLiveConnection dials a service whose Dial policy
// requires a MAC check, after reporting an allowed MAC with the client's own
// API session, then reports another MAC: the controller removes the session
// and the router closes the live connection.
func TestPostureFailingCutsLiveConnection(t *testing.T) {
	e := newPostureNetwork(t)
	e.listenEcho(t, "guarded")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.client.Authenticate(ctx); err != nil {
		t.Fatal(err)
	}
	// Without posture data the service cannot be dialed.
	if c, err := e.client.Dial(ctx, "guarded"); err == nil {
		c.Close()
		t.Fatal("dialed a posture-guarded service without posture data")
	}
	e.report(t, "00:11:22:33:44:55")
	c, err := e.client.Dial(ctx, "guarded")
	if err != nil {
		t.Fatalf("dial with passing posture: %v", err)
	}
	defer c.Close()
	msg := []byte("posture holds")
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo before the posture change: %q %v", got, err)
	}

	// The device now reports a MAC the check does not allow.
	changed := time.Now()
	e.report(t, "66:77:88:99:aa:bb")
	_ = c.SetReadDeadline(time.Now().Add(15 * time.Second))
	_, err = c.Read(got)
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("live connection was not cut when posture turned failing: %v", err)
	}
	t.Logf("connection cut %v after the failing posture response: %v", time.Since(changed), err)
	if c2, err := e.client.Dial(ctx, "guarded"); err == nil {
		c2.Close()
		t.Fatal("dialed again with failing posture")
	}
}

type postureNetwork struct {
	*echoNetwork
	check string
	http  *http.Client
}

func newPostureNetwork(t *testing.T) *postureNetwork {
	t.Helper()
	e := newEchoNetwork(t, "open", false)
	n := e.n
	svc := n.Create("/services", map[string]any{"name": "guarded", "encryptionRequired": false})
	check := n.Create("/posture-checks", map[string]any{"typeId": "MAC", "name": "known-mac", "macAddresses": []string{"00-11-22-33-44-55"}})
	n.Create("/service-policies", map[string]any{"name": "guarded-dial", "type": "Dial", "semantic": "AnyOf",
		"identityRoles": []string{"#open-dial"}, "serviceRoles": []string{"@" + svc}, "postureCheckRoles": []string{"@" + check}})
	n.Create("/service-policies", map[string]any{"name": "guarded-bind", "type": "Bind", "semantic": "AnyOf",
		"identityRoles": []string{"#open-bind"}, "serviceRoles": []string{"@" + svc}})
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: n.Ctl.CAPool(), MinVersion: tls.VersionTLS12}}
	t.Cleanup(tr.CloseIdleConnections)
	return &postureNetwork{echoNetwork: e, check: check, http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// report sends a MAC posture response with the client's API session.
func (e *postureNetwork) report(t *testing.T, mac string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"id": e.check, "typeId": "MAC", "macAddresses": []string{mac}})
	req, err := http.NewRequest(http.MethodPost, e.n.URL()+"/edge/client/v1/posture-response", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("zt-session", e.client.APISessionToken())
	resp, err := e.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("posture response: %d %s", resp.StatusCode, raw)
	}
}

type fakePosture struct{ mac string }

func (f fakePosture) OperatingSystem() (string, string, string) { return "Linux", "6.1.0", "" }
func (f fakePosture) MACAddresses() []string                    { return []string{f.mac} }
func (f fakePosture) Domain() string                            { return "" }
func (f fakePosture) Process(string) (bool, string, []string)   { return false, "", nil }

// TestSDKAnswersPostureQueries: a Context with a posture provider answers the
// service's queries on its own before asking for a session.
func TestSDKAnswersPostureQueries(t *testing.T) {
	e := newPostureNetwork(t)
	e.listenEcho(t, "guarded")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	good, err := sdk.New(e.clientIdentity, sdk.Options{Posture: fakePosture{mac: "00:11:22:33:44:55"}})
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	c, err := good.Dial(ctx, "guarded")
	if err != nil {
		t.Fatalf("dial with a passing posture provider: %v", err)
	}
	_ = c.Close()
	bad, _ := sdk.New(e.clientIdentity, sdk.Options{Posture: fakePosture{mac: "aa:bb:cc:dd:ee:ff"}})
	defer bad.Close()
	if _, err := bad.Dial(ctx, "guarded"); err == nil || !strings.Contains(err.Error(), "INVALID_POSTURE") {
		t.Fatalf("dial with a failing posture provider: %v", err)
	}
}

// changingPosture reports a MAC address that the test changes.
type changingPosture struct{ mac atomic.Value }

func (f *changingPosture) OperatingSystem() (string, string, string) { return "Linux", "6.1.0", "" }
func (f *changingPosture) MACAddresses() []string                    { return []string{f.mac.Load().(string)} }
func (f *changingPosture) Domain() string                            { return "" }
func (f *changingPosture) Process(string) (bool, string, []string)   { return false, "", nil }

// TestSDKReportsPostureChangesOnItsOwn: the sdk reads its provider's facts
// again and sends what changed, without a new session asking: a device that
// leaves the allowed network loses its live connection, and dials again once
// it is back.
func TestSDKReportsPostureChangesOnItsOwn(t *testing.T) {
	e := newPostureNetwork(t)
	e.listenEcho(t, "guarded")
	p := &changingPosture{}
	p.mac.Store("00:11:22:33:44:55")
	c, err := sdk.New(e.clientIdentity, sdk.Options{Posture: p, PostureInterval: 100 * time.Millisecond, ServicePollInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := c.Dial(ctx, "guarded")
	if err != nil {
		t.Fatalf("dial with passing posture: %v", err)
	}
	defer conn.Close()
	if err := echoOnce(conn, "allowed network"); err != nil {
		t.Fatal(err)
	}
	p.mac.Store("66:77:88:99:aa:bb")
	_ = conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the live connection outlived a posture change nobody reported by hand: %v", err)
	}
	p.mac.Store("00:11:22:33:44:55")
	waitUntil(t, "a dial once the posture passes again", 20*time.Second, func() bool {
		again, err := c.Dial(ctx, "guarded")
		if err != nil {
			return false
		}
		defer again.Close()
		return echoOnce(again, "back") == nil
	})
}

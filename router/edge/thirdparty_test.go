package edge

import (
	"crypto/tls"
	"crypto/x509"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ostium-net/ostium/sdk/wire"
)

// refusedAtHandshake reports whether the router refuses cert: with TLS 1.3 the refusal
// arrives as an alert on the first read.
func refusedAtHandshake(t *testing.T, env *testEnv, cert tls.Certificate, name string) error {
	t.Helper()
	conn, err := dialTLS(t, env, cert, env.ca.pool)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(testWait))
	if _, err = wire.NewHello(name, []byte("t")).WriteTo(conn); err == nil {
		_, err = conn.Read(make([]byte, 1))
	}
	return err
}

func TestThirdPartyCAClientsFollowTheTrustedPool(t *testing.T) {
	partner := newTestCA(t, "partner root")
	var trusted atomic.Pointer[x509.CertPool]
	trusted.Store(partner.pool)
	env := startRouter(t, func(c *Config) { c.ThirdPartyCAs = trusted.Load })

	// A client of the partner CA whose certificate is its API session's connects and stays.
	id := &identity{name: "device", cert: partner.issue(t, "device", false), apiToken: "api-token-device", apiID: "api-device"}
	env.tokens.putAPISession(id.apiToken, APISession{ID: id.apiID, IdentityID: "identity-device", CertFingerprints: []string{certFingerprint(id.cert.Leaf)}})
	c := connect(t, env, id)
	if c.hello.RouterID != "router-1" {
		t.Fatalf("hello result: %+v", c.hello)
	}
	// Its certificate must still belong to the API session named, as for the network's.
	other := &identity{name: "other", cert: partner.issue(t, "other", false), apiToken: id.apiToken}
	stranger := newClient(t, env, other.cert)
	reply, err := stranger.request(wire.NewHello(other.name, []byte(other.apiToken)))
	if err == nil {
		if _, err = wire.ParseHelloResult(reply); err == nil {
			t.Fatal("a partner certificate that is not the API session's was accepted")
		}
	}
	// A network client is not affected by the partner CA.
	alice := env.newIdentity("alice")
	aliceConn := connect(t, env, alice)

	// The CA stops being trusted: the router re-checks, cuts the partner's channel, keeps
	// the network's, and refuses the partner's certificates from then on.
	trusted.Store(nil)
	env.l.RecheckClientCertificates()
	select {
	case <-c.conn.Done():
	case <-time.After(testWait):
		t.Fatal("the channel of a CA no longer trusted stayed open")
	}
	select {
	case <-aliceConn.conn.Done():
		t.Fatal("a network client's channel was closed")
	default:
	}
	if err := refusedAtHandshake(t, env, id.cert, id.name); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a certificate of a CA no longer trusted: %v", err)
	}
}

func TestThirdPartyCAClientCertificateNeedsClientAuth(t *testing.T) {
	partner := newTestCA(t, "partner root")
	env := startRouter(t, func(c *Config) { c.ThirdPartyCAs = func() *x509.CertPool { return partner.pool } })
	// A server certificate of the partner does not sign a client in.
	cert := partner.issue(t, "not-a-client", true)
	if err := refusedAtHandshake(t, env, cert, "not-a-client"); err == nil {
		t.Fatal("a partner certificate without client authentication was accepted")
	}
}

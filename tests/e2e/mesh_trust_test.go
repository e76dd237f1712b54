package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"github.com/ostium-net/ostium/router"
	"github.com/ostium-net/ostium/tests/harness"
)

// linkHandshake dials a link listener presenting cert and reports whether the listener took
// it: a listener that accepts the certificate sends its hello frame; one that refuses closes.
func linkHandshake(t *testing.T, addr string, cert tls.Certificate) bool {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true,
		NextProtos: []string{"ostium-link/1"}, MinVersion: tls.VersionTLS13})
	if err != nil {
		return false
	}
	defer conn.Close()
	// The listener waits for our hello before it sends its own; a hello naming the
	// certificate's router.
	leaf, _ := x509.ParseCertificate(cert.Certificate[0])
	body := []byte(`{"routerId":"` + leaf.Subject.CommonName + `","linkId":"probe-link"}`)
	frame := []byte{1, 0, 0, 0, 0, 0, 0, 0, byte(len(body)), 0, 0, 0}
	_, _ = conn.Write(append(frame, body...))
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	head := make([]byte, 12)
	n, err := conn.Read(head)
	return err == nil && n > 0 && head[0] == 1
}

func selfSignedAs(t *testing.T, cn string) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, IsCA: true, BasicConstraintsValid: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func routerCert(t *testing.T, r *harness.Router) tls.Certificate {
	t.Helper()
	id, err := router.LoadIdentity(r.Config().Identity)
	if err != nil {
		t.Fatal(err)
	}
	return id.Client
}

// TestMeshLinkTrust: the link listener takes the current certificate of a router of the
// network only: not an identity's, not one of a foreign CA naming a router, not a deleted
// router's. Deleting or re-enrolling a router closes its links.
func TestMeshLinkTrust(t *testing.T) {
	m := newMeshNetwork(t, "mesh-trust")
	n := m.n
	spare := n.EnrollRouter("mesh-spare") // enrolled, never started
	waitLinks(t, m.b, 2)
	deadline := time.Now().Add(10 * time.Second)
	for !linkHandshake(t, m.b.LinkAddr, routerCert(t, spare)) {
		if time.Now().After(deadline) {
			t.Fatal("the link listener refuses the certificate of an enrolled router")
		}
		time.Sleep(50 * time.Millisecond)
	}
	intruder := n.Identity("mesh-intruder")
	if linkHandshake(t, m.b.LinkAddr, intruder.Certificate()) {
		t.Fatal("the link listener took an identity's certificate")
	}
	if linkHandshake(t, m.b.LinkAddr, selfSignedAs(t, m.a.ID)) {
		t.Fatal("the link listener took a foreign CA's certificate naming a router")
	}
	n.Mgmt("DELETE", "/edge-routers/"+spare.ID, nil, nil)
	deadline = time.Now().Add(10 * time.Second)
	for linkHandshake(t, m.b.LinkAddr, routerCert(t, spare)) {
		if time.Now().After(deadline) {
			t.Fatal("the link listener still takes the certificate of a deleted router")
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Re-enrolling C closes its link; deleting A closes A's.
	n.Mgmt("POST", "/edge-routers/"+m.c.ID+"/re-enroll", nil, nil)
	waitNoLink(t, m.b, m.c.ID)
	n.Mgmt("DELETE", "/edge-routers/"+m.a.ID, nil, nil)
	waitNoLink(t, m.b, m.a.ID)
}

func waitLinks(t *testing.T, r *harness.Router, want int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for len(r.Running().Mesh().Links()) < want {
		if time.Now().After(deadline) {
			t.Fatalf("router %s has %d links, want %d", r.Name, len(r.Running().Mesh().Links()), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitNoLink(t *testing.T, r *harness.Router, peer string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		found := false
		for _, l := range r.Running().Mesh().Links() {
			if l.PeerID() == peer {
				found = true
			}
		}
		if !found {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("router %s keeps its link to %s", r.Name, peer)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

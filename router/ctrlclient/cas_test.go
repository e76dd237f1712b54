package ctrlclient

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ostium-net/ostium/internal/ctrlproto"
)

// partnerCA is a third-party CA and a client certificate it issued.
type partnerCA struct {
	pem  string
	leaf *x509.Certificate
}

func newPartnerCA(t *testing.T, name string) partnerCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, IsCA: true, BasicConstraintsValid: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name + " device"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &leafKey.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(leafDER)
	return partnerCA{pem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), leaf: leaf}
}

// trusts reports whether the client's third-party CAs verify the partner's client certificate.
func trusts(c *Client, p partnerCA) bool {
	pool := c.ThirdPartyCAs()
	if pool == nil {
		return false
	}
	_, err := p.leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	return err == nil
}

func TestThirdPartyCAsArePushedAndRemoved(t *testing.T) {
	var removedCalls atomic.Int32
	h := startHarness(t, func(c *Config) { c.OnCAsRemoved = func() { removedCalls.Add(1) } })
	a, b := newPartnerCA(t, "partner A"), newPartnerCA(t, "partner B")
	if h.client.ThirdPartyCAs() != nil {
		t.Fatal("a client that heard nothing trusts third-party CAs")
	}
	sess := h.server.next(t)
	sess.push(t, ctrlproto.TypeSync, ctrlproto.Sync{Index: 1, CAs: []ctrlproto.CA{{ID: "ca-a", Name: "partner A", CertPEM: a.pem},
		{ID: "ca-bad", CertPEM: "not a certificate"}}})
	eventually(t, "the sync", h.client.Synced)
	if !trusts(h.client, a) || trusts(h.client, b) {
		t.Fatalf("after the sync: trusts A %v (want true), B %v (want false)", trusts(h.client, a), trusts(h.client, b))
	}

	// A CA verified later arrives as an event; trust only widens, nothing is reported.
	sess.push(t, ctrlproto.TypeEvents, ctrlproto.Events{Index: 2, Events: []ctrlproto.Event{
		{Kind: ctrlproto.EventUpsert, CA: &ctrlproto.CA{ID: "ca-b", Name: "partner B", CertPEM: b.pem}}}})
	eventually(t, "partner B to be trusted", func() bool { return trusts(h.client, b) })
	if !trusts(h.client, a) || removedCalls.Load() != 0 {
		t.Fatalf("adding B: trusts A %v, removals reported %d", trusts(h.client, a), removedCalls.Load())
	}

	// Deleted: trust ends at once and the router is told, to cut its clients.
	sess.push(t, ctrlproto.TypeEvents, ctrlproto.Events{Index: 3, Events: []ctrlproto.Event{
		{Kind: ctrlproto.EventDelete, CA: &ctrlproto.CA{ID: "ca-a"}}}})
	eventually(t, "partner A to lose trust", func() bool { return !trusts(h.client, a) })
	eventually(t, "the removal to be reported", func() bool { return removedCalls.Load() == 1 })
	if !trusts(h.client, b) {
		t.Fatal("deleting A removed B")
	}

	// A Sync without B (it was deleted while the router was away) removes it too.
	sess.push(t, ctrlproto.TypeSync, ctrlproto.Sync{Index: 4})
	eventually(t, "partner B to lose trust", func() bool { return h.client.ThirdPartyCAs() == nil })
	eventually(t, "the second removal to be reported", func() bool { return removedCalls.Load() == 2 })
}

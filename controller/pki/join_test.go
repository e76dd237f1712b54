package pki

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestInitJoinedMakesItsOwnServerCertificate(t *testing.T) {
	first, err := Init(filepath.Join(t.TempDir(), "first"), InitOptions{DNSNames: []string{"ctrl-1.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	a, err := Load(first.Config())
	if err != nil {
		t.Fatal(err)
	}
	m, err := a.JoinMaterial()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "second")
	files, err := InitJoined(dir, m, InitOptions{DNSNames: []string{"ctrl-2.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Load(files.Config())
	if err != nil {
		t.Fatalf("the joined PKI does not load: %v", err)
	}
	if err := b.ServerCert().VerifyHostname("ctrl-2.example.com"); err != nil {
		t.Fatal(err)
	}
	if b.ServerCert().VerifyHostname("ctrl-1.example.com") == nil {
		t.Fatal("the joined controller's certificate names the first controller")
	}
	if !bytes.Equal(b.SigningCert().Raw, a.SigningCert().Raw) || b.RootFingerprints()[0] != a.RootFingerprints()[0] {
		t.Fatal("the joined controller signs with another CA")
	}
	if _, err := os.Stat(files.RootKey); !os.IsNotExist(err) {
		t.Fatalf("the root key was written: %v", err)
	}
	// Init on the joined directory keeps it as it is.
	before, _ := os.ReadFile(files.ServerCert)
	if _, err := Init(dir, InitOptions{}); err != nil {
		t.Fatalf("init on a joined PKI: %v", err)
	}
	after, _ := os.ReadFile(files.ServerCert)
	if !bytes.Equal(before, after) {
		t.Fatal("init replaced the joined controller's server certificate")
	}
	// A second join into the same directory, or a key of another CA, is refused.
	if _, err := InitJoined(dir, m, InitOptions{}); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("a join over existing files: %v", err)
	}
	other, _ := Init(filepath.Join(t.TempDir(), "other"), InitOptions{})
	otherKey, _ := os.ReadFile(other.SigningKey)
	m.SigningKeyPEM = otherKey
	if _, err := InitJoined(filepath.Join(t.TempDir(), "third"), m, InitOptions{}); err == nil {
		t.Fatal("a signing key of another CA was accepted")
	}
}

package identity

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type testMaterial struct {
	keyPEM, certPEM, caPEM []byte
	ca                     *x509.Certificate
}

func newMaterial(t testing.TB) testMaterial {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, IsCA: true,
		BasicConstraintsValid: true, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageCertSign}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "client"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	keyDER, _ := x509.MarshalECPrivateKey(key)
	return testMaterial{
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		caPEM:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		ca:      ca,
	}
}

func TestInlineAndFileMaterialLoadTheSame(t *testing.T) {
	m := newMaterial(t)
	inline, _ := json.Marshal(File{ZtAPI: "https://ctrl:1280", ID: Material{Key: "pem:" + string(m.keyPEM), Cert: "pem:" + string(m.certPEM), CA: "pem:" + string(m.caPEM)}})
	a, err := Parse(inline, "")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, data := range map[string][]byte{"k.pem": m.keyPEM, "c.pem": m.certPEM, "ca.pem": m.caPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	byPath, _ := json.Marshal(File{ZtAPI: "https://ctrl:1280", ID: Material{Key: "k.pem", Cert: "c.pem", CA: filepath.Join(dir, "ca.pem")}})
	if err := os.WriteFile(filepath.Join(dir, "id.json"), byPath, 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := Load(filepath.Join(dir, "id.json"))
	if err != nil {
		t.Fatal(err)
	}
	if a.Fingerprint() != b.Fingerprint() || len(a.Fingerprint()) != 40 || a.ControllerURL != "https://ctrl:1280" {
		t.Fatalf("loaded identities differ: %s %s", a.Fingerprint(), b.Fingerprint())
	}
	if _, err := a.Chain[0].Verify(x509.VerifyOptions{Roots: a.CAs, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("chain does not verify against the identity's CAs: %v", err)
	}

	// Save writes inline PEM with mode 0600 and loads back.
	out := filepath.Join(dir, "saved.json")
	if err := a.Save(out); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(out)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("saved with mode %v", st.Mode().Perm())
	}
	c, err := Load(out)
	if err != nil || c.Fingerprint() != a.Fingerprint() {
		t.Fatalf("reload: %v", err)
	}
	raw, _ := os.ReadFile(out)
	if !strings.Contains(string(raw), `"key": "pem:-----BEGIN PRIVATE KEY`) {
		t.Fatalf("saved form: %s", raw[:80])
	}

	// Saving over a file keeps its permissions, replaces a link's target rather than the
	// link, and leaves no temporary file behind.
	if err := os.Chmod(out, 0o640); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.json")
	if err := os.Symlink("saved.json", link); err != nil {
		t.Fatal(err)
	}
	c.ControllerURL = "https://moved:1280"
	if err := c.Save(link); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(out); st.Mode().Perm() != 0o640 {
		t.Fatalf("rewritten with mode %v, want 0640", st.Mode().Perm())
	}
	if st, _ := os.Lstat(link); st.Mode()&os.ModeSymlink == 0 {
		t.Fatal("the link was replaced by a file")
	}
	if back, err := Load(out); err != nil || back.ControllerURL != "https://moved:1280" {
		t.Fatalf("rewritten identity: %v %+v", err, back)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Fatalf("temporary file left behind: %s", e.Name())
		}
	}
	// A directory that cannot be written fails cleanly, the old file intact.
	if err := c.Save(filepath.Join(dir, "missing", "id.json")); err == nil {
		t.Fatal("saving into a missing directory succeeded")
	}
}

func TestBadIdentitiesAreRefusedClearly(t *testing.T) {
	m := newMaterial(t)
	other := newMaterial(t)
	mk := func(f File) []byte { b, _ := json.Marshal(f); return b }
	good := Material{Key: "pem:" + string(m.keyPEM), Cert: "pem:" + string(m.certPEM), CA: "pem:" + string(m.caPEM)}
	cases := map[string][]byte{
		"no controller":  mk(File{ID: good}),
		"no key":         mk(File{ZtAPI: "https://x", ID: Material{Cert: good.Cert, CA: good.CA}}),
		"key mismatch":   mk(File{ZtAPI: "https://x", ID: Material{Key: "pem:" + string(other.keyPEM), Cert: good.Cert, CA: good.CA}}),
		"garbage cert":   mk(File{ZtAPI: "https://x", ID: Material{Key: good.Key, Cert: "pem:nothing", CA: good.CA}}),
		"missing file":   mk(File{ZtAPI: "https://x", ID: Material{Key: "/does/not/exist", Cert: good.Cert, CA: good.CA}}),
		"not JSON":       []byte("{"),
		"empty CA":       mk(File{ZtAPI: "https://x", ID: Material{Key: good.Key, Cert: good.Cert, CA: "pem:"}}),
		"too large JSON": []byte(strings.Repeat(" ", MaxFileSize+1)),
	}
	for name, data := range cases {
		if _, err := Parse(data, t.TempDir()); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzParse(f *testing.F) {
	m := newMaterial(f)
	good, _ := json.Marshal(File{ZtAPI: "https://x", ID: Material{Key: "pem:" + string(m.keyPEM), Cert: "pem:" + string(m.certPEM), CA: "pem:" + string(m.caPEM)}})
	f.Add(good)
	f.Add([]byte(`{"ztAPI":"https://x","id":{"key":"pem:","cert":"pem:","ca":"pem:"}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		id, err := Parse(data, "")
		if err == nil && (id.Key == nil || len(id.Chain) == 0 || id.CAs == nil) {
			t.Fatal("parsed identity is incomplete")
		}
	})
}

func TestLoadingAJWTSaysToEnrollItFirst(t *testing.T) {
	path := filepath.Join(t.TempDir(), "laptop.jwt")
	jwt := "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJsYXB0b3AifQ.c2lnbmF0dXJl\n"
	if err := os.WriteFile(path, []byte(jwt), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if err == nil || !strings.Contains(err.Error(), "enroll it first") || !strings.Contains(err.Error(), "ostium enroll "+path) {
		t.Fatalf("loading a JWT: %v", err)
	}
	// Anything else that is not JSON is still a decoding error.
	if err := os.WriteFile(path, []byte("eyJ not a token"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || strings.Contains(err.Error(), "enroll it first") {
		t.Fatalf("loading garbage: %v", err)
	}
}

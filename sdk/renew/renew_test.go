package renew

import (
	"bufio"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testCA issues certificates for the tests, valid from the clock's now.
type testCA struct {
	cert   *x509.Certificate
	key    *ecdsa.PrivateKey
	serial atomic.Int64
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "renew test CA"},
		NotBefore: time.Now().Add(-24 * time.Hour), NotAfter: time.Now().Add(10 * 365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	ca := &testCA{cert: cert, key: key}
	ca.serial.Store(1)
	return ca
}

func (ca *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// issue signs a client and server certificate for pub.
func (ca *testCA) issue(pub crypto.PublicKey, notBefore time.Time, lifetime time.Duration) (*x509.Certificate, error) {
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(ca.serial.Add(1)), Subject: pkix.Name{CommonName: "renewed"},
		NotBefore: notBefore, NotAfter: notBefore.Add(lifetime), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// initial is a first certificate with its key.
func (ca *testCA) initial(t testing.TB, notBefore time.Time, lifetime time.Duration) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.issue(&key.PublicKey, notBefore, lifetime)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{leaf.Raw, ca.cert.Raw}, PrivateKey: key}
}

// fakeClock is a time source whose timers fire when the test advances it.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	timers  []fakeTimer
	waiting chan time.Duration // each After request, for the test to observe
}

type fakeTimer struct {
	at time.Time
	c  chan time.Time
}

func newFakeClock(start time.Time) *fakeClock {
	return &fakeClock{now: start, waiting: make(chan time.Duration, 16)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	ch := make(chan time.Time, 1)
	c.timers = append(c.timers, fakeTimer{at: c.now.Add(d), c: ch})
	c.mu.Unlock()
	c.waiting <- d
	return ch
}

// Advance moves the clock and fires the timers that are due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	for _, tm := range c.timers {
		if !tm.at.After(c.now) {
			tm.c <- c.now
			continue
		}
		kept = append(kept, tm)
	}
	c.timers = kept
}

// nextWait returns the duration of the next wait Run asks for.
func (c *fakeClock) nextWait(t *testing.T) time.Duration {
	t.Helper()
	select {
	case d := <-c.waiting:
		return d
	case <-time.After(20 * time.Second):
		t.Fatal("the renewer never waited")
		return 0
	}
}

func fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

func TestRenewalTime(t *testing.T) {
	nb := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	lifetime := 90 * 24 * time.Hour
	na := nb.Add(lifetime)
	if got, want := RenewalTime(nb, na, 0.1, 0.5), nb.Add(60*24*time.Hour); !got.Equal(want) {
		t.Fatalf("middle of the window: %s, want two thirds of the lifetime %s", got, want)
	}
	if got, want := RenewalTime(nb, na, 0, 0.99), nb.Add(60*24*time.Hour); !got.Equal(want) {
		t.Fatalf("without jitter: %s, want %s", got, want)
	}
	lo := nb.Add(time.Duration((2.0/3.0 - 0.1) * float64(lifetime)))
	hi := nb.Add(time.Duration((2.0/3.0 + 0.1) * float64(lifetime)))
	if got := RenewalTime(nb, na, 0.1, 0); !got.Equal(lo) {
		t.Fatalf("earliest: %s, want %s", got, lo)
	}
	for i := 0; i < 1000; i++ {
		u := float64(i) / 1000
		got := RenewalTime(nb, na, 0.1, u)
		if got.Before(lo) || got.After(hi) {
			t.Fatalf("u=%v: %s outside [%s, %s]", u, got, lo, hi)
		}
	}
	// A huge jitter never leaves the validity period.
	if got := RenewalTime(nb, na, 5, 0.999); got.After(na) {
		t.Fatalf("jitter 5: %s after notAfter", got)
	}
	if got := RenewalTime(nb, na, 5, 0); got.Before(nb) {
		t.Fatalf("jitter 5: %s before notBefore", got)
	}
	if got := RenewalTime(nb, nb, 0.1, 0.5); !got.Equal(nb) {
		t.Fatalf("empty lifetime: %s", got)
	}
}

func TestNewSchedulesFromTheCurrentCertificate(t *testing.T) {
	ca := newTestCA(t)
	nb := time.Now().Truncate(time.Second)
	cert := ca.initial(t, nb, 30*time.Hour)
	var draws int
	r := New(Config{Certificate: cert, Renew: func(context.Context, crypto.Signer) ([]*x509.Certificate, error) { return nil, errors.New("unused") },
		Random: func() float64 { draws++; return 1.0 / 3 }})
	// Default jitter 10%: 2/3 - 0.1/3 of 30 h = 19 h.
	if got, want := r.NextRenewal(), nb.Add(19*time.Hour); got.Sub(want).Abs() > time.Microsecond {
		t.Fatalf("next renewal %s, want %s", got, want)
	}
	if draws != 1 {
		t.Fatalf("the jitter was drawn %d times, want once per certificate", draws)
	}
	got, _ := r.GetClientCertificate(nil)
	if got.Leaf == nil || fingerprint(got.Certificate[0]) != fingerprint(cert.Certificate[0]) {
		t.Fatal("GetClientCertificate does not present the initial certificate with its leaf")
	}
	// Without a certificate, renewal is due at once.
	now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	empty := New(Config{Renew: func(context.Context, crypto.Signer) ([]*x509.Certificate, error) { return nil, errors.New("unused") },
		Now: func() time.Time { return now }})
	if !empty.NextRenewal().Equal(now) {
		t.Fatalf("no certificate: next renewal %s, want now", empty.NextRenewal())
	}
}

func TestRenewNowUsesANewKeyEachTime(t *testing.T) {
	ca := newTestCA(t)
	clock := newFakeClock(time.Now().Truncate(time.Second))
	cert := ca.initial(t, clock.Now(), time.Hour)
	seenKeys := map[string]bool{}
	pub := func(k crypto.PublicKey) string {
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return fingerprint(der)
	}
	seenKeys[pub(cert.PrivateKey.(crypto.Signer).Public())] = true
	var renewed []tls.Certificate
	for _, alg := range []KeyAlgorithm{ECDSAP256, ECDSAP384, RSA2048} {
		t.Run(string(alg), func(t *testing.T) {
			r := New(Config{Certificate: cert, KeyAlgorithm: alg, Now: clock.Now,
				Renew: func(_ context.Context, key crypto.Signer) ([]*x509.Certificate, error) {
					leaf, err := ca.issue(key.Public(), clock.Now(), 3*time.Hour)
					return []*x509.Certificate{leaf, ca.cert}, err
				},
				OnRenewed: func(tc tls.Certificate) { renewed = append(renewed, tc) }})
			for i := 0; i < 3; i++ {
				if err := r.RenewNow(context.Background()); err != nil {
					t.Fatal(err)
				}
				current := r.Certificate()
				k := pub(current.PrivateKey.(crypto.Signer).Public())
				if seenKeys[k] {
					t.Fatalf("renewal %d reused a key", i)
				}
				seenKeys[k] = true
				if pub(current.Leaf.PublicKey) != k {
					t.Fatal("the leaf is not for the new key")
				}
				got, _ := r.GetClientCertificate(nil)
				if fingerprint(got.Certificate[0]) != fingerprint(current.Certificate[0]) || len(got.Certificate) != 2 {
					t.Fatal("GetClientCertificate does not present the renewed chain")
				}
				srv, _ := r.GetCertificate(nil)
				if srv != got {
					t.Fatal("GetCertificate and GetClientCertificate disagree")
				}
				// The schedule follows the new certificate: 2 h ± 18 min after its start.
				if d := r.NextRenewal().Sub(current.Leaf.NotBefore); d < 102*time.Minute || d > 138*time.Minute {
					t.Fatalf("next renewal %s after the new certificate's start", d)
				}
			}
		})
	}
	if len(renewed) != 9 {
		t.Fatalf("OnRenewed called %d times, want 9", len(renewed))
	}
	if _, err := GenerateKey("DSA-1024"); err == nil {
		t.Fatal("an unknown key algorithm was accepted")
	}
}

func TestRenewNowRefusesBadAnswers(t *testing.T) {
	ca := newTestCA(t)
	now := time.Now()
	cert := ca.initial(t, now, time.Hour)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	answers := map[string]RenewFunc{
		"error": func(context.Context, crypto.Signer) ([]*x509.Certificate, error) { return nil, errors.New("refused") },
		"empty": func(context.Context, crypto.Signer) ([]*x509.Certificate, error) { return nil, nil },
		"another key": func(context.Context, crypto.Signer) ([]*x509.Certificate, error) {
			leaf, err := ca.issue(&other.PublicKey, now, time.Hour)
			return []*x509.Certificate{leaf}, err
		},
		"expired": func(_ context.Context, key crypto.Signer) ([]*x509.Certificate, error) {
			leaf, err := ca.issue(key.Public(), now.Add(-2*time.Hour), time.Hour)
			return []*x509.Certificate{leaf}, err
		},
	}
	for name, renew := range answers {
		r := New(Config{Certificate: cert, Renew: renew})
		if err := r.RenewNow(context.Background()); err == nil {
			t.Fatalf("%s: renewal succeeded", name)
		}
		if got := r.Certificate(); fingerprint(got.Certificate[0]) != fingerprint(cert.Certificate[0]) {
			t.Fatalf("%s: the certificate changed after a failed renewal", name)
		}
	}
}

func TestBackoff(t *testing.T) {
	r := New(Config{Renew: func(context.Context, crypto.Signer) ([]*x509.Certificate, error) { return nil, nil },
		MinBackoff: time.Second, MaxBackoff: 30 * time.Second})
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second}
	for i, w := range want {
		if got := r.Backoff(i + 1); got != w {
			t.Fatalf("backoff after %d failures: %s, want %s", i+1, got, w)
		}
	}
	if got := r.Backoff(1000); got != 30*time.Second {
		t.Fatalf("backoff after 1000 failures: %s", got)
	}
}

// TestRunRenewsOnScheduleAndRetries drives Run with a fake clock: the first
// wait ends at the renewal time, failures are retried after a doubling
// backoff, and a success schedules the next renewal from the new certificate.
func TestRunRenewsOnScheduleAndRetries(t *testing.T) {
	ca := newTestCA(t)
	clock := newFakeClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	lifetime := 12 * time.Hour
	cert := ca.initial(t, clock.Now(), lifetime)
	var attempts atomic.Int32
	renewedAt := make(chan time.Time, 4)
	r := New(Config{Certificate: cert, Now: clock.Now, After: clock.After, Random: func() float64 { return 0.5 },
		MinBackoff: time.Minute, MaxBackoff: 3 * time.Minute,
		Renew: func(_ context.Context, key crypto.Signer) ([]*x509.Certificate, error) {
			if attempts.Add(1) <= 3 {
				return nil, errors.New("controller unavailable")
			}
			leaf, err := ca.issue(key.Public(), clock.Now(), lifetime)
			return []*x509.Certificate{leaf, ca.cert}, err
		},
		OnRenewed: func(tc tls.Certificate) { renewedAt <- tc.Leaf.NotBefore }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()

	if d := clock.nextWait(t); d != 8*time.Hour {
		t.Fatalf("first wait %s, want 8h (two thirds of 12h)", d)
	}
	clock.Advance(8 * time.Hour)
	for i, want := range []time.Duration{time.Minute, 2 * time.Minute, 3 * time.Minute} {
		if d := clock.nextWait(t); d != want {
			t.Fatalf("wait after failure %d: %s, want %s", i+1, d, want)
		}
		clock.Advance(want)
	}
	var notBefore time.Time
	select {
	case notBefore = <-renewedAt:
	case <-time.After(20 * time.Second):
		t.Fatal("no renewal after the retries")
	}
	if want := clock.Now(); !notBefore.Equal(want) {
		t.Fatalf("renewed certificate starts %s, want %s", notBefore, want)
	}
	if d := clock.nextWait(t); d != 8*time.Hour {
		t.Fatalf("wait after renewal %s, want 8h", d)
	}
	if n := attempts.Load(); n != 4 {
		t.Fatalf("%d attempts, want 4", n)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
}

// TestRunFollowsRenewNow: a renewal made outside Run reschedules Run.
func TestRunFollowsRenewNow(t *testing.T) {
	ca := newTestCA(t)
	clock := newFakeClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	cert := ca.initial(t, clock.Now(), 3*time.Hour)
	r := New(Config{Certificate: cert, Now: clock.Now, After: clock.After, Random: func() float64 { return 0.5 },
		Renew: func(_ context.Context, key crypto.Signer) ([]*x509.Certificate, error) {
			leaf, err := ca.issue(key.Public(), clock.Now(), 6*time.Hour)
			return []*x509.Certificate{leaf}, err
		}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	if d := clock.nextWait(t); d != 2*time.Hour {
		t.Fatalf("first wait %s", d)
	}
	clock.Advance(time.Hour)
	if err := r.RenewNow(ctx); err != nil {
		t.Fatal(err)
	}
	if d := clock.nextWait(t); d != 4*time.Hour {
		t.Fatalf("wait after RenewNow %s, want 4h (two thirds of the new 6h certificate)", d)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
}

// TestLiveConnectionSurvivesRenewal: a server requiring client certificates
// keeps serving a connection made with the old certificate after the
// renewal, and a new handshake presents the new certificate.
func TestLiveConnectionSurvivesRenewal(t *testing.T) {
	ca := newTestCA(t)
	serverCert := ca.initial(t, time.Now().Add(-time.Minute), time.Hour)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{serverCert},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.pool(), MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				tc := conn.(*tls.Conn)
				if err := tc.Handshake(); err != nil {
					return
				}
				peer := fingerprint(tc.ConnectionState().PeerCertificates[0].Raw)
				in := bufio.NewScanner(conn)
				for in.Scan() {
					if _, err := fmt.Fprintf(conn, "%s %s\n", in.Text(), peer); err != nil {
						return
					}
				}
			}()
		}
	}()

	old := ca.initial(t, time.Now().Add(-time.Minute), time.Hour)
	r := New(Config{Certificate: old, Renew: func(_ context.Context, key crypto.Signer) ([]*x509.Certificate, error) {
		leaf, err := ca.issue(key.Public(), time.Now().Add(-time.Minute), time.Hour)
		return []*x509.Certificate{leaf, ca.cert}, err
	}})
	dial := func() (*tls.Conn, *bufio.Reader) {
		conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: ca.pool(), ServerName: "localhost",
			GetClientCertificate: r.GetClientCertificate, MinVersion: tls.VersionTLS12})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		return conn, bufio.NewReader(conn)
	}
	ask := func(conn *tls.Conn, rd *bufio.Reader, msg string) string {
		t.Helper()
		if _, err := fmt.Fprintln(conn, msg); err != nil {
			t.Fatalf("write %q: %v", msg, err)
		}
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("read answer to %q: %v", msg, err)
		}
		return line
	}
	oldFP := fingerprint(old.Certificate[0])
	live, liveRd := dial()
	if got := ask(live, liveRd, "before"); got != "before "+oldFP+"\n" {
		t.Fatalf("before renewal: %q", got)
	}
	if err := r.RenewNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	newFP := fingerprint(r.Certificate().Certificate[0])
	if newFP == oldFP {
		t.Fatal("the certificate did not change")
	}
	if got := ask(live, liveRd, "after"); got != "after "+oldFP+"\n" {
		t.Fatalf("the live connection after renewal: %q", got)
	}
	fresh, freshRd := dial()
	if got := ask(fresh, freshRd, "new"); got != "new "+newFP+"\n" {
		t.Fatalf("a new handshake after renewal: %q, want the new certificate %s", got, newFP)
	}
	if got := ask(live, liveRd, "still"); got != "still "+oldFP+"\n" {
		t.Fatalf("the live connection later: %q", got)
	}
	_ = live.Close()
	_ = fresh.Close()
	_ = ln.Close()
}

func FuzzParseChain(f *testing.F) {
	ca := newTestCA(f)
	f.Add(string(pemOf(ca.cert)))
	f.Add(string(pemOf(ca.cert)) + string(pemOf(ca.cert)))
	f.Add("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
	f.Add("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, text string) {
		chain, err := parseChain(text)
		if err == nil && len(chain) == 0 {
			t.Fatal("no error and no certificate")
		}
		for _, c := range chain {
			if c == nil {
				t.Fatal("nil certificate in the chain")
			}
		}
	})
}

func pemOf(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

package api

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

// keySetServer serves a key set that the test can change.
type keySetServer struct {
	srv     *httptest.Server
	mu      sync.Mutex
	body    []byte
	status  int
	fetches atomic.Int64
}

func newKeySetServer(t *testing.T) *keySetServer {
	t.Helper()
	k := &keySetServer{status: http.StatusOK}
	k.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k.fetches.Add(1)
		k.mu.Lock()
		defer k.mu.Unlock()
		w.WriteHeader(k.status)
		_, _ = w.Write(k.body)
	}))
	t.Cleanup(k.srv.Close)
	return k
}

// serve makes the server answer with a key set of fresh EC keys named kids.
func (k *keySetServer) serve(t *testing.T, kids ...string) {
	t.Helper()
	set := jwk.NewSet()
	for _, kid := range kids {
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		key, err := jwk.FromRaw(&priv.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		if err := key.Set(jwk.KeyIDKey, kid); err != nil {
			t.Fatal(err)
		}
		if err := set.AddKey(key); err != nil {
			t.Fatal(err)
		}
	}
	body, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	k.serveRaw(http.StatusOK, body)
}

func (k *keySetServer) serveRaw(status int, body []byte) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.status, k.body = status, body
}

func TestExtJWTKeySetCache(t *testing.T) {
	ks := newKeySetServer(t)
	ks.serve(t, "k1")
	var cache jwksCache
	ctx := context.Background()
	client := ks.srv.Client()
	endpoint := ks.srv.URL + "/jwks"
	get := func(kid string) jwk.Set {
		t.Helper()
		set, err := cache.keySet(ctx, client, endpoint, kid)
		if err != nil {
			t.Fatalf("key set for kid %q: %v", kid, err)
		}
		return set
	}
	wantFetches := func(n int64) {
		t.Helper()
		if got := ks.fetches.Load(); got != n {
			t.Fatalf("fetches: %d, want %d", got, n)
		}
	}

	if _, ok := get("k1").LookupKeyID("k1"); !ok {
		t.Fatal("k1 missing")
	}
	get("k1")
	get("")
	wantFetches(1)

	// A new kid right after a fetch does not cause another one.
	ks.serve(t, "k1", "k2")
	if _, ok := get("k2").LookupKeyID("k2"); ok {
		t.Fatal("k2 found without a refetch")
	}
	wantFetches(1)

	// Later, an unknown kid refetches once.
	cache.entry(endpoint).fetched = time.Now().Add(-2 * jwksRefetchMinPeriod)
	if _, ok := get("k2").LookupKeyID("k2"); !ok {
		t.Fatal("k2 missing after the refetch")
	}
	wantFetches(2)
	get("k2")
	wantFetches(2)

	// A failing refetch keeps the cached set while it is fresh.
	ks.serveRaw(http.StatusInternalServerError, nil)
	cache.entry(endpoint).fetched = time.Now().Add(-2 * jwksRefetchMinPeriod)
	if _, ok := get("k3").LookupKeyID("k1"); !ok {
		t.Fatal("cached set lost after a failed refetch")
	}
	wantFetches(3)

	// An old set is fetched again, and errors surface once it is gone.
	cache.entry(endpoint).fetched = time.Now().Add(-2 * jwksCacheLifetime)
	if _, err := cache.keySet(ctx, client, endpoint, "k1"); err == nil {
		t.Fatal("stale set served while the endpoint fails")
	}
	wantFetches(4)
	ks.serve(t, "k9")
	if _, ok := get("k1").LookupKeyID("k9"); !ok {
		t.Fatal("the set did not change after expiry")
	}
	wantFetches(5)
}

func TestExtJWTFetchLimits(t *testing.T) {
	ks := newKeySetServer(t)
	ctx := context.Background()
	client := ks.srv.Client()

	ks.serveRaw(http.StatusOK, []byte(`{"keys":[]`+strings.Repeat(" ", maxJWKSSize)+`}`))
	if _, err := fetchJWKS(ctx, client, ks.srv.URL); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Fatalf("oversized key set: %v", err)
	}
	ks.serveRaw(http.StatusOK, []byte(`not json`))
	if _, err := fetchJWKS(ctx, client, ks.srv.URL); err == nil {
		t.Fatal("garbage key set accepted")
	}
	ks.serveRaw(http.StatusNotFound, []byte(`{"keys":[]}`))
	if _, err := fetchJWKS(ctx, client, ks.srv.URL); err == nil {
		t.Fatal("404 accepted")
	}
	for _, endpoint := range []string{"http://" + strings.TrimPrefix(ks.srv.URL, "https://"), "ftp://example.test/keys", "https://", "::"} {
		if _, err := fetchJWKS(ctx, client, endpoint); err == nil {
			t.Fatalf("endpoint %q accepted", endpoint)
		}
	}
	// The default client trusts the system roots, not the test server.
	ks.serve(t, "k1")
	if _, err := fetchJWKS(ctx, defaultJWKSClient(), ks.srv.URL); err == nil {
		t.Fatal("the default client trusted a self-signed server")
	}
	if _, err := fetchJWKS(ctx, client, ks.srv.URL); err != nil {
		t.Fatalf("good key set: %v", err)
	}
}

func TestExtJWTBearerToken(t *testing.T) {
	for header, want := range map[string]string{
		"Bearer abc":   "abc",
		"bearer  abc ": "abc",
		"Bearer":       "",
		"Bearer ":      "",
		"Basic abc":    "",
		"":             "",
		"Bearer " + strings.Repeat("a", maxBearerTokenSize+1): "",
	} {
		r := httptest.NewRequest("POST", "/authenticate", nil)
		if header != "" {
			r.Header.Set("Authorization", header)
		}
		got, err := bearerToken(r)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("%.20q: got %q, %v; want %q", header, got, err, want)
		}
	}
}

// FuzzExtJWTInspect feeds arbitrary tokens to the unverified first look at
// a JWT, which must never panic and must accept only asymmetric algorithms.
func FuzzExtJWTInspect(f *testing.F) {
	for _, seed := range []string{
		"",
		"a.b.c",
		"eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0.eyJpc3MiOiJodHRwczovL2lkcCJ9.c2ln",
		"eyJhbGciOiJub25lIn0.eyJpc3MiOiJodHRwczovL2lkcCJ9.",
		"eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln",
		"eyJhbGciOiJSUzI1NiJ9.bnVsbA.c2ln",
		"....",
		`{"payload":"e30","signatures":[]}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		alg, _, _, err := inspectJWT(raw)
		if err == nil {
			switch alg.String() {
			case "none", "HS256", "HS384", "HS512", "":
				t.Fatalf("algorithm %q accepted", alg)
			}
		}
	})
}

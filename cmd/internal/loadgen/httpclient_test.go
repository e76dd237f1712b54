package loadgen

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// startTLS starts an HTTPS server and returns a client of it.
func startTLS(t *testing.T, h http.Handler, connState func(net.Conn, http.ConnState)) (*httptest.Server, *client) {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = false
	srv.Config.ConnState = connState
	srv.StartTLS()
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	cl, err := newHTTPClient(srv.URL+"/", &tls.Config{RootCAs: roots})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.close)
	return srv, cl
}

// TestClientSpeaksHTTP11: requests carry their method, path, token and body; answers are read
// whole whether sized or chunked, and one connection carries them all.
func TestClientSpeaksHTTP11(t *testing.T) {
	var conns atomic.Int32
	_, cl := startTLS(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		answer := fmt.Sprintf("%s %s %s %s %s", r.Method, r.URL.RequestURI(), r.Header.Get("zt-session"), r.Header.Get("Content-Type"), body)
		if r.URL.Query().Get("chunked") != "" {
			w.(http.Flusher).Flush() // no length known: the answer goes chunked
			answer += strings.Repeat("x", 100_000)
		}
		_, _ = io.WriteString(w, answer)
	}), func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	})
	ctx := context.Background()
	status, raw, err := cl.do(ctx, http.MethodPost, "/edge/v1/things?x=1", "tok", []byte(`{"a":1}`))
	if err != nil || status != 200 || string(raw) != `POST /edge/v1/things?x=1 tok application/json {"a":1}` {
		t.Fatalf("POST: %d %q %v", status, raw, err)
	}
	status, raw, err = cl.do(ctx, http.MethodGet, "/list?chunked=1", "", nil)
	if err != nil || status != 200 || !strings.HasPrefix(string(raw), "GET /list?chunked=1  ") || len(raw) < 100_000 {
		t.Fatalf("chunked GET: %d %d bytes %v", status, len(raw), err)
	}
	status, raw, err = cl.do(ctx, http.MethodDelete, "/gone", "tok", nil)
	if err != nil || status != 200 || string(raw) != "DELETE /gone tok  " {
		t.Fatalf("DELETE: %d %q %v", status, raw, err)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("three requests took %d connections, want 1", n)
	}
	if _, _, err := cl.do(ctx, http.MethodGet, "/", "a\r\nX-Injected: 1", nil); err == nil {
		t.Error("a token with a line break was sent")
	}
}

// TestClientAfterTheServerHangsUp: a connection the server closed is replaced; an idempotent
// request that met the closed connection is sent again, a POST is not (it may have been
// applied) but the next request gets a new connection; Connection: close is honoured.
func TestClientAfterTheServerHangsUp(t *testing.T) {
	var posts atomic.Int32
	srv, cl := startTLS(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			posts.Add(1)
		}
		if r.URL.Path == "/close" {
			w.Header().Set("Connection", "close")
		}
		_, _ = io.WriteString(w, r.URL.Path)
	}), nil)
	ctx := context.Background()
	get := func(path string) {
		t.Helper()
		if status, raw, err := cl.do(ctx, http.MethodGet, path, "", nil); err != nil || status != 200 || string(raw) != path {
			t.Fatalf("GET %s: %d %q %v", path, status, raw, err)
		}
	}
	get("/a")
	srv.CloseClientConnections()
	get("/b") // the closed connection is met, and the GET sent again
	srv.CloseClientConnections()
	if _, _, err := cl.do(ctx, http.MethodPost, "/p", "", []byte("{}")); err == nil {
		t.Error("a POST over a connection the server closed reported success")
	}
	if _, _, err := cl.do(ctx, http.MethodPost, "/p", "", []byte("{}")); err != nil {
		t.Errorf("the POST after a failed one: %v", err)
	}
	if n := posts.Load(); n != 1 {
		t.Errorf("the server got %d POSTs, want 1", n)
	}
	get("/close")
	if cl.conn != nil {
		t.Error("the connection is kept after Connection: close")
	}
	get("/c")
}

// TestClientGivesUp: an answer over the size bound is an error, and a server that does not
// answer is given up when the context ends.
func TestClientGivesUp(t *testing.T) {
	release := make(chan struct{})
	_, cl := startTLS(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/huge" {
			chunk := strings.Repeat("x", 1<<20)
			for range 9 {
				_, _ = io.WriteString(w, chunk)
			}
			return
		}
		<-release
	}), nil)
	defer close(release)
	if _, _, err := cl.do(context.Background(), http.MethodGet, "/huge", "", nil); err == nil || !strings.Contains(err.Error(), "8 MiB") {
		t.Errorf("a 9 MiB answer: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, _, err := cl.do(ctx, http.MethodGet, "/hang", "", nil)
	if err == nil || time.Since(start) > 10*time.Second {
		t.Fatalf("a request to a silent server: %v after %v", err, time.Since(start))
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled request: %v, want the context's error", err)
	}
	// A deadline the connection reports before the context does is still the context's.
	ctx, cancel = context.WithDeadline(context.Background(), time.Now().Add(100*time.Millisecond))
	defer cancel()
	if _, _, err := cl.do(ctx, http.MethodGet, "/hang", "", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a request past its deadline: %v", err)
	}
	if _, _, err := cl.do(ctx, http.MethodGet, "/hang", "", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a request after the deadline: %v", err)
	}
}

func TestNewClientRefusesBadURLs(t *testing.T) {
	for _, u := range []string{"http://127.0.0.1:1", "https://", "::"} {
		if _, err := newHTTPClient(u, &tls.Config{}); err == nil {
			t.Errorf("%q accepted", u)
		}
		if err := (Controller{URL: u}).Check(); err == nil {
			t.Errorf("Check passed %q", u)
		}
	}
	if err := (Controller{URL: "https://ctrl.example:1280/"}).Check(); err != nil {
		t.Errorf("Check refused a good address: %v", err)
	}
}

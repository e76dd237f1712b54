package console

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"testing"
)

func serve(t *testing.T, h http.Handler, method, target string, hdr map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func mounted(t *testing.T) http.Handler {
	t.Helper()
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Next", "yes")
		w.WriteHeader(http.StatusTeapot)
	})
	h, err := Mount(next)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestServesThePageWithItsSecurityHeaders(t *testing.T) {
	h := mounted(t)
	resp := serve(t, h, "GET", "/console/", nil)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `<script type="module" src="js/app.js">`) {
		t.Fatalf("GET /console/: %d %s", resp.StatusCode, body)
	}
	for k, want := range map[string]string{
		"Content-Type":           "text/html; charset=utf-8",
		"X-Content-Type-Options": "nosniff",
		"X-Frame-Options":        "DENY",
		"Referrer-Policy":        "no-referrer",
		"Cache-Control":          "no-cache",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("CSP allows inline or eval: %q", csp)
	}
}

func TestContentTypesAndRevalidation(t *testing.T) {
	h := mounted(t)
	for p, ct := range map[string]string{
		"/console/js/app.js":   "text/javascript; charset=utf-8",
		"/console/console.css": "text/css; charset=utf-8",
		"/console/logo.svg":    "image/svg+xml",
	} {
		resp := serve(t, h, "GET", p, nil)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != ct {
			t.Fatalf("GET %s: %d %q", p, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		etag := resp.Header.Get("ETag")
		if etag == "" {
			t.Fatalf("GET %s: no ETag", p)
		}
		again := serve(t, h, "GET", p, map[string]string{"If-None-Match": etag})
		if again.StatusCode != http.StatusNotModified {
			t.Fatalf("GET %s with its ETag: %d, want 304", p, again.StatusCode)
		}
	}
}

func TestRoutesOnlyItsOwnPaths(t *testing.T) {
	h := mounted(t)
	if resp := serve(t, h, "GET", "/console", nil); resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/console/" {
		t.Fatalf("GET /console: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	for _, p := range []string{"/", "/edge/management/v1/identities", "/consoles/", "/version"} {
		if resp := serve(t, h, "GET", p, nil); resp.StatusCode != http.StatusTeapot || resp.Header.Get("X-Next") != "yes" {
			t.Errorf("GET %s did not reach the next handler: %d", p, resp.StatusCode)
		}
	}
	for _, p := range []string{"/console/nope.js", "/console/js/", "/console/../go.mod", "/console/static/index.html"} {
		if resp := serve(t, h, "GET", p, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, resp.StatusCode)
		}
	}
	for _, m := range []string{"POST", "PUT", "DELETE"} {
		resp := serve(t, h, m, "/console/", nil)
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s /console/: %d, want 405", m, resp.StatusCode)
		}
	}
	if resp := serve(t, h, "HEAD", "/console/js/api.js", nil); resp.StatusCode != 200 {
		t.Errorf("HEAD: %d", resp.StatusCode)
	}
}

// The console must work without the internet: nothing it ships may load from
// another origin.
func TestNothingLoadsFromOutside(t *testing.T) {
	external := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	allowed := map[string]bool{"http://www.w3.org": true, "//www.w3.org": true}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, _ := static.ReadFile(p)
		for _, m := range external.FindAllString(string(body), -1) {
			if !allowed[strings.ToLower(m)] {
				t.Errorf("%s refers to %s", p, m)
			}
		}
		if strings.Contains(string(body), "@import") {
			t.Errorf("%s imports a stylesheet", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Every module the console imports is one it ships, and the JavaScript stays
// small.
func TestModulesResolveAndStaySmall(t *testing.T) {
	h, err := New()
	if err != nil {
		t.Fatal(err)
	}
	imports := regexp.MustCompile(`(?m)^\s*(?:import|export)\s[^'"]*?from\s+'([^']+)'`)
	total := 0
	for name, a := range h.assets {
		if path.Ext(name) != ".js" {
			continue
		}
		total += len(a.body)
		for _, m := range imports.FindAllStringSubmatch(string(a.body), -1) {
			target := path.Join(path.Dir(name), m[1])
			if _, ok := h.assets[target]; !ok {
				t.Errorf("%s imports %s, which is not shipped", name, m[1])
			}
		}
		if strings.Contains(string(a.body), "eval(") || strings.Contains(string(a.body), "innerHTML") {
			t.Errorf("%s uses eval or innerHTML", name)
		}
	}
	t.Logf("JavaScript: %d bytes in %d files", total, len(h.assets))
	if total > 160<<10 {
		t.Errorf("the console's JavaScript is %d bytes; keep it under 160 KiB", total)
	}
}

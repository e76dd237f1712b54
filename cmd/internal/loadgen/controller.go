package loadgen

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// Controller drives a controller's REST APIs. Certificate scenarios sign in
// with Cert (an enrolled identity's certificate); management scenarios use
// AdminToken (an API session or API token of an administrator).
type Controller struct {
	// URL is the controller's base address, https://host:port.
	URL string
	// CAs verify the controller's server certificate.
	CAs *x509.CertPool
	// Cert is an enrolled identity's client certificate, for CertAuth and
	// Cycles.
	Cert *tls.Certificate
	// Service names a service the identity may dial, for Cycles.
	Service string
	// AdminToken authorises Creates and Lists.
	AdminToken string
}

// Scenario is one controller load: what each client does once.
type Scenario func(ctx context.Context, c *client) error

// Run runs op at concurrency clients, each with its own keep-alive
// connection, for d, and returns what was measured under name.
func (c Controller) Run(ctx context.Context, name string, concurrency int, d time.Duration, op Scenario) Result {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return c.run(ctx, name, concurrency, func() bool { return true }, op)
}

// RunN runs op with concurrency clients until n operations were made
// (successful or not) or ctx ends.
func (c Controller) RunN(ctx context.Context, name string, concurrency, n int, op Scenario) Result {
	var left atomic.Int64
	left.Store(int64(n))
	return c.run(ctx, name, concurrency, func() bool { return left.Add(-1) >= 0 }, op)
}

// run runs op with concurrency clients while another operation may start.
func (c Controller) run(ctx context.Context, name string, concurrency int, another func() bool, op Scenario) Result {
	var rec Recorder
	var wg sync.WaitGroup
	start := time.Now()
	for range concurrency {
		cl, err := c.newClient()
		if err != nil {
			rec.Fail()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cl.close()
			for ctx.Err() == nil && another() {
				t0 := time.Now()
				err := op(ctx, cl)
				switch {
				case err == nil:
					rec.Observe(time.Since(t0))
				case ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
					return // the run is over: what it cut short is not a failure
				default:
					rec.Fail()
				}
			}
		}()
	}
	wg.Wait()
	return rec.Result(name, concurrency, time.Since(start))
}

// CertAuth signs in with the certificate: POST /authenticate?method=cert.
func (c Controller) CertAuth(ctx context.Context, cl *client) error {
	_, err := cl.call(ctx, http.MethodPost, "/edge/client/v1/authenticate?method=cert", "", map[string]any{})
	return err
}

// Cycle is what a client does to reach a service: sign in, list its
// services, create a Dial session, sign out.
func (c Controller) Cycle(ctx context.Context, cl *client) error {
	auth, err := cl.call(ctx, http.MethodPost, "/edge/client/v1/authenticate?method=cert", "", map[string]any{})
	if err != nil {
		return err
	}
	var sess struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(auth, &sess); err != nil || sess.Token == "" {
		return fmt.Errorf("authenticate: no token in %s", auth)
	}
	list, err := cl.call(ctx, http.MethodGet, "/edge/client/v1/services?filter="+url.QueryEscape(fmt.Sprintf("name = %q", c.Service)), sess.Token, nil)
	if err != nil {
		return err
	}
	var services []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(list, &services); err != nil || len(services) != 1 {
		return fmt.Errorf("services: want %s, got %s", c.Service, list)
	}
	if _, err := cl.call(ctx, http.MethodPost, "/edge/client/v1/sessions", sess.Token, map[string]any{"serviceId": services[0].ID, "type": "Dial"}); err != nil {
		return err
	}
	_, err = cl.call(ctx, http.MethodDelete, "/edge/client/v1/current-api-session", sess.Token, nil)
	return err
}

var createSeq atomic.Uint64

// Create makes one identity through the management API.
func (c Controller) Create(ctx context.Context, cl *client) error {
	name := fmt.Sprintf("loadgen-%d-%d", time.Now().UnixNano(), createSeq.Add(1))
	_, err := cl.call(ctx, http.MethodPost, "/edge/management/v1/identities", c.AdminToken,
		map[string]any{"name": name, "type": "Device", "isAdmin": false, "roleAttributes": []string{"loadgen"}})
	return err
}

// List returns a scenario that lists identities with filter.
func (c Controller) List(filter string) Scenario {
	path := "/edge/management/v1/identities?limit=25&filter=" + url.QueryEscape(filter)
	return func(ctx context.Context, cl *client) error {
		_, err := cl.call(ctx, http.MethodGet, path, c.AdminToken, nil)
		return err
	}
}

// Check reports what makes c unusable (an address that is not https://host:port),
// before a run that would count every client as failing.
func (c Controller) Check() error {
	_, err := c.newClient()
	return err
}

func (c Controller) newClient() (*client, error) {
	cfg := &tls.Config{RootCAs: c.CAs, MinVersion: tls.VersionTLS12}
	if c.Cert != nil {
		cfg.Certificates = []tls.Certificate{*c.Cert}
	}
	return newHTTPClient(c.URL, cfg)
}

// call sends one request and returns the envelope's data, or an error for
// any status other than 2xx.
func (cl *client) call(ctx context.Context, method, path, token string, body any) (json.RawMessage, error) {
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			return nil, err
		}
	}
	status, raw, err := cl.do(ctx, method, path, token, b)
	if err != nil {
		return nil, err
	}
	if status/100 != 2 {
		return nil, fmt.Errorf("%s %s: %d %s", method, path, status, bytes.TrimSpace(raw))
	}
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return nil, errors.New(method + " " + path + ": the answer is not an envelope")
	}
	return env.Data, nil
}

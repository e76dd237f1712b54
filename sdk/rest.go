package sdk

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// APIError is an error answer of the controller, with its envelope code.
type APIError struct {
	Status  int
	Code    string
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("controller answered %d %s: %s", e.Status, e.Code, e.Message)
}

// HTTPStatus is the answer's HTTP status.
func (e *APIError) HTTPStatus() int { return e.Status }

// IsUnauthorized reports an answer that means the API session is gone.
func (e *APIError) IsUnauthorized() bool { return e.Status == http.StatusUnauthorized }

const maxResponseBytes = 16 << 20

// restClient calls the client API with the current API-session token. It
// knows every controller of the cluster (the identity's, then those
// GET /controllers lists) and moves to the next when the one in use cannot
// be reached or cannot serve (503): writes carry an Idempotency-Key, so a
// write repeated on another controller is applied once.
type restClient struct {
	http *http.Client

	mu    sync.RWMutex
	token string
	// bases are the client API base URLs of the cluster's controllers, the
	// one in use first, e.g. https://ctrl:1280/edge/client/v1.
	bases []string
}

func newRESTClient(base string, hc *http.Client) *restClient {
	return &restClient{http: hc, bases: []string{base}}
}

// base is the client API base URL of the controller in use.
func (c *restClient) base() string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.bases[0]
}

// controllers lists the base URLs known, the one in use first.
func (c *restClient) controllers() []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return slices.Clone(c.bases)
}

// use makes base the controller in use.
func (c *restClient) use(base string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i := slices.Index(c.bases, base); i > 0 {
		c.bases = append([]string{base}, slices.Delete(c.bases, i, i+1)...)
	}
}

// learn adds controllers, keeping the one in use first; those no longer
// listed are forgotten, but never the one in use.
func (c *restClient) learn(bases []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	next := []string{c.bases[0]}
	for _, b := range bases {
		if !slices.Contains(next, b) {
			next = append(next, b)
		}
	}
	c.bases = next
}

// clientAPIBase turns an identity's ztAPI into the client API base URL.
func clientAPIBase(ztAPI string) (string, error) {
	u, err := url.Parse(strings.TrimRight(ztAPI, "/"))
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return "", fmt.Errorf("controller URL %q is not an https URL", ztAPI)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/edge/client/v1"
	}
	return u.String(), nil
}

func (c *restClient) setToken(t string) {
	c.mu.Lock()
	c.token = t
	c.mu.Unlock()
}

func (c *restClient) currentToken() string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.token
}

// call sends a JSON request and decodes the envelope's data into out. When
// the controller cannot be reached or answers 503, the same request (with
// the same Idempotency-Key) goes to the next controller, until every one
// was tried once.
func (c *restClient) call(ctx context.Context, method, path string, body, out any) (http.Header, error) {
	var payload []byte
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		payload = b
	}
	key := ""
	if method != http.MethodGet && method != http.MethodHead {
		key = rand.Text()
	}
	var (
		hdr http.Header
		err error
	)
	for i, base := range c.controllers() {
		var moveOn bool
		hdr, err, moveOn = c.callOnce(ctx, base, method, path, payload, key, out)
		if !moveOn || ctx.Err() != nil {
			if i > 0 && !moveOn {
				c.use(base)
			}
			return hdr, err
		}
	}
	return hdr, err
}

// callOnce sends the request to one controller. moveOn reports an answer
// another controller may give better: none (a network error) or 503.
func (c *restClient) callOnce(ctx context.Context, base, method, path string, payload []byte, idempotencyKey string, out any) (hdr http.Header, err error, moveOn bool) {
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return nil, err, false
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if idempotencyKey != "" {
		req.Header.Set("Idempotency-Key", idempotencyKey)
	}
	if t := c.currentToken(); t != "" {
		req.Header.Set("zt-session", t)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// The url.Error repeats the method and the whole URL.
		var ue *url.Error
		if errors.As(err, &ue) && ue.Err != nil {
			err = ue.Err
		}
		return nil, fmt.Errorf("%s %s: %w", method, path, err), true
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read answer: %w", method, path, err), true
	}
	if resp.StatusCode/100 != 2 {
		var env struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		_ = json.Unmarshal(data, &env)
		return resp.Header, &APIError{Status: resp.StatusCode, Code: env.Error.Code, Message: env.Error.Message},
			resp.StatusCode == http.StatusServiceUnavailable
	}
	if out != nil {
		var env struct {
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(data, &env); err != nil {
			return resp.Header, fmt.Errorf("%s %s: decode answer: %w", method, path, err), false
		}
		if err := json.Unmarshal(env.Data, out); err != nil {
			return resp.Header, fmt.Errorf("%s %s: decode data: %w", method, path, err), false
		}
	}
	return resp.Header, nil, false
}

// learnControllers asks for the cluster's controllers and keeps their
// client API addresses. A controller that lists none, or a failure, changes
// nothing: failover is a help, not a condition of working.
func (c *restClient) learnControllers(ctx context.Context) {
	var list []struct {
		APIAddresses map[string][]struct {
			URL string `json:"url"`
		} `json:"apiAddresses"`
	}
	if _, err := c.call(ctx, http.MethodGet, "/controllers", nil, &list); err != nil {
		return
	}
	var bases []string
	for _, ctrl := range list {
		for _, a := range ctrl.APIAddresses["edge-client"] {
			if b, err := clientAPIBase(a.URL); err == nil {
				bases = append(bases, b)
			}
		}
	}
	if len(bases) > 0 {
		c.learn(bases)
	}
}

func isUnauthorized(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.IsUnauthorized()
}

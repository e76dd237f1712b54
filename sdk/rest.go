package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
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

// IsUnauthorized reports an answer that means the API session is gone.
func (e *APIError) IsUnauthorized() bool { return e.Status == http.StatusUnauthorized }

const maxResponseBytes = 16 << 20

// restClient calls the client API with the current API-session token.
type restClient struct {
	base string // e.g. https://ctrl:1280/edge/client/v1
	http *http.Client

	mu    sync.RWMutex
	token string
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

// call sends a JSON request and decodes the envelope's data into out.
func (c *restClient) call(ctx context.Context, method, path string, body, out any) (http.Header, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if t := c.currentToken(); t != "" {
		req.Header.Set("zt-session", t)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		var env struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		_ = json.Unmarshal(data, &env)
		return resp.Header, &APIError{Status: resp.StatusCode, Code: env.Error.Code, Message: env.Error.Message}
	}
	if out != nil {
		var env struct {
			Data json.RawMessage `json:"data"`
			Meta struct {
				Pagination *struct {
					TotalCount int64 `json:"totalCount"`
				} `json:"pagination"`
			} `json:"meta"`
		}
		if err := json.Unmarshal(data, &env); err != nil {
			return resp.Header, fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
		if err := json.Unmarshal(env.Data, out); err != nil {
			return resp.Header, fmt.Errorf("%s %s: decode data: %w", method, path, err)
		}
	}
	return resp.Header, nil
}

func isUnauthorized(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.IsUnauthorized()
}

var _ = time.Second

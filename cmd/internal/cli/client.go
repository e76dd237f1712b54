package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// managementPrefix is the management API's base path.
const managementPrefix = "/edge/management/v1"

// Session is what `ostium login` stores.
type Session struct {
	// URL is the controller's base URL, e.g. https://ctrl:1280.
	URL   string `json:"url"`
	Token string `json:"token"`
	// CAPEM is the controller CA bundle the user accepted.
	CAPEM string `json:"caPEM"`
}

var errNotLoggedIn = errors.New("not logged in: run `ostium login https://HOST:1280 -u USER`")

func (a *app) configDir() (string, error) {
	if a.env.ConfigDir != "" {
		return a.env.ConfigDir, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find the configuration directory: %w", err)
	}
	return filepath.Join(dir, "ostium"), nil
}

func (a *app) sessionPath() (string, error) {
	dir, err := a.configDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "session.json"), nil
}

func (a *app) saveSession(s Session) (string, error) {
	path, err := a.sessionPath()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return "", err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return "", fmt.Errorf("write session: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("write session: %w", err)
	}
	return path, nil
}

func (a *app) loadSession() (*Session, error) {
	path, err := a.sessionPath()
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, errNotLoggedIn
	}
	if err != nil {
		return nil, fmt.Errorf("read session: %w", err)
	}
	var s Session
	if err := json.Unmarshal(data, &s); err != nil || s.URL == "" || s.Token == "" {
		return nil, fmt.Errorf("session file %s is damaged; %w", path, errNotLoggedIn)
	}
	return &s, nil
}

// client loads the session and returns a management API client.
func (a *app) client() (*Client, error) {
	s, err := a.loadSession()
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(s.CAPEM)) {
		return nil, fmt.Errorf("the stored session has no CA certificate; %w", errNotLoggedIn)
	}
	return NewClient(s.URL, s.Token, pool), nil
}

// Client calls the management API.
type Client struct {
	Base  string
	Token string
	HTTP  *http.Client
}

// NewClient returns a client for the controller at base trusting pool.
func NewClient(base, token string, pool *x509.CertPool) *Client {
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	return &Client{Base: strings.TrimRight(base, "/"), Token: token, HTTP: &http.Client{Transport: tr, Timeout: 60 * time.Second}}
}

// APIError is an error envelope from the controller.
type APIError struct {
	Status  int
	Code    string
	Message string
	Cause   string
	// Field is the request field the cause is about, when it names one.
	Field string
}

// HTTPStatus is the answer's status, which sets the exit code.
func (e *APIError) HTTPStatus() int { return e.Status }

func (e *APIError) Error() string {
	if e.Field != "" && e.Cause != "" {
		// A field's own reason says more than the envelope's generic message.
		return fmt.Sprintf("%s: %s: %s", e.Code, e.Field, e.Cause)
	}
	// "INVALID_FILTER: invalid filter: ..." says it twice.
	message := e.Message
	if words := strings.ToLower(strings.ReplaceAll(e.Code, "_", " ")) + ": "; strings.HasPrefix(strings.ToLower(message), words) {
		message = message[len(words):]
	}
	msg := fmt.Sprintf("%s: %s", e.Code, message)
	if e.Cause != "" && e.Cause != e.Message {
		msg += " (" + e.Cause + ")"
	}
	return msg
}

// Envelope is a decoded answer.
type Envelope struct {
	Data json.RawMessage `json:"data"`
	Meta struct {
		Pagination *struct {
			Limit      int64 `json:"limit"`
			Offset     int64 `json:"offset"`
			TotalCount int64 `json:"totalCount"`
		} `json:"pagination"`
	} `json:"meta"`
}

// Do sends a request to path (under the management API) with query and an
// optional JSON body, and decodes the envelope.
func (c *Client) Do(ctx context.Context, method, path string, query url.Values, body any) (*Envelope, error) {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(data)
	}
	u := c.Base + managementPrefix + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	switch {
	case isAPIToken(c.Token):
		req.Header.Set("Authorization", "Bearer "+c.Token)
	case c.Token != "":
		req.Header.Set("zt-session", c.Token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, decodeError(resp.StatusCode, raw)
	}
	env := &Envelope{}
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, env); err != nil {
			return nil, fmt.Errorf("%s %s: the answer is not JSON: %w", method, path, err)
		}
	}
	return env, nil
}

func decodeError(status int, raw []byte) error {
	var env struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Cause   any    `json:"cause"`
		} `json:"error"`
	}
	e := &APIError{Status: status}
	if json.Unmarshal(raw, &env) == nil && env.Error.Code != "" {
		e.Code, e.Message = env.Error.Code, env.Error.Message
		switch c := env.Error.Cause.(type) {
		case string:
			e.Cause = c
		case map[string]any:
			if m, ok := c["message"].(string); ok {
				e.Cause = m
			} else if m, ok := c["reason"].(string); ok {
				e.Cause = m
				e.Field, _ = c["field"].(string)
			}
		}
		return e
	}
	e.Code = strings.ToUpper(strings.ReplaceAll(http.StatusText(status), " ", "_"))
	if e.Code == "" {
		e.Code = fmt.Sprintf("HTTP_%d", status)
	}
	e.Message = strings.Join(strings.Fields(string(raw)), " ")
	if len(e.Message) > 200 {
		e.Message = e.Message[:200] + "..."
	}
	if e.Message == "" {
		e.Message = fmt.Sprintf("the controller answered %d", status)
	}
	return e
}

// normalizeURL turns "host:1280" or "https://host:1280/edge/management/v1"
// into "https://host:1280".
func normalizeURL(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", usageErr("controller URL %q: %v", raw, err)
	}
	if u.Scheme != "https" {
		return "", usageErr("controller URL %q: only https is supported", raw)
	}
	if u.Host == "" {
		return "", usageErr("controller URL %q has no host", raw)
	}
	return "https://" + u.Host, nil
}

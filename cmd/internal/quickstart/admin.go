package quickstart

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/ostium-net/ostium/controller"
)

// adminClient calls the management API as the admin.
type adminClient struct {
	base  string
	token string
	http  *http.Client
	tr    *http.Transport
}

// apiError is an error answer of the management API.
type apiError struct {
	status        int
	code, message string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.status, e.code, e.message) }

func login(ctx context.Context, base string, ctl *controller.Controller, password string) (*adminClient, error) {
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ctl.CAPool(), MinVersion: tls.VersionTLS12}}
	a := &adminClient{base: base + "/edge/management/v1", tr: tr, http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
	var out struct {
		Token string `json:"token"`
	}
	if err := a.do(ctx, "POST", "/authenticate?method=password", map[string]string{"username": AdminUsername, "password": password}, &out); err != nil {
		tr.CloseIdleConnections()
		return nil, fmt.Errorf("quickstart: log in as %s: %w", AdminUsername, err)
	}
	a.token = out.Token
	return a, nil
}

func (a *adminClient) close() { a.tr.CloseIdleConnections() }

// do sends body as JSON and decodes the envelope's data into out.
func (a *adminClient) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.token != "" {
		req.Header.Set("zt-session", a.token)
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	var env struct {
		Data  json.RawMessage `json:"data"`
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	_ = json.Unmarshal(raw, &env)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %w", method, path, &apiError{status: resp.StatusCode, code: env.Error.Code, message: env.Error.Message})
	}
	if out != nil {
		if err := json.Unmarshal(env.Data, out); err != nil {
			return fmt.Errorf("%s %s: decode: %w", method, path, err)
		}
	}
	return nil
}

// idByName returns the id of the entity of collection named name, or "".
func (a *adminClient) idByName(ctx context.Context, collection, name string) (string, error) {
	q, _ := json.Marshal(name)
	var list []struct {
		ID string `json:"id"`
	}
	if err := a.do(ctx, "GET", "/"+collection+"?filter="+url.QueryEscape("name = "+string(q)), nil, &list); err != nil {
		return "", err
	}
	if len(list) == 0 {
		return "", nil
	}
	return list[0].ID, nil
}

// ensure creates the named entity unless one exists, and returns its id.
func (a *adminClient) ensure(ctx context.Context, collection, name string, body map[string]any) (string, error) {
	id, err := a.idByName(ctx, collection, name)
	if err != nil || id != "" {
		return id, err
	}
	body["name"] = name
	var out struct {
		ID string `json:"id"`
	}
	if err := a.do(ctx, "POST", "/"+collection, body, &out); err != nil {
		return "", fmt.Errorf("quickstart: create %s %q: %w", collection, name, err)
	}
	return out.ID, nil
}

// recreate deletes the named entity if it exists and creates it again.
func (a *adminClient) recreate(ctx context.Context, collection, name string, body map[string]any) (string, error) {
	id, err := a.idByName(ctx, collection, name)
	if err != nil {
		return "", err
	}
	if id != "" {
		var ae *apiError
		if err := a.do(ctx, "DELETE", "/"+collection+"/"+id, nil, nil); err != nil && !(errors.As(err, &ae) && ae.status == 404) {
			return "", fmt.Errorf("quickstart: replace %s %q: %w", collection, name, err)
		}
	}
	return a.ensure(ctx, collection, name, body)
}

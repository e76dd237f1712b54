package loadgen

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maxResponseBytes bounds the body of one answer the load generator reads.
const maxResponseBytes = 8 << 20

// client is one load client: one keep-alive HTTP/1.1 connection over TLS, used by one
// goroutine at a time. A request is written and its answer read on the calling goroutine,
// with net/http's own request writer and response parser but without its transport, whose
// two goroutines per connection would hand every request and answer on between goroutines:
// the load generator shares the machine with what it measures, so what it spends itself is
// kept small.
type client struct {
	base    *url.URL
	tls     *tls.Config
	timeout time.Duration // per request, for a server that stops answering

	conn *tls.Conn
	br   *bufio.Reader
	bw   *bufio.Writer
}

func newHTTPClient(base string, cfg *tls.Config) (*client, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("controller URL: %w", err)
	}
	if u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("controller URL %q: want https://host:port", base)
	}
	if u.Port() == "" {
		u.Host = net.JoinHostPort(u.Hostname(), "443")
	}
	cfg = cfg.Clone()
	if cfg.ServerName == "" {
		cfg.ServerName = u.Hostname()
	}
	cfg.NextProtos = []string{"http/1.1"}
	return &client{base: u, tls: cfg, timeout: 30 * time.Second}, nil
}

// close drops the connection; the next request opens another.
func (cl *client) close() {
	if cl.conn != nil {
		_ = cl.conn.Close()
		cl.conn, cl.br, cl.bw = nil, nil, nil
	}
}

func (cl *client) connect(ctx context.Context) error {
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: cl.timeout}, Config: cl.tls}
	c, err := d.DialContext(ctx, "tcp", cl.base.Host)
	if err != nil {
		return err
	}
	cl.conn = c.(*tls.Conn)
	cl.br = bufio.NewReaderSize(cl.conn, 16<<10)
	cl.bw = bufio.NewWriterSize(cl.conn, 8<<10)
	return nil
}

// do sends one request and returns the status and body of its answer. A request that fails
// on a connection kept from an earlier one, before any of the answer arrived, is sent again
// once on a new connection when its method is idempotent: the server may have closed the
// idle connection as the request went out. Other failures close the connection.
// A failure at or after ctx's deadline, which the connection's deadline may report before
// ctx does, is ctx's error.
func (cl *client) do(ctx context.Context, method, path, token string, body []byte) (int, []byte, error) {
	reused := cl.conn != nil
	status, raw, answered, err := cl.roundTrip(ctx, method, path, token, body)
	if err != nil && reused && !answered && !ended(ctx) && idempotent(method) {
		status, raw, _, err = cl.roundTrip(ctx, method, path, token, body)
	}
	if err != nil && ended(ctx) {
		cause := ctx.Err()
		if cause == nil {
			cause = context.DeadlineExceeded
		}
		return 0, nil, fmt.Errorf("%s %s: %w", method, path, cause)
	}
	return status, raw, err
}

// ended reports whether ctx is done or its deadline has come.
func ended(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}

func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodOptions:
		return true
	}
	return false
}

// roundTrip makes one exchange on the connection, opening it first when there is none.
// answered reports whether any of the answer arrived.
func (cl *client) roundTrip(ctx context.Context, method, path, token string, body []byte) (status int, raw []byte, answered bool, err error) {
	if cl.conn == nil {
		if err := cl.connect(ctx); err != nil {
			return 0, nil, false, err
		}
	}
	deadline := time.Now().Add(cl.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = cl.conn.SetDeadline(deadline)
	conn := cl.conn
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	defer func() {
		if err != nil {
			cl.close()
		}
	}()

	if err := cl.writeRequest(method, path, token, body); err != nil {
		return 0, nil, false, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if _, err := cl.br.Peek(1); err != nil {
		return 0, nil, false, fmt.Errorf("%s %s: %w", method, path, err)
	}
	resp, err := http.ReadResponse(cl.br, &http.Request{Method: method})
	if err != nil {
		return 0, nil, true, fmt.Errorf("%s %s: %w", method, path, err)
	}
	raw, err = io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err == nil && len(raw) > maxResponseBytes {
		err = errors.New("answer over 8 MiB")
	}
	if err != nil {
		return 0, nil, true, fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if resp.Close {
		cl.close()
	}
	return resp.StatusCode, raw, true, nil
}

// writeRequest writes an HTTP/1.1 request: the request line, the headers the controller's
// APIs read, and the body.
func (cl *client) writeRequest(method, path, token string, body []byte) error {
	w := cl.bw
	fmt.Fprintf(w, "%s %s%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: ostium-bench\r\nAccept: application/json\r\n",
		method, strings.TrimRight(cl.base.EscapedPath(), "/"), path, cl.base.Host)
	if token != "" {
		if strings.ContainsAny(token, "\r\n") {
			return errors.New("the token holds a line break")
		}
		fmt.Fprintf(w, "zt-session: %s\r\n", token)
	}
	if body != nil {
		fmt.Fprintf(w, "Content-Type: application/json\r\nContent-Length: %d\r\n", len(body))
	}
	if _, err := w.WriteString("\r\n"); err != nil {
		return err
	}
	if _, err := w.Write(body); err != nil {
		return err
	}
	return w.Flush()
}

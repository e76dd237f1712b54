package sdk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// IsUnreachable reports an error that says the controller could not be
// reached or could not answer for now (refused or reset connections,
// timeouts, name lookups, a cluster without a leader answering 502, 503 or
// 504), as opposed to one that says the controller refused the identity:
// the first is worth retrying, the second is not.
func IsUnreachable(err error) bool {
	var codeErr *mfaCodeError
	if err == nil || errors.As(err, &codeErr) {
		return false
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status == http.StatusBadGateway || ae.Status == http.StatusServiceUnavailable || ae.Status == http.StatusGatewayTimeout
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		// A TLS alert from the peer is an answer, not an absence.
		return opErr.Op != "remote error"
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return true
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return false
}

// Backoff bounds of AuthenticateWait.
const (
	firstRetry = 500 * time.Millisecond
	maxRetry   = 30 * time.Second
)

// AuthenticateWait authenticates like Authenticate, but while the controller
// cannot be reached (IsUnreachable) it tries again with a growing pause
// (from half a second up to 30 s) until it succeeds or ctx ends. waiting,
// when not nil, is called once, with the first failure, so that the caller
// can say it waits; an error that is not about reaching the controller (a
// refused identity, say) is returned at once.
func (c *Context) AuthenticateWait(ctx context.Context, waiting func(err error)) error {
	pause := firstRetry
	told := false
	for {
		err := c.Authenticate(ctx)
		if err == nil || !IsUnreachable(err) {
			return err
		}
		if !told && waiting != nil {
			waiting(err)
			told = true
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("gave up waiting for the controller: %w", err)
		case <-t.C:
		}
		pause = min(pause*2, maxRetry)
	}
}

// ControllerURL is the address of the controller this Context signs in to.
func (c *Context) ControllerURL() string { return c.id.ControllerURL }

// IdentityName is the name of the identity as the controller knows it, once
// authenticated; before that, or when the controller did not say, the common
// name of its certificate (its id).
func (c *Context) IdentityName() string {
	c.mu.Lock()
	s := c.apiSession
	c.mu.Unlock()
	if s != nil && s.Identity != nil && s.Identity.Name != "" {
		return s.Identity.Name
	}
	return c.id.Chain[0].Subject.CommonName
}

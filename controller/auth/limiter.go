package auth

import (
	"context"
	"errors"
	"time"
)

// ErrBusy means every slot for password hashing stayed taken for the whole
// wait: the caller should answer "try again later" without checking.
var ErrBusy = errors.New("too many password checks at once")

// Limiter bounds how many password hashes are computed at once. Each costs
// DefaultArgon2's 64 MiB and a core for tens of milliseconds, so without a
// bound a burst of sign-in attempts (unauthenticated, and for unknown user
// names as much as for known ones) takes the controller's memory. A check
// waits a short while for a slot and then gives up with ErrBusy.
type Limiter struct {
	slots chan struct{}
	wait  time.Duration
}

// NewLimiter allows n hashes at once (at least 1), each waiting at most wait
// for its turn.
func NewLimiter(n int, wait time.Duration) *Limiter {
	return &Limiter{slots: make(chan struct{}, max(n, 1)), wait: max(wait, 0)}
}

// Do runs f in a slot. It returns ErrBusy when no slot freed within the
// wait, or ctx's error when ctx ended first; f has not run then.
func (l *Limiter) Do(ctx context.Context, f func()) error {
	select {
	case l.slots <- struct{}{}:
	default:
		t := time.NewTimer(l.wait)
		defer t.Stop()
		select {
		case l.slots <- struct{}{}:
		case <-t.C:
			return ErrBusy
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	defer func() { <-l.slots }()
	f()
	return nil
}

// InUse is how many slots are taken now.
func (l *Limiter) InUse() int { return len(l.slots) }

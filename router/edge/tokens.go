package edge

import "time"

// knownNow reports whether lookup finds a token without waiting.
func knownNow[T any](lookup func(string) (T, bool), token string) bool {
	_, ok := lookup(token)
	return ok
}

// awaitToken looks token up, and when it is unknown and the token source announces its
// changes, looks again after each change until it is found, the listener's TokenWait passes
// or done is closed.
func awaitToken[T any](l *Listener, lookup func(string) (T, bool), token string, done <-chan struct{}) (T, bool) {
	if v, ok := lookup(token); ok {
		return v, true
	}
	var zero T
	updates, ok := l.cfg.Tokens.(TokenUpdates)
	if !ok || l.cfg.TokenWait <= 0 {
		return zero, false
	}
	timer := time.NewTimer(l.cfg.TokenWait)
	defer timer.Stop()
	for {
		// Take the channel before looking again so that no change slips in between.
		changed := updates.TokensChanged()
		if v, ok := lookup(token); ok {
			return v, true
		}
		select {
		case <-changed:
		case <-timer.C:
			return zero, false
		case <-done:
			return zero, false
		}
	}
}

package edge

import "time"

// knownNow reports whether lookup finds a token without waiting.
func knownNow[T any](lookup func(string) (T, bool), token string) bool {
	_, ok := lookup(token)
	return ok
}

// maxTokenWaits bounds the unknown tokens one channel may have waiting at once; beyond it
// they are refused at once, so a client sending made-up tokens cannot pile up waiters.
const maxTokenWaits = 8

// awaitToken looks token up for a message of ch, and when it is unknown and the token source
// announces its changes, looks again after each change until it is found, the listener's
// TokenWait passes or the channel closes.
func awaitToken[T any](ch *channel, lookup func(string) (T, bool), token string) (T, bool) {
	if v, ok := lookup(token); ok {
		return v, true
	}
	var zero T
	l := ch.l
	updates, ok := l.cfg.Tokens.(TokenUpdates)
	if !ok || l.cfg.TokenWait <= 0 {
		return zero, false
	}
	defer ch.tokenWaits.Add(-1)
	if ch.tokenWaits.Add(1) > maxTokenWaits {
		ch.log.Debug("refusing an unknown token without waiting: too many waits on this channel")
		return zero, false
	}
	done := ch.conn.Done()
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

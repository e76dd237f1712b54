package ctrlclient

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/ostium-net/ostium/internal/ctrlproto"
	"github.com/ostium-net/ostium/sdk/wire"
)

// MaxQueuedCircuitRecords bounds the circuit records waiting for the
// controller: while it is away they wait, and past this many the oldest are
// dropped (counted by DroppedCircuitRecords), so a long outage costs the
// router bounded memory.
const MaxQueuedCircuitRecords = 16384

// usageQueue holds circuit records until they reach the controller.
type usageQueue struct {
	mu      sync.Mutex
	records []ctrlproto.CircuitRecord
	wake    chan struct{}
	dropped atomic.Uint64
}

// ReportCircuit queues a circuit's start or end for the controller and
// returns at once. Records are sent in order, in batches, whenever a
// connection is up.
func (c *Client) ReportCircuit(r ctrlproto.CircuitRecord) {
	q := &c.usage
	q.mu.Lock()
	if len(q.records) >= MaxQueuedCircuitRecords {
		n := len(q.records) - MaxQueuedCircuitRecords + 1
		q.records = append(q.records[:0], q.records[n:]...)
		q.dropped.Add(uint64(n))
	}
	q.records = append(q.records, r)
	q.mu.Unlock()
	q.kick()
}

// DroppedCircuitRecords is how many circuit records were dropped because the
// controller was away too long.
func (c *Client) DroppedCircuitRecords() uint64 { return c.usage.dropped.Load() }

// sendUsage sends queued records whenever there are some and a connection is
// up, until ctx ends (Run runs it).
func (c *Client) sendUsage(ctx context.Context) {
	q := &c.usage
	for {
		select {
		case <-ctx.Done():
			return
		case <-q.wake:
		}
		for {
			q.mu.Lock()
			n := min(len(q.records), ctrlproto.MaxCircuitUsage)
			batch := append([]ctrlproto.CircuitRecord(nil), q.records[:n]...)
			q.mu.Unlock()
			if n == 0 {
				break
			}
			conn, err := c.current(ctx, nil)
			if err != nil {
				break
			}
			body, err := ctrlproto.Encode(ctrlproto.CircuitUsage{Records: batch})
			if err != nil {
				break
			}
			sctx, cancel := context.WithTimeout(ctx, c.cfg.PingTimeout)
			err = conn.Send(sctx, wire.NewMessage(ctrlproto.TypeCircuitUsage, body))
			cancel()
			if err != nil {
				c.log.Debug("sending circuit usage failed; retrying on the next connection", "err", err)
				if _, err := c.current(ctx, conn); err != nil {
					break
				}
				continue
			}
			q.mu.Lock()
			// Records dropped meanwhile shifted the queue: drop what was sent of what is left.
			sent := min(n, len(q.records))
			q.records = append(q.records[:0], q.records[sent:]...)
			q.mu.Unlock()
		}
	}
}

// kick wakes the sender.
func (q *usageQueue) kick() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

package api

import (
	"context"
	"log/slog"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ostium-net/ostium/controller/auth"
	"github.com/ostium-net/ostium/controller/store"
)

// pendingQueue holds writes that were answered before they were applied
// (pending sign-ins, pending sessions), and proposes them: one proposer at a
// time takes up to perEntry of those queued and proposes them as one entry,
// so while an entry is being committed the next one fills up.
//
// W is the write as proposed; V is what readers are answered from until the
// write is applied. Each write creates one record, named by its id: it stops
// pending when the store commits that record (settle, from a store
// listener), or when its entry is done without it (refused by the state it
// met, or failed), which counts it lost.
type pendingQueue[W, V any] struct {
	mu    sync.RWMutex
	byID  map[string]*pendingItem[V] // record id → item
	byKey map[string]*pendingItem[V] // the item's lookup key → item
	queue []W                        // answered, not yet proposed
	// proposing is set while a proposer runs; it ends when the queue is empty.
	proposing bool
	slots     chan struct{}
	spec      pendingSpec
	// idOf names the record a write creates.
	idOf func(W) string
	// propose applies one entry of writes.
	propose func(ctx context.Context, writes []W) error
	log     *slog.Logger
	// lost counts the writes answered whose entry did not create their record.
	lost prometheus.Counter
	// beforeApply, when set (tests, under mu), runs before an entry is
	// proposed.
	beforeApply func([]W)
}

// pendingSpec says what a pendingQueue holds and how much of it.
type pendingSpec struct {
	// capacity bounds the writes pending at once; perEntry, those one entry
	// carries.
	capacity, perEntry int
	// kind is the kind of record each write creates.
	kind *store.Kind
	// what names the writes in logs ("sign-ins"); metric, in metric names
	// ("signins"); lostHelp and pendingHelp describe the two metrics.
	what, metric, lostHelp, pendingHelp string
}

// pendingItem is one write whose entry is not yet applied here.
type pendingItem[V any] struct {
	value V
	// key finds it (a sign-in's token hash, a session's SessionKey); owner
	// is the token hash of the API session it acts for.
	key, owner string
	done       chan struct{} // closed when it stops pending
}

func newPendingQueue[W, V any](log *slog.Logger, spec pendingSpec, idOf func(W) string, propose func(context.Context, []W) error) *pendingQueue[W, V] {
	return &pendingQueue[W, V]{byID: map[string]*pendingItem[V]{}, byKey: map[string]*pendingItem[V]{},
		slots: make(chan struct{}, spec.capacity), spec: spec, idOf: idOf, propose: propose, log: log,
		lost: prometheus.NewCounter(prometheus.CounterOpts{Name: "ostium_" + spec.metric + "_lost_total", Help: spec.lostHelp})}
}

// collectors are the queue's metrics: what it lost, and what pends.
func (p *pendingQueue[W, V]) collectors() []prometheus.Collector {
	return []prometheus.Collector{p.lost, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "ostium_" + p.spec.metric + "_pending", Help: p.spec.pendingHelp,
	}, func() float64 { return float64(p.pendingCount()) })}
}

// listen makes the store's commits end the writes whose records they
// create. It must run before the store applies anything.
func (p *pendingQueue[W, V]) listen(st *store.Store) {
	st.Listen(func(_ uint64, changes []store.Change) {
		for _, c := range changes {
			if c.Kind == p.spec.kind && c.New != nil && c.Old == nil {
				p.settle(c.New.Base().ID)
			}
		}
	})
}

// pendingCount is how many writes pend.
func (p *pendingQueue[W, V]) pendingCount() int { return len(p.slots) }

// tryReserve takes a slot for one more pending write, without waiting.
func (p *pendingQueue[W, V]) tryReserve() bool {
	select {
	case p.slots <- struct{}{}:
		return true
	default:
		return false
	}
}

// add makes a write pending and queues it for the proposer; its slot is
// reserved. When a write with the same key already pends, add queues
// nothing, gives the slot back and returns that write's value and false.
func (p *pendingQueue[W, V]) add(w W, value V, key, owner string) (V, bool) {
	it := &pendingItem[V]{value: value, key: key, owner: owner, done: make(chan struct{})}
	p.mu.Lock()
	if other, ok := p.byKey[key]; ok {
		p.mu.Unlock()
		<-p.slots
		return other.value, false
	}
	p.byID[p.idOf(w)] = it
	p.byKey[key] = it
	p.queue = append(p.queue, w)
	start := !p.proposing
	p.proposing = true
	p.mu.Unlock()
	if start {
		go p.run()
	}
	return value, true
}

// run proposes the queued writes, as many as one entry carries at a time,
// until none is left.
func (p *pendingQueue[W, V]) run() {
	for {
		p.mu.Lock()
		n := min(len(p.queue), p.spec.perEntry)
		if n == 0 {
			p.proposing = false
			p.mu.Unlock()
			return
		}
		batch := append([]W(nil), p.queue[:n]...)
		p.queue = append(p.queue[:0], p.queue[n:]...)
		before := p.beforeApply
		p.mu.Unlock()
		if before != nil {
			before(batch)
		}
		err := p.propose(context.Background(), batch)
		// Those whose records were stored stopped pending when the store
		// committed them; the others (refused, or the entry failed) are
		// counted and stop now.
		if lost := p.stillPending(batch); lost > 0 {
			p.lost.Add(float64(lost))
			p.log.Info(p.spec.what+" answered before they were applied were not stored; their tokens are not valid",
				"count", lost, "error", err)
		}
		for _, w := range batch {
			p.settle(p.idOf(w))
			<-p.slots
		}
	}
}

// stillPending counts the writes of batch that still pend.
func (p *pendingQueue[W, V]) stillPending(batch []W) int {
	p.mu.RLock()
	defer p.mu.RUnlock()
	n := 0
	for _, w := range batch {
		if _, ok := p.byID[p.idOf(w)]; ok {
			n++
		}
	}
	return n
}

// settle ends the pending write of the record id, if there is one.
func (p *pendingQueue[W, V]) settle(id string) {
	p.mu.Lock()
	it, ok := p.byID[id]
	if ok {
		delete(p.byID, id)
		delete(p.byKey, it.key)
	}
	p.mu.Unlock()
	if ok {
		close(it.done)
	}
}

// forgetOwner ends the pending of every item of the API session whose token
// hash is owner, as if applied: they are no longer waited for, and the
// proposer does not count them lost.
func (p *pendingQueue[W, V]) forgetOwner(owner string) {
	p.mu.RLock()
	var ids []string
	for id, it := range p.byID {
		if it.owner == owner {
			ids = append(ids, id)
		}
	}
	p.mu.RUnlock()
	for _, id := range ids {
		p.settle(id)
	}
}

// find returns the value of the write pending under key, or V's zero value
// (nil for the pointers the queues hold).
func (p *pendingQueue[W, V]) find(key string) V {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if it, ok := p.byKey[key]; ok {
		return it.value
	}
	var none V
	return none
}

// none reports whether nothing pends.
func (p *pendingQueue[W, V]) none() bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return len(p.byID) == 0
}

// waitFor waits until the writes pending now for the API session the
// token opened stop pending.
func (p *pendingQueue[W, V]) waitFor(ctx context.Context, token string) {
	if p.none() {
		return // the usual case: no token to hash
	}
	p.waitOwner(ctx, auth.TokenHash(token))
}

// waitID waits until the write of the record id, if it pends, stops
// pending.
func (p *pendingQueue[W, V]) waitID(ctx context.Context, id string) {
	p.mu.RLock()
	it := p.byID[id]
	p.mu.RUnlock()
	if it != nil {
		wait(ctx, it.done)
	}
}

// waitOwner waits until every item pending now for the API session whose
// token hash is owner stops pending.
func (p *pendingQueue[W, V]) waitOwner(ctx context.Context, owner string) {
	p.waitWhere(ctx, func(it *pendingItem[V]) bool { return it.owner == owner })
}

// waitAll waits until every item pending now stops pending.
func (p *pendingQueue[W, V]) waitAll(ctx context.Context) {
	p.waitWhere(ctx, func(*pendingItem[V]) bool { return true })
}

// waitWhere waits until every item pending now that match selects stops
// pending.
func (p *pendingQueue[W, V]) waitWhere(ctx context.Context, match func(*pendingItem[V]) bool) {
	p.mu.RLock()
	if len(p.byID) == 0 {
		p.mu.RUnlock()
		return
	}
	var waits []chan struct{}
	for _, it := range p.byID {
		if match(it) {
			waits = append(waits, it.done)
		}
	}
	p.mu.RUnlock()
	for _, d := range waits {
		if !wait(ctx, d) {
			return
		}
	}
}

// wait waits for done or ctx, and reports whether done came.
func wait(ctx context.Context, done <-chan struct{}) bool {
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}

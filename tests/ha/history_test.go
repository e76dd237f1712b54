package ha

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// The workload: clients, each bound to one controller, read and write a
// register (the tag "v" of one service) and create, look up and delete
// services of their own. Every operation is recorded with when it was
// called and when it returned; porcupine then checks that some order of the
// operations, each taking effect between its call and return, explains
// every answer.
//
// A write whose answer did not arrive, or said 503 OUTCOME_UNKNOWN, might
// have been applied: it is recorded as returning at the end of time, so it
// may take effect anywhere after its call or not at all. A write refused
// with 503 SERVICE_UNAVAILABLE (no leader: nothing was changed) and a failed
// read changed nothing and are dropped. A 4xx for a create of a fresh
// name, or any other answer the model cannot explain, is a failure: it is
// what a retried write applied twice looks like (a create answered 409 for
// the record it made).

type opKind int

const (
	opRead opKind = iota
	opWrite
	opCreate
	opExists
	opDelete
)

type opInput struct {
	Kind  opKind
	Key   string // "register" or a service name
	Value int
}

type opOutput struct {
	Value   int
	Exists  bool
	Unknown bool // a write of unknown outcome
}

// model is a map of keys: the register holds an int, a service name holds
// whether the service exists.
var model = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		for _, op := range history {
			k := op.Input.(opInput).Key
			byKey[k] = append(byKey[k], op)
		}
		keys := make([]string, 0, len(byKey))
		for k := range byKey {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() any { return keyState{} },
	Hash: func(state any) uint64 {
		s := state.(keyState)
		h := uint64(s.value) << 1
		if s.exists {
			h |= 1
		}
		return h
	},
	Step: func(state, input, output any) (bool, any) {
		s, in, out := state.(keyState), input.(opInput), output.(opOutput)
		switch in.Kind {
		case opRead:
			return out.Value == s.value, s
		case opWrite:
			return true, keyState{value: in.Value, exists: s.exists}
		case opCreate:
			// A create of a fresh name succeeds; unknown or not.
			return !s.exists || out.Unknown, keyState{value: s.value, exists: true}
		case opExists:
			return out.Exists == s.exists, s
		case opDelete:
			if out.Unknown {
				return true, keyState{value: s.value}
			}
			return out.Exists == s.exists, keyState{value: s.value}
		}
		return false, s
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(opInput), output.(opOutput)
		names := []string{"read", "write", "create", "exists", "delete"}
		return fmt.Sprintf("%s(%s, %d) -> %+v", names[in.Kind], in.Key, in.Value, out)
	},
}

type keyState struct {
	value  int
	exists bool
}

// recorder keeps the history and the answers no correct cluster gives.
type recorder struct {
	start time.Time
	mu    sync.Mutex
	ops   []porcupine.Operation
	wrong []string
	// acked creates not deleted since, by name: id
	live map[string]string
	// writes answered OK, for the availability figures
	// okWrites are the acknowledged writes, when each was sent and answered.
	okWrites []ackedWrite
	stats    map[string]int
}

func newRecorder() *recorder {
	return &recorder{start: time.Now(), live: map[string]string{}, stats: map[string]int{}}
}

func (r *recorder) now() int64 { return int64(time.Since(r.start)) }

func (r *recorder) add(client int, in opInput, call int64, out opOutput, ret int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops = append(r.ops, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret})
}

func (r *recorder) count(what string) {
	r.mu.Lock()
	r.stats[what]++
	r.mu.Unlock()
}

func (r *recorder) fail(format string, args ...any) {
	r.mu.Lock()
	r.wrong = append(r.wrong, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

// workload runs clients against every node until ctx ends.
type workload struct {
	c       *haCluster
	rec     *recorder
	regIDs  []string // the registers: services whose tag "v" is written
	nextVal atomic.Int64
	names   atomic.Int64
}

const endOfTime = int64(1 << 62)

func (w *workload) client(ctx context.Context, id int, n *haNode) {
	rng := rand.New(rand.NewPCG(uint64(id), 7))
	var mine []string // names this client created (acked)
	for ctx.Err() == nil {
		if !n.alive.Load() {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		p := rng.IntN(100)
		switch {
		case p < 30:
			w.read(ctx, id, n, rng.IntN(len(w.regIDs)))
		case p < 50:
			w.write(ctx, id, n, rng.IntN(len(w.regIDs)))
		case p < 75:
			if name, ok := w.create(ctx, id, n); ok {
				mine = append(mine, name)
			}
		case p < 92 && len(mine) > 0:
			w.exists(ctx, id, n, mine[rng.IntN(len(mine))])
		case len(mine) > 0:
			i := rng.IntN(len(mine))
			w.delete(ctx, id, n, mine[i])
			mine = append(mine[:i], mine[i+1:]...)
		}
	}
}

// request is one call with a bound on how long it may take.
func (w *workload) request(n *haNode, method, path string, body any) (int, map[string]any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Second)
	defer cancel()
	status, hdr, env, err := w.c.do(ctx, n, method, path, body, nil)
	if errors.Is(err, syscall.ECONNREFUSED) {
		// Nothing was sent: the node is down. Like a refusal.
		time.Sleep(50 * time.Millisecond)
		return 503, map[string]any{"error": map[string]any{"code": "SERVICE_UNAVAILABLE"}}, nil
	}
	if err == nil && status == 503 {
		if hdr.Get("Retry-After") == "" || errCode(env) == "" {
			w.rec.fail("%s %s via %s: 503 without Retry-After or error envelope: %v", method, path, n.id, env)
		}
	}
	return status, env, err
}

// refused reports an answer that says nothing was changed.
func refused(status int, env map[string]any) bool {
	return status == 503 && errCode(env) == "SERVICE_UNAVAILABLE"
}

// pause after a 503, as Retry-After asks (shortened: the test wants many
// operations).
func pause(status int) {
	if status == 503 {
		time.Sleep(100 * time.Millisecond)
	}
}

func errCode(env map[string]any) string {
	e, _ := env["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func (w *workload) read(ctx context.Context, id int, n *haNode, reg int) {
	call := w.rec.now()
	status, env, err := w.request(n, "GET", "/services/"+w.regIDs[reg], nil)
	ret := w.rec.now()
	if err != nil || status == 503 {
		w.rec.count("read unavailable")
		pause(status)
		return
	}
	if status != 200 {
		w.rec.fail("read via %s: %d %v", n.id, status, env)
		return
	}
	data, _ := env["data"].(map[string]any)
	tags, _ := data["tags"].(map[string]any)
	v, _ := tags["v"].(float64)
	w.rec.add(id, opInput{Kind: opRead, Key: fmt.Sprintf("register-%d", reg)}, call, opOutput{Value: int(v)}, ret)
	w.rec.count("read ok")
}

func (w *workload) write(ctx context.Context, id int, n *haNode, reg int) {
	v := int(w.nextVal.Add(1))
	sent := time.Now()
	call := w.rec.now()
	status, env, err := w.request(n, "PATCH", "/services/"+w.regIDs[reg], map[string]any{"tags": map[string]any{"v": v}})
	ret := w.rec.now()
	in := opInput{Kind: opWrite, Key: fmt.Sprintf("register-%d", reg), Value: v}
	defer pause(status)
	switch {
	case err == nil && refused(status, env):
		w.rec.count("write refused")
	case err != nil || status == 503:
		w.rec.add(id, in, call, opOutput{Unknown: true}, endOfTime)
		w.rec.count("write unknown")
	case status == 200:
		w.rec.add(id, in, call, opOutput{}, ret)
		w.rec.mu.Lock()
		w.rec.okWrites = append(w.rec.okWrites, ackedWrite{sent: sent, answered: time.Now()})
		w.rec.mu.Unlock()
		w.rec.count("write ok")
	default:
		w.rec.fail("write %d via %s: %d %v", v, n.id, status, env)
	}
}

func (w *workload) create(ctx context.Context, id int, n *haNode) (string, bool) {
	name := fmt.Sprintf("svc-%d-%d", id, w.names.Add(1))
	sent := time.Now()
	call := w.rec.now()
	status, env, err := w.request(n, "POST", "/services", map[string]any{"name": name, "encryptionRequired": true})
	ret := w.rec.now()
	in := opInput{Kind: opCreate, Key: name}
	defer pause(status)
	switch {
	case err == nil && refused(status, env):
		w.rec.count("create refused")
		return "", false
	case err != nil || status == 503:
		w.rec.add(id, in, call, opOutput{Unknown: true}, endOfTime)
		w.rec.count("create unknown")
		return "", false
	case status == 201:
		w.rec.add(id, in, call, opOutput{}, ret)
		data, _ := env["data"].(map[string]any)
		sid, _ := data["id"].(string)
		w.rec.mu.Lock()
		w.rec.live[name] = sid
		w.rec.okWrites = append(w.rec.okWrites, ackedWrite{sent: sent, answered: time.Now()})
		w.rec.mu.Unlock()
		w.rec.count("create ok")
		return name, true
	default:
		// The create of a name no one used before: any 4xx is a write
		// applied twice or a lost answer turned into a failure.
		w.rec.fail("create %s via %s: %d %v", name, n.id, status, env)
		return "", false
	}
}

func (w *workload) exists(ctx context.Context, id int, n *haNode, name string) {
	call := w.rec.now()
	filter := url.QueryEscape(fmt.Sprintf("name = %q", name))
	status, env, err := w.request(n, "GET", "/services?filter="+filter, nil)
	ret := w.rec.now()
	if err != nil || status == 503 {
		w.rec.count("read unavailable")
		return
	}
	if status != 200 {
		w.rec.fail("look up %s via %s: %d %v", name, n.id, status, env)
		return
	}
	list, _ := env["data"].([]any)
	w.rec.add(id, opInput{Kind: opExists, Key: name}, call, opOutput{Exists: len(list) == 1}, ret)
	w.rec.count("read ok")
}

func (w *workload) delete(ctx context.Context, id int, n *haNode, name string) {
	w.rec.mu.Lock()
	sid := w.rec.live[name]
	w.rec.mu.Unlock()
	call := w.rec.now()
	status, env, err := w.request(n, "DELETE", "/services/"+sid, nil)
	ret := w.rec.now()
	in := opInput{Kind: opDelete, Key: name}
	defer pause(status)
	switch {
	case err == nil && refused(status, env):
		// Not deleted: it stays live.
		w.rec.count("delete refused")
		return
	case err != nil || status == 503:
		w.rec.add(id, in, call, opOutput{Unknown: true}, endOfTime)
		w.rec.count("delete unknown")
	case status == 200 || status == 404:
		w.rec.add(id, in, call, opOutput{Exists: status == 200}, ret)
		w.rec.count("delete ok")
	default:
		w.rec.fail("delete %s via %s: %d %v", name, n.id, status, env)
	}
	// Deleted, already gone or perhaps deleted: no longer required to exist.
	if err != nil || status == 200 || status == 404 || status == 503 {
		w.rec.mu.Lock()
		delete(w.rec.live, name)
		w.rec.mu.Unlock()
	}
}

// check runs porcupine over the history and reports the answers that were
// wrong on their own.
func (w *workload) check(t testing.TB) {
	t.Helper()
	w.rec.mu.Lock()
	defer w.rec.mu.Unlock()
	if len(w.rec.wrong) > 0 {
		t.Errorf("%d answers no correct cluster gives, e.g.:\n%s", len(w.rec.wrong), strings.Join(first(w.rec.wrong, 10), "\n"))
	}
	t.Logf("operations: %v", w.rec.stats)
	checkStart := time.Now()
	res, info := porcupine.CheckOperationsVerbose(model, w.rec.ops, 2*time.Minute)
	t.Logf("porcupine took %v", time.Since(checkStart).Round(time.Millisecond))
	switch res {
	case porcupine.Ok:
		t.Logf("history of %d operations is linearizable", len(w.rec.ops))
	case porcupine.Unknown:
		t.Errorf("linearizability check of %d operations timed out", len(w.rec.ops))
	default:
		t.Errorf("history of %d operations is NOT linearizable", len(w.rec.ops))
		path := filepath.Join(os.TempDir(), fmt.Sprintf("ostium-ha-history-%d.html", time.Now().UnixNano()))
		if err := porcupine.VisualizePath(model, info, path); err == nil {
			t.Logf("visualisation: %s", path)
		}
	}
}

func first(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// gapAfter is how long after t the first write sent after t was
// acknowledged.
func (r *recorder) gapAfter(t time.Time) (time.Duration, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	// Only a write sent after t counts: one sent before and answered after
	// may have been committed before t.
	for _, w := range r.okWrites {
		if w.sent.After(t) {
			return w.answered.Sub(t), nil
		}
	}
	return 0, errors.New("no write sent since was acknowledged")
}

// ackedWrite is an acknowledged write: when it was sent and answered.
type ackedWrite struct{ sent, answered time.Time }

// Package loadgen drives load against an Ostium network, the controller's
// APIs and the data plane, and records what it measured: rates, latency
// percentiles and errors. `ostium bench` and `make bench` are built on it, so
// an operator sizing a network and the project's own report use the same
// generators.
package loadgen

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Result is one measured scenario: what ran, at which concurrency, how many
// operations completed in how long, and their latency distribution.
type Result struct {
	// Scenario names what was measured, such as "cert-auth" or "tunnel-rtt".
	Scenario string `json:"scenario"`
	// Concurrency is the number of clients that ran at once.
	Concurrency int `json:"concurrency"`
	// Size is the scenario's scale parameter where it has one (identities
	// in the store, payload bytes); zero otherwise.
	Size int `json:"size,omitempty"`
	// Ops counts the operations that succeeded; Errors those that failed.
	Ops    int `json:"ops"`
	Errors int `json:"errors"`
	// Elapsed is the wall time of the measured part.
	Elapsed time.Duration `json:"elapsedNs"`
	// Bytes moved, for data-plane scenarios.
	Bytes int64 `json:"bytes,omitempty"`
	// Latency percentiles of the successful operations.
	P50 time.Duration `json:"p50Ns"`
	P90 time.Duration `json:"p90Ns"`
	P99 time.Duration `json:"p99Ns"`
	Max time.Duration `json:"maxNs"`
}

// Rate is the successful operations per second.
func (r Result) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Ops) / r.Elapsed.Seconds()
}

// Throughput is the bytes per second moved, for data-plane scenarios.
func (r Result) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Bytes) / r.Elapsed.Seconds()
}

// String is a one-line summary for terminals and logs.
func (r Result) String() string {
	s := fmt.Sprintf("%-24s c=%-3d ops=%-7d err=%-4d %9.1f/s p50=%v p90=%v p99=%v", r.Scenario, r.Concurrency, r.Ops,
		r.Errors, r.Rate(), r.P50.Round(time.Microsecond), r.P90.Round(time.Microsecond), r.P99.Round(time.Microsecond))
	if r.Bytes > 0 {
		s += fmt.Sprintf(" %.1f MB/s", r.Throughput()/1e6)
	}
	return s
}

// MarshalResults encodes results as indented JSON, the form `ostium bench
// --json` prints and the report reads.
func MarshalResults(rs []Result) ([]byte, error) {
	return json.MarshalIndent(rs, "", "  ")
}

// Recorder collects the latencies of operations run by many goroutines.
// The zero value is ready to use.
type Recorder struct {
	mu        sync.Mutex
	latencies []time.Duration
	errors    int
	bytes     int64
}

// Observe records one successful operation that took d.
func (r *Recorder) Observe(d time.Duration) {
	r.mu.Lock()
	r.latencies = append(r.latencies, d)
	r.mu.Unlock()
}

// Fail records one failed operation.
func (r *Recorder) Fail() {
	r.mu.Lock()
	r.errors++
	r.mu.Unlock()
}

// AddBytes records bytes moved.
func (r *Recorder) AddBytes(n int64) {
	r.mu.Lock()
	r.bytes += n
	r.mu.Unlock()
}

// Result summarises what was recorded over elapsed.
func (r *Recorder) Result(scenario string, concurrency int, elapsed time.Duration) Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	lat := slices.Clone(r.latencies)
	slices.Sort(lat)
	res := Result{Scenario: scenario, Concurrency: concurrency, Ops: len(lat), Errors: r.errors, Elapsed: elapsed, Bytes: r.bytes}
	if len(lat) > 0 {
		res.P50 = percentile(lat, 0.50)
		res.P90 = percentile(lat, 0.90)
		res.P99 = percentile(lat, 0.99)
		res.Max = lat[len(lat)-1]
	}
	return res
}

// percentile picks the nearest-rank percentile p (0..1] of sorted values.
func percentile(sorted []time.Duration, p float64) time.Duration {
	rank := int(p*float64(len(sorted))+0.999999) - 1
	rank = max(0, min(rank, len(sorted)-1))
	return sorted[rank]
}

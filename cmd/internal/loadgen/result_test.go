package loadgen

import (
	"encoding/json"
	"sync"
	"testing"
	"time"
)

func TestRecorderPercentiles(t *testing.T) {
	var r Recorder
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1; i <= 25; i++ {
				r.Observe(time.Duration(g*25+i) * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	r.Fail()
	r.AddBytes(1000)
	res := r.Result("test", 4, 2*time.Second)
	if res.Ops != 100 || res.Errors != 1 {
		t.Fatalf("ops %d errors %d, want 100 and 1", res.Ops, res.Errors)
	}
	if res.P50 != 50*time.Millisecond || res.P90 != 90*time.Millisecond || res.P99 != 99*time.Millisecond || res.Max != 100*time.Millisecond {
		t.Fatalf("percentiles p50=%v p90=%v p99=%v max=%v", res.P50, res.P90, res.P99, res.Max)
	}
	if res.Rate() != 50 || res.Throughput() != 500 {
		t.Fatalf("rate %v throughput %v, want 50 and 500", res.Rate(), res.Throughput())
	}
	b, err := MarshalResults([]Result{res})
	if err != nil {
		t.Fatal(err)
	}
	var back []Result
	if err := json.Unmarshal(b, &back); err != nil || len(back) != 1 || back[0] != res {
		t.Fatalf("round trip: %v %+v", err, back)
	}
}

func TestEmptyRecorder(t *testing.T) {
	var r Recorder
	res := r.Result("none", 1, 0)
	if res.Ops != 0 || res.P99 != 0 || res.Rate() != 0 {
		t.Fatalf("empty result %+v", res)
	}
}

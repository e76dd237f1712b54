package loadgen_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ostium-net/ostium/cmd/internal/loadgen"
	"github.com/ostium-net/ostium/controller/filter"
	"github.com/ostium-net/ostium/controller/state"
	"github.com/ostium-net/ostium/controller/store"
	"github.com/ostium-net/ostium/internal/gcfloor"
	"github.com/ostium-net/ostium/tests/harness"
)

// The size of the network BenchmarkListsAtScale lists.
const (
	scaleIdentities = 100_000
	scaleServices   = 10_000
)

// listQueries are the admin lists of identities measured at scale: filters
// that match one to a thousand of them, and every identity by name.
var listQueries = []struct{ name, filter string }{
	{"name-eq", `name = "identity-054321"`},
	{"name-contains", `name contains "ity-0543"`},
	{"attr-eq", `anyOf(roleAttributes) = "group-42"`},
	{"attr-contains", `roleAttributes contains "roup-42"`},
	{"attr-and-name", `anyOf(roleAttributes) = "group-42" and name contains "-05" sort by name desc`},
	{"all-by-name", `sort by name`},
}

// bulkLoad writes identities and services straight into the controller's
// store, a few thousand per transaction, outside the raft log (entries of
// index 0 leave the applied index alone).
func bulkLoad(b *testing.B, dataDir string) {
	st, err := store.Open(filepath.Join(dataDir, "ctrl.db"), store.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	load := func(k *store.Kind, n int, rec func(i int) store.Record) {
		const per = 5000
		for from := 0; from < n; from += per {
			res := st.Apply(store.Entry{Time: time.Now().UTC(), Apply: func(tx *store.Tx) (any, error) {
				for i := from; i < min(from+per, n); i++ {
					if err := tx.Create(k, rec(i)); err != nil {
						return nil, err
					}
				}
				return nil, nil
			}})
			if res.Err != nil {
				b.Fatalf("load %s: %v", k.Name, res.Err)
			}
		}
	}
	load(store.Identities, scaleIdentities, func(i int) store.Record {
		return &store.Identity{Meta: store.Meta{ID: state.NewID()}, Name: fmt.Sprintf("identity-%06d", i), Type: "Device",
			RoleAttributes: []string{fmt.Sprintf("group-%d", i%100), fmt.Sprintf("region-%d", i%7)}}
	})
	load(store.Services, scaleServices, func(i int) store.Record {
		return &store.Service{Meta: store.Meta{ID: state.NewID()}, Name: fmt.Sprintf("service-%05d", i),
			RoleAttributes: []string{fmt.Sprintf("svc-group-%d", i%50)}, TerminatorStrategy: "smartrouting"}
	})
}

// listInStore runs a list query in the store n times and returns its latencies.
func listInStore(b *testing.B, s *state.State, src string, scan bool, n int) loadgen.Result {
	q, err := filter.FromListParams(src, "", nil, nil, 25, filter.MaxLimit)
	if err != nil {
		b.Fatal(err)
	}
	var rec loadgen.Recorder
	start := time.Now()
	for range n {
		t0 := time.Now()
		err := s.View(func(tx *store.Tx) error {
			page, err := s.List(tx, store.Identities, q, state.ListOptions{Scan: scan})
			if err == nil && page.TotalCount == 0 {
				err = fmt.Errorf("%s lists nothing", src)
			}
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		rec.Observe(time.Since(t0))
	}
	return rec.Result(src, 1, time.Since(start))
}

// rssMiB reads the process's resident set (VmRSS) and its peak (VmHWM).
func rssMiB() (now, peak float64) {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		key, val, ok := strings.Cut(line, ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 64)
		if key == "VmRSS" {
			now = kb / 1024
		} else {
			peak = kb / 1024
		}
	}
	return now, peak
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// BenchmarkListsAtScale loads 100,000 identities and 10,000 services into a
// controller's store, then measures filtered identity lists (25 a page):
// first in the store, answered from the indexes and by reading every record
// (the scan), then through the management API of the real controller
// started on that store. It reports p50 and p99 of each, the scan's p50
// over the indexed one, and the process's resident memory.
func BenchmarkListsAtScale(b *testing.B) {
	// The controller measured runs in this process: its collector is paced
	// as a controller's is (see ostium-controller run), and the resident
	// memory reported includes what that costs.
	floor, err := gcfloor.FloorFromEnv()
	if err != nil {
		b.Fatal(err)
	}
	gcfloor.Keep(b.Context(), floor, slog.New(slog.DiscardHandler))
	n := harness.Start(b)
	n.StopController()
	t0 := time.Now()
	bulkLoad(b, n.Config.DataDir)
	b.Logf("loaded %d identities and %d services in %v", scaleIdentities, scaleServices, time.Since(t0).Round(time.Millisecond))

	st, err := store.Open(filepath.Join(n.Config.DataDir, "ctrl.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	s := &state.State{Store: st}
	type inStore struct{ indexed, scan loadgen.Result }
	measured := map[string]inStore{}
	for _, lq := range listQueries {
		m := inStore{listInStore(b, s, lq.filter, false, 40), listInStore(b, s, lq.filter, true, 3)}
		measured[lq.name] = m
		b.ReportMetric(ms(m.indexed.P50), lq.name+"-store-p50-ms")
		b.ReportMetric(ms(m.scan.P50), lq.name+"-scan-p50-ms")
		b.ReportMetric(float64(m.scan.P50)/float64(m.indexed.P50), lq.name+"-scan/indexed")
	}
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}

	n.StartController()
	var admin struct {
		Token string `json:"token"`
	}
	n.Mgmt("POST", "/authenticate?method=password", map[string]string{"username": "admin", "password": harness.AdminPassword}, &admin)
	c := loadgen.Controller{URL: n.URL(), CAs: n.Ctl.CAPool(), AdminToken: admin.Token}
	ctx := context.Background()
	for b.Loop() {
		for _, lq := range listQueries {
			r := c.Run(ctx, lq.name, 1, 2*time.Second, c.List(lq.filter))
			m := measured[lq.name]
			r50 := func(r loadgen.Result) string {
				return fmt.Sprintf("p50 %v p99 %v", r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond))
			}
			b.Logf("%-13s API %s; store: indexed %s, scan %s, scan/indexed %.0f×", lq.name, r50(r), r50(m.indexed),
				r50(m.scan), float64(m.scan.P50)/float64(m.indexed.P50))
			if r.Errors > 0 || r.Ops == 0 {
				b.Errorf("%s: %d errors, %d lists", lq.name, r.Errors, r.Ops)
			}
			b.ReportMetric(ms(r.P50), lq.name+"-api-p50-ms")
			b.ReportMetric(ms(r.P99), lq.name+"-api-p99-ms")
		}
	}
	runtime.GC()
	now, peak := rssMiB()
	b.Logf("resident memory: %.0f MiB now, %.0f MiB at the peak", now, peak)
	b.ReportMetric(now, "rss-MiB")
	b.ReportMetric(peak, "peak-rss-MiB")
}

// Package opstest reads an ops listener over HTTP for tests: it scrapes
// /metrics into values a test can assert on, and reads /health.
package opstest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metrics is one scrape: metric families by name.
type Metrics map[string]*dto.MetricFamily

var client = &http.Client{Timeout: 10 * time.Second}

// Get fetches http://addr+path and returns the status and body.
func Get(t testing.TB, addr, path string) (int, []byte) {
	t.Helper()
	resp, err := client.Get("http://" + addr + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read: %v", path, err)
	}
	return resp.StatusCode, body
}

// Scrape reads /metrics of the ops listener at addr, in the Prometheus text
// format.
func Scrape(t testing.TB, addr string) Metrics {
	t.Helper()
	status, body := Get(t, addr, "/metrics")
	if status != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", status, body)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return Metrics(fams)
}

// Health reads /health at addr: its status and the report in data.
func Health(t testing.TB, addr string) (int, map[string]any) {
	t.Helper()
	status, body := Get(t, addr, "/health")
	var env struct {
		Data map[string]any `json:"data"`
		Meta map[string]any `json:"meta"`
	}
	if err := json.Unmarshal(body, &env); err != nil || env.Meta == nil {
		t.Fatalf("/health answered %d with %q: not the data/meta envelope (%v)", status, body, err)
	}
	return status, env.Data
}

func matches(m *dto.Metric, labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		found := false
		for _, lp := range m.GetLabel() {
			if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	case m.Summary != nil:
		return float64(m.Summary.GetSampleCount())
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return 0
}

// Sum adds the values of the series of name whose labels include the given
// name, value pairs (a histogram counts its observations). ok is false when
// the family is absent.
func (ms Metrics) Sum(name string, labels ...string) (sum float64, ok bool) {
	f := ms[name]
	if f == nil {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		if matches(m, labels) {
			sum += value(m)
		}
	}
	return sum, true
}

// Value is Sum, failing the test when the family is absent.
func (ms Metrics) Value(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	v, ok := ms.Sum(name, labels...)
	if !ok {
		t.Fatalf("no metric %s in the scrape", name)
	}
	return v
}

// LabelValues lists the distinct values label takes in the series of name.
func (ms Metrics) LabelValues(name, label string) []string {
	seen := map[string]bool{}
	for _, m := range ms[name].GetMetric() {
		for _, lp := range m.GetLabel() {
			if lp.GetName() == label {
				seen[lp.GetValue()] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for v := range seen {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// LabelNames lists the label names used by the series of name.
func (ms Metrics) LabelNames(name string) []string {
	seen := map[string]bool{}
	for _, m := range ms[name].GetMetric() {
		for _, lp := range m.GetLabel() {
			seen[lp.GetName()] = true
		}
	}
	out := make([]string, 0, len(seen))
	for v := range seen {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// Names lists the metric families whose names start with prefix.
func (ms Metrics) Names(prefix string) []string {
	var out []string
	for name := range ms {
		if strings.HasPrefix(name, prefix) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// String is a short description for failure messages.
func (ms Metrics) String() string {
	return fmt.Sprintf("%d metric families: %v", len(ms), ms.Names("ostium_"))
}

// CheckBounded fails the test when a label of an ostium_ metric takes one
// of the forbidden values (ids of identities, sessions, circuits, ...) or a
// label not in allowed: label sets stay bounded.
func (ms Metrics) CheckBounded(t testing.TB, allowed []string, forbidden ...string) {
	t.Helper()
	ok := map[string]bool{}
	for _, l := range allowed {
		ok[l] = true
	}
	bad := map[string]bool{}
	for _, v := range forbidden {
		if v != "" {
			bad[v] = true
		}
	}
	for name, f := range ms {
		if !strings.HasPrefix(name, "ostium_") {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if !ok[lp.GetName()] {
					t.Errorf("%s has a label %q outside the bounded set %v", name, lp.GetName(), allowed)
				}
				if bad[lp.GetValue()] {
					t.Errorf("%s has an id as a label value: %s=%q", name, lp.GetName(), lp.GetValue())
				}
			}
		}
	}
}

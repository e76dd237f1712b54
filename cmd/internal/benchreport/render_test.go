package main

import (
	"context"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ostium-net/ostium/cmd/internal/loadgen"
)

// given is a run's results as the load generators return them.
func given() []loadgen.Result {
	var rs []loadgen.Result
	for _, c := range []int{1, 2, 4} {
		for i, name := range []string{"ostium", "ostium-tunnel", "tls-relay", "ostium-proxy", "tcp-chain"} {
			rs = append(rs, loadgen.Result{Scenario: name + "-bulk", Concurrency: c, Ops: 1000 * c, Elapsed: time.Second,
				Bytes: int64(c*(300-50*i)) << 20, P50: time.Duration(c) * time.Millisecond, P99: time.Duration(3*c) * time.Millisecond})
		}
		rs = append(rs, loadgen.Result{Scenario: "cert-auth", Concurrency: c, Ops: 900 * c, Elapsed: time.Second, P50: time.Millisecond, P99: 4 * time.Millisecond},
			loadgen.Result{Scenario: "cycle", Concurrency: c, Ops: 300 * c, Elapsed: time.Second, P50: 3 * time.Millisecond, P99: 9 * time.Millisecond})
	}
	p50s := []int{150, 110, 70, 120, 80}
	for i, name := range []string{"ostium", "ostium-tunnel", "tls-relay", "ostium-proxy", "tcp-chain"} {
		rs = append(rs, loadgen.Result{Scenario: name + "-rtt", Concurrency: 1, Size: 64, Ops: 5000, Elapsed: time.Second, Bytes: 5000 * 64,
			P50: time.Duration(p50s[i]) * time.Microsecond, P90: time.Duration(p50s[i]+50) * time.Microsecond, P99: time.Duration(p50s[i]+250) * time.Microsecond})
	}
	for i, size := range []int{1000, 10000} {
		for _, q := range sizedLists {
			rs = append(rs, loadgen.Result{Scenario: q.scenario, Concurrency: 1, Size: size, Ops: 300, Elapsed: time.Second,
				P50: time.Duration(1+i) * time.Millisecond, P99: time.Duration(5+i) * time.Millisecond})
		}
	}
	return append(rs, loadgen.Result{Scenario: "create", Concurrency: 4, Ops: 2000, Elapsed: time.Second, Errors: 2, P50: 2 * time.Millisecond, P99: 7 * time.Millisecond})
}

// TestRenderWritesReportAndPlots renders given results: a Markdown report
// with the ratios and links to the plots, a summary, results that read
// back, and PNGs that decode.
func TestRenderWritesReportAndPlots(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	meta := Meta{When: time.Date(2026, 12, 4, 20, 0, 0, 0, time.UTC), Machine: "test machine", Command: "make bench"}
	if err := Render(dir, given(), meta); err != nil {
		t.Fatal(err)
	}
	report, err := os.ReadFile(filepath.Join(dir, reportFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Measured 2026-12-04 20:00 UTC on test machine", "`make bench`",
		// 300 MiB/s against 200 MiB/s at one connection, round trips 150 µs against 70 µs.
		"| Ostium SDK → router → SDK, bulk, 1 connection | 315 MB/s | 210 MB/s | 1.50× |",
		"| Ostium SDK → router → SDK, bulk, 4 connections | 1258 MB/s | 839 MB/s | 1.50× |",
		"| Ostium SDK → router → SDK, 64-byte round trip p50 | 150 µs | 70 µs | 2.14× |",
		// The proxy tunneler's path next to the relay chain doing its work, in its own table.
		"| measure | Ostium | TCP-TLS-TLS-TCP relay chain | Ostium / relay |",
		"| TCP → Ostium proxy tunneler → router → host tunneler → TCP, end-to-end encrypted, bulk, 1 connection | 157 MB/s | 105 MB/s | 1.50× |",
		"| TCP → Ostium proxy tunneler → router → host tunneler → TCP, end-to-end encrypted, 64-byte round trip p50 | 120 µs | 80 µs | 1.50× |",
		"| cert-auth | 4 | 3600 | 1.0 ms | 4.0 ms | 0 |",
		"| create | 4 | 2000 | 2.0 ms | 7.0 ms | 2 |",
		"![throughput](throughput.png)", "![latency](latency.png)", "![controller-rates](controller-rates.png)",
		"| tls-relay-rtt | 1 | 5000 | 0 | 5000.0 |",
		// Lists against size: their own table, not the controller's rates.
		"| list-name-contains | 1000 | 1.0 ms | 5.0 ms | 0 |",
		"| list-attribute | 10000 | 2.0 ms | 6.0 ms | 0 |",
		"| size-list-attribute | 1 | 300 | 0 | 300.0 |  | 2.0 ms |",
		"![list-latency](list-latency.png)",
	} {
		if !strings.Contains(string(report), want) {
			t.Errorf("report lacks %q:\n%s", want, report)
		}
	}
	summary, err := os.ReadFile(filepath.Join(dir, summaryFile))
	if err != nil || !strings.Contains(string(report), string(summary)) {
		t.Errorf("summary %v: %s", err, summary)
	}
	if strings.Contains(string(summary), "| size-") {
		t.Errorf("a list timed against size is shown among the controller's rates:\n%s", summary)
	}
	for _, p := range []string{throughputPNG, latencyPNG, rateControlPNG, listSizePNG} {
		f, err := os.Open(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if b := img.Bounds(); b.Dx() < 300 || b.Dy() < 200 {
			t.Errorf("%s is %v", p, b)
		}
	}
	// The saved results render the same report again without measuring.
	again := filepath.Join(t.TempDir(), "again")
	if err := run(context.Background(), []string{"-in", filepath.Join(dir, resultsFile), "-out", again, "-command", "make bench"}, io.Discard); err != nil {
		t.Fatal(err)
	}
	second, err := os.ReadFile(filepath.Join(again, reportFile))
	if err != nil {
		t.Fatal(err)
	}
	cut := func(b []byte) string { _, rest, _ := strings.Cut(string(b), "## Summary"); return rest }
	if cut(second) != cut(report) {
		t.Errorf("the report rendered from results.json differs:\n%s", second)
	}
}

// TestRenderWithoutController: data-plane results alone make a report
// without the controller's table and plot.
func TestRenderWithoutController(t *testing.T) {
	var rs []loadgen.Result
	for _, r := range given() {
		if isDataplane(r.Scenario) {
			rs = append(rs, r)
		}
	}
	dir := t.TempDir()
	if err := Render(dir, rs, Meta{When: time.Now(), Machine: "m", Command: "c"}); err != nil {
		t.Fatal(err)
	}
	report, _ := os.ReadFile(filepath.Join(dir, reportFile))
	if strings.Contains(string(report), "controller") {
		t.Errorf("report mentions the controller:\n%s", report)
	}
	if _, err := os.Stat(filepath.Join(dir, rateControlPNG)); !os.IsNotExist(err) {
		t.Errorf("a controller plot without controller results: %v", err)
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-concurrency", "1,x"}, {"-concurrency", "0"}, {"-in", "/nonexistent/results.json"}, {"-nope"}} {
		if err := run(context.Background(), append(args, "-out", t.TempDir()), io.Discard); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}

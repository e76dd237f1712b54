package main

import (
	"bytes"
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"github.com/ostium-net/ostium/cmd/internal/loadgen"
)

// Files the report is made of, in its directory.
const (
	reportFile     = "report.md"
	summaryFile    = "summary.md"
	resultsFile    = "results.json"
	throughputPNG  = "throughput.png"
	latencyPNG     = "latency.png"
	rateControlPNG = "controller-rates.png"
	listSizePNG    = "list-latency.png"
)

// Meta says where and when the results were measured.
type Meta struct {
	When    time.Time
	Machine string
	Command string
}

// dataplane targets in the order they are shown, with their labels and the baseline each is
// compared with (none: a baseline itself). A baseline does the work of its Ostium paths without
// Ostium: the same TLS and TCP legs through as many relays.
var targets = []struct{ name, label, short, baseline string }{
	{"ostium", "Ostium SDK → router → SDK", "Ostium, SDK to SDK", "tls-relay"},
	{"ostium-tunnel", "Ostium SDK → router → host tunneler → TCP, end-to-end encrypted", "Ostium, to a host tunneler (e2e encrypted)", "tls-relay"},
	{"ostium-proxy", "TCP → Ostium proxy tunneler → router → host tunneler → TCP, end-to-end encrypted",
		"Ostium, tunneler to tunneler (e2e encrypted)", "tcp-chain"},
	{"tls-relay", "TLS relay chain (baseline)", "TLS relay chain (baseline)", ""},
	{"tcp-chain", "TCP → relay → TLS → relay → TLS → relay → TCP (baseline)", "TCP-TLS-TLS-TCP relay chain (baseline)", ""},
}

// shortOf is the short label of the target named name.
func shortOf(name string) string {
	for _, t := range targets {
		if t.name == name {
			return strings.TrimSuffix(t.short, " (baseline)")
		}
	}
	return name
}

// headroom raises the top of p's Y axis so a legend at the top does not
// cover the lines.
func headroom(p *plot.Plot, lines []any) {
	top := 0.0
	for _, l := range lines {
		if xy, ok := l.(plotter.XYs); ok {
			for _, pt := range xy {
				top = max(top, pt.Y)
			}
		}
	}
	p.Y.Max = top * 1.4
}

// Render writes the Markdown report, the short summary, the results as JSON
// and the plots into dir.
func Render(dir string, results []loadgen.Result, meta Meta) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("report directory: %w", err)
	}
	raw, err := loadgen.MarshalResults(results)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, resultsFile), raw, 0o644); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	var plots []string
	for _, p := range []struct {
		file string
		make func([]loadgen.Result) (*plot.Plot, error)
	}{{throughputPNG, throughputPlot}, {latencyPNG, latencyPlot}, {rateControlPNG, controllerPlot}, {listSizePNG, listSizePlot}} {
		pl, err := p.make(results)
		if err != nil {
			return fmt.Errorf("plot %s: %w", p.file, err)
		}
		if pl == nil {
			continue // nothing of that kind was measured
		}
		if err := pl.Save(16*vg.Centimeter, 10*vg.Centimeter, filepath.Join(dir, p.file)); err != nil {
			return fmt.Errorf("plot %s: %w", p.file, err)
		}
		plots = append(plots, p.file)
	}
	summary := summaryTable(results)
	if err := os.WriteFile(filepath.Join(dir, summaryFile), []byte(summary), 0o644); err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Ostium benchmark report\n\n")
	fmt.Fprintf(&b, "Measured %s on %s.\n\nReproduce with `%s`.\n\n", meta.When.UTC().Format("2006-01-02 15:04 MST"), meta.Machine, meta.Command)
	b.WriteString("Every figure comes from one run on one machine. Data-plane figures are set next to a relay\n" +
		"chain doing the same work (the same TLS and TCP legs through as many relays) measured in the same\n" +
		"run: the ratios carry over to other machines, the absolute figures do not. All paths echo; bulk\n" +
		"throughput counts the bytes sent and verified once.\n\n## Summary\n\n")
	b.WriteString(summary)
	for _, p := range plots {
		fmt.Fprintf(&b, "\n![%s](%s)\n", strings.TrimSuffix(p, ".png"), p)
	}
	b.WriteString("\n## Every scenario\n\nSize is the payload in bytes for round trips and the identities in the network for lists.\n\n" +
		"| scenario | clients | ops | errors | ops/s | MB/s | p50 | p90 | p99 | max | size |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range results {
		mbs, size := "", ""
		if r.Bytes > 0 {
			mbs = fmt.Sprintf("%.1f", r.Throughput()/1e6)
		}
		if r.Size > 0 {
			size = fmt.Sprint(r.Size)
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %.1f | %s | %s | %s | %s | %s | %s |\n", r.Scenario, r.Concurrency, r.Ops, r.Errors, r.Rate(), mbs,
			dur(r.P50), dur(r.P90), dur(r.P99), dur(r.Max), size)
	}
	if err := os.WriteFile(filepath.Join(dir, reportFile), b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

func dur(d time.Duration) string {
	switch {
	case d <= 0:
		return "–"
	case d < time.Millisecond:
		return fmt.Sprintf("%d µs", d.Microseconds())
	default:
		return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
	}
}

// find returns the result of scenario at concurrency (0: the highest
// measured).
func find(results []loadgen.Result, scenario string, concurrency int) (loadgen.Result, bool) {
	var best loadgen.Result
	found := false
	for _, r := range results {
		if r.Scenario != scenario || (concurrency > 0 && r.Concurrency != concurrency) {
			continue
		}
		if !found || r.Concurrency > best.Concurrency {
			best, found = r, true
		}
	}
	return best, found
}

func ratio(a, b float64) string {
	if b == 0 || a == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

// summaryTable is the table the README shows: each Ostium data-plane figure
// next to the baseline's, then the controller's rates.
func summaryTable(results []loadgen.Result) string {
	var b strings.Builder
	row := func(label, a, r, ratio string) { fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", label, a, r, ratio) }
	// One table per baseline, each Ostium path in the table of the relay chain doing its work.
	var baselines []string
	for _, t := range targets {
		if t.baseline != "" && !slices.Contains(baselines, t.baseline) {
			baselines = append(baselines, t.baseline)
		}
	}
	for i, base := range baselines {
		if _, ok := find(results, base+"-bulk", 0); !ok {
			continue
		}
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "| measure | Ostium | %s | Ostium / relay |\n|---|---:|---:|---:|\n", shortOf(base))
		for _, t := range targets {
			if t.baseline != base {
				continue
			}
			for _, c := range []int{1, 0} {
				o, ok1 := find(results, t.name+"-bulk", c)
				r, ok2 := find(results, base+"-bulk", o.Concurrency)
				if !ok1 || !ok2 || (c == 0 && o.Concurrency == 1) {
					continue
				}
				row(fmt.Sprintf("%s, bulk, %s", t.label, connections(o.Concurrency)), fmt.Sprintf("%.0f MB/s", o.Throughput()/1e6),
					fmt.Sprintf("%.0f MB/s", r.Throughput()/1e6), ratio(o.Throughput(), r.Throughput()))
			}
			o, ok1 := find(results, t.name+"-rtt", 1)
			r, ok2 := find(results, base+"-rtt", 1)
			if ok1 && ok2 {
				row(t.label+", 64-byte round trip p50", dur(o.P50), dur(r.P50), ratio(float64(o.P50), float64(r.P50)))
				row(t.label+", 64-byte round trip p99", dur(o.P99), dur(r.P99), ratio(float64(o.P99), float64(r.P99)))
			}
		}
	}
	var ctl, sized []loadgen.Result
	for _, r := range results {
		switch {
		case isSized(r.Scenario):
			sized = append(sized, r)
		case !isDataplane(r.Scenario):
			ctl = append(ctl, r)
		}
	}
	if len(ctl) > 0 {
		b.WriteString("\n| controller scenario | clients | per second | p50 | p99 | errors |\n|---|---:|---:|---:|---:|---:|\n")
		seen := map[string]bool{}
		for _, r := range ctl {
			if seen[r.Scenario] {
				continue
			}
			seen[r.Scenario] = true
			top, _ := find(ctl, r.Scenario, 8)
			if top.Ops == 0 {
				top, _ = find(ctl, r.Scenario, 0)
			}
			fmt.Fprintf(&b, "| %s | %d | %.0f | %s | %s | %d |\n", top.Scenario, top.Concurrency, top.Rate(), dur(top.P50), dur(top.P99), top.Errors)
		}
	}
	if len(sized) > 0 {
		b.WriteString("\n| list (one client, 25 a page) | identities | p50 | p99 | errors |\n|---|---:|---:|---:|---:|\n")
		for _, r := range sized {
			fmt.Fprintf(&b, "| %s | %d | %s | %s | %d |\n", strings.TrimPrefix(r.Scenario, sizedPrefix), r.Size, dur(r.P50), dur(r.P99), r.Errors)
		}
	}
	return b.String()
}

// sizedPrefix starts the names of scenarios timed against the network's
// size.
const sizedPrefix = "size-"

func isSized(scenario string) bool { return strings.HasPrefix(scenario, sizedPrefix) }

// listSizePlot draws the p50 of each sized list against the identities in
// the network.
func listSizePlot(results []loadgen.Result) (*plot.Plot, error) {
	var lines []any
	var names []string
	bySize := map[string]plotter.XYs{}
	for _, r := range results {
		if !isSized(r.Scenario) || r.Ops == 0 {
			continue
		}
		name := strings.TrimPrefix(r.Scenario, sizedPrefix)
		if _, ok := bySize[name]; !ok {
			names = append(names, name)
		}
		bySize[name] = append(bySize[name], plotter.XY{X: float64(r.Size), Y: float64(r.P50.Microseconds()) / 1000})
	}
	for _, name := range names {
		xy := bySize[name]
		slices.SortFunc(xy, func(a, b plotter.XY) int { return cmp.Compare(a.X, b.X) })
		lines = append(lines, name, xy)
	}
	return linePlot("Admin lists: p50 against network size", "identities", "ms", lines)
}

func connections(n int) string {
	if n == 1 {
		return "1 connection"
	}
	return fmt.Sprintf("%d connections", n)
}

func isDataplane(scenario string) bool {
	return strings.HasSuffix(scenario, "-bulk") || strings.HasSuffix(scenario, "-rtt")
}

// series returns (concurrency, f(result)) points of scenario, by concurrency.
func series(results []loadgen.Result, scenario string, f func(loadgen.Result) float64) plotter.XYs {
	var rs []loadgen.Result
	for _, r := range results {
		if r.Scenario == scenario {
			rs = append(rs, r)
		}
	}
	slices.SortFunc(rs, func(a, b loadgen.Result) int { return cmp.Compare(a.Concurrency, b.Concurrency) })
	xy := make(plotter.XYs, len(rs))
	for i, r := range rs {
		xy[i].X, xy[i].Y = float64(r.Concurrency), f(r)
	}
	return xy
}

func throughputPlot(results []loadgen.Result) (*plot.Plot, error) {
	var lines []any
	for _, t := range targets {
		if xy := series(results, t.name+"-bulk", func(r loadgen.Result) float64 { return r.Throughput() / 1e6 }); len(xy) > 0 {
			lines = append(lines, t.short, xy)
		}
	}
	return linePlot("Bulk throughput (echoed, verified)", "connections", "MB/s", lines)
}

// linePlot draws lines (name, points, name, points...) from zero up, with
// the legend at the top left; nil when there are none.
func linePlot(title, x, y string, lines []any) (*plot.Plot, error) {
	if len(lines) == 0 {
		return nil, nil
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Y.Min = 0
	headroom(p, lines)
	p.Legend.Top = true
	p.Legend.Left = true
	return p, plotutil.AddLinePoints(p, lines...)
}

func latencyPlot(results []loadgen.Result) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "64-byte round trip, 1 connection"
	p.Y.Label.Text = "µs"
	var names []string
	var rs []loadgen.Result
	for _, t := range targets {
		if r, ok := find(results, t.name+"-rtt", 1); ok && r.Ops > 0 {
			names = append(names, strings.TrimSuffix(t.name, "-rtt"))
			rs = append(rs, r)
		}
	}
	if len(rs) == 0 {
		return nil, nil
	}
	w := vg.Points(22)
	for i, pct := range []struct {
		label string
		of    func(loadgen.Result) time.Duration
	}{{"p50", func(r loadgen.Result) time.Duration { return r.P50 }}, {"p90", func(r loadgen.Result) time.Duration { return r.P90 }},
		{"p99", func(r loadgen.Result) time.Duration { return r.P99 }}} {
		vals := make(plotter.Values, len(rs))
		for j, r := range rs {
			vals[j] = float64(pct.of(r).Microseconds())
		}
		bars, err := plotter.NewBarChart(vals, w)
		if err != nil {
			return nil, err
		}
		bars.Offset = w * vg.Length(i-1)
		bars.Color = plotutil.Color(i)
		bars.LineStyle.Width = 0
		p.Add(bars)
		p.Legend.Add(pct.label, bars)
	}
	p.Legend.Top = true
	p.Legend.Left = true
	p.NominalX(names...)
	return p, nil
}

func controllerPlot(results []loadgen.Result) (*plot.Plot, error) {
	var lines []any
	seen := map[string]bool{}
	for _, r := range results {
		if isDataplane(r.Scenario) || isSized(r.Scenario) || seen[r.Scenario] {
			continue
		}
		seen[r.Scenario] = true
		if xy := series(results, r.Scenario, loadgen.Result.Rate); len(xy) > 1 {
			lines = append(lines, r.Scenario, xy)
		}
	}
	return linePlot("Controller: operations per second against clients", "clients", "per second", lines)
}

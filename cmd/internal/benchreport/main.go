// Command benchreport measures a local Ostium network and writes a report
// with plots: it starts a quickstart network in a temporary directory,
// measures bulk throughput and 64-byte round trips through it (SDK to SDK,
// SDK to the demo's host tunneler, and from a proxy tunneler to it) next to
// relay chains doing the same work in the same run, measures the controller's rates against
// the number of clients, and writes report.md, summary.md, results.json
// and PNG plots to -out (bench-out by default, not committed). `make bench`
// runs it; -in renders a report from saved results without measuring.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ostium-net/ostium/cmd/internal/loadgen"
	"github.com/ostium-net/ostium/internal/gcfloor"
	"github.com/ostium-net/ostium/tunnel"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, progress io.Writer) error {
	fs := flag.NewFlagSet("benchreport", flag.ContinueOnError)
	fs.SetOutput(progress)
	out := fs.String("out", "bench-out", "directory the report is written to")
	in := fs.String("in", "", "render the report from this results.json instead of measuring")
	d := fs.Duration("duration", 3*time.Second, "how long each scenario runs")
	conc := fs.String("concurrency", "1,2,4,8", "connections (data plane) and clients (controller) to measure at, comma-separated")
	command := fs.String("command", "go run ./cmd/internal/benchreport", "the command the report says reproduces it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	levels, err := parseLevels(*conc)
	if err != nil {
		return err
	}
	meta := Meta{When: time.Now(), Machine: machine(), Command: *command}
	var results []loadgen.Result
	if *in != "" {
		raw, err := os.ReadFile(*in)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(raw, &results); err != nil {
			return fmt.Errorf("%s: %w", *in, err)
		}
	} else {
		home, err := os.MkdirTemp("", "ostium-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(home)
		// The network measured runs in this process, as `ostium quickstart` runs it: its
		// collector is paced as that command's and a controller's are.
		floor, err := gcfloor.FloorFromEnv()
		if err != nil {
			return err
		}
		gcCtx, stopGC := context.WithCancel(ctx)
		defer stopGC()
		gcfloor.Keep(gcCtx, floor, slog.New(slog.DiscardHandler))
		if results, err = measure(ctx, home, levels, *d, progress); err != nil {
			return err
		}
	}
	if err := Render(*out, results, meta); err != nil {
		return err
	}
	fmt.Fprintf(progress, "report: %s/%s\n", strings.TrimRight(*out, "/"), reportFile)
	return nil
}

func parseLevels(s string) ([]int, error) {
	var levels []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 1024 {
			return nil, fmt.Errorf("-concurrency %q: numbers from 1 to 1024, comma-separated", s)
		}
		levels = append(levels, n)
	}
	return levels, nil
}

// measure runs every scenario against a fresh local network.
func measure(ctx context.Context, home string, levels []int, d time.Duration, progress io.Writer) ([]loadgen.Result, error) {
	relay, err := loadgen.StartRelay()
	if err != nil {
		return nil, err
	}
	defer relay.Close()
	n, err := startNetwork(ctx, home, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	defer n.close()
	ln, err := loadgen.HostEcho(n.host, benchService)
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	chain, err := loadgen.StartTCPChain()
	if err != nil {
		return nil, err
	}
	defer chain.Close()
	// A proxy tunneler in front of the demo's echo: TCP in, TCP out at the host tunneler.
	proxy, err := tunnel.StartProxy(n.demo, []tunnel.Mapping{{Service: "echo", Listen: "127.0.0.1:0"}}, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	defer proxy.Close()
	proxyAddr := proxy.Addrs()[0].String()
	targets := []loadgen.Target{loadgen.ServiceTarget("ostium", n.client, benchService),
		loadgen.ServiceTarget("ostium-tunnel", n.demo, "echo"), relay.Target(),
		{Name: "ostium-proxy", Dial: func(ctx context.Context) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", proxyAddr)
		}}, chain.Target()}
	var results []loadgen.Result
	keep := func(r loadgen.Result) {
		fmt.Fprintln(progress, r)
		results = append(results, r)
	}
	// A first pass that is not kept: sessions, terminators, buffers.
	for _, t := range targets {
		if r := loadgen.Bulk(ctx, t, 1, 500*time.Millisecond); r.Ops == 0 {
			return nil, fmt.Errorf("nothing moves through %s: %v", t.Name, r)
		}
	}
	// Targets alternate at each level, so a machine's drift spreads over all.
	for _, c := range levels {
		for _, t := range targets {
			keep(loadgen.Bulk(ctx, t, c, d))
		}
	}
	for _, t := range targets {
		keep(loadgen.RoundTrip(ctx, t, 1, d))
	}
	cert := n.clientID.Certificate()
	ctl := loadgen.Controller{URL: n.info.APIURL, CAs: n.clientID.CAs, Cert: &cert, Service: benchService, AdminToken: n.adminTok}
	for _, c := range levels {
		keep(ctl.Run(ctx, "cert-auth", c, d, ctl.CertAuth))
		keep(ctl.Run(ctx, "cycle", c, d, ctl.Cycle))
	}
	top := levels[len(levels)-1]
	keep(ctl.Run(ctx, "create", top, d, ctl.Create))
	keep(ctl.Run(ctx, "list-contains", top, d, ctl.List(`name contains "loadgen"`)))
	// Lists against the network's size: the identities grow through the
	// API, and the same lists are timed at each size by one client.
	for _, size := range listSizes {
		if err := n.growIdentities(ctx, ctl, size, top); err != nil {
			return nil, err
		}
		for _, q := range sizedLists {
			r := ctl.Run(ctx, q.scenario, 1, d, ctl.List(q.filter))
			r.Size = size
			keep(r)
		}
	}
	return results, ctx.Err()
}

// listSizes are the numbers of identities the lists are timed at.
var listSizes = []int{1_000, 3_000, 10_000}

// sizedLists are the lists timed at each size (scenarios named "size-…"):
// a name filter that matches about one identity in ten, and a role
// attribute every created identity has.
var sizedLists = []struct{ scenario, filter string }{
	{"size-list-name-contains", `name contains "-7"`},
	{"size-list-attribute", `anyOf(roleAttributes) = "loadgen"`},
}

// machine describes where the run happens: OS, architecture, CPUs and,
// where the kernel says, the CPU's model.
func machine() string {
	s := fmt.Sprintf("%s/%s, %d CPUs, %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version())
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return s
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return s + ", " + strings.TrimSpace(v)
		}
	}
	return s
}

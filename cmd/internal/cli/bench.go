package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ostium-net/ostium/cmd/internal/loadgen"
	"github.com/ostium-net/ostium/sdk"
	"github.com/ostium-net/ostium/sdk/identity"
)

// benchFlags are the flags every `ostium bench` load shares.
type benchFlags struct {
	identity, service string
	duration          time.Duration
	concurrency       int
	json              bool
}

func (f *benchFlags) register(cmd *cobra.Command, defaultConcurrency int) {
	cmd.Flags().StringVar(&f.identity, "identity", "", "identity file of the client the load runs as (required)")
	cmd.Flags().StringVar(&f.service, "service", "", "service to dial (required)")
	cmd.Flags().DurationVar(&f.duration, "duration", 10*time.Second, "how long each scenario runs")
	cmd.Flags().IntVar(&f.concurrency, "concurrency", defaultConcurrency, "how many clients or connections run at once")
	cmd.Flags().BoolVar(&f.json, "json", false, "print the results as JSON (the form the bench report reads)")
}

func (f *benchFlags) check() error {
	switch {
	case f.identity == "":
		return usageErr("--identity is required")
	case f.service == "":
		return usageErr("--service is required")
	case f.duration <= 0 || f.duration > 24*time.Hour:
		return usageErr("--duration must be positive and at most 24h")
	case f.concurrency < 1 || f.concurrency > 4096:
		return usageErr("--concurrency must be from 1 to 4096")
	}
	return nil
}

func (a *app) benchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure a network: data-plane throughput and latency, controller rates",
		Long: `bench drives load against any Ostium network so its capacity can be sized:
the data plane through a service, the controller's APIs as many clients would.
Each load prints one line per scenario (rate, latency percentiles, errors and
MB/s), or JSON with --json.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(a.benchDataplaneCmd(), a.benchControllerCmd())
	return cmd
}

func (a *app) benchDataplaneCmd() *cobra.Command {
	var f benchFlags
	var hostIdentity string
	var baseline bool
	cmd := &cobra.Command{
		Use:   "dataplane",
		Short: "Bulk throughput and 64-byte round trips through a service that echoes",
		Long: `dataplane dials --service as --identity and measures, through the network:
bulk transfers (each connection writes 32 KiB chunks and reads them back,
verifying every byte) and 64-byte round trips. The service's far end must
echo what it receives, as the quickstart's "echo" service does; with
--host-identity the command binds the service itself with that identity and
echoes. With --baseline (the default) the same loads then run through a TLS
relay chain started on this machine, and the ratios are printed: figures
from one run on one machine compare, figures from different runs do not.`,
		Example: `  ostium bench dataplane --identity client.json --service echo --duration 10s --concurrency 4
  ostium bench dataplane --identity client.json --host-identity host.json --service bench --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.check(); err != nil {
				return err
			}
			ctx := cmd.Context()
			client, err := benchContext(f.identity)
			if err != nil {
				return err
			}
			defer client.Close()
			if hostIdentity != "" {
				host, err := benchContext(hostIdentity)
				if err != nil {
					return err
				}
				defer host.Close()
				ln, err := loadgen.HostEcho(host, f.service)
				if err != nil {
					return err
				}
				defer ln.Close()
			}
			targets := []loadgen.Target{loadgen.ServiceTarget("ostium", client, f.service)}
			if baseline {
				relay, err := loadgen.StartRelay()
				if err != nil {
					return err
				}
				defer relay.Close()
				targets = append(targets, relay.Target())
			}
			if err := probe(ctx, targets[0]); err != nil {
				return err
			}
			var results []loadgen.Result
			for _, t := range targets {
				for _, run := range []func(context.Context, loadgen.Target, int, time.Duration) loadgen.Result{loadgen.Bulk, loadgen.RoundTrip} {
					r := run(ctx, t, f.concurrency, f.duration)
					results = append(results, r)
					if !f.json {
						fmt.Fprintln(cmd.OutOrStdout(), r)
					}
					if ctx.Err() != nil {
						return ctx.Err()
					}
				}
			}
			if f.json {
				return printResults(cmd.OutOrStdout(), results)
			}
			printRatios(cmd.OutOrStdout(), results)
			return failedScenarios(results)
		},
	}
	f.register(cmd, 1)
	cmd.Flags().StringVar(&hostIdentity, "host-identity", "", "identity file that binds --service and echoes (when the service has no echo server of its own)")
	cmd.Flags().BoolVar(&baseline, "baseline", true, "also measure a TLS relay chain on this machine and print the ratios")
	return cmd
}

// probe sends one round trip before the load, so a service that cannot be
// dialled or does not echo is reported as such instead of as a rate of zero.
func probe(ctx context.Context, t loadgen.Target) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, err := t.Dial(ctx)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	msg := []byte("ostium bench probe")
	if _, err := c.Write(msg); err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != string(msg) {
		return fmt.Errorf("the service does not echo what it receives (give --host-identity to host an echo): %v", orMismatch(err))
	}
	return nil
}

func orMismatch(err error) error {
	if err == nil {
		return loadgen.ErrMismatch
	}
	return err
}

func benchContext(path string) (*sdk.Context, error) {
	id, err := identity.Load(path)
	if err != nil {
		return nil, err
	}
	c, err := sdk.New(id, sdk.Options{IdentityFile: path, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, fmt.Errorf("identity %s: %w", path, err)
	}
	return c, nil
}

func printResults(w io.Writer, results []loadgen.Result) error {
	out, err := loadgen.MarshalResults(results)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(out))
	return err
}

// printRatios compares each Ostium scenario with the baseline's.
func printRatios(w io.Writer, results []loadgen.Result) {
	find := func(name string) (loadgen.Result, bool) {
		i := slices.IndexFunc(results, func(r loadgen.Result) bool { return r.Scenario == name })
		if i < 0 {
			return loadgen.Result{}, false
		}
		return results[i], true
	}
	bulk, ok1 := find("ostium-bulk")
	relayBulk, ok2 := find("tls-relay-bulk")
	if ok1 && ok2 && relayBulk.Throughput() > 0 {
		fmt.Fprintf(w, "throughput: %.2f× the TLS relay chain\n", bulk.Throughput()/relayBulk.Throughput())
	}
	rtt, ok1 := find("ostium-rtt")
	relayRTT, ok2 := find("tls-relay-rtt")
	if ok1 && ok2 && relayRTT.P50 > 0 {
		fmt.Fprintf(w, "round trip p50: %.2f× the TLS relay chain (p99 %.2f×)\n",
			float64(rtt.P50)/float64(relayRTT.P50), float64(rtt.P99)/float64(max(relayRTT.P99, 1)))
	}
}

// failedScenarios is an error when any scenario had failures, so scripts
// see them in the exit code.
func failedScenarios(results []loadgen.Result) error {
	var failed []string
	for _, r := range results {
		if r.Errors > 0 {
			failed = append(failed, fmt.Sprintf("%s (%d)", r.Scenario, r.Errors))
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("operations failed in %s", strings.Join(failed, ", "))
	}
	return nil
}

var controllerScenarios = []string{"cert-auth", "cycle", "create", "list-contains"}

func (a *app) benchControllerCmd() *cobra.Command {
	var f benchFlags
	var scenarios []string
	cmd := &cobra.Command{
		Use:   "controller",
		Short: "Rates and latencies of sign-ins, client cycles, creates and lists",
		Long: `controller runs each scenario at --concurrency keep-alive clients for --duration:
cert-auth signs in with the identity's certificate; cycle signs in, lists the
services, creates a Dial session for --service and signs out; create makes
identities and list-contains lists them with a filter through the management
API, as the administrator of the session ` + "`ostium login`" + ` saved (the
identities it creates are named loadgen-* and carry the attribute loadgen).`,
		Example: `  ostium bench controller --identity client.json --service echo --concurrency 8
  ostium bench controller --identity client.json --service echo --scenarios cert-auth,create --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.check(); err != nil {
				return err
			}
			for _, s := range scenarios {
				if !slices.Contains(controllerScenarios, s) {
					return usageErr("unknown scenario %q: use %s", s, strings.Join(controllerScenarios, ", "))
				}
			}
			id, err := identity.Load(f.identity)
			if err != nil {
				return err
			}
			cert := id.Certificate()
			c := loadgen.Controller{URL: id.ControllerURL, CAs: id.CAs, Cert: &cert, Service: f.service}
			if err := c.Check(); err != nil {
				return fmt.Errorf("%s: %w", f.identity, err)
			}
			if slices.Contains(scenarios, "create") || slices.Contains(scenarios, "list-contains") {
				s, err := a.loadSession()
				if err != nil {
					return fmt.Errorf("create and list-contains run as an administrator: %w", err)
				}
				c.AdminToken = s.Token
			}
			ops := map[string]loadgen.Scenario{"cert-auth": c.CertAuth, "cycle": c.Cycle, "create": c.Create,
				"list-contains": c.List(`name contains "loadgen"`)}
			var results []loadgen.Result
			for _, s := range scenarios {
				r := c.Run(cmd.Context(), s, f.concurrency, f.duration, ops[s])
				results = append(results, r)
				if !f.json {
					fmt.Fprintln(cmd.OutOrStdout(), r)
				}
				if err := cmd.Context().Err(); err != nil {
					return err
				}
			}
			if f.json {
				if err := printResults(cmd.OutOrStdout(), results); err != nil {
					return err
				}
			}
			return failedScenarios(results)
		},
	}
	f.register(cmd, 8)
	cmd.Flags().StringSliceVar(&scenarios, "scenarios", []string{"cert-auth", "cycle"}, "which to run, in order: "+strings.Join(controllerScenarios, ", "))
	return cmd
}

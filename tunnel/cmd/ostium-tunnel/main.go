// Command ostium-tunnel is the Ostium tunneler. `run` intercepts the
// services its identity may dial (intercept.v1) and hosts those it may bind
// (host.v1), following service changes as they happen; `proxy` maps
// services to local TCP ports without any privilege.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ostium-net/ostium/internal/buildinfo"
	"github.com/ostium-net/ostium/internal/exitcode"
	"github.com/ostium-net/ostium/internal/ops"
	"github.com/ostium-net/ostium/sdk"
	"github.com/ostium-net/ostium/sdk/identity"
	"github.com/ostium-net/ostium/tunnel"
	"github.com/ostium-net/ostium/tunnel/dns"
	"github.com/ostium-net/ostium/tunnel/relay"
	"github.com/ostium-net/ostium/tunnel/tproxy"
)

func main() {
	os.Exit(exitcode.Run(newRoot(), os.Stderr))
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "ostium-tunnel",
		Short:         "The Ostium tunneler: plain TCP and UDP applications in and out of the network",
		SilenceUsage:  true,
		SilenceErrors: true,
		Long:          exitcode.Describe,
		Version:       buildinfo.Version,
	}
	root.AddCommand(newRun(), newProxy())
	return root
}

// common are the settings of both commands.
type common struct {
	configPath, identityPath, logLevel, logFormat string
	ops                                           ops.Config
	mfaCodeFile, mfaCodeCommand                   string
	noPosture                                     bool
}

func (c *common) flags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&c.configPath, "config", "", "YAML config file (see etc/tunnel.yml); flags win over it")
	cmd.Flags().StringVar(&c.identityPath, "identity", "", "enrolled identity file (JSON)")
	cmd.Flags().StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	cmd.Flags().StringVar(&c.logFormat, "log-format", "text", "text or json")
	cmd.Flags().StringVar(&c.ops.Listen, "ops", "", "serve /metrics and /health over plain HTTP on this host:port (e.g. 127.0.0.1:9092)")
	cmd.Flags().BoolVar(&c.ops.Pprof, "pprof", false, "also serve Go's profiler under /debug/pprof/ on the --ops listener")
	cmd.Flags().StringVar(&c.mfaCodeFile, "mfa-code-file", "", "file holding the current TOTP code, read when the controller asks for one")
	cmd.Flags().StringVar(&c.mfaCodeCommand, "mfa-code-command", "", "command (split on spaces, no shell) printing the current TOTP code")
	cmd.Flags().BoolVar(&c.noPosture, "no-posture", false, "do not answer services' posture queries")
}

// sdkOptions are the sdk settings both commands share: renewed certificates
// written back to the identity file, posture queries answered with this
// machine's facts (re-sent when they change), and TOTP codes from the
// configured source, or a prompt on the terminal.
func (c *common) sdkOptions(cmd *cobra.Command, fc *fileConfig, log *slog.Logger) sdk.Options {
	set := cmd.Flags().Changed
	src := &mfaSource{file: fc.MFA.CodeFile, command: fc.MFA.CodeCommand, in: os.Stdin, out: os.Stderr, interactive: isTerminal(os.Stdin)}
	if set("mfa-code-file") || set("mfa-code-command") {
		src.file, src.command = c.mfaCodeFile, strings.Fields(c.mfaCodeCommand)
	}
	opts := sdk.Options{Logger: log.With("component", "sdk"), IdentityFile: c.identityPath, MFACode: src.code}
	posture := !c.noPosture
	if !set("no-posture") && fc.Posture != nil {
		posture = *fc.Posture
	}
	if posture {
		opts.Posture = sdk.HostPosture{}
	}
	return opts
}

// resolve merges the file into the flags not given and loads the identity.
func (c *common) resolve(cmd *cobra.Command) (*fileConfig, *slog.Logger, *identity.Identity, error) {
	fc, err := loadFileConfig(c.configPath)
	if err != nil {
		return nil, nil, nil, err
	}
	set := cmd.Flags().Changed
	if !set("identity") && fc.Identity != "" {
		c.identityPath = fc.Identity
	}
	if !set("log-level") && fc.Log.Level != "" {
		c.logLevel = fc.Log.Level
	}
	if !set("log-format") && fc.Log.Format != "" {
		c.logFormat = fc.Log.Format
	}
	if !set("ops") && fc.Ops.Listen != "" {
		c.ops.Listen = fc.Ops.Listen
	}
	if !set("pprof") && fc.Ops.Pprof {
		c.ops.Pprof = true
	}
	if err := c.ops.Validate(); err != nil {
		return nil, nil, nil, err
	}
	log, err := newLogger(os.Stderr, c.logLevel, c.logFormat)
	if err != nil {
		return nil, nil, nil, err
	}
	if c.identityPath == "" {
		return nil, nil, nil, exitcode.Usagef("--identity is required")
	}
	if c.mfaCodeFile != "" && c.mfaCodeCommand != "" {
		return nil, nil, nil, fmt.Errorf("give --mfa-code-file or --mfa-code-command, not both")
	}
	id, err := identity.Load(c.identityPath)
	if err != nil {
		return nil, nil, nil, err // it names the file and what is wrong
	}
	return fc, log, id, nil
}

// signIn authenticates. While the controller cannot be reached it says so
// once and tries again with backoff, and says once when it got through.
func signIn(ctx context.Context, sc *sdk.Context, log *slog.Logger) error {
	waited := false
	err := sc.AuthenticateWait(ctx, func(err error) {
		waited = true
		log.Warn("cannot reach the controller; retrying until it answers", "controller", sc.ControllerURL(), "err", err)
	})
	if err == nil && waited {
		log.Info("connected to the controller", "controller", sc.ControllerURL())
	}
	return err
}

// stoppedIsNil is err, or nil when ctx ended (Ctrl-C while starting is a stop,
// not a failure).
func stoppedIsNil(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
}

func newRun() *cobra.Command {
	var c common
	var poll time.Duration
	var maxPorts int
	var useTProxy, noIntercept, noHost bool
	var tproxyListen, tproxyListen6, dnsListen, dnsPool string
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Intercept dialable services and host bindable ones, following service changes",
		Long: `Hosts every service the identity may bind that has a host.v1 config, connecting each
connection to its target. Intercepts every service it may dial that has an intercept.v1
config: without --tproxy it listens on the config's IP addresses (TCP and UDP); with
--tproxy (root, Linux, nft) it also intercepts hostnames, wildcards and CIDRs through
nftables TPROXY rules and a DNS server that answers the intercepted names.
Services that appear, change or disappear are picked up at the next poll.`,
		Example: `  ostium-tunnel run --identity /etc/ostium/tunnel.json
  sudo ostium-tunnel run --identity id.json --tproxy --dns-listen 127.0.0.1:53`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fc, log, id, err := c.resolve(cmd)
			if err != nil {
				return err
			}
			set := cmd.Flags().Changed
			if !set("poll") && fc.Poll > 0 {
				poll = fc.Poll
			}
			if !set("max-ports") && fc.MaxPorts > 0 {
				maxPorts = fc.MaxPorts
			}
			if !set("tproxy") && fc.TProxy.Enabled {
				useTProxy = true
			}
			if !set("tproxy-listen") && fc.TProxy.Listen != "" {
				tproxyListen = fc.TProxy.Listen
			}
			if !set("tproxy-listen6") && fc.TProxy.Listen6 != "" {
				tproxyListen6 = fc.TProxy.Listen6
			}
			if !set("dns-listen") && fc.TProxy.DNSListen != "" {
				dnsListen = fc.TProxy.DNSListen
			}
			if !set("dns-pool") && fc.TProxy.DNSPool != "" {
				dnsPool = fc.TProxy.DNSPool
			}
			if !set("no-intercept") && fc.Intercept != nil {
				noIntercept = !*fc.Intercept
			}
			if !set("no-host") && fc.Host != nil {
				noHost = !*fc.Host
			}
			sdkOpts := c.sdkOptions(cmd, fc, log)
			sdkOpts.ConfigTypes = tunnel.ConfigTypes
			transparent := useTProxy && !noIntercept
			if transparent {
				// The tunneler's own connections to the controller and routers must
				// never be steered back into the tunneler.
				sdkOpts.Control = tproxy.DefaultSettings.BypassControl()
			}
			sc, err := sdk.New(id, sdkOpts)
			if err != nil {
				return err
			}
			defer sc.Close()
			ctx, stop := signalContext()
			defer stop()
			opsL, err := startOps(c.ops, log)
			if err != nil {
				return err
			}
			defer opsL.close()
			if err := signIn(ctx, sc, log); err != nil {
				return stoppedIsNil(ctx, err)
			}
			opts := tunnel.Options{Poll: poll, MaxPorts: maxPorts, Identity: id.Chain[0].Subject.CommonName,
				DisableIntercept: noIntercept, DisableHost: noHost, Logger: log}
			if transparent {
				listen, err := netip.ParseAddrPort(tproxyListen)
				if err != nil {
					return fmt.Errorf("--tproxy-listen: %w", err)
				}
				pool, err := netip.ParsePrefix(dnsPool)
				if err != nil {
					return fmt.Errorf("--dns-pool: %w", err)
				}
				settings := tproxy.DefaultSettings
				settings.ListenAddr = listen
				settings.ListenAddr6 = netip.AddrPort{}
				if tproxyListen6 != "off" {
					if settings.ListenAddr6, err = netip.ParseAddrPort(tproxyListen6); err != nil {
						return fmt.Errorf("--tproxy-listen6: %w", err)
					}
				}
				opts.InterceptCounters = &relay.Counters{}
				m, err := tproxy.Start(tproxy.Options{Settings: settings, DNSListen: dnsListen, Pool: pool,
					Dialer: sc, Counters: opts.InterceptCounters, Logger: log.With("component", "tproxy")})
				if err != nil {
					return err
				}
				defer m.Close()
				opts.Transparent = m
			}
			log.Info("tunneler starting", "identity", c.identityPath, "poll", poll.String(), "tproxy", useTProxy,
				"intercept", !noIntercept, "host", !noHost)
			t := tunnel.New(sc, opts)
			opsL.serve(t.Stats)
			err = t.Run(ctx)
			log.Info("tunneler stopped")
			return err
		},
	}
	c.flags(cmd)
	cmd.Flags().DurationVar(&poll, "poll", tunnel.DefaultPoll, "how often to read the service list")
	cmd.Flags().IntVar(&maxPorts, "max-ports", 256, "most listeners per service and protocol")
	cmd.Flags().BoolVar(&useTProxy, "tproxy", false, "also intercept hostnames, wildcards and CIDRs (root, Linux, nft)")
	cmd.Flags().StringVar(&tproxyListen, "tproxy-listen", tproxy.DefaultSettings.ListenAddr.String(), "address of the transparent listener")
	cmd.Flags().StringVar(&tproxyListen6, "tproxy-listen6", tproxy.DefaultSettings.ListenAddr6.String(), "address of the IPv6 transparent listener, or off")
	cmd.Flags().StringVar(&dnsListen, "dns-listen", "127.0.0.1:53", "where the DNS server answers intercepted names (with --tproxy)")
	cmd.Flags().StringVar(&dnsPool, "dns-pool", dns.DefaultPool.String(), "addresses handed out for intercepted names")
	cmd.Flags().BoolVar(&noIntercept, "no-intercept", false, "host only")
	cmd.Flags().BoolVar(&noHost, "no-host", false, "intercept only")
	return cmd
}

func newProxy() *cobra.Command {
	var c common
	cmd := &cobra.Command{
		Use:   "proxy service:host:port...",
		Short: "Listen on local TCP addresses and carry each connection to a service",
		Long: `Each mapping service:host:port (or service:port, on 127.0.0.1) opens a TCP listener;
every connection to it is carried to the service. No privilege is needed.`,
		Example: `  ostium-tunnel proxy --identity id.json web:127.0.0.1:8080 db:5432`,
		RunE: func(cmd *cobra.Command, args []string) error {
			fc, log, id, err := c.resolve(cmd)
			if err != nil {
				return err
			}
			if len(args) == 0 {
				args = fc.Proxy
			}
			var mappings []tunnel.Mapping
			for _, a := range args {
				m, err := tunnel.ParseMapping(a)
				if err != nil {
					return err
				}
				mappings = append(mappings, m)
			}
			if len(mappings) == 0 {
				return exitcode.Usagef("give at least one service:host:port mapping")
			}
			sc, err := sdk.New(id, c.sdkOptions(cmd, fc, log))
			if err != nil {
				return err
			}
			defer sc.Close()
			ctx, stop := signalContext()
			defer stop()
			opsL, err := startOps(c.ops, log)
			if err != nil {
				return err
			}
			defer opsL.close()
			if err := signIn(ctx, sc, log); err != nil {
				return stoppedIsNil(ctx, err)
			}
			if err := tunnel.CheckMappings(ctx, sc, sc.IdentityName(), mappings); err != nil {
				return stoppedIsNil(ctx, err)
			}
			p, err := tunnel.StartProxy(sc, mappings, log)
			if err != nil {
				return err
			}
			opsL.serve(func() tunnel.Stats { return tunnel.Stats{Intercept: p.Stats()} })
			tick := time.NewTicker(time.Minute)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return p.Close()
				case <-tick.C:
					s := p.Stats()
					log.Info("status", "active", s.Active, "total", s.Opened, "failed", s.Failed,
						"bytesSent", s.BytesSent, "bytesReceived", s.BytesReceived)
				}
			}
		},
	}
	c.flags(cmd)
	return cmd
}

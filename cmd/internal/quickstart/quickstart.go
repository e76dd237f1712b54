// Package quickstart runs a whole local Ostium network from one directory: it
// initialises the controller's PKI and database once, starts the controller
// (single-node raft) and one edge router in this process, and keeps a demo in
// place: an "echo" service hosted in-process and a client identity whose
// enrollment JWT is written next to the rest. A second run resumes from the
// same directory.
package quickstart

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ostium-net/ostium/controller"
	"github.com/ostium-net/ostium/internal/ops"
)

// Default addresses, all on the loopback interface.
const (
	DefaultAPIAddr       = "127.0.0.1:1280"
	DefaultEdgeAddr      = "127.0.0.1:3022"
	DefaultRouterCtlAddr = "127.0.0.1:6262"
	DefaultClusterAddr   = "127.0.0.1:6363"
)

// Names of the demo's entities and files.
const (
	AdminUsername  = controller.DefaultAdminUsername
	RouterName     = "quickstart-router"
	EchoService    = "echo"
	HostIdentity   = "echo-host"
	ClientIdentity = "echo-client"
	passwordFile   = "admin.password"
	lockFile       = "quickstart.lock"
	hostFile       = HostIdentity + ".json"
	clientJWTFile  = ClientIdentity + ".jwt"
	clientIDFile   = ClientIdentity + ".json"
	routerDir      = "router"
	// MaxRouters bounds --routers.
	MaxRouters      = 16
	controllerDBDir = "data"
)

// Options configure Run. Empty addresses take the defaults; a port of 0
// picks a free one.
type Options struct {
	// Home holds everything; created when missing. Required.
	Home string
	// Password is the admin's password for a new network; generated when
	// empty. On a resumed network it overrides the stored one.
	Password string

	APIAddr, EdgeAddr, RouterCtlAddr, ClusterAddr string
	// Routers is how many linked edge routers run (default 1, at most MaxRouters). The first
	// serves EdgeAddr; the others listen on free ports.
	Routers int

	// Progress receives the human-readable steps; nil discards them.
	Progress io.Writer
	// Log receives the controller's and router's logs; nil discards them.
	Log *slog.Logger
	// Ready, when set, is called once everything runs.
	Ready func(Info)
	// Command is how the printed instructions invoke the CLI (default "ostium").
	Command string
	// OpsAddr, when set, is the address of one plain HTTP ops listener for the
	// whole process: /metrics covers the controller, every router (their
	// series labelled router="NAME") and the demo's tunneler; /health is the
	// controller's; /debug/pprof/ is served too.
	OpsAddr string
}

// Info describes a running quickstart network.
type Info struct {
	Home string
	// APIURL is the controller's base URL, e.g. https://127.0.0.1:1280.
	APIURL string
	// EdgeAddr is the (first) router's edge listener.
	EdgeAddr string
	// RouterIDs are the ids of the routers running.
	RouterIDs []string
	// Fresh is true when this run created the network.
	Fresh         bool
	AdminUsername string
	AdminPassword string
	// PasswordFile holds the admin password.
	PasswordFile string
	// ClientJWT is the demo client's enrollment JWT file; ClientIdentityFile
	// is where the printed commands write its identity.
	ClientJWT, ClientIdentityFile string
	// CAFile is the controller's CA bundle.
	CAFile string
	// OpsURL is the ops listener's base URL (http://host:port), empty without OpsAddr.
	OpsURL string
}

func (o *Options) defaults() {
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&o.APIAddr, DefaultAPIAddr)
	def(&o.EdgeAddr, DefaultEdgeAddr)
	def(&o.RouterCtlAddr, DefaultRouterCtlAddr)
	def(&o.ClusterAddr, DefaultClusterAddr)
	def(&o.Command, "ostium")
	if o.Routers <= 0 {
		o.Routers = 1
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
}

const steps = 6

func (o *Options) step(n int, format string, args ...any) {
	fmt.Fprintf(o.Progress, "[%d/%d] %s\n", n, steps, fmt.Sprintf(format, args...))
}

// Run brings the network up, keeps it running until ctx ends, then stops
// everything and returns. A stop asked for by ctx (Ctrl-C), at any step, is
// not an error: it prints "stopped" once everything is down.
func Run(ctx context.Context, opts Options) error {
	opts.defaults()
	if opts.Home == "" {
		return errors.New("quickstart: the home directory is required")
	}
	if opts.Routers > MaxRouters {
		return fmt.Errorf("quickstart: at most %d routers", MaxRouters)
	}
	home, err := filepath.Abs(opts.Home)
	if err != nil {
		return fmt.Errorf("quickstart: %w", err)
	}
	if err := os.MkdirAll(home, 0o700); err != nil {
		return fmt.Errorf("quickstart: create %s: %w", home, err)
	}
	unlock, err := lockHome(home)
	if err != nil {
		return err
	}
	defer unlock()
	err = run(ctx, home, &opts)
	if ctx.Err() != nil {
		fmt.Fprintln(opts.Progress, "stopped")
		return nil
	}
	return err
}

// run is Run with the home locked; everything it starts is stopped when it
// returns.
func run(ctx context.Context, home string, opts *Options) error {
	cfg := controller.DefaultConfig()
	cfg.DataDir = filepath.Join(home, controllerDBDir)
	cfg.API.Listen = opts.APIAddr
	cfg.Routers.Listen = opts.RouterCtlAddr
	cfg.Cluster.Listen = opts.ClusterAddr
	// One registry for every part of the process, served by the controller's
	// ops listener.
	var reg *prometheus.Registry
	if opts.OpsAddr != "" {
		cfg.Ops = ops.Config{Listen: opts.OpsAddr, Pprof: true}
		if err := cfg.Ops.Validate(); err != nil {
			return fmt.Errorf("quickstart: --ops: %w", err)
		}
		reg = ops.NewRegistry()
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("quickstart: %w", err)
	}
	if err := opts.checkPorts(); err != nil {
		return err
	}

	info := Info{Home: home, AdminUsername: AdminUsername, PasswordFile: filepath.Join(home, passwordFile),
		ClientJWT: filepath.Join(home, clientJWTFile), ClientIdentityFile: filepath.Join(home, clientIDFile),
		CAFile: filepath.Join(cfg.PKIDir(), "root-ca.cert")}

	// 1. PKI, database and admin, once.
	password, err := prepare(ctx, cfg, opts, &info)
	if err != nil {
		return err
	}
	info.AdminPassword = password

	// 2. Controller.
	opts.step(2, "starting the controller on %s", cfg.API.Listen)
	var startOpts []controller.StartOption
	if reg != nil {
		startOpts = append(startOpts, controller.WithMetrics(reg))
	}
	ctl, err := controller.Start(ctx, cfg, opts.Log.With("component", "controller"), startOpts...)
	if err != nil {
		return fmt.Errorf("quickstart: start the controller: %w", opts.explainListenError(err))
	}
	defer ctl.Close()
	info.APIURL = "https://" + ctl.Addr()
	if addr := ctl.OpsAddr(); addr != "" {
		info.OpsURL = "http://" + addr
	}
	admin, err := login(ctx, info.APIURL, ctl, password)
	if err != nil {
		if !info.Fresh && opts.Password == "" {
			return fmt.Errorf("%w (the password in %s is not the admin's: give it with --password)", err, info.PasswordFile)
		}
		return err
	}
	defer admin.close()

	// 3. Routers.
	if opts.Routers == 1 {
		opts.step(3, "starting the edge router on %s", opts.EdgeAddr)
	} else {
		opts.step(3, "starting %d linked edge routers, the first on %s", opts.Routers, opts.EdgeAddr)
	}
	for i := 0; i < opts.Routers; i++ {
		name, dir, edgeAddr := RouterName, routerDir, opts.EdgeAddr
		if i > 0 {
			name, dir, edgeAddr = fmt.Sprintf("%s-%d", RouterName, i+1), fmt.Sprintf("%s-%d", routerDir, i+1), "127.0.0.1:0"
		}
		rid, err := ensureRouter(ctx, admin, filepath.Join(home, dir), name)
		if err != nil {
			return err
		}
		edgeLn, err := net.Listen("tcp", edgeAddr)
		if err != nil {
			return fmt.Errorf("quickstart: edge listener: %w", opts.explainListenError(err))
		}
		var linkLn net.Listener
		if opts.Routers > 1 {
			if linkLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
				_ = edgeLn.Close()
				return fmt.Errorf("quickstart: link listener: %w", err)
			}
		}
		if i == 0 {
			info.EdgeAddr = edgeLn.Addr().String()
		}
		info.RouterIDs = append(info.RouterIDs, rid.ID)
		var routerMetrics prometheus.Registerer
		if reg != nil {
			routerMetrics = prometheus.WrapRegistererWith(prometheus.Labels{"router": name}, reg)
		}
		rt, err := startRouter(ctx, rid, ctl.RouterAddr(), info.APIURL, edgeLn, linkLn, routerMetrics, opts.Log.With("component", "router", "router", name))
		if err != nil {
			_ = edgeLn.Close()
			if linkLn != nil {
				_ = linkLn.Close()
			}
			return err
		}
		defer rt.Close()
		if err := waitOnline(ctx, ctl, rid.ID); err != nil {
			return err
		}
	}

	// 4. Demo service and policies.
	opts.step(4, "creating the %q service and its policies", EchoService)
	echo, err := startEchoServer()
	if err != nil {
		return err
	}
	defer echo.close()
	serviceID, err := ensureDemo(ctx, admin, echo.port())
	if err != nil {
		return err
	}

	// 5. Host the service.
	opts.step(5, "hosting %q with an in-process tunneler", EchoService)
	hostID, err := loadOrEnrollHost(ctx, admin, filepath.Join(home, hostFile), info.APIURL)
	if err != nil {
		return err
	}
	host, err := startEchoHost(ctx, admin, hostID, filepath.Join(home, hostFile), echo, serviceID, opts.Log.With("component", "tunneler"))
	if err != nil {
		return err
	}
	defer host.stop()
	if reg != nil {
		if err := reg.Register(host.tun.Collector()); err != nil {
			return fmt.Errorf("quickstart: %w", err)
		}
	}

	// 6. Client identity.
	opts.step(6, "preparing the demo client %q", ClientIdentity)
	if err := ensureClient(ctx, admin, info.ClientJWT, info.ClientIdentityFile); err != nil {
		return err
	}

	printReady(opts.Progress, opts.Command, info)
	if opts.Ready != nil {
		opts.Ready(info)
	}
	select {
	case <-ctx.Done():
	case err := <-ctl.Err():
		if err != nil {
			return fmt.Errorf("quickstart: the controller stopped: %w", err)
		}
	}
	fmt.Fprintln(opts.Progress, "stopping")
	return nil
}

// prepare initialises the network in cfg.DataDir, or completes what an
// earlier run left unfinished (Init keeps whatever exists), and returns the
// admin password. The password is stored before anything else is made, so
// it is never lost; and when a first initialisation fails (a full disk,
// Ctrl-C), what it made is removed, so the next run starts afresh instead of
// finding a network nobody can log in to.
func prepare(ctx context.Context, cfg controller.Config, opts *Options, info *Info) (string, error) {
	fresh, err := isFresh(cfg)
	if err != nil {
		return "", err
	}
	info.Fresh = fresh
	stored, err := os.ReadFile(info.PasswordFile)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("quickstart: read the admin password: %w", err)
	}
	password := opts.Password
	if password == "" {
		password = strings.TrimSpace(string(stored))
	}
	if password == "" {
		if !fresh {
			return "", fmt.Errorf("quickstart: the network in %s has no stored admin password (%s): give it with --password, or remove %s to start afresh",
				info.Home, info.PasswordFile, info.Home)
		}
		password = rand.Text()
	}
	wrote := false
	if stored == nil {
		if err := writeFileAtomic(info.PasswordFile, []byte(password+"\n"), 0o600); err != nil {
			return "", fmt.Errorf("quickstart: store the admin password: %w", err)
		}
		wrote = true
	}
	if fresh {
		opts.step(1, "initialising the PKI and the database in %s", info.Home)
	} else {
		opts.step(1, "reusing the network in %s", info.Home)
	}
	if err := controller.Init(ctx, cfg, controller.InitOptions{AdminUsername: AdminUsername, AdminPassword: password}, opts.Log); err != nil {
		if fresh {
			_ = os.RemoveAll(cfg.DataDir)
			if wrote {
				_ = os.Remove(info.PasswordFile)
			}
		}
		return "", fmt.Errorf("quickstart: initialise: %w", err)
	}
	return password, nil
}

// writeFileAtomic writes data to path through a synced temporary file, so
// that path holds either nothing or all of data.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

// isFresh reports whether the controller was never initialised in cfg.
func isFresh(cfg controller.Config) (bool, error) {
	_, err := os.Stat(filepath.Join(cfg.DataDir, "ctrl.db"))
	switch {
	case err == nil:
		return false, nil
	case errors.Is(err, os.ErrNotExist):
		return true, nil
	}
	return false, fmt.Errorf("quickstart: %w", err)
}

func waitOnline(ctx context.Context, ctl *controller.Controller, routerID string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for !ctl.Routers().Online(routerID) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("quickstart: the router did not connect to the controller: %w", ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

func printReady(w io.Writer, ostium string, info Info) {
	fmt.Fprintf(w, "\nReady.\n  Web console:    %s/console/\n  Management API: %s/edge/management/v1\n  Edge router:    tls://%s\n  CA bundle:      %s\n", info.APIURL, info.APIURL, info.EdgeAddr, info.CAFile)
	if info.OpsURL != "" {
		fmt.Fprintf(w, "  Metrics:        %s/metrics (health %s/health, profiler %s/debug/pprof/)\n", info.OpsURL, info.OpsURL, info.OpsURL)
	}
	if info.Fresh {
		fmt.Fprintf(w, "  Admin:          username %q, password %q (also in %s)\n", info.AdminUsername, info.AdminPassword, info.PasswordFile)
	} else {
		fmt.Fprintf(w, "  Admin:          username %q, password in %s\n", info.AdminUsername, info.PasswordFile)
	}
	enrollLine := fmt.Sprintf("%s enroll %s -o %s", ostium, info.ClientJWT, info.ClientIdentityFile)
	if _, err := os.Stat(info.ClientIdentityFile); err == nil {
		enrollLine = "# " + ClientIdentity + " is already enrolled in " + info.ClientIdentityFile
	}
	fmt.Fprintf(w, `
Dial the demo %q service (it echoes what it receives):
  %s
  echo hello | %s dial %s --identity %s
  %s dial %s --identity %s      # type lines, Ctrl-D to end

Administer the network:
  %s login %s -u %s -p '%s'
Press Ctrl-C to stop.
`, EchoService, enrollLine, ostium, EchoService, info.ClientIdentityFile, ostium, EchoService, info.ClientIdentityFile,
		ostium, info.APIURL, info.AdminUsername, strings.ReplaceAll(info.AdminPassword, "'", `'\''`))
}

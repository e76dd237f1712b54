package controller

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ostium-net/ostium/controller/access"
	"github.com/ostium-net/ostium/controller/activity"
	"github.com/ostium-net/ostium/controller/api"
	"github.com/ostium-net/ostium/controller/auth"
	"github.com/ostium-net/ostium/controller/cluster"
	"github.com/ostium-net/ostium/controller/command"
	"github.com/ostium-net/ostium/controller/console"
	"github.com/ostium-net/ostium/controller/events"
	"github.com/ostium-net/ostium/controller/oidc"
	"github.com/ostium-net/ostium/controller/pki"
	"github.com/ostium-net/ostium/controller/policy"
	"github.com/ostium-net/ostium/controller/routerctl"
	"github.com/ostium-net/ostium/controller/state"
	"github.com/ostium-net/ostium/controller/store"
	"github.com/ostium-net/ostium/internal/ops"
)

// DefaultAdminUsername is the username of the admin that init creates.
const DefaultAdminUsername = "admin"

// InitOptions are the choices of a first initialisation.
type InitOptions struct {
	AdminUsername string
	AdminPassword string
}

// Init prepares a new controller: the PKI (unless the configuration points at
// an operator's files), the database, a single-node raft cluster and the
// default admin. Running it again changes nothing that exists.
func Init(ctx context.Context, cfg Config, opts InitOptions, log *slog.Logger) error {
	if opts.AdminUsername == "" {
		opts.AdminUsername = DefaultAdminUsername
	}
	if len(opts.AdminPassword) < 5 || len(opts.AdminPassword) > 100 {
		return errors.New("the admin password must be 5 to 100 characters")
	}
	if through := preparedJoin(cfg); through != "" {
		return fmt.Errorf("this controller was prepared with init --join to join the cluster through %s: start it with run instead", through)
	}
	if cfg.PKI.SigningCert == "" {
		io, err := pkiInitOptions(cfg)
		if err != nil {
			return err
		}
		if _, err := pki.Init(cfg.PKIDir(), io); err != nil {
			return fmt.Errorf("create PKI: %w", err)
		}
		log.Info("PKI ready", "dir", cfg.PKIDir())
	}
	// Init serves no port: the cluster port may be taken (by a running
	// controller of another network, say) while a new one is prepared.
	c, err := open(cfg, log, true, true, nil)
	if err != nil {
		return err
	}
	defer c.close()
	if err := c.node.WaitLeader(ctx); err != nil {
		return err
	}
	if err := c.ensureSeeds(ctx); err != nil {
		return err
	}
	return c.ensureAdmin(ctx, opts)
}

// ensureSeeds creates the built-in records every network has: the default
// auth policy and the intercept.v1 and host.v1 config types.
func (c *running) ensureSeeds(ctx context.Context) error {
	var cmds []command.Command
	err := c.store.View(func(tx *store.Tx) error {
		if p := api.DefaultAuthPolicy(); !tx.Exists(store.AuthPolicies, p.ID) {
			cmd, err := command.NewCreate(store.AuthPolicies, p)
			if err != nil {
				return err
			}
			cmds = append(cmds, cmd)
		}
		for _, ct := range api.BuiltinConfigTypes() {
			if tx.Exists(store.ConfigTypes, ct.ID) {
				continue
			}
			cmd, err := command.NewCreate(store.ConfigTypes, ct)
			if err != nil {
				return err
			}
			cmds = append(cmds, cmd)
		}
		return nil
	})
	if err != nil || len(cmds) == 0 {
		return err
	}
	b, err := command.NewBatch(time.Now().UTC(), cmds...)
	if err != nil {
		return err
	}
	if err := c.state.Apply(ctx, b); err != nil {
		return fmt.Errorf("create built-in records: %w", err)
	}
	c.log.Info("built-in records created", "count", len(cmds))
	return nil
}

// pkiInitOptions are the options of the PKI this controller makes: its
// server certificate names every address the configuration gives, and
// localhost.
func pkiInitOptions(cfg Config) (pki.InitOptions, error) {
	alg, err := pki.ParseKeyAlgorithm(cfg.PKI.KeyAlgorithm)
	if err != nil {
		return pki.InitOptions{}, err
	}
	io := pki.InitOptions{KeyAlgorithm: alg, Name: "Ostium", DNSNames: cfg.PKI.DNSNames}
	for _, ip := range cfg.PKI.IPAddresses {
		io.IPAddresses = append(io.IPAddresses, net.ParseIP(ip))
	}
	for _, hp := range []string{cfg.AdvertiseAddr(), cfg.API.Listen, cfg.Routers.Advertise, cfg.Routers.Listen,
		cfg.Cluster.Advertise, cfg.Cluster.Listen} {
		addSAN(&io, hp)
	}
	// Clients on the controller's own machine reach it by any of these.
	addSAN(&io, "localhost:0")
	addSAN(&io, "127.0.0.1:0")
	addSAN(&io, "[::1]:0")
	return io, nil
}

func addSAN(o *pki.InitOptions, hostport string) {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil || host == "" {
		return
	}
	if ip := net.ParseIP(host); ip != nil {
		for _, have := range o.IPAddresses {
			if have.Equal(ip) {
				return
			}
		}
		if !ip.IsUnspecified() {
			o.IPAddresses = append(o.IPAddresses, ip)
		}
		return
	}
	for _, have := range o.DNSNames {
		if strings.EqualFold(have, host) {
			return
		}
	}
	o.DNSNames = append(o.DNSNames, host)
}

// running holds the parts of a started controller.
type running struct {
	cfg   Config
	log   *slog.Logger
	ca    *pki.Authority
	store *store.Store
	node  *cluster.Node
	state *state.State
}

func nodeID(cfg Config) (string, error) {
	if cfg.Cluster.NodeID != "" {
		return cfg.Cluster.NodeID, nil
	}
	path := filepath.Join(cfg.DataDir, "node-id")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	id := "ctrl-" + state.NewID()[:10]
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return "", err
	}
	if err := os.WriteFile(path, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write node id: %w", err)
	}
	return id, nil
}

// certPEM is the leaf of a TLS certificate in PEM.
func certPEM(c tls.Certificate) string {
	if len(c.Certificate) == 0 {
		return ""
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}))
}

// nodeCreatedAt is when this node was first set up: when its id was written.
func nodeCreatedAt(cfg Config) time.Time {
	if fi, err := os.Stat(filepath.Join(cfg.DataDir, "node-id")); err == nil {
		return fi.ModTime().UTC()
	}
	return time.Time{}
}

// open opens the PKI, the store and the raft node. bootstrap makes a node
// with no raft state the single voter of a new cluster; offline keeps it off
// the cluster port (see cluster.Config.Offline).
func open(cfg Config, log *slog.Logger, bootstrap, offline bool, metrics prometheus.Registerer) (*running, error) {
	ca, err := pki.Load(cfg.PKIConfigFiles())
	if err != nil {
		return nil, fmt.Errorf("load PKI (run `ostium-controller init` first?): %w", err)
	}
	// The store is raft's state machine: the raft log is synced before an
	// entry commits, so the store need not sync its own commits.
	s, err := store.Open(filepath.Join(cfg.DataDir, "ctrl.db"), store.Options{
		Rebuildable: true,
		Hooks:       []store.ChangeHook{policy.Hook, oidc.RevocationHook},
		Settle:      []store.SettleHook{access.Settle},
	})
	if err != nil {
		return nil, err
	}
	if aside := s.SetAside(); aside != "" {
		log.Warn("the machine stopped while the store was open; it was set aside and is rebuilt from the raft snapshot and log", "setAside", aside)
	}
	id, err := nodeID(cfg)
	if err != nil {
		_ = s.Close()
		return nil, err
	}
	tlsCfg, err := clusterTLS(ca)
	if err != nil {
		_ = s.Close()
		return nil, err
	}
	node, err := cluster.Start(cluster.Config{
		NodeID: id, DataDir: filepath.Join(cfg.DataDir, "raft"), Bind: cfg.Cluster.Listen,
		Advertise: cfg.Cluster.Advertise, TLS: tlsCfg, Bootstrap: bootstrap && cfg.Cluster.Join == "", Offline: offline,
		HeartbeatTimeout: time.Duration(cfg.Cluster.HeartbeatTimeout), ElectionTimeout: time.Duration(cfg.Cluster.ElectionTimeout),
		Logger: log.With("component", "cluster"), Metrics: metrics,
	}, s)
	if err != nil {
		_ = s.Close()
		return nil, err
	}
	return &running{cfg: cfg, log: log, ca: ca, store: s, node: node,
		state: &state.State{Store: s, Node: node, Log: log}}, nil
}

func (c *running) close() {
	if err := c.node.Close(); err != nil {
		c.log.Warn("stop raft", "err", err)
	}
	if err := c.store.Close(); err != nil {
		c.log.Warn("close store", "err", err)
	}
}

// clusterTLS accepts only peers holding a controller certificate of this network.
func clusterTLS(ca *pki.Authority) (*tls.Config, error) {
	cert, err := ca.ServerTLSCertificate()
	if err != nil {
		return nil, err
	}
	pool := ca.CAPool()
	verify := func(_ [][]byte, chains [][]*x509.Certificate) error {
		for _, chain := range chains {
			if len(chain) > 0 && pki.IsControllerCert(chain[0]) {
				return nil
			}
		}
		return errors.New("peer is not a controller of this network")
	}
	return &tls.Config{
		MinVersion:            tls.VersionTLS13,
		Certificates:          []tls.Certificate{cert},
		RootCAs:               pool,
		ClientCAs:             pool,
		ClientAuth:            tls.RequireAndVerifyClientCert,
		VerifyPeerCertificate: verify,
	}, nil
}

func (c *running) ensureAdmin(ctx context.Context, opts InitOptions) error {
	exists := false
	_ = c.store.View(func(tx *store.Tx) error {
		_, exists = tx.Lookup(store.Authenticators, "username", opts.AdminUsername)
		return nil
	})
	if exists {
		c.log.Info("default admin already exists", "username", opts.AdminUsername)
		return nil
	}
	hash, err := auth.HashPassword(opts.AdminPassword, auth.DefaultArgon2)
	if err != nil {
		return err
	}
	identity := &store.Identity{Meta: store.Meta{ID: state.NewID()}, Name: "Default Admin", Type: store.IdentityTypeUser,
		IsAdmin: true, IsDefaultAdmin: true}
	authn := &store.Authenticator{Meta: store.Meta{ID: state.NewID()}, IdentityID: identity.ID, Method: store.AuthenticatorUpdb,
		Username: opts.AdminUsername, PasswordHash: hash}
	ci, err := command.NewCreate(store.Identities, identity)
	if err != nil {
		return err
	}
	ca, err := command.NewCreate(store.Authenticators, authn)
	if err != nil {
		return err
	}
	b, err := command.NewBatch(time.Now().UTC(), ci, ca)
	if err != nil {
		return err
	}
	if err := c.state.Apply(ctx, b); err != nil {
		return fmt.Errorf("create default admin: %w", err)
	}
	c.log.Info("default admin created", "username", opts.AdminUsername)
	return nil
}

// Controller is a started controller.
type Controller struct {
	r         *running
	presence  *routerctl.Presence
	routerCtl *routerctl.Server
	routerLn  net.Listener
	srv       *http.Server
	ln        net.Listener
	ops       *ops.Server // nil without ops.listen
	metrics   prometheus.Gatherer
	errc      chan error
	closed    chan struct{}
	api       *api.API
	events    *events.Bus
	// stopFollow ends the events derived from the store's changes.
	stopFollow func()

	// stopJobs ends the work Start runs in the background (presence
	// sharing, the API's upkeep and sweeps); jobs waits for it to return.
	stopJobs context.CancelFunc
	jobs     sync.WaitGroup
}

// StartOption changes how Start builds a controller, for what a YAML
// configuration cannot express.
type StartOption func(*startOptions)

type startOptions struct {
	jwksClient *http.Client
	lockout    api.LockoutPolicy
	metrics    prometheus.Registerer
	authLimits api.AuthLimits
}

// WithMetrics registers the controller's metrics on reg instead of a
// registry of its own: a process running several parts (the quickstart)
// gathers them all in one. The ops listener, when configured, serves reg,
// which must then also be a prometheus.Gatherer (a *prometheus.Registry).
// A registry holds one controller's metrics: a controller started again in
// the same process needs a new one, or Start fails on the duplicates.
func WithMetrics(reg prometheus.Registerer) StartOption {
	return func(o *startOptions) { o.metrics = reg }
}

// WithJWKSClient sets the HTTP client that fetches the key sets of external
// JWT signers (default: one trusting the system roots).
func WithJWKSClient(c *http.Client) StartOption {
	return func(o *startOptions) { o.jwksClient = c }
}

// WithLockoutPolicy sets when repeated authentication failures lock an
// identity out from a source address (default: api.DefaultLockoutPolicy).
func WithLockoutPolicy(p api.LockoutPolicy) StartOption {
	return func(o *startOptions) { o.lockout = p }
}

// WithAuthLimits sets how password checks are bounded and how failed
// sign-ins and authentication events are kept (default: api.AuthLimits'
// defaults; EventRetention from the configuration). Fields left zero keep
// those.
func WithAuthLimits(l api.AuthLimits) StartOption {
	return func(o *startOptions) { o.authLimits = l }
}

// Start opens the state, joins or bootstraps the cluster, and serves the APIs
// in the background. Stop it with Close.
func Start(ctx context.Context, cfg Config, log *slog.Logger, opts ...StartOption) (*Controller, error) {
	var so startOptions
	for _, o := range opts {
		o(&so)
	}
	reg := so.metrics
	if reg == nil {
		reg = ops.NewRegistry()
	}
	gatherer := ops.Gatherer(reg)
	if cfg.Ops.Enabled() && gatherer == nil {
		return nil, errors.New("ops.listen: the metrics registry given to the controller cannot be read back to serve it")
	}
	if cfg.Cluster.Join == "" {
		cfg.Cluster.Join = preparedJoin(cfg)
	}
	c, err := open(cfg, log, true, false, reg)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Controller, error) {
		c.close()
		return nil, err
	}
	if cfg.Cluster.Join != "" && !c.node.HadState() {
		if err := c.node.Join(ctx, cfg.Cluster.Join); err != nil {
			return fail(err)
		}
	}
	if err := c.node.WaitLeader(ctx); err != nil {
		return fail(err)
	}
	srvCert, err := c.ca.ServerTLSCertificate()
	if err != nil {
		return fail(err)
	}
	ln, err := net.Listen("tcp", cfg.API.Listen)
	if err != nil {
		return fail(fmt.Errorf("listen on %s: %w", cfg.API.Listen, err))
	}
	advertise := cfg.API.Advertise
	if advertise == "" {
		// With port 0 in listen, clients must be told the port actually bound.
		advertise = ln.Addr().String()
	}
	bus := events.NewBus()
	var sink *events.FileSink
	if f := cfg.Events.File; f != nil {
		types, _ := events.ParseTypes(f.Types) // checked by Validate
		if sink, err = events.OpenFile(events.FileConfig{Path: f.Path, MaxBytes: int64(f.MaxSizeMB) << 20, MaxFiles: f.MaxFiles,
			Filter: types}, log.With("component", "events")); err != nil {
			_ = ln.Close()
			return fail(err)
		}
	}
	presence := routerctl.NewPresence()
	idleTimeout := time.Duration(cfg.API.SessionIdleTimeout)
	if idleTimeout <= 0 {
		idleTimeout = api.DefaultSessionIdleTimeout
	}
	apiSessionUse := activity.New()
	tokenKeys, err := oidc.DeriveKeys(c.ca.DeriveSecret)
	if err != nil {
		_ = ln.Close()
		return fail(err)
	}
	oidcOpts := api.OIDCOptions{Disabled: cfg.API.OIDC.Disabled, Keys: tokenKeys, RedirectURIs: cfg.API.OIDC.RedirectURIs,
		AccessTokenLifetime: time.Duration(cfg.API.OIDC.AccessTokenLifetime), RefreshTokenLifetime: time.Duration(cfg.API.OIDC.RefreshTokenLifetime)}
	maxLifetime := cfg.SessionMaxLifetime()
	ctrl := &routerctl.Server{State: c.state, CA: c.ca, Presence: presence, Log: log.With("component", "routers"),
		Activity: apiSessionUse, APISessionHeartbeat: api.UpkeepInterval(idleTimeout), TokenKeys: tokenKeys.KeySet(),
		SessionMaxLifetime: maxLifetime, Events: bus}
	limits := so.authLimits
	if limits.EventRetention <= 0 {
		limits.EventRetention = time.Duration(cfg.API.AuthEventRetention)
	}
	apiHandler, err := api.New(api.Deps{
		State: c.state, Node: c.node, CA: c.ca, Log: log.With("component", "api"),
		Advertise: advertise, SessionIdleTimeout: idleTimeout, SessionMaxLifetime: maxLifetime, Activity: apiSessionUse,
		Routers: presence, Mesh: ctrl, JWKSClient: so.jwksClient, Lockout: so.lockout, OIDC: oidcOpts,
		Metrics:         reg,
		MaxRequestBytes: cfg.API.MaxRequestBytes, AuthLimits: limits,
		Events: bus, AuditRetention: time.Duration(cfg.Audit.Retention),
	})
	if err == nil {
		err = ops.Register(reg, newStateCollector(c.store, presence), eventsDropped(bus))
	}
	var handler http.Handler
	if err == nil {
		handler, err = console.Mount(apiHandler)
	}
	if err != nil {
		_ = ln.Close()
		if sink != nil {
			sink.Close()
		}
		return fail(err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: orDefault(time.Duration(cfg.API.ReadHeaderTimeout), DefaultReadHeaderTimeout),
		ReadTimeout:       orDefault(time.Duration(cfg.API.ReadTimeout), DefaultReadTimeout),
		IdleTimeout:       orDefault(time.Duration(cfg.API.IdleTimeout), DefaultIdleTimeout),
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		TLSConfig: &tls.Config{
			MinVersion:   tls.VersionTLS12,
			Certificates: []tls.Certificate{srvCert},
			// Requested, not required: password authentication needs none,
			// certificate authentication and enrollment do.
			ClientAuth: tls.RequestClientCert,
		},
	}
	routerLn, err := net.Listen("tcp", cfg.Routers.Listen)
	if err != nil {
		_ = ln.Close()
		if sink != nil {
			sink.Close()
		}
		return fail(fmt.Errorf("listen for routers on %s: %w", cfg.Routers.Listen, err))
	}
	routerAdvertise := cfg.Routers.Advertise
	if routerAdvertise == "" {
		routerAdvertise = routerLn.Addr().String()
	}
	c.node.SetInfo(cluster.PeerInfo{APIAddress: advertise, RouterAddress: routerAdvertise, CertPEM: certPEM(srvCert), CreatedAt: nodeCreatedAt(cfg)})
	ctrl.Controllers = func() []string { return controllerEndpoints(c.node, routerAdvertise) }
	var opsSrv *ops.Server
	if cfg.Ops.Enabled() {
		if opsSrv, err = ops.Start(cfg.Ops, gatherer, apiHandler.HealthHandler(), log.With("component", "ops")); err != nil {
			_ = ln.Close()
			_ = routerLn.Close()
			if sink != nil {
				sink.Close()
			}
			return fail(err)
		}
	}
	go func() {
		if err := ctrl.Serve(routerLn); err != nil {
			log.Error("router control channel stopped", "err", err)
		}
	}()
	ctl := &Controller{r: c, presence: presence, routerCtl: ctrl, routerLn: routerLn, srv: srv, ln: ln, ops: opsSrv, metrics: gatherer,
		errc: make(chan error, 1), closed: make(chan struct{}), api: apiHandler, events: bus}
	jobs, stopJobs := context.WithCancel(context.Background())
	ctl.stopJobs = stopJobs
	ctl.stopFollow = events.Follow(c.store, bus)
	if sink != nil {
		ctl.goJob(func() { sink.Run(jobs, bus) })
	}
	ctl.goJob(func() {
		presence.Share(jobs, c.state, c.node.ID(), routerctl.DefaultLease, log.With("component", "presence"))
	})
	ctl.goJob(func() { apiHandler.RunJobs(jobs) })
	go func() { ctl.errc <- srv.ServeTLS(ln, "", "") }()
	log.Info("controller listening", "api", "https://"+ln.Addr().String(), "routers", routerLn.Addr().String(), "cluster", c.node.Addr(), "node", c.node.ID())
	return ctl, nil
}

// Defaults of the API listener's timeouts (api.readHeaderTimeout,
// api.readTimeout, api.idleTimeout).
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultIdleTimeout       = 2 * time.Minute
)

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func (c *Controller) goJob(run func()) {
	c.jobs.Add(1)
	go func() {
		defer c.jobs.Done()
		run()
	}()
}

// eventsDropped counts the events dropped for subscribers too slow to take them.
func eventsDropped(bus *events.Bus) prometheus.Collector {
	return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "ostium_events_dropped_total",
		Help: "Events dropped for subscribers (event streams, the events file) too slow to take them."},
		func() float64 { return float64(bus.Dropped()) })
}

// Events is the controller's event bus.
func (c *Controller) Events() *events.Bus { return c.events }

// EventsDropped is how many events were dropped for subscribers too slow to
// take them (ostium_events_dropped_total).
func (c *Controller) EventsDropped() uint64 { return c.events.Dropped() }

// API is the controller's API handler (for its maintenance calls).
func (c *Controller) API() *api.API { return c.api }

// Routers is the registry of edge routers connected to this controller.
func (c *Controller) Routers() *routerctl.Presence { return c.presence }

// controllerEndpoints lists the router control endpoints of every member of
// the cluster that told its address, this node's own included.
func controllerEndpoints(node *cluster.Node, self string) []string {
	out := []string{"tls:" + self}
	members, err := node.Members()
	if err != nil {
		return out
	}
	for _, m := range members {
		if !m.Self && m.Info.RouterAddress != "" {
			out = append(out, "tls:"+m.Info.RouterAddress)
		}
	}
	return out
}

// RouterAddr is the address routers' control channels connect to.
func (c *Controller) RouterAddr() string { return c.routerLn.Addr().String() }

// Addr is the API listener's address.
func (c *Controller) Addr() string { return c.ln.Addr().String() }

// ClusterAddr is the raft/cluster listener's address.
func (c *Controller) ClusterAddr() string { return c.r.node.Addr() }

// CAPool holds the CAs that clients of this controller trust.
func (c *Controller) CAPool() *x509.CertPool { return c.r.ca.CAPool() }

// OpsAddr is the ops listener's address, empty when none is configured.
func (c *Controller) OpsAddr() string {
	if c.ops == nil {
		return ""
	}
	return c.ops.Addr()
}

// Metrics gathers the controller's metrics (nil when the registry given
// with WithMetrics cannot be read back).
func (c *Controller) Metrics() prometheus.Gatherer { return c.metrics }

// Node is the controller's raft node.
func (c *Controller) Node() *cluster.Node { return c.r.node }

// Err reports a failure of the API server, if it stopped on its own.
func (c *Controller) Err() <-chan error { return c.errc }

// Close stops serving and closes the raft node and the store.
func (c *Controller) Close() error {
	select {
	case <-c.closed:
		return nil
	default:
	}
	close(c.closed)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := c.srv.Shutdown(ctx)
	if c.ops != nil {
		_ = c.ops.Close()
	}
	_ = c.routerCtl.Close()
	c.stopJobs()
	c.jobs.Wait()
	c.stopFollow()
	c.r.close()
	c.r.log.Info("controller stopped")
	return err
}

// Run starts the controller and serves until ctx ends.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	c, err := Start(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer c.Close()
	select {
	case <-ctx.Done():
		return nil
	case err := <-c.errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("serve API: %w", err)
	}
}

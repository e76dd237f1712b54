package router

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ostium-net/ostium/internal/ctrlproto"
	"github.com/ostium-net/ostium/internal/ops"
	"github.com/ostium-net/ostium/router/ctrlclient"
	"github.com/ostium-net/ostium/router/edge"
	"github.com/ostium-net/ostium/router/link"
	"github.com/ostium-net/ostium/sdk/renew"
)

// Options are what a process embedding a router may set besides its configuration file.
// Zero fields take the defaults.
type Options struct {
	// Logger receives the router's logs; nil writes them to stderr as cfg.Log says.
	Logger *slog.Logger
	// EdgeListener, when set, is used instead of binding cfg.Edge.Listen. The router closes
	// it when it stops.
	EdgeListener net.Listener
	// LinkListener, when set, is used instead of binding cfg.Link.Listen (cfg.Link.Advertise
	// must still say how other routers reach it).
	LinkListener net.Listener
	// Link tunes the mesh (probe interval, backoff, window); its identity, listener, state
	// and hooks are set by Start.
	Link link.Config
	// ControlMinBackoff and ControlMaxBackoff bound the wait between two dials of the
	// controller (ctrlclient defaults when zero).
	ControlMinBackoff, ControlMaxBackoff time.Duration
	// Metrics receives the router's metrics; nil: a registry of the router's own. A process
	// running several routers wraps one registry with a constant label per router
	// (prometheus.WrapRegistererWith). With ops.listen set, the router serves Metrics, which
	// must then also be a prometheus.Gatherer. A registry (or wrapped registerer) holds
	// one running router's metrics: a router started again needs a fresh one.
	Metrics prometheus.Registerer
}

// Router is a running edge router: its edge listener, its control channel to the controller
// and its certificate renewal. Start one with [Start]; [Run] is Start followed by waiting.
type Router struct {
	// ID is the router's id, the common name of its certificate.
	ID string

	cfg      Config
	log      *slog.Logger
	identity *Identity
	ctrl     *ctrlclient.Client
	edge     *edge.Listener
	edgeLn   net.Listener
	mesh     *link.Manager
	renewer  *renew.Renewer
	ops      *ops.Server // nil without ops.listen

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	done      chan struct{}
	closeOnce sync.Once
	draining  atomic.Bool
	mu        sync.Mutex
	err       error
}

// Run serves the router described by cfg until ctx ends, then stops it. It returns an error
// when the router cannot start or a listener fails.
func Run(ctx context.Context, cfg Config) error {
	r, err := Start(context.WithoutCancel(ctx), cfg, Options{})
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-r.done:
		return r.Close()
	}
	drain := cfg.DrainTimeout
	if drain <= 0 {
		drain = DefaultDrainTimeout
	}
	r.log.Info("stopping: draining", "drainTimeout", drain)
	dctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	return r.Shutdown(dctx)
}

// Start loads the router's enrolled identity, binds its listeners and starts serving. The
// router runs until ctx ends or Close is called.
func Start(ctx context.Context, cfg Config, opts Options) (*Router, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	id, err := LoadIdentity(cfg.Identity)
	if err != nil {
		return nil, err
	}
	controlAddr, err := ControlAddress(cfg.Controller.Endpoint)
	if err != nil {
		return nil, err
	}
	var moreControllers []string
	for _, e := range cfg.Controller.Endpoints {
		addr, err := ControlAddress(e)
		if err != nil {
			return nil, err
		}
		moreControllers = append(moreControllers, addr)
	}
	log := opts.Logger
	if log == nil {
		log = cfg.Log.NewLogger(os.Stderr)
	}
	log = log.With("routerId", id.RouterID)
	r := &Router{ID: id.RouterID, cfg: cfg, log: log, identity: id, done: make(chan struct{})}
	reg := opts.Metrics
	if reg == nil {
		reg = ops.NewRegistry()
	}
	if cfg.Ops.Enabled() && ops.Gatherer(reg) == nil {
		return nil, errors.New("ops.listen: the metrics registry given to the router cannot be read back to serve it")
	}

	// Certificates renew on their own at 2/3 of their lifetime; new handshakes present the
	// new ones, established connections keep theirs.
	var serverCert atomic.Pointer[tls.Certificate]
	serverCert.Store(&id.Server)
	r.renewer = newRenewer(cfg, id, &serverCert, log)

	linkLn := opts.LinkListener
	if linkLn == nil && cfg.Link.Listen != "" {
		if linkLn, err = net.Listen("tcp", cfg.Link.Listen); err != nil {
			return nil, fmt.Errorf("link listener: %w", err)
		}
	}
	closeOnError := func() {
		if linkLn != nil {
			_ = linkLn.Close()
		}
	}
	var linkListener *ctrlproto.LinkListener
	if linkLn != nil {
		linkListener = &ctrlproto.LinkListener{Address: cfg.Link.Advertise, Cost: cfg.Link.Cost}
	}

	// The hooks reach the listener and the mesh, which need the client as their source of
	// state: both are set before the client runs.
	r.ctrl, err = ctrlclient.New(ctrlclient.Config{
		Address:              controlAddr,
		MoreAddresses:        moreControllers,
		Listeners:            map[string]string{"tls": "tls://" + cfg.Edge.Advertise},
		TLS:                  &tls.Config{GetClientCertificate: r.renewer.GetClientCertificate, RootCAs: id.CAs, MinVersion: tls.VersionTLS12},
		Logger:               log.With("component", "ctrl"),
		OnAPISessionsRemoved: func(ids []string) { r.edge.CloseAPISessions(ids...) },
		OnSessionsRemoved:    func(ids []string) { r.edge.CloseSessions(ids...) },
		OnCAsRemoved:         func() { go r.edge.RecheckClientCertificates() },
		ActiveAPISessions:    func() []string { return r.edge.APISessions() },
		MinBackoff:           opts.ControlMinBackoff,
		MaxBackoff:           opts.ControlMaxBackoff,
		Link:                 linkListener,
		OnMeshChanged:        func() { r.mesh.MeshChanged() },
		Circuits:             r.circuits,
		CloseCircuit:         func(id, reason string) bool { return r.edge.CloseCircuit(id, reason) },
		RouterID:             id.RouterID,
		StatePath:            cfg.StatePath(),
		StateMaxAge:          cfg.StateMaxAge,
	})
	if err != nil {
		closeOnError()
		return nil, err
	}
	meshCfg := opts.Link
	if cfg.Link.Window != 0 {
		meshCfg.Window = int(cfg.Link.Window)
	}
	meshCfg.RouterID = id.RouterID
	meshCfg.Certificate = func() (*tls.Certificate, error) { c := r.renewer.Certificate(); return &c, nil }
	meshCfg.CAs = id.CAs
	meshCfg.Listener = linkLn
	meshCfg.State = r.ctrl
	meshCfg.Host = meshHost{r}
	meshCfg.Report = r.ctrl.ReportLinks
	meshCfg.Logger = log
	meshCfg.Metrics = reg
	if r.mesh, err = link.New(meshCfg); err != nil {
		closeOnError()
		return nil, err
	}
	r.edge, err = edge.New(edge.Config{
		RouterID: id.RouterID,
		TLS: &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return serverCert.Load(), nil
		}},
		ClientCAs:     id.CAs,
		ThirdPartyCAs: r.ctrl.ThirdPartyCAs,
		Tokens:        r.ctrl,
		Terminators:   r.ctrl,
		Logger:        log,
		Fabric:        r.mesh,
		FabricWindow:  meshCfg.Window,
		Metrics:       reg,
		OnCircuit:     r.reportCircuit,
	})
	if err != nil {
		closeOnError()
		return nil, err
	}
	r.edgeLn = opts.EdgeListener
	if r.edgeLn == nil {
		if r.edgeLn, err = net.Listen("tcp", cfg.Edge.Listen); err != nil {
			closeOnError()
			return nil, fmt.Errorf("edge listener: %w", err)
		}
	}

	if err := r.startOps(reg); err != nil {
		closeOnError()
		if opts.EdgeListener == nil {
			_ = r.edgeLn.Close()
		}
		return nil, err
	}

	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.cancel = cancel
	r.wg.Add(4)
	go func() {
		defer r.wg.Done()
		_ = r.ctrl.Run(runCtx)
	}()
	go func() {
		defer r.wg.Done()
		_ = r.mesh.Run(runCtx)
	}()
	go func() {
		defer r.wg.Done()
		_ = r.renewer.Run(runCtx)
	}()
	go func() {
		defer r.wg.Done()
		if err := r.edge.Serve(r.edgeLn); err != nil && !errors.Is(err, edge.ErrListenerClosed) {
			r.fail(fmt.Errorf("edge listener: %w", err))
		}
	}()
	// The router stops with ctx.
	go func() {
		select {
		case <-ctx.Done():
			_ = r.Close()
		case <-r.done:
		}
	}()
	if linkLn != nil {
		log.Info("link listener", "listen", linkLn.Addr().String(), "advertise", cfg.Link.Advertise, "cost", cfg.Link.Cost)
	}
	log.Info("router running", "edge", r.edgeLn.Addr().String(), "advertise", cfg.Edge.Advertise, "controller", controlAddr)
	return r, nil
}

// fail records the first error that stops the router and ends it.
func (r *Router) fail(err error) {
	r.mu.Lock()
	if r.err == nil {
		r.err = err
	}
	r.mu.Unlock()
	r.closeOnce.Do(func() { close(r.done) })
}

// Done is closed when the router stops (Close, or a listener failing).
func (r *Router) Done() <-chan struct{} { return r.done }

// Shutdown stops the router gracefully. The edge listener stops accepting, refuses new dials
// and binds and asks its hosts to bind elsewhere (their connections stay open); the circuits
// get until ctx ends to finish, and those still open then are cut after the router has written
// what it held for them. Meanwhile the control channel stays up (the terminators' removal
// reaches the controller) and /health answers 503. Then everything stops as with Close.
func (r *Router) Shutdown(ctx context.Context) error {
	r.draining.Store(true)
	start := time.Now()
	cut, err := r.edge.Shutdown(ctx)
	if err != nil {
		r.log.Warn("draining the edge listener", "err", err)
	}
	r.log.Info("stopped after draining", "took", time.Since(start).Round(time.Millisecond), "circuitsCut", cut)
	return r.Close()
}

// Close stops the router at once: the edge listener, its channels and circuits, the control
// channel and the renewal. It waits for them and returns the error that stopped the router, if
// any.
func (r *Router) Close() error {
	r.closeOnce.Do(func() { close(r.done) })
	if err := r.edge.Close(); err != nil {
		r.log.Warn("closing the edge listener", "err", err)
	}
	_ = r.edgeLn.Close()
	if r.ops != nil {
		_ = r.ops.Close()
	}
	r.cancel()
	r.wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// EdgeAddr is the address the edge listener is bound to.
func (r *Router) EdgeAddr() net.Addr { return r.edgeLn.Addr() }

// Edge is the router's edge listener (for its statistics and revocations).
func (r *Router) Edge() *edge.Listener { return r.edge }

// Control is the router's control channel client.
func (r *Router) Control() *ctrlclient.Client { return r.ctrl }

// Certificate is the client certificate the router presents now.
func (r *Router) Certificate() tls.Certificate { return r.renewer.Certificate() }

// RenewNow renews the router's certificates at once (as it does on its own at 2/3 of their
// lifetime), writes them to the configured files and presents them from the next handshake.
func (r *Router) RenewNow(ctx context.Context) error { return r.renewer.RenewNow(ctx) }

// Mesh is the router's link manager.
func (r *Router) Mesh() *link.Manager { return r.mesh }

// meshHost lets circuits arriving over links reach this router's terminators.
type meshHost struct{ r *Router }

func (h meshHost) DialTerminator(ctx context.Context, d edge.FabricDial, end edge.FabricEnd) ([]byte, func(), error) {
	return h.r.edge.DialTerminator(ctx, d, end)
}

// reportCircuit sends a circuit's start or end, with its byte counts, to the controller.
func (r *Router) reportCircuit(ev edge.CircuitEvent) {
	rec := ctrlproto.CircuitRecord{Event: ctrlproto.CircuitStarted, Circuit: ctrlproto.Circuit{ID: ev.ID, ServiceID: ev.ServiceID,
		IdentityID: ev.IdentityID, Path: ev.Path, CreatedAt: ev.CreatedAt, BytesUp: ev.BytesUp, BytesDown: ev.BytesDown},
		HostIdentityID: ev.HostIdentityID}
	if ev.Ended {
		rec.Event, rec.EndedAt, rec.Reason = ctrlproto.CircuitEnded, ev.EndedAt, ev.Reason
	}
	r.ctrl.ReportCircuit(rec)
}

// circuits lists the circuits starting on this router for the controller.
func (r *Router) circuits() []ctrlproto.Circuit {
	list := r.edge.Circuits()
	out := make([]ctrlproto.Circuit, 0, len(list))
	for _, c := range list {
		out = append(out, ctrlproto.Circuit{ID: c.ID, ServiceID: c.ServiceID, IdentityID: c.IdentityID, Path: c.Path,
			CreatedAt: c.CreatedAt, BytesUp: c.BytesUp, BytesDown: c.BytesDown})
	}
	return out
}

// Package ops serves a process's operations endpoints on a plain HTTP
// listener of their own, apart from the ports that carry the network:
// Prometheus metrics at /metrics, a health report at /health (in the
// data/meta envelope, 200 or 503) and, only when enabled, Go's profiler at
// /debug/pprof/. The controller, the router and the tunneler share it; each
// gives it its own registry and health check.
package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config is the `ops:` section of controller.yml, router.yml and tunnel.yml.
// The listener is off while Listen is empty.
type Config struct {
	// Listen is host:port of the plain HTTP listener (for example
	// 127.0.0.1:9090). It carries no authentication: keep it on a loopback
	// or management address.
	Listen string `yaml:"listen"`
	// Pprof serves Go's profiler under /debug/pprof/ as well.
	Pprof bool `yaml:"pprof"`
}

// Enabled reports whether the listener is configured.
func (c Config) Enabled() bool { return c.Listen != "" }

// Validate reports a listen address that cannot be bound, naming the field.
func (c Config) Validate() error {
	if c.Listen == "" {
		if c.Pprof {
			return errors.New("ops.pprof: set without ops.listen; give ops.listen an address such as 127.0.0.1:9090")
		}
		return nil
	}
	host, portText, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return fmt.Errorf("ops.listen: %q is not host:port (for example 127.0.0.1:9090): %w", c.Listen, err)
	}
	if strings.ContainsAny(host, " /\\@?#") {
		return fmt.Errorf("ops.listen: %q has an invalid host", c.Listen)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 {
		return fmt.Errorf("ops.listen: %q: the port must be a number from 0 to 65535", c.Listen)
	}
	return nil
}

// NewRegistry returns an empty registry holding the Go runtime's and the
// process's collectors: a process makes one and hands it to its parts.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Gatherer returns the registry under reg when it can be read back (a
// *prometheus.Registry, or anything else that gathers), nil otherwise.
func Gatherer(reg prometheus.Registerer) prometheus.Gatherer {
	g, _ := reg.(prometheus.Gatherer)
	return g
}

// Register registers every collector on reg; a nil reg registers nothing.
// It fails on the first collector reg refuses (one registered twice).
func Register(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	if reg == nil {
		return nil
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register metrics: %w", err)
		}
	}
	return nil
}

// HealthFunc checks whether a process can do its work now. ok false answers
// 503; report is the answer's data either way.
type HealthFunc func(ctx context.Context) (ok bool, report any)

// healthTimeout bounds one health check.
const healthTimeout = 5 * time.Second

// HealthHandler answers GET and HEAD with check's report in the data/meta
// envelope: 200 when ok, 503 otherwise. Other methods get 405.
func HealthHandler(check HealthFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			WriteJSON(w, http.StatusMethodNotAllowed, map[string]any{
				"error": map[string]any{"code": "METHOD_NOT_ALLOWED", "message": "use GET or HEAD"},
				"meta":  map[string]any{}})
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
		defer cancel()
		ok, report := check(ctx)
		status := http.StatusOK
		if !ok {
			status = http.StatusServiceUnavailable
		}
		w.Header().Set("Cache-Control", "no-store")
		WriteJSON(w, status, map[string]any{"data": report, "meta": map[string]any{}})
	})
}

// WriteJSON writes v as the JSON body of a status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"UNHANDLED","message":"cannot encode the answer"},"meta":{}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// Handler is the ops listener's routes: /metrics from gatherer, /health
// from health (404 when nil) and, with pprof, /debug/pprof/.
func Handler(gatherer prometheus.Gatherer, health http.Handler, withPprof bool, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	if gatherer != nil {
		mux.Handle("/metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{
			ErrorLog:      slog.NewLogLogger(log.Handler(), slog.LevelWarn),
			ErrorHandling: promhttp.ContinueOnError,
			Timeout:       10 * time.Second,
		}))
	}
	if health != nil {
		mux.Handle("/health", health)
	}
	if withPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// Server is a running ops listener.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
}

// Start binds cfg.Listen and serves Handler on it until Close.
func Start(cfg Config, gatherer prometheus.Gatherer, health http.Handler, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !cfg.Enabled() {
		return nil, errors.New("ops: no listen address")
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("ops listener on %s: %w", cfg.Listen, err)
	}
	s := &Server{ln: ln, done: make(chan struct{}), srv: &http.Server{
		Handler:           Handler(gatherer, health, cfg.Pprof, log),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("ops listener stopped", "err", err)
		}
	}()
	log.Info("ops listener", "addr", "http://"+ln.Addr().String(), "pprof", cfg.Pprof)
	return s, nil
}

// Addr is the address the listener is bound to.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the listener, letting requests in flight finish for a few
// seconds (a profile being taken is cut short).
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = s.srv.Close()
	}
	<-s.done
	return err
}

// Package tunnel is the tunneler: it follows the services an identity may
// use and, as they appear, change and disappear, intercepts the dialable
// ones that have an intercept.v1 config and hosts the bindable ones that
// have a host.v1 config. Proxy mode (explicit service → local port
// mappings) lives here too.
package tunnel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/ostium-net/ostium/sdk"
	"github.com/ostium-net/ostium/tunnel/config"
	"github.com/ostium-net/ostium/tunnel/host"
	"github.com/ostium-net/ostium/tunnel/intercept"
	"github.com/ostium-net/ostium/tunnel/relay"
)

// ConfigTypes are the config types a tunneler's sdk Context must ask for
// (sdk.Options.ConfigTypes), or services come without their configs.
var ConfigTypes = []string{config.InterceptV1, config.HostV1}

// DefaultPoll is how often the service list is read by default.
const DefaultPoll = 5 * time.Second

// Network is the part of an sdk Context the tunneler uses.
type Network interface {
	Services(ctx context.Context) ([]*sdk.Service, error)
	intercept.Dialer
	host.Binder
}

// Transparent intercepts the addresses plain listeners cannot: hostnames,
// CIDRs and wildcards (see package tproxy). Set is called with a service's
// config whenever it appears or changes, Remove when it goes.
type Transparent interface {
	Set(service string, cfg *config.Intercept) error
	Remove(service string)
}

// Options tune a Tunneler.
type Options struct {
	// Poll is how often the service list is read (default DefaultPoll).
	Poll time.Duration
	// MaxPorts caps the listeners per service and protocol.
	MaxPorts int
	// Identity is this tunneler's identity name, used by host.v1 configs
	// that bind with the edge identity.
	Identity string
	// Transparent, when set, also intercepts hostnames, CIDRs and wildcards.
	Transparent Transparent
	// InterceptCounters count the intercepted connections; give the same
	// counters to the Transparent interceptor to have its traffic in Stats
	// too. Nil: the Tunneler keeps its own.
	InterceptCounters *relay.Counters
	// DisableIntercept and DisableHost turn one side off.
	DisableIntercept, DisableHost bool
	Logger                        *slog.Logger
}

// Stats is what the tunneler is doing.
type Stats struct {
	// Intercepted and Hosted name the services served now.
	Intercepted, Hosted []string
	// Listeners counts the local endpoints open now.
	Listeners int
	// Intercept counts the connections from local clients into the network,
	// Host those from the network to targets.
	Intercept, Host relay.CounterSnapshot
}

type interceptState struct {
	fingerprint string
	in          *intercept.Intercept // nil when only transparent
	transparent bool
}

type hostState struct {
	fingerprint string
	h           *host.Host
}

// Tunneler serves the services of one identity.
type Tunneler struct {
	net  Network
	opts Options
	log  *slog.Logger

	interceptCounters *relay.Counters
	hostCounters      relay.Counters

	mu         sync.Mutex
	intercepts map[string]*interceptState
	hosts      map[string]*hostState
	failures   map[string]string // last error per service and side, to log changes only
}

// New makes a Tunneler; Run starts it.
func New(n Network, opts Options) *Tunneler {
	if opts.Poll <= 0 {
		opts.Poll = DefaultPoll
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.InterceptCounters == nil {
		opts.InterceptCounters = &relay.Counters{}
	}
	return &Tunneler{net: n, opts: opts, log: opts.Logger, interceptCounters: opts.InterceptCounters,
		intercepts: map[string]*interceptState{}, hosts: map[string]*hostState{}, failures: map[string]string{}}
}

// Run follows the services until ctx ends, then stops every intercept and
// host.
//
// While the service list cannot be read (the controller is down, say), what
// runs keeps running; the failure is logged once, the reads back off up to
// MaxPollBackoff, and the recovery is logged once.
func (t *Tunneler) Run(ctx context.Context) error {
	defer t.stopAll()
	lastReport := time.Now()
	wait := t.opts.Poll
	failing := false
	for {
		err := t.Sync(ctx)
		switch {
		case ctx.Err() != nil:
		case err != nil && !failing:
			failing = true
			t.log.Warn("cannot read the service list; what runs keeps running, retrying", "err", err)
		case err != nil:
			t.log.Debug("still cannot read the service list", "err", err, "retry", wait.String())
		case failing:
			failing = false
			t.log.Info("reading the service list again")
		}
		if err != nil {
			wait = min(wait*2, max(t.opts.Poll, MaxPollBackoff))
		} else {
			wait = t.opts.Poll
		}
		if time.Since(lastReport) >= time.Minute {
			t.logStats()
			lastReport = time.Now()
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-timer.C:
		}
	}
}

// MaxPollBackoff is the longest pause between reads of the service list
// while they fail.
const MaxPollBackoff = 30 * time.Second

func (t *Tunneler) logStats() {
	s := t.Stats()
	t.log.Info("status", "intercepted", len(s.Intercepted), "hosted", len(s.Hosted), "listeners", s.Listeners,
		"interceptActive", s.Intercept.Active, "interceptTotal", s.Intercept.Opened, "interceptFailed", s.Intercept.Failed,
		"hostActive", s.Host.Active, "hostTotal", s.Host.Opened, "hostFailed", s.Host.Failed)
}

func fingerprint(v map[string]any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// Sync reads the service list once and brings intercepts and hosts in line
// with it.
func (t *Tunneler) Sync(ctx context.Context) error {
	services, err := t.net.Services(ctx)
	if err != nil {
		return fmt.Errorf("list services: %w", err)
	}
	wantIntercept := map[string]*sdk.Service{}
	wantHost := map[string]*sdk.Service{}
	for _, s := range services {
		if !t.opts.DisableIntercept && s.CanDial() && s.Configs[config.InterceptV1] != nil {
			wantIntercept[s.Name] = s
		}
		if !t.opts.DisableHost && s.CanBind() && s.Configs[config.HostV1] != nil {
			wantHost[s.Name] = s
		}
	}
	t.syncIntercepts(wantIntercept)
	t.syncHosts(wantHost)
	return nil
}

func (t *Tunneler) failed(key string, err error, msg string, args ...any) {
	t.mu.Lock()
	same := t.failures[key] == err.Error()
	t.failures[key] = err.Error()
	t.mu.Unlock()
	if !same {
		t.log.Warn(msg, append(args, "err", err)...)
	}
}

func (t *Tunneler) succeeded(key string) {
	t.mu.Lock()
	delete(t.failures, key)
	t.mu.Unlock()
}

func (t *Tunneler) syncIntercepts(want map[string]*sdk.Service) {
	t.mu.Lock()
	var stop []string
	for name, st := range t.intercepts {
		if s, ok := want[name]; !ok || fingerprint(s.Configs[config.InterceptV1]) != st.fingerprint {
			stop = append(stop, name)
		}
	}
	t.mu.Unlock()
	for _, name := range stop {
		t.stopIntercept(name)
	}
	for _, name := range sortedKeys(want) {
		t.mu.Lock()
		_, running := t.intercepts[name]
		t.mu.Unlock()
		if running {
			continue
		}
		s := want[name]
		key := "intercept/" + name
		cfg, err := config.ParseIntercept(s.Configs[config.InterceptV1])
		if err != nil {
			t.failed(key, err, "invalid intercept config", "service", name)
			continue
		}
		st := &interceptState{fingerprint: fingerprint(s.Configs[config.InterceptV1])}
		if t.opts.Transparent != nil {
			if err := t.opts.Transparent.Set(name, cfg); err != nil {
				t.failed(key+"/transparent", err, "cannot intercept transparently", "service", name)
			} else {
				st.transparent = true
				t.succeeded(key + "/transparent")
			}
		}
		if eps, _ := intercept.Plan(cfg, t.opts.MaxPorts); len(eps) > 0 {
			in, err := intercept.Start(t.net, name, cfg, intercept.Options{MaxPorts: t.opts.MaxPorts,
				Counters: t.interceptCounters, Logger: t.log})
			if err != nil {
				t.failed(key, err, "cannot intercept", "service", name)
				if !st.transparent {
					continue // try again at the next poll
				}
			} else {
				st.in = in
			}
		} else if !st.transparent {
			t.failed(key, errors.New("no IP address to listen on without --tproxy"), "not intercepting", "service", name)
			// Record it anyway so that it is not retried until its config changes.
		}
		t.succeeded(key)
		t.mu.Lock()
		t.intercepts[name] = st
		t.mu.Unlock()
	}
}

func (t *Tunneler) stopIntercept(name string) {
	t.mu.Lock()
	st := t.intercepts[name]
	delete(t.intercepts, name)
	t.mu.Unlock()
	if st == nil {
		return
	}
	if st.in != nil {
		st.in.Close()
	}
	if st.transparent {
		t.opts.Transparent.Remove(name)
	}
}

func (t *Tunneler) syncHosts(want map[string]*sdk.Service) {
	t.mu.Lock()
	var stop []string
	for name, st := range t.hosts {
		if s, ok := want[name]; !ok || fingerprint(s.Configs[config.HostV1]) != st.fingerprint {
			stop = append(stop, name)
		}
	}
	t.mu.Unlock()
	for _, name := range stop {
		t.stopHost(name)
	}
	for _, name := range sortedKeys(want) {
		t.mu.Lock()
		_, running := t.hosts[name]
		t.mu.Unlock()
		if running {
			continue
		}
		s := want[name]
		key := "host/" + name
		cfg, err := config.ParseHost(s.Configs[config.HostV1])
		if err != nil {
			t.failed(key, err, "invalid host config", "service", name)
			continue
		}
		h, err := host.Start(t.net, name, cfg, t.opts.Identity, &t.hostCounters, t.log)
		if err != nil {
			t.failed(key, err, "cannot host", "service", name)
			continue
		}
		t.succeeded(key)
		t.mu.Lock()
		t.hosts[name] = &hostState{fingerprint: fingerprint(s.Configs[config.HostV1]), h: h}
		t.mu.Unlock()
	}
}

func (t *Tunneler) stopHost(name string) {
	t.mu.Lock()
	st := t.hosts[name]
	delete(t.hosts, name)
	t.mu.Unlock()
	if st != nil {
		_ = st.h.Close()
	}
}

func (t *Tunneler) stopAll() {
	t.mu.Lock()
	var ins, hs []string
	for n := range t.intercepts {
		ins = append(ins, n)
	}
	for n := range t.hosts {
		hs = append(hs, n)
	}
	t.mu.Unlock()
	for _, n := range ins {
		t.stopIntercept(n)
	}
	for _, n := range hs {
		t.stopHost(n)
	}
	t.logStats()
}

// Stats reports the services served and the connections counted.
func (t *Tunneler) Stats() Stats {
	t.mu.Lock()
	var s Stats
	for name, st := range t.intercepts {
		s.Intercepted = append(s.Intercepted, name)
		if st.in != nil {
			s.Listeners += len(st.in.Endpoints())
		}
	}
	for name := range t.hosts {
		s.Hosted = append(s.Hosted, name)
	}
	t.mu.Unlock()
	sort.Strings(s.Intercepted)
	sort.Strings(s.Hosted)
	s.Intercept = t.interceptCounters.Snapshot()
	s.Host = t.hostCounters.Snapshot()
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

var _ Network = (*sdk.Context)(nil)

package ctrlclient

import (
	"net"
	"slices"
	"strings"
	"sync"

	"github.com/ostium-net/ostium/internal/ctrlproto"
)

// controllerSet is the controllers a router may hold its control channel
// with: the configured ones first, then those the cluster announced. The
// client stays with the one it reached; when it cannot reach it, it moves
// on to the next.
type controllerSet struct {
	mu         sync.Mutex
	configured []string
	learned    []string
	current    string
}

func newControllerSet(first string, more []string) *controllerSet {
	cs := &controllerSet{current: first}
	for _, a := range append([]string{first}, more...) {
		if a != "" && !slices.Contains(cs.configured, a) {
			cs.configured = append(cs.configured, a)
		}
	}
	return cs
}

func (cs *controllerSet) all() []string {
	out := slices.Clone(cs.configured)
	for _, a := range cs.learned {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// address is the controller to dial now.
func (cs *controllerSet) address() string {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.current
}

// next moves to the following controller and reports whether it went round
// to the first again (every controller was tried once).
func (cs *controllerSet) next() (wrapped bool) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	all := cs.all()
	i := slices.Index(all, cs.current)
	if i < 0 || i+1 >= len(all) {
		cs.current = all[0]
		return true
	}
	cs.current = all[i+1]
	return false
}

// learn takes the cluster's list, which replaces what was learned before.
func (cs *controllerSet) learn(endpoints []string) {
	var learned []string
	for _, e := range endpoints {
		if addr, ok := controlAddress(e); ok && !slices.Contains(learned, addr) {
			learned = append(learned, addr)
		}
	}
	cs.mu.Lock()
	cs.learned = learned
	cs.mu.Unlock()
}

// learnAddresses takes control addresses (host:port) learned before, from a saved state.
func (cs *controllerSet) learnAddresses(addrs []string) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for _, a := range addrs {
		if _, _, err := net.SplitHostPort(a); err == nil && !slices.Contains(cs.learned, a) {
			cs.learned = append(cs.learned, a)
		}
	}
}

// learnedControllers lists the control addresses the cluster announced.
func (c *Client) learnedControllers() []string {
	c.controllers.mu.Lock()
	defer c.controllers.mu.Unlock()
	return slices.Clone(c.controllers.learned)
}

// Controllers lists the controllers the client knows, configured first.
func (c *Client) Controllers() []string {
	c.controllers.mu.Lock()
	defer c.controllers.mu.Unlock()
	return c.controllers.all()
}

// controlAddress strips the "tls:" of an endpoint.
func controlAddress(endpoint string) (string, bool) {
	addr := endpoint
	if len(addr) >= 4 && strings.EqualFold(addr[:4], "tls:") {
		addr = addr[4:]
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return "", false
	}
	return addr, true
}

func (c *Client) handleControllers(body []byte) {
	var m ctrlproto.Controllers
	if err := ctrlproto.Decode(body, &m); err != nil {
		c.log.Warn("ignoring a bad controller list", "err", err)
		return
	}
	c.controllers.learn(m.Endpoints)
	c.journal.replaced(false)
	c.stateChanged()
	c.log.Debug("controllers of the cluster", "controllers", c.Controllers())
}

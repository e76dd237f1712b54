package ha

import (
	"errors"
	"io"
	"net"
	"sync"
)

// faultNet sits between the controllers of a test cluster on their cluster
// port. Each node binds its cluster port on its own loopback address
// (127.0.0.11, .12, ...) and dials its peers from it, and every node's
// advertised cluster address is a proxy here, so each proxy knows which node
// a connection comes from and which it goes to. A partition cuts pairs of
// nodes: bytes between them are dropped (established connections go silent
// and new ones are accepted but never answered, as behind a firewall that
// drops packets), and on heal the connections that lost bytes are closed.
type faultNet struct {
	mu      sync.Mutex
	cut     map[[2]int]bool
	proxies []*proxy
}

type proxy struct {
	net     *faultNet
	dst     int
	target  string
	ln      net.Listener
	sources map[string]int // source IP -> node

	mu    sync.Mutex
	links map[*link]struct{}
}

// link is one proxied connection from node src.
type link struct {
	src, dst     int
	client, peer net.Conn
	mu           sync.Mutex
	dropped      bool // bytes were lost: close on heal
}

func newFaultNet() *faultNet { return &faultNet{cut: map[[2]int]bool{}} }

// addProxy listens for connections to node dst (reachable at target).
// sources maps each node's source IP to its index.
func (f *faultNet) addProxy(dst int, target string, sources map[string]int) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	p := &proxy{net: f, dst: dst, target: target, ln: ln, sources: sources, links: map[*link]struct{}{}}
	f.mu.Lock()
	f.proxies = append(f.proxies, p)
	f.mu.Unlock()
	go p.serve()
	return ln.Addr().String(), nil
}

// setTarget points the proxy of node dst at a new address (a restarted node
// binds the same address, so this is rarely needed).
func (f *faultNet) blocked(src, dst int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cut[[2]int{src, dst}]
}

// partition cuts every pair of nodes that are not in the same group.
func (f *faultNet) partition(groups ...[]int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	group := map[int]int{}
	for g, nodes := range groups {
		for _, n := range nodes {
			group[n] = g
		}
	}
	for a := range group {
		for b := range group {
			if group[a] != group[b] {
				f.cut[[2]int{a, b}] = true
			}
		}
	}
}

// heal restores every pair and closes the connections that lost bytes.
func (f *faultNet) heal() {
	f.mu.Lock()
	f.cut = map[[2]int]bool{}
	proxies := append([]*proxy(nil), f.proxies...)
	f.mu.Unlock()
	for _, p := range proxies {
		p.mu.Lock()
		for l := range p.links {
			l.mu.Lock()
			if l.dropped {
				_ = l.client.Close()
				if l.peer != nil {
					_ = l.peer.Close()
				}
			}
			l.mu.Unlock()
		}
		p.mu.Unlock()
	}
}

func (f *faultNet) close() {
	f.mu.Lock()
	proxies := append([]*proxy(nil), f.proxies...)
	f.mu.Unlock()
	for _, p := range proxies {
		_ = p.ln.Close()
		p.mu.Lock()
		for l := range p.links {
			_ = l.client.Close()
			if l.peer != nil {
				_ = l.peer.Close()
			}
		}
		p.mu.Unlock()
	}
}

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.handle(c)
	}
}

func (p *proxy) handle(c net.Conn) {
	host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
	src, known := p.sources[host]
	if !known {
		src = -1
	}
	l := &link{src: src, dst: p.dst, client: c}
	p.mu.Lock()
	p.links[l] = struct{}{}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.links, l)
		p.mu.Unlock()
		_ = c.Close()
	}()
	if p.net.blocked(src, p.dst) {
		// Accepted, never answered: the dialer's handshake hangs.
		l.mu.Lock()
		l.dropped = true
		l.mu.Unlock()
		_, _ = io.Copy(io.Discard, c)
		return
	}
	peer, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	l.mu.Lock()
	l.peer = peer
	l.mu.Unlock()
	defer peer.Close()
	done := make(chan struct{}, 2)
	go func() { p.pump(l, c, peer, src, p.dst); done <- struct{}{} }()
	go func() { p.pump(l, peer, c, p.dst, src); done <- struct{}{} }()
	<-done
}

// pump copies from one side to the other while the pair is not cut, and
// drops what it reads while it is.
func (p *proxy) pump(l *link, from, to net.Conn, a, b int) {
	buf := make([]byte, 32<<10)
	for {
		n, err := from.Read(buf)
		if n > 0 {
			if p.net.blocked(a, b) {
				l.mu.Lock()
				l.dropped = true
				l.mu.Unlock()
			} else if _, werr := to.Write(buf[:n]); werr != nil {
				_ = from.Close()
				return
			}
		}
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				_ = to.Close()
			}
			_ = from.Close()
			return
		}
	}
}

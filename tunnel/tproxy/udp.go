package tproxy

import (
	"errors"
	"net"
	"net/netip"
	"strconv"

	"github.com/ostium-net/ostium/sdk"
	"github.com/ostium-net/ostium/tunnel/config"
	"github.com/ostium-net/ostium/tunnel/intercept"
	"github.com/ostium-net/ostium/tunnel/relay"
)

// flowKey names a UDP flow: one client address sending to one original
// destination.
type flowKey struct {
	client, dst netip.AddrPort
}

// udpFlow is the datagrams of one flow, carried on one sdk connection as
// relay frames.
type udpFlow struct {
	in    chan []byte
	ended chan struct{}
}

// flowQueue is how many datagrams wait for a flow before more are dropped.
const flowQueue = 64

// oobSize holds the control messages of one datagram (the original
// destination, a sockaddr_in or sockaddr_in6, with room to spare).
const oobSize = 128

// serveUDP reads the datagrams the TPROXY rules steer to a transparent UDP
// socket (conn, of either address family) and hands each to the flow of its
// client and original destination.
func (m *Manager) serveUDP(conn *net.UDPConn) {
	defer m.wg.Done()
	buf := make([]byte, relay.MaxDatagram)
	oob := make([]byte, oobSize)
	for {
		n, oobn, _, client, err := conn.ReadMsgUDPAddrPort(buf, oob)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				m.log.Warn("udp read failed", "err", err)
			}
			return
		}
		dst, err := parseOrigDst(oob[:oobn])
		if err != nil {
			m.log.Debug("dropped a datagram without its original destination", "from", client.String(), "err", err)
			continue
		}
		client = netip.AddrPortFrom(client.Addr().Unmap(), client.Port())
		m.deliver(flowKey{client: client, dst: dst}, append([]byte(nil), buf[:n]...))
	}
}

// deliver queues a datagram on its flow, starting the flow when it is the
// first.
func (m *Manager) deliver(key flowKey, d []byte) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	f := m.flows[key]
	if f == nil {
		if len(m.flows) >= m.opts.MaxUDPFlows {
			m.mu.Unlock()
			m.opts.Counters.Fail()
			m.log.Warn("too many UDP flows; dropped a datagram", "from", key.client.String(), "dst", key.dst.String(),
				"flows", m.opts.MaxUDPFlows)
			return
		}
		hostname, _ := m.table.NameOf(key.dst.Addr())
		service, ok := Match(m.services, "udp", key.dst, hostname)
		if !ok {
			m.mu.Unlock()
			m.opts.Counters.Fail()
			m.log.Warn("no service intercepts this destination", "protocol", "udp", "dst", key.dst.String(), "hostname", hostname)
			return
		}
		dest := config.Destination{Protocol: "udp", IP: key.dst.Addr().String(), Port: strconv.Itoa(int(key.dst.Port())), Hostname: hostname}
		dest = dest.WithSource(key.client, m.services[service].SourceIP)
		opts := intercept.DialOptionsOf(m.services[service].DialOptions, dest)
		f = &udpFlow{in: make(chan []byte, flowQueue), ended: make(chan struct{})}
		m.flows[key] = f
		m.wg.Add(1)
		go m.runFlow(key, f, service, opts)
	}
	m.mu.Unlock()
	select {
	case f.in <- d:
	case <-f.ended:
	default: // the flow is behind; drop as a network would
	}
}

// track registers a connection or socket for Close to end; it fails once
// the manager is closed.
func (m *Manager) track(c net.Conn) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false
	}
	m.conns[c] = struct{}{}
	return true
}

func (m *Manager) untrack(c net.Conn) {
	m.mu.Lock()
	delete(m.conns, c)
	m.mu.Unlock()
}

// runFlow carries one flow: its datagrams go into the service as frames,
// and the frames that come back go to the client from a socket bound to the
// original destination, so the client sees replies from where it sent.
func (m *Manager) runFlow(key flowKey, f *udpFlow, service string, opts *sdk.DialOptions) {
	defer m.wg.Done()
	defer func() {
		m.mu.Lock()
		if m.flows[key] == f {
			delete(m.flows, key)
		}
		m.mu.Unlock()
		close(f.ended)
	}()
	log := m.log.With("service", service, "protocol", "udp", "from", key.client.String(), "dst", key.dst.String())
	reply, err := listenReply(key.dst)
	if err != nil {
		m.opts.Counters.Fail()
		log.Warn("cannot open a socket to reply from the original destination", "err", err)
		return
	}
	if !m.track(reply) {
		_ = reply.Close()
		return
	}
	defer func() {
		m.untrack(reply)
		_ = reply.Close()
	}()
	out, err := m.opts.Dialer.DialWithOptions(m.ctx, service, opts)
	if err != nil {
		m.opts.Counters.Fail()
		log.Warn("cannot dial the service", "err", err)
		return
	}
	if !m.track(out) {
		_ = out.Close()
		return
	}
	defer m.untrack(out)
	done := m.opts.Counters.Open()
	log.Debug("udp flow opened")
	sent, received := relay.CarryDatagrams(out, f.in, func(d []byte) error {
		_, err := reply.WriteToUDPAddrPort(d, key.client)
		if err != nil && !errors.Is(err, net.ErrClosed) {
			log.Debug("reply to the client failed", "err", err)
			return nil // a lost reply, as on a network; the flow goes on
		}
		return err
	}, m.opts.UDPIdleTimeout, m.ctx.Done())
	done(sent, received)
	log.Debug("udp flow closed", "sent", sent, "received", received)
}

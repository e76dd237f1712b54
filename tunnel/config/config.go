// Package config decodes the tunneler's config types, intercept.v1 and
// host.v1, from the generic maps the sdk returns with each service, and
// holds the matching rules they imply: which addresses, ports and protocols
// a hosting tunneler may forward to, and the destination record a dialer
// sends with each connection.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"
)

// Names of the config types the tunneler understands.
const (
	InterceptV1 = "intercept.v1"
	HostV1      = "host.v1"
)

// PortRange is an inclusive range of ports.
type PortRange struct {
	Low  uint16 `json:"low"`
	High uint16 `json:"high"`
}

// Contains reports whether port lies in the range.
func (r PortRange) Contains(port uint16) bool { return port >= r.Low && port <= r.High }

// Size is the number of ports in the range.
func (r PortRange) Size() int { return int(r.High) - int(r.Low) + 1 }

// Intercept is a decoded intercept.v1 config.
type Intercept struct {
	Protocols   []string
	Addresses   []string
	PortRanges  []PortRange
	DialOptions DialOptions
	SourceIP    string
}

// DialOptions are the intercept.v1 dial options.
type DialOptions struct {
	Identity              string
	ConnectTimeoutSeconds int
}

// Host is a decoded host.v1 config.
type Host struct {
	Protocol         string
	ForwardProtocol  bool
	AllowedProtocols []string

	Address          string
	ForwardAddress   bool
	AllowedAddresses []string

	Port              uint16
	ForwardPort       bool
	AllowedPortRanges []PortRange

	AllowedSourceAddresses []string
	ListenOptions          ListenOptions
}

// ListenOptions are the host.v1 listen options.
type ListenOptions struct {
	BindUsingEdgeIdentity bool
	ConnectTimeoutSeconds int
	Cost                  uint16
	Identity              string
	MaxConnections        int
	Precedence            string
}

// wire forms: pointers tell absent fields from zero values.
type interceptJSON struct {
	Protocols   []string    `json:"protocols"`
	Addresses   []string    `json:"addresses"`
	PortRanges  []PortRange `json:"portRanges"`
	DialOptions *struct {
		Identity              string `json:"identity"`
		ConnectTimeoutSeconds int    `json:"connectTimeoutSeconds"`
	} `json:"dialOptions"`
	SourceIP string `json:"sourceIp"`
}

type hostJSON struct {
	Protocol               *string     `json:"protocol"`
	ForwardProtocol        bool        `json:"forwardProtocol"`
	AllowedProtocols       []string    `json:"allowedProtocols"`
	Address                *string     `json:"address"`
	ForwardAddress         bool        `json:"forwardAddress"`
	AllowedAddresses       []string    `json:"allowedAddresses"`
	Port                   *int        `json:"port"`
	ForwardPort            bool        `json:"forwardPort"`
	AllowedPortRanges      []PortRange `json:"allowedPortRanges"`
	AllowedSourceAddresses []string    `json:"allowedSourceAddresses"`
	ListenOptions          *struct {
		BindUsingEdgeIdentity bool   `json:"bindUsingEdgeIdentity"`
		ConnectTimeoutSeconds int    `json:"connectTimeoutSeconds"`
		Cost                  int    `json:"cost"`
		Identity              string `json:"identity"`
		MaxConnections        int    `json:"maxConnections"`
		Precedence            string `json:"precedence"`
	} `json:"listenOptions"`
}

// remarshal turns a generic map into a typed value through JSON.
func remarshal(data map[string]any, out any) error {
	raw, err := json.Marshal(data)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, out)
}

func checkProtocols(ps []string) error {
	for _, p := range ps {
		if p != "tcp" && p != "udp" {
			return fmt.Errorf("unknown protocol %q", p)
		}
	}
	return nil
}

func checkRanges(rs []PortRange) error {
	for _, r := range rs {
		if r.Low > r.High {
			return fmt.Errorf("port range %d-%d is reversed", r.Low, r.High)
		}
	}
	return nil
}

func checkAddresses(as []string) error {
	for _, a := range as {
		if a == "" || strings.ContainsAny(a, " \t\r\n") {
			return fmt.Errorf("invalid address %q", a)
		}
	}
	return nil
}

// ParseIntercept decodes an intercept.v1 config.
func ParseIntercept(data map[string]any) (*Intercept, error) {
	var j interceptJSON
	if err := remarshal(data, &j); err != nil {
		return nil, fmt.Errorf("intercept.v1: %w", err)
	}
	if len(j.Protocols) == 0 || len(j.Addresses) == 0 || len(j.PortRanges) == 0 {
		return nil, errors.New("intercept.v1: protocols, addresses and portRanges are each required; one is missing or empty")
	}
	if err := checkProtocols(j.Protocols); err != nil {
		return nil, fmt.Errorf("intercept.v1: %w", err)
	}
	if err := checkAddresses(j.Addresses); err != nil {
		return nil, fmt.Errorf("intercept.v1: %w", err)
	}
	if err := checkRanges(j.PortRanges); err != nil {
		return nil, fmt.Errorf("intercept.v1: %w", err)
	}
	c := &Intercept{Protocols: j.Protocols, Addresses: j.Addresses, PortRanges: j.PortRanges, SourceIP: j.SourceIP}
	if j.DialOptions != nil {
		if j.DialOptions.ConnectTimeoutSeconds < 0 {
			return nil, errors.New("intercept.v1: connectTimeoutSeconds is negative")
		}
		c.DialOptions = DialOptions{Identity: j.DialOptions.Identity, ConnectTimeoutSeconds: j.DialOptions.ConnectTimeoutSeconds}
	}
	return c, nil
}

// ParseHost decodes a host.v1 config.
func ParseHost(data map[string]any) (*Host, error) {
	var j hostJSON
	if err := remarshal(data, &j); err != nil {
		return nil, fmt.Errorf("host.v1: %w", err)
	}
	h := &Host{ForwardProtocol: j.ForwardProtocol, AllowedProtocols: j.AllowedProtocols,
		ForwardAddress: j.ForwardAddress, AllowedAddresses: j.AllowedAddresses,
		ForwardPort: j.ForwardPort, AllowedPortRanges: j.AllowedPortRanges,
		AllowedSourceAddresses: j.AllowedSourceAddresses}
	switch {
	case j.ForwardProtocol:
		if len(j.AllowedProtocols) == 0 {
			return nil, errors.New("host.v1: allowedProtocols is missing: forwardProtocol needs it")
		}
	case j.Protocol != nil:
		h.Protocol = *j.Protocol
	default:
		return nil, errors.New("host.v1: protocol is missing (or set forwardProtocol with allowedProtocols)")
	}
	protocols := slices.Clone(j.AllowedProtocols)
	if h.Protocol != "" {
		protocols = append(protocols, h.Protocol)
	}
	if err := checkProtocols(protocols); err != nil {
		return nil, fmt.Errorf("host.v1: %w", err)
	}
	switch {
	case j.ForwardAddress:
		if len(j.AllowedAddresses) == 0 {
			return nil, errors.New("host.v1: allowedAddresses is missing: forwardAddress needs it")
		}
		if err := checkAddresses(j.AllowedAddresses); err != nil {
			return nil, fmt.Errorf("host.v1: %w", err)
		}
	case j.Address != nil && *j.Address != "":
		h.Address = *j.Address
		if err := checkAddresses([]string{h.Address}); err != nil {
			return nil, fmt.Errorf("host.v1: %w", err)
		}
	default:
		return nil, errors.New("host.v1: address is missing (or set forwardAddress with allowedAddresses)")
	}
	switch {
	case j.ForwardPort:
		if len(j.AllowedPortRanges) == 0 {
			return nil, errors.New("host.v1: allowedPortRanges is missing: forwardPort needs it")
		}
		if err := checkRanges(j.AllowedPortRanges); err != nil {
			return nil, fmt.Errorf("host.v1: %w", err)
		}
	case j.Port != nil:
		if *j.Port < 0 || *j.Port > math.MaxUint16 {
			return nil, fmt.Errorf("host.v1: port %d is out of range", *j.Port)
		}
		h.Port = uint16(*j.Port)
	default:
		return nil, errors.New("host.v1: port is missing (or set forwardPort with allowedPortRanges)")
	}
	for _, a := range j.AllowedSourceAddresses {
		if _, err := parsePrefix(a); err != nil {
			return nil, fmt.Errorf("host.v1: allowedSourceAddresses: %w", err)
		}
	}
	if lo := j.ListenOptions; lo != nil {
		if lo.Cost < 0 || lo.Cost > math.MaxUint16 {
			return nil, fmt.Errorf("host.v1: cost %d is out of range", lo.Cost)
		}
		h.ListenOptions = ListenOptions{BindUsingEdgeIdentity: lo.BindUsingEdgeIdentity, ConnectTimeoutSeconds: lo.ConnectTimeoutSeconds,
			Cost: uint16(lo.Cost), Identity: lo.Identity, MaxConnections: lo.MaxConnections, Precedence: lo.Precedence}
	}
	return h, nil
}

// Destination is what an intercepting tunneler saw of a connection: where
// it was going and where it came from. It travels to the host as the dial's
// application data (JSON).
type Destination struct {
	Protocol string `json:"dst_protocol,omitempty"`
	IP       string `json:"dst_ip,omitempty"`
	Port     string `json:"dst_port,omitempty"`
	Hostname string `json:"dst_hostname,omitempty"`
	// SrcProtocol, SrcIP and SrcPort are the intercepted client's side.
	SrcProtocol string `json:"src_protocol,omitempty"`
	SrcIP       string `json:"src_ip,omitempty"`
	SrcPort     string `json:"src_port,omitempty"`
	// SourceAddr is the source address (ip or ip:port) the dialer asks the
	// host to connect to the target from: the intercept.v1 sourceIp with its
	// variables filled in. The host connects from it only when host.v1
	// allowedSourceAddresses allows it, and refuses the dial otherwise.
	SourceAddr string `json:"source_addr,omitempty"`
}

// WithSource fills the source of an intercepted connection from src, and
// the source address to connect from when the intercept config asks for
// one (sourceIp).
func (d Destination) WithSource(src netip.AddrPort, sourceIP string) Destination {
	if !src.IsValid() {
		return d
	}
	d.SrcProtocol, d.SrcIP, d.SrcPort = d.Protocol, src.Addr().Unmap().String(), fmt.Sprint(src.Port())
	if sourceIP != "" {
		d.SourceAddr = strings.NewReplacer("$src_ip", d.SrcIP, "$src_port", d.SrcPort,
			"$dst_ip", d.IP, "$dst_port", d.Port).Replace(sourceIP)
	}
	return d
}

// Encode is the destination as dial application data.
func (d Destination) Encode() []byte {
	b, _ := json.Marshal(d)
	return b
}

// DecodeDestination reads a destination from dial application data.
func DecodeDestination(appData []byte) (Destination, error) {
	var d Destination
	if len(appData) == 0 {
		return d, errors.New("no destination in the dial")
	}
	if err := json.Unmarshal(appData, &d); err != nil {
		return d, fmt.Errorf("decode destination: %w", err)
	}
	return d, nil
}

// Target is where a host connects one connection.
type Target struct {
	Protocol string
	Address  string
	Port     uint16
}

// String is the target as protocol:host:port.
func (t Target) String() string {
	return t.Protocol + ":" + joinHostPort(t.Address, t.Port)
}

// HostPort is the target's address and port for net.Dial.
func (t Target) HostPort() string { return joinHostPort(t.Address, t.Port) }

func joinHostPort(host string, port uint16) string {
	if strings.Contains(host, ":") {
		return fmt.Sprintf("[%s]:%d", host, port)
	}
	return fmt.Sprintf("%s:%d", host, port)
}

// Describe is the host config's target in words, for logs.
func (h *Host) Describe() string {
	proto, addr, port := h.Protocol, h.Address, fmt.Sprint(h.Port)
	if h.ForwardProtocol {
		proto = "{" + strings.Join(h.AllowedProtocols, ",") + "}"
	}
	if h.ForwardAddress {
		addr = "{" + strings.Join(h.AllowedAddresses, ",") + "}"
	}
	if h.ForwardPort {
		var rs []string
		for _, r := range h.AllowedPortRanges {
			rs = append(rs, fmt.Sprintf("%d-%d", r.Low, r.High))
		}
		port = "{" + strings.Join(rs, ",") + "}"
	}
	return proto + ":" + addr + ":" + port
}

// Resolve picks the target of one connection: the fixed parts of the config,
// and the forwarded parts from the dialer's destination when they are within
// the allowed lists.
func (h *Host) Resolve(dst *Destination) (Target, error) {
	t := Target{Protocol: h.Protocol, Address: h.Address, Port: h.Port}
	needDst := h.ForwardProtocol || h.ForwardAddress || h.ForwardPort
	if needDst && dst == nil {
		return t, errors.New("the config forwards the destination and the dialer sent none")
	}
	if h.ForwardProtocol {
		p := strings.ToLower(dst.Protocol)
		if !slices.Contains(h.AllowedProtocols, p) {
			return t, fmt.Errorf("protocol %q is not allowed", dst.Protocol)
		}
		t.Protocol = p
	}
	if h.ForwardAddress {
		addr := dst.IP
		if dst.Hostname != "" {
			addr = dst.Hostname
		}
		if addr == "" {
			return t, errors.New("the dialer sent no destination address")
		}
		if !AddressAllowed(h.AllowedAddresses, addr) {
			// A hostname may be disallowed while its IP is allowed.
			if dst.IP == "" || !AddressAllowed(h.AllowedAddresses, dst.IP) {
				return t, fmt.Errorf("address %q is not allowed", addr)
			}
			addr = dst.IP
		}
		t.Address = addr
	}
	if h.ForwardPort {
		var port int
		if _, err := fmt.Sscanf(dst.Port, "%d", &port); err != nil || port < 0 || port > math.MaxUint16 || fmt.Sprint(port) != dst.Port {
			return t, fmt.Errorf("invalid destination port %q", dst.Port)
		}
		if !PortAllowed(h.AllowedPortRanges, uint16(port)) {
			return t, fmt.Errorf("port %d is not allowed", port)
		}
		t.Port = uint16(port)
	}
	return t, nil
}

// Source checks the source address a dialer asked the host to connect
// from: none (the host connects from its own address), or one within
// allowedSourceAddresses, returned with its port (0 when it names none).
func (h *Host) Source(dst *Destination) (netip.AddrPort, error) {
	if dst == nil || dst.SourceAddr == "" {
		return netip.AddrPort{}, nil
	}
	var ip netip.Addr
	var port uint16
	if ap, err := netip.ParseAddrPort(dst.SourceAddr); err == nil {
		ip, port = ap.Addr(), ap.Port()
	} else if a, err := netip.ParseAddr(dst.SourceAddr); err == nil {
		ip = a
	} else {
		return netip.AddrPort{}, fmt.Errorf("source address %q is not an IP address", dst.SourceAddr)
	}
	ip = ip.Unmap()
	for _, allowed := range h.AllowedSourceAddresses {
		if prefix, err := parsePrefix(allowed); err == nil && prefix.Contains(ip) {
			return netip.AddrPortFrom(ip, port), nil
		}
	}
	return netip.AddrPort{}, fmt.Errorf("source address %s is not allowed (host.v1 allowedSourceAddresses)", ip)
}

// parsePrefix reads an IP or a CIDR as a prefix.
func parsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is neither an IP address nor a CIDR", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// PortAllowed reports whether port lies in one of the ranges.
func PortAllowed(ranges []PortRange, port uint16) bool {
	for _, r := range ranges {
		if r.Contains(port) {
			return true
		}
	}
	return false
}

// AddressAllowed reports whether addr (an IP or a hostname) matches one of
// the patterns: an IP, a CIDR, a hostname, or a *.domain wildcard (which
// matches names below domain, not domain itself).
func AddressAllowed(patterns []string, addr string) bool {
	for _, p := range patterns {
		if AddressMatches(p, addr) {
			return true
		}
	}
	return false
}

// AddressMatches reports whether addr matches one pattern.
func AddressMatches(pattern, addr string) bool {
	if ip, err := netip.ParseAddr(addr); err == nil {
		ip = ip.Unmap()
		if pip, err := netip.ParseAddr(pattern); err == nil {
			return pip.Unmap() == ip
		}
		if pfx, err := netip.ParsePrefix(pattern); err == nil {
			return pfx.Masked().Contains(ip)
		}
		return false
	}
	name := NormalizeName(addr)
	pat := NormalizeName(pattern)
	if name == "" || pat == "" {
		return false
	}
	if suffix, ok := strings.CutPrefix(pat, "*."); ok {
		return strings.HasSuffix(name, "."+suffix)
	}
	return name == pat
}

// NormalizeName lowercases a hostname and drops a trailing dot.
func NormalizeName(name string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(name)), ".")
}

// Kind is what an intercept address is.
type Kind int

// Kinds of intercept addresses.
const (
	KindIP Kind = iota
	KindCIDR
	KindHostname
	KindWildcard
)

// KindOf classifies an intercept address.
func KindOf(addr string) Kind {
	if _, err := netip.ParseAddr(addr); err == nil {
		return KindIP
	}
	if _, err := netip.ParsePrefix(addr); err == nil {
		return KindCIDR
	}
	if strings.HasPrefix(addr, "*.") {
		return KindWildcard
	}
	return KindHostname
}

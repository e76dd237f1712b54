// Package tproxy intercepts what plain listeners cannot: hostnames (through
// the dns package's address pool), CIDRs and wildcards, for TCP and UDP over
// IPv4 and IPv6. It installs nftables TPROXY rules (by running nft, in one
// table of family inet) that steer matching traffic to a transparent TCP
// listener and a transparent UDP socket per address family (on
// Settings.ListenAddr and Settings.ListenAddr6), finds the service from each
// connection's or datagram's original destination, and carries the
// connection or UDP flow into it. It needs root (or CAP_NET_ADMIN) and works
// on Linux only; on a host without IPv6 it intercepts IPv4 alone.
package tproxy

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/ostium-net/ostium/tunnel/config"
)

// Rule steers one protocol's traffic to a prefix and ports.
type Rule struct {
	Protocol string // tcp or udp
	Prefix   netip.Prefix
	Ports    []config.PortRange
}

// Settings name the kernel objects the rules use.
type Settings struct {
	Table      string // nftables table (family inet)
	Mark       uint32 // packet mark for policy routing (IPv4 and IPv6)
	RouteTable int    // routing table id for marked packets (IPv4 and IPv6)
	// ListenAddr is the IPv4 address of the transparent TCP listener and
	// UDP socket that IPv4 traffic is steered to.
	ListenAddr netip.AddrPort
	// ListenAddr6 is their IPv6 counterpart, for IPv6 traffic. The zero
	// value turns IPv6 interception off: IPv6 prefixes get no rules.
	ListenAddr6 netip.AddrPort
	// BypassMark marks the tunneler's own sockets (see BypassControl):
	// their packets are never steered, so its connections to the controller
	// and to routers go out even when an intercepted CIDR covers them.
	// 0 turns the bypass off.
	BypassMark uint32
}

// DefaultSettings are the objects used unless configured otherwise.
var DefaultSettings = Settings{Table: "ostium", Mark: 0x1, RouteTable: 100,
	ListenAddr:  netip.MustParseAddrPort("127.0.0.1:15001"),
	ListenAddr6: netip.MustParseAddrPort("[::1]:15001"), BypassMark: 0x2}

func portSet(ranges []config.PortRange) string {
	rs := append([]config.PortRange(nil), ranges...)
	sort.Slice(rs, func(i, j int) bool { return rs[i].Low < rs[j].Low })
	var parts []string
	for _, r := range rs {
		if r.Low == r.High {
			parts = append(parts, fmt.Sprint(r.Low))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", r.Low, r.High))
		}
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return "{ " + strings.Join(parts, ", ") + " }"
}

// Ruleset is the nft script that replaces the tunneler's table in one
// transaction: packets arriving for a rule's prefix and ports go to the
// transparent listener of their address family, and packets this host sends
// to them are marked so that policy routing loops them through lo into
// prerouting. Addresses of this host are not steered: they belong to its own
// sockets, among them the plain listeners the intercept package opens on
// configured IP addresses. The table has family inet, holding IPv4 rules
// (ip daddr) and IPv6 rules (ip6 daddr) side by side; IPv6 prefixes are left
// out when s.ListenAddr6 is the zero value, and so are IPv4-mapped IPv6
// prefixes, which no packet carries on the wire. The script also removes a
// table of family ip of the same name, which earlier versions installed.
//
// TCP packets of connections the listener already accepted are marked and
// let through by a socket lookup. UDP gets no such rule: the sockets that
// send a flow's replies are bound (transparently) to the flow's original
// destination, and the lookup would hand them the client's next datagrams
// instead of the transparent UDP socket.
func Ruleset(s Settings, rules []Rule) string {
	type steer struct{ match, tproxy string }
	var steers []steer
	for _, r := range rules {
		if len(r.Ports) == 0 || (r.Protocol != "tcp" && r.Protocol != "udp") {
			continue
		}
		addr := r.Prefix.Addr()
		var family, target string
		switch {
		case addr.Is4():
			family, target = "ip", s.ListenAddr.String()
		case addr.Is6() && !addr.Is4In6() && s.ListenAddr6.IsValid():
			family, target = "ip6", s.ListenAddr6.String()
		default:
			continue
		}
		steers = append(steers, steer{
			match:  fmt.Sprintf("%s daddr %s %s dport %s fib daddr type != local", family, r.Prefix.Masked(), r.Protocol, portSet(r.Ports)),
			tproxy: fmt.Sprintf("tproxy %s to %s", family, target),
		})
	}
	sort.Slice(steers, func(i, j int) bool { return steers[i].match < steers[j].match })
	var b strings.Builder
	b.WriteString(DeleteTable(s))
	fmt.Fprintf(&b, "table inet %s {\n", s.Table)
	b.WriteString("\tchain prerouting {\n\t\ttype filter hook prerouting priority mangle; policy accept;\n")
	fmt.Fprintf(&b, "\t\tmeta l4proto tcp socket transparent 1 meta mark set 0x%x accept\n", s.Mark)
	for _, st := range steers {
		fmt.Fprintf(&b, "\t\t%s %s meta mark set 0x%x accept\n", st.match, st.tproxy, s.Mark)
	}
	b.WriteString("\t}\n")
	b.WriteString("\tchain output {\n\t\ttype route hook output priority mangle; policy accept;\n")
	if s.BypassMark != 0 && s.BypassMark != s.Mark {
		fmt.Fprintf(&b, "\t\tmeta mark 0x%x return\n", s.BypassMark)
	}
	for _, st := range steers {
		fmt.Fprintf(&b, "\t\t%s meta mark set 0x%x\n", st.match, s.Mark)
	}
	b.WriteString("\t}\n}\n")
	return b.String()
}

// DeleteTable is the nft script that removes the tunneler's table: the inet
// table of this version and the ip table of earlier ones. Each is added
// before it is deleted, so that the script succeeds whether or not it was
// there.
func DeleteTable(s Settings) string {
	return fmt.Sprintf("add table ip %[1]s\ndelete table ip %[1]s\nadd table inet %[1]s\ndelete table inet %[1]s\n", s.Table)
}

// RoutingCommands are the ip commands that deliver marked packets locally
// (add) and undo it (del): the IPv4 ones (RoutingCommands4) followed by the
// IPv6 ones (RoutingCommands6).
func RoutingCommands(s Settings, verb string) [][]string {
	return append(RoutingCommands4(s, verb), RoutingCommands6(s, verb)...)
}

// RoutingCommands4 are the IPv4 policy-routing commands: a rule sending
// marked packets to s.RouteTable, where every address is local.
func RoutingCommands4(s Settings, verb string) [][]string {
	return [][]string{
		{"ip", "rule", verb, "fwmark", fmt.Sprintf("0x%x", s.Mark), "lookup", fmt.Sprint(s.RouteTable)},
		{"ip", "route", verb, "local", "0.0.0.0/0", "dev", "lo", "table", fmt.Sprint(s.RouteTable)},
	}
}

// RoutingCommands6 are the IPv6 counterparts of RoutingCommands4. They fail
// on a host without IPv6, which leaves IPv4 interception unaffected.
func RoutingCommands6(s Settings, verb string) [][]string {
	return [][]string{
		{"ip", "-6", "rule", verb, "fwmark", fmt.Sprintf("0x%x", s.Mark), "lookup", fmt.Sprint(s.RouteTable)},
		{"ip", "-6", "route", verb, "local", "::/0", "dev", "lo", "table", fmt.Sprint(s.RouteTable)},
	}
}

// RulesFor lists the rules of one intercept config: its CIDRs and IPs as
// they are, and its hostnames and wildcards as the DNS pool (where their
// addresses come from), for each of its protocols (tcp, udp). Loopback
// addresses are left to plain listeners.
func RulesFor(cfg *config.Intercept, pool netip.Prefix) []Rule {
	var out []Rule
	type key struct {
		proto  string
		prefix netip.Prefix
	}
	seen := map[key]bool{}
	for _, proto := range cfg.Protocols {
		if proto != "tcp" && proto != "udp" {
			continue
		}
		for _, a := range cfg.Addresses {
			var p netip.Prefix
			switch config.KindOf(a) {
			case config.KindIP:
				ip := netip.MustParseAddr(a).Unmap()
				if ip.IsLoopback() {
					continue // plain listeners serve loopback addresses
				}
				p = netip.PrefixFrom(ip, ip.BitLen())
			case config.KindCIDR:
				p = netip.MustParsePrefix(a).Masked()
			default:
				if config.NormalizeName(a) == "localhost" {
					continue
				}
				p = pool
			}
			if seen[key{proto, p}] {
				continue
			}
			seen[key{proto, p}] = true
			out = append(out, Rule{Protocol: proto, Prefix: p, Ports: cfg.PortRanges})
		}
	}
	return out
}

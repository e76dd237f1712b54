package tproxy

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/ostium-net/ostium/tunnel/config"
	"github.com/ostium-net/ostium/tunnel/dns"
)

// The rule text is checked here; TestManagerInNetworkNamespace applies it.
func TestRulesetText(t *testing.T) {
	rules := []Rule{
		{Protocol: "tcp", Prefix: netip.MustParsePrefix("100.64.0.0/10"), Ports: []config.PortRange{{Low: 443, High: 443}, {Low: 80, High: 80}}},
		{Protocol: "tcp", Prefix: netip.MustParsePrefix("10.1.2.3/16"), Ports: []config.PortRange{{Low: 8000, High: 8100}}},
		{Protocol: "udp", Prefix: netip.MustParsePrefix("10.1.2.3/16"), Ports: []config.PortRange{{Low: 53, High: 53}}},
		{Protocol: "sctp", Prefix: netip.MustParsePrefix("10.1.2.3/16"), Ports: []config.PortRange{{Low: 53, High: 53}}}, // unknown: left out
		{Protocol: "tcp", Prefix: netip.MustParsePrefix("fd00::/8"), Ports: []config.PortRange{{Low: 1, High: 2}}},
		{Protocol: "udp", Prefix: netip.MustParsePrefix("2001:db8:99::7/64"), Ports: []config.PortRange{{Low: 53, High: 53}}},
		{Protocol: "tcp", Prefix: netip.MustParsePrefix("::ffff:10.0.0.0/104"), Ports: []config.PortRange{{Low: 80, High: 80}}}, // mapped: left out
		{Protocol: "tcp", Prefix: netip.MustParsePrefix("10.9.9.9/32")},                                                         // no port: left out
	}
	const deleteScript = `add table ip ostium
delete table ip ostium
add table inet ostium
delete table inet ostium
`
	want := deleteScript + `table inet ostium {
	chain prerouting {
		type filter hook prerouting priority mangle; policy accept;
		meta l4proto tcp socket transparent 1 meta mark set 0x1 accept
		ip daddr 10.1.0.0/16 tcp dport 8000-8100 fib daddr type != local tproxy ip to 127.0.0.1:15001 meta mark set 0x1 accept
		ip daddr 10.1.0.0/16 udp dport 53 fib daddr type != local tproxy ip to 127.0.0.1:15001 meta mark set 0x1 accept
		ip daddr 100.64.0.0/10 tcp dport { 80, 443 } fib daddr type != local tproxy ip to 127.0.0.1:15001 meta mark set 0x1 accept
		ip6 daddr 2001:db8:99::/64 udp dport 53 fib daddr type != local tproxy ip6 to [::1]:15001 meta mark set 0x1 accept
		ip6 daddr fd00::/8 tcp dport 1-2 fib daddr type != local tproxy ip6 to [::1]:15001 meta mark set 0x1 accept
	}
	chain output {
		type route hook output priority mangle; policy accept;
		meta mark 0x2 return
		ip daddr 10.1.0.0/16 tcp dport 8000-8100 fib daddr type != local meta mark set 0x1
		ip daddr 10.1.0.0/16 udp dport 53 fib daddr type != local meta mark set 0x1
		ip daddr 100.64.0.0/10 tcp dport { 80, 443 } fib daddr type != local meta mark set 0x1
		ip6 daddr 2001:db8:99::/64 udp dport 53 fib daddr type != local meta mark set 0x1
		ip6 daddr fd00::/8 tcp dport 1-2 fib daddr type != local meta mark set 0x1
	}
}
`
	if got := Ruleset(DefaultSettings, rules); got != want {
		t.Fatalf("ruleset:\n%s\nwant:\n%s", got, want)
	}
	// Without an IPv6 listener, IPv6 prefixes get no rules.
	v4only := DefaultSettings
	v4only.ListenAddr6 = netip.AddrPort{}
	if got := Ruleset(v4only, rules); strings.Contains(got, "ip6") || !strings.Contains(got, "ip daddr 10.1.0.0/16 udp dport 53") {
		t.Fatalf("ruleset without IPv6:\n%s", got)
	}
	empty := Ruleset(DefaultSettings, nil)
	if want := deleteScript + "table inet ostium {\n\tchain prerouting {\n\t\ttype filter hook prerouting priority mangle; policy accept;\n\t\tmeta l4proto tcp socket transparent 1 meta mark set 0x1 accept\n\t}\n\tchain output {\n\t\ttype route hook output priority mangle; policy accept;\n\t\tmeta mark 0x2 return\n\t}\n}\n"; empty != want {
		t.Fatalf("empty ruleset:\n%s", empty)
	}
	if got := DeleteTable(DefaultSettings); got != deleteScript {
		t.Fatalf("delete script %q", got)
	}
	wantCmds := [][]string{
		{"ip", "rule", "add", "fwmark", "0x1", "lookup", "100"},
		{"ip", "route", "add", "local", "0.0.0.0/0", "dev", "lo", "table", "100"},
		{"ip", "-6", "rule", "add", "fwmark", "0x1", "lookup", "100"},
		{"ip", "-6", "route", "add", "local", "::/0", "dev", "lo", "table", "100"},
	}
	if got := RoutingCommands(DefaultSettings, "add"); !reflect.DeepEqual(got, wantCmds) {
		t.Fatalf("routing commands %v", got)
	}
	if got := RoutingCommands6(DefaultSettings, "del"); !reflect.DeepEqual(got[0], []string{"ip", "-6", "rule", "del", "fwmark", "0x1", "lookup", "100"}) {
		t.Fatalf("IPv6 routing commands %v", got)
	}
}

func TestRulesFor(t *testing.T) {
	cfg := &config.Intercept{Protocols: []string{"tcp", "udp"},
		Addresses:  []string{"db.corp", "*.web", "10.0.0.0/8", "192.168.1.7", "127.0.0.1", "localhost", "2001:db8::/32", "2001:db8::1:7", "::1"},
		PortRanges: []config.PortRange{{Low: 5432, High: 5432}}}
	got := RulesFor(cfg, dns.DefaultPool)
	ports := []config.PortRange{{Low: 5432, High: 5432}}
	want := []Rule{
		{Protocol: "tcp", Prefix: dns.DefaultPool, Ports: ports},
		{Protocol: "tcp", Prefix: netip.MustParsePrefix("10.0.0.0/8"), Ports: ports},
		{Protocol: "tcp", Prefix: netip.MustParsePrefix("192.168.1.7/32"), Ports: ports},
		{Protocol: "tcp", Prefix: netip.MustParsePrefix("2001:db8::/32"), Ports: ports},
		{Protocol: "tcp", Prefix: netip.MustParsePrefix("2001:db8::1:7/128"), Ports: ports},
		{Protocol: "udp", Prefix: dns.DefaultPool, Ports: ports},
		{Protocol: "udp", Prefix: netip.MustParsePrefix("10.0.0.0/8"), Ports: ports},
		{Protocol: "udp", Prefix: netip.MustParsePrefix("192.168.1.7/32"), Ports: ports},
		{Protocol: "udp", Prefix: netip.MustParsePrefix("2001:db8::/32"), Ports: ports},
		{Protocol: "udp", Prefix: netip.MustParsePrefix("2001:db8::1:7/128"), Ports: ports},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("rules %+v\nwant %+v", got, want)
	}
}

func TestMatch(t *testing.T) {
	services := map[string]*config.Intercept{
		"wide":     {Protocols: []string{"tcp"}, Addresses: []string{"10.0.0.0/8"}, PortRanges: []config.PortRange{{Low: 1, High: 65535}}},
		"narrow":   {Protocols: []string{"tcp"}, Addresses: []string{"10.1.0.0/16"}, PortRanges: []config.PortRange{{Low: 80, High: 80}}},
		"exact":    {Protocols: []string{"tcp"}, Addresses: []string{"10.1.2.3"}, PortRanges: []config.PortRange{{Low: 80, High: 80}}},
		"wildcard": {Protocols: []string{"tcp"}, Addresses: []string{"*.corp"}, PortRanges: []config.PortRange{{Low: 443, High: 443}}},
		"named":    {Protocols: []string{"tcp"}, Addresses: []string{"db.corp"}, PortRanges: []config.PortRange{{Low: 443, High: 443}}},
		"udponly":  {Protocols: []string{"udp"}, Addresses: []string{"172.16.0.1"}, PortRanges: []config.PortRange{{Low: 53, High: 53}}},
		"both":     {Protocols: []string{"udp", "tcp"}, Addresses: []string{"172.16.9.0/24"}, PortRanges: []config.PortRange{{Low: 53, High: 53}}},
		"v6net":    {Protocols: []string{"tcp", "udp"}, Addresses: []string{"2001:db8:99::/64"}, PortRanges: []config.PortRange{{Low: 53, High: 80}}},
		"v6host":   {Protocols: []string{"tcp"}, Addresses: []string{"2001:db8:99::7"}, PortRanges: []config.PortRange{{Low: 80, High: 80}}},
	}
	for _, tc := range []struct {
		proto, dst, hostname, want string
	}{
		{"tcp", "10.1.2.3:80", "", "exact"},
		{"tcp", "10.1.2.4:80", "", "narrow"},
		{"tcp", "10.1.2.4:81", "", "wide"},
		{"tcp", "10.200.0.1:22", "", "wide"},
		{"tcp", "100.64.0.1:443", "db.corp", "named"},
		{"tcp", "100.64.0.2:443", "api.corp", "wildcard"},
		{"tcp", "100.64.0.2:80", "api.corp", ""},
		{"tcp", "172.16.0.1:53", "", ""},
		{"tcp", "192.0.2.1:80", "", ""},
		{"tcp", "[::ffff:10.1.2.3]:80", "", "exact"},
		{"udp", "172.16.0.1:53", "", "udponly"},
		{"udp", "172.16.9.200:53", "", "both"},
		{"tcp", "172.16.9.200:53", "", "both"},
		{"udp", "10.1.2.3:80", "", ""},
		{"udp", "100.64.0.1:443", "db.corp", ""},
		{"sctp", "10.1.2.3:80", "", ""},
		{"tcp", "[2001:db8:99::7]:80", "", "v6host"},
		{"tcp", "[2001:db8:99::8]:80", "", "v6net"},
		{"udp", "[2001:db8:99::7]:53", "", "v6net"},
		{"udp", "[2001:db8:98::7]:53", "", ""},
	} {
		got, ok := Match(services, tc.proto, netip.MustParseAddrPort(tc.dst), tc.hostname)
		if tc.want == "" {
			if ok {
				t.Errorf("Match(%s, %s, %q) = %s, want none", tc.proto, tc.dst, tc.hostname, got)
			}
			continue
		}
		if !ok || got != tc.want {
			t.Errorf("Match(%s, %s, %q) = %s, %v; want %s", tc.proto, tc.dst, tc.hostname, got, ok, tc.want)
		}
	}
}

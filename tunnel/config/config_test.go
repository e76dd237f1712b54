package config

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
)

func TestAddressMatches(t *testing.T) {
	for _, tc := range []struct {
		pattern, addr string
		want          bool
	}{
		{"10.0.0.1", "10.0.0.1", true},
		{"10.0.0.1", "10.0.0.2", false},
		{"10.0.0.0/24", "10.0.0.77", true},
		{"10.0.0.0/24", "10.0.1.1", false},
		{"10.0.0.5/24", "10.0.0.200", true}, // host bits ignored
		{"::ffff:10.0.0.1", "10.0.0.1", true},
		{"10.0.0.1", "::ffff:10.0.0.1", true},
		{"fd00::/8", "fd12::1", true},
		{"db.example.com", "db.example.com", true},
		{"db.example.com", "DB.Example.COM.", true},
		{"db.example.com", "db2.example.com", false},
		{"*.example.com", "db.example.com", true},
		{"*.example.com", "a.b.example.com", true},
		{"*.example.com", "example.com", false},
		{"*.example.com", "badexample.com", false},
		{"example.com", "10.0.0.1", false},
		{"10.0.0.0/8", "example.com", false},
		{"*.example.com", "", false},
	} {
		if got := AddressMatches(tc.pattern, tc.addr); got != tc.want {
			t.Errorf("AddressMatches(%q, %q) = %v, want %v", tc.pattern, tc.addr, got, tc.want)
		}
	}
}

func TestPortAllowed(t *testing.T) {
	ranges := []PortRange{{80, 80}, {8000, 8099}}
	for port, want := range map[uint16]bool{80: true, 81: false, 7999: false, 8000: true, 8050: true, 8099: true, 8100: false, 0: false} {
		if got := PortAllowed(ranges, port); got != want {
			t.Errorf("PortAllowed(%d) = %v, want %v", port, got, want)
		}
	}
	if PortAllowed(nil, 80) {
		t.Error("no range allows nothing")
	}
}

func mapOf(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestParseIntercept(t *testing.T) {
	c, err := ParseIntercept(mapOf(t, `{"protocols":["tcp","udp"],"addresses":["10.0.0.1","*.corp"],
		"portRanges":[{"low":80,"high":81}],"dialOptions":{"identity":"web-1","connectTimeoutSeconds":7},"sourceIp":"$src_ip"}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Protocols) != 2 || c.Addresses[1] != "*.corp" || c.PortRanges[0] != (PortRange{80, 81}) ||
		c.DialOptions.Identity != "web-1" || c.DialOptions.ConnectTimeoutSeconds != 7 || c.SourceIP != "$src_ip" {
		t.Fatalf("decoded %+v", c)
	}
	for _, bad := range []string{
		`{"protocols":["tcp"],"addresses":["a"]}`,
		`{"protocols":["sctp"],"addresses":["a"],"portRanges":[{"low":1,"high":2}]}`,
		`{"protocols":["tcp"],"addresses":["a b"],"portRanges":[{"low":1,"high":2}]}`,
		`{"protocols":["tcp"],"addresses":["a"],"portRanges":[{"low":9,"high":2}]}`,
		`{"protocols":["tcp"],"addresses":["a"],"portRanges":[{"low":1,"high":70000}]}`,
		`{"protocols":"tcp","addresses":["a"],"portRanges":[{"low":1,"high":2}]}`,
	} {
		if _, err := ParseIntercept(mapOf(t, bad)); err == nil {
			t.Errorf("ParseIntercept(%s) accepted", bad)
		}
	}
}

func TestParseHostAndResolve(t *testing.T) {
	static, err := ParseHost(mapOf(t, `{"protocol":"tcp","address":"127.0.0.1","port":5432,"listenOptions":{"cost":9,"precedence":"required"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if static.ListenOptions.Cost != 9 || static.ListenOptions.Precedence != "required" {
		t.Fatalf("listen options %+v", static.ListenOptions)
	}
	tg, err := static.Resolve(nil)
	if err != nil || tg.String() != "tcp:127.0.0.1:5432" {
		t.Fatalf("static target %v, %v", tg, err)
	}
	// A static config ignores what the dialer asks for.
	if tg, _ := static.Resolve(&Destination{Protocol: "udp", IP: "10.9.9.9", Port: "1"}); tg.String() != "tcp:127.0.0.1:5432" {
		t.Fatalf("static target moved to %v", tg)
	}

	fwd, err := ParseHost(mapOf(t, `{"forwardProtocol":true,"allowedProtocols":["tcp","udp"],
		"forwardAddress":true,"allowedAddresses":["10.0.0.0/24","*.corp.example","fd00::1"],
		"forwardPort":true,"allowedPortRanges":[{"low":1000,"high":2000}]}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		dst  *Destination
		want string // "" means refused
	}{
		{&Destination{Protocol: "tcp", IP: "10.0.0.9", Port: "1500"}, "tcp:10.0.0.9:1500"},
		{&Destination{Protocol: "UDP", IP: "10.0.0.9", Port: "1000"}, "udp:10.0.0.9:1000"},
		{&Destination{Protocol: "tcp", IP: "100.64.0.3", Hostname: "db.corp.example", Port: "2000"}, "tcp:db.corp.example:2000"},
		{&Destination{Protocol: "tcp", IP: "10.0.0.3", Hostname: "other.example", Port: "2000"}, "tcp:10.0.0.3:2000"},
		{&Destination{Protocol: "tcp", IP: "fd00::1", Port: "1200"}, "tcp:[fd00::1]:1200"},
		{&Destination{Protocol: "tcp", IP: "10.0.1.9", Port: "1500"}, ""},
		{&Destination{Protocol: "tcp", IP: "10.0.0.9", Port: "999"}, ""},
		{&Destination{Protocol: "tcp", IP: "10.0.0.9", Port: "1500x"}, ""},
		{&Destination{Protocol: "tcp", IP: "10.0.0.9", Port: "01500"}, ""},
		{&Destination{Protocol: "sctp", IP: "10.0.0.9", Port: "1500"}, ""},
		{&Destination{Protocol: "tcp", Port: "1500"}, ""},
		{nil, ""},
	} {
		got, err := fwd.Resolve(tc.dst)
		if tc.want == "" {
			if err == nil {
				t.Errorf("Resolve(%+v) = %v, want a refusal", tc.dst, got)
			}
			continue
		}
		if err != nil || got.String() != tc.want {
			t.Errorf("Resolve(%+v) = %v, %v; want %s", tc.dst, got, err, tc.want)
		}
	}
	for _, bad := range []string{
		`{"address":"a","port":1}`,
		`{"protocol":"tcp","port":1}`,
		`{"protocol":"tcp","address":"a"}`,
		`{"protocol":"tcp","address":"a","port":65536}`,
		`{"forwardProtocol":true,"address":"a","port":1}`,
		`{"protocol":"tcp","forwardAddress":true,"port":1}`,
		`{"protocol":"tcp","address":"a","forwardPort":true}`,
		`{"protocol":"icmp","address":"a","port":1}`,
		`{"protocol":"tcp","address":"a","port":1,"listenOptions":{"cost":70000}}`,
	} {
		if _, err := ParseHost(mapOf(t, bad)); err == nil {
			t.Errorf("ParseHost(%s) accepted", bad)
		}
	}
	// A missing field is named as such.
	if _, err := ParseHost(mapOf(t, `{"protocol":"tcp","address":"a"}`)); err == nil || !strings.Contains(err.Error(), "port is missing") {
		t.Errorf("host.v1 without port: %v", err)
	}
}

func TestDestinationRoundTrip(t *testing.T) {
	d := Destination{Protocol: "tcp", IP: "10.0.0.1", Port: "443", Hostname: "a.example"}
	if !strings.Contains(string(d.Encode()), `"dst_hostname":"a.example"`) {
		t.Fatalf("encoded %s", d.Encode())
	}
	got, err := DecodeDestination(d.Encode())
	if err != nil || got != d {
		t.Fatalf("decoded %+v, %v", got, err)
	}
	if _, err := DecodeDestination(nil); err == nil {
		t.Fatal("empty app data decoded")
	}
}

func TestSourceAddresses(t *testing.T) {
	// The intercepting side fills the client's address and the source address its
	// config asks for.
	d := Destination{Protocol: "tcp", IP: "10.0.0.1", Port: "443"}.WithSource(netip.MustParseAddrPort("192.0.2.9:5555"), "$src_ip:$src_port")
	if d.SrcIP != "192.0.2.9" || d.SrcPort != "5555" || d.SrcProtocol != "tcp" || d.SourceAddr != "192.0.2.9:5555" {
		t.Fatalf("with source: %+v", d)
	}
	if back, err := DecodeDestination(d.Encode()); err != nil || back != d || !strings.Contains(string(d.Encode()), `"source_addr":"192.0.2.9:5555"`) {
		t.Fatalf("round trip %s: %+v %v", d.Encode(), back, err)
	}
	if d := (Destination{Protocol: "tcp"}).WithSource(netip.MustParseAddrPort("192.0.2.9:5555"), ""); d.SourceAddr != "" || d.SrcIP != "192.0.2.9" {
		t.Fatalf("no sourceIp in the config: %+v", d)
	}

	h, err := ParseHost(mapOf(t, `{"protocol":"tcp","address":"a","port":1,"allowedSourceAddresses":["192.0.2.0/24","2001:db8::7"]}`))
	if err != nil {
		t.Fatal(err)
	}
	for src, want := range map[string]string{
		"":                  "",
		"192.0.2.9":         "192.0.2.9:0",
		"192.0.2.9:5555":    "192.0.2.9:5555",
		"[2001:db8::7]:80":  "[2001:db8::7]:80",
		"::ffff:192.0.2.10": "192.0.2.10:0",
		"192.0.3.1":         "refused",
		"2001:db8::8":       "refused",
		"host.example":      "refused",
	} {
		got, err := h.Source(&Destination{SourceAddr: src})
		switch {
		case want == "refused" && err == nil:
			t.Errorf("source %q allowed as %v", src, got)
		case want != "refused" && err != nil:
			t.Errorf("source %q: %v", src, err)
		case want != "refused" && want != "" && got.String() != want:
			t.Errorf("source %q: %v, want %s", src, got, want)
		case want == "" && got.IsValid():
			t.Errorf("no source asked, got %v", got)
		}
	}
	// Without a list, no source address may be asked for.
	plain, _ := ParseHost(mapOf(t, `{"protocol":"tcp","address":"a","port":1}`))
	if _, err := plain.Source(&Destination{SourceAddr: "192.0.2.9"}); err == nil {
		t.Error("a source address was allowed by no list")
	}
	if _, err := ParseHost(mapOf(t, `{"protocol":"tcp","address":"a","port":1,"allowedSourceAddresses":["*.example"]}`)); err == nil {
		t.Error("a name in allowedSourceAddresses was accepted")
	}
}

func FuzzParseIntercept(f *testing.F) {
	f.Add(`{"protocols":["tcp"],"addresses":["10.0.0.1"],"portRanges":[{"low":1,"high":2}]}`)
	f.Add(`{"protocols":["udp","tcp"],"addresses":["*.a","10.0.0.0/8"],"portRanges":[{"low":0,"high":65535}],"dialOptions":{"connectTimeoutSeconds":-1}}`)
	f.Add(`{"protocols":[1],"addresses":null}`)
	f.Fuzz(func(t *testing.T, s string) {
		var m map[string]any
		if json.Unmarshal([]byte(s), &m) != nil {
			return
		}
		c, err := ParseIntercept(m)
		if err != nil {
			return
		}
		if len(c.Protocols) == 0 || len(c.Addresses) == 0 || len(c.PortRanges) == 0 {
			t.Fatalf("accepted an incomplete config: %+v", c)
		}
		for _, r := range c.PortRanges {
			if r.Low > r.High {
				t.Fatalf("accepted a reversed range: %+v", r)
			}
		}
	})
}

func FuzzParseHost(f *testing.F) {
	f.Add(`{"protocol":"tcp","address":"127.0.0.1","port":80}`, `{"dst_protocol":"tcp","dst_ip":"10.0.0.1","dst_port":"80"}`)
	f.Add(`{"forwardProtocol":true,"allowedProtocols":["tcp"],"forwardAddress":true,"allowedAddresses":["*.x"],"forwardPort":true,"allowedPortRanges":[{"low":1,"high":9}]}`,
		`{"dst_protocol":"tcp","dst_hostname":"a.x","dst_port":"5"}`)
	f.Add(`{"protocol":"udp","address":"h","port":-1}`, `[]`)
	f.Add(`{"protocol":"tcp","address":"h","port":1,"allowedSourceAddresses":["10.0.0.0/8"]}`, `{"source_addr":"10.1.1.1:80"}`)
	f.Fuzz(func(t *testing.T, cfg, appData string) {
		var m map[string]any
		if json.Unmarshal([]byte(cfg), &m) != nil {
			return
		}
		h, err := ParseHost(m)
		if err != nil {
			return
		}
		_ = h.Describe()
		var dst *Destination
		if d, err := DecodeDestination([]byte(appData)); err == nil {
			dst = &d
		}
		tg, err := h.Resolve(dst)
		if err != nil {
			return
		}
		if tg.Protocol != "tcp" && tg.Protocol != "udp" {
			t.Fatalf("resolved protocol %q", tg.Protocol)
		}
		if h.ForwardAddress && !AddressAllowed(h.AllowedAddresses, tg.Address) {
			t.Fatalf("resolved address %q outside %v", tg.Address, h.AllowedAddresses)
		}
		if h.ForwardPort && !PortAllowed(h.AllowedPortRanges, tg.Port) {
			t.Fatalf("resolved port %d outside %v", tg.Port, h.AllowedPortRanges)
		}
		if src, err := h.Source(dst); err == nil && src.IsValid() && len(h.AllowedSourceAddresses) == 0 {
			t.Fatalf("source %v allowed without allowedSourceAddresses", src)
		}
	})
}

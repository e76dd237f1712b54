package tunnel

import (
	"net"
	"testing"
)

func TestParseMapping(t *testing.T) {
	for in, want := range map[string]Mapping{
		"web:127.0.0.1:8080":     {"web", "127.0.0.1:8080"},
		"web:8080":               {"web", "127.0.0.1:8080"},
		"db:0.0.0.0:5432":        {"db", "0.0.0.0:5432"},
		"ns:svc:localhost:9000":  {"ns:svc", "localhost:9000"},
		"v6:[::1]:8443":          {"v6", "[::1]:8443"},
		"any port:127.0.0.1:0":   {"any port", "127.0.0.1:0"},
		"with.dots:10.0.0.1:443": {"with.dots", "10.0.0.1:443"},
	} {
		got, err := ParseMapping(in)
		if err != nil || got != want {
			t.Errorf("ParseMapping(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "web", ":8080", "web:", "web:host:", "web:host:70000", "web:host:-1",
		"web:host:08080", ":127.0.0.1:80", "web:[::1:80", "web::80"} {
		if m, err := ParseMapping(bad); err == nil {
			t.Errorf("ParseMapping(%q) accepted: %+v", bad, m)
		}
	}
}

func FuzzParseMapping(f *testing.F) {
	for _, s := range []string{"web:127.0.0.1:8080", "web:80", "a:[::1]:1", "a:b:c:d", ":::", "x:[y]:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMapping(s)
		if err != nil {
			return
		}
		if m.Service == "" {
			t.Fatalf("%q: empty service", s)
		}
		host, port, err := net.SplitHostPort(m.Listen)
		if err != nil || host == "" || port == "" {
			t.Fatalf("%q: listen address %q does not split: %v", s, m.Listen, err)
		}
	})
}

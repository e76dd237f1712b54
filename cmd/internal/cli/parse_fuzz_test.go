package cli

import (
	"strings"
	"testing"
)

func TestNormalizeURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://ctrl:1280":                     "https://ctrl:1280",
		"ctrl:1280":                             "https://ctrl:1280",
		" https://ctrl:1280/edge/management/v1": "https://ctrl:1280",
		"https://[::1]:1280/":                   "https://[::1]:1280",
	} {
		got, err := normalizeURL(in)
		if err != nil || got != want {
			t.Errorf("normalizeURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"http://ctrl:1280", "https://", "ftp://x"} {
		if _, err := normalizeURL(in); ExitCode(err) != ExitUsage {
			t.Errorf("normalizeURL(%q): %v, want a usage error", in, err)
		}
	}
}

func FuzzNormalizeURL(f *testing.F) {
	for _, s := range []string{"https://ctrl:1280", "ctrl:1280", "http://x", "https://[::1]:1/a?b#c", "%zz", "", "://"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := normalizeURL(in)
		if err != nil {
			if ExitCode(err) != ExitUsage {
				t.Fatalf("normalizeURL(%q): %v is not a usage error", in, err)
			}
			return
		}
		if !strings.HasPrefix(got, "https://") || len(got) == len("https://") {
			t.Fatalf("normalizeURL(%q) = %q", in, got)
		}
	})
}

func TestDecodeError(t *testing.T) {
	e := decodeError(400, []byte(`{"error":{"code":"INVALID_FILTER","message":"invalid filter","cause":{"message":"at 3"}}}`)).(*APIError)
	if e.Code != "INVALID_FILTER" || e.Error() != "INVALID_FILTER: invalid filter (at 3)" || ExitCode(e) != ExitError {
		t.Fatalf("%+v %q", e, e.Error())
	}
	e = decodeError(404, []byte("<html>gone</html>")).(*APIError)
	if e.Code != "NOT_FOUND" || ExitCode(e) != ExitNotFound {
		t.Fatalf("%+v", e)
	}
	if ExitCode(decodeError(401, nil)) != ExitUnauthorized {
		t.Fatal("401 is not exit 3")
	}
}

func FuzzDecodeError(f *testing.F) {
	f.Add(400, []byte(`{"error":{"code":"X","message":"m","cause":"c"}}`))
	f.Add(401, []byte(`{"error":{"code":"UNAUTHORIZED","message":"m","cause":{"reason":"r"}}}`))
	f.Add(500, []byte(`not json`))
	f.Add(404, []byte(``))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 400 || status > 599 {
			return
		}
		err := decodeError(status, body)
		ae, ok := err.(*APIError)
		if !ok || ae.Code == "" || ae.Message == "" && !strings.Contains(string(body), `"code"`) {
			t.Fatalf("decodeError(%d, %q) = %#v", status, body, err)
		}
		if strings.Contains(err.Error(), "\n") && !strings.Contains(string(body), "\n") && !strings.Contains(string(body), `\n`) {
			t.Fatalf("multi-line error from %q", body)
		}
	})
}

func TestLookupEntityAcceptsBothForms(t *testing.T) {
	for _, e := range entities {
		for _, n := range []string{e.plural, e.singular, strings.ToUpper(e.plural)} {
			got, err := lookupEntity(n)
			if err != nil || got.plural != e.plural {
				t.Errorf("lookupEntity(%q) = %v, %v", n, got.plural, err)
			}
		}
	}
}

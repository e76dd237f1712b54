package sdk

import (
	"os"
	"runtime"
	"testing"

	"github.com/ostium-net/ostium/sdk/restapi/models"
)

func TestHostPostureReportsThisMachine(t *testing.T) {
	typ, version, _ := HostPosture{}.OperatingSystem()
	if runtime.GOOS == "linux" && (typ != "Linux" || version == "") {
		t.Fatalf("OS %q %q", typ, version)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	running, hash, _ := HostPosture{}.Process(exe)
	if runtime.GOOS == "linux" && (!running || len(hash) != 128) {
		t.Fatalf("this test binary: running=%v hash=%q", running, hash)
	}
	if running, _, _ := (HostPosture{}).Process("/no/such/binary"); running {
		t.Fatal("a missing binary reported running")
	}
}

func TestPostureQueriesOfService(t *testing.T) {
	id, typ, path := "q1", models.PostureCheckType("PROCESS"), "/usr/bin/agent"
	pass := false
	d := &models.ServiceDetail{PostureQueries: []*models.PostureQueries{{PostureQueries: []*models.PostureQuery{{
		BaseEntity: models.BaseEntity{ID: &id}, QueryType: &typ, IsPassing: &pass, Process: &models.PostureQueryProcess{Path: path}}}}}}
	q := postureQueriesOf(d)
	if len(q) != 1 || q[0].ID != "q1" || q[0].Type != "PROCESS" || q[0].IsPassing || q[0].Paths[0] != path {
		t.Fatalf("%+v", q)
	}
}

func TestDomainOf(t *testing.T) {
	for _, tc := range []struct{ kernel, host, want string }{
		{"corp.example\n", "ws1", "corp.example"},
		{"(none)\n", "ws1.ad.example.com", "ad.example.com"},
		{"", "ws1.ad.example.com.", "ad.example.com"},
		{"", "ws1", ""},
		{"(none)", "", ""},
		{"", ".example", ""},
		{"", "ws1.", ""},
	} {
		if got := domainOf(tc.kernel, tc.host); got != tc.want {
			t.Errorf("domainOf(%q, %q) = %q, want %q", tc.kernel, tc.host, got, tc.want)
		}
	}
}

// TestPostureResponsesCoverEveryQueryOnce: the responses are keyed by query
// (and by path for process checks), so that one sent twice for two services
// is one response, and only the failing ones are picked when asked.
func TestPostureResponsesCoverEveryQueryOnce(t *testing.T) {
	queries := []PostureQuery{
		{ID: "os", Type: "OS"},
		{ID: "os", Type: "OS"},
		{ID: "mac", Type: "MAC", IsPassing: true},
		{ID: "dom", Type: "DOMAIN"},
		{ID: "proc", Type: "PROCESS_MULTI", Paths: []string{"/bin/a", "/bin/b"}},
		{ID: "mfa", Type: "MFA"},
	}
	all := postureResponses(HostPosture{}, queries, false)
	for _, key := range []string{"os", "mac", "dom", "proc|/bin/a", "proc|/bin/b"} {
		if all[key] == nil {
			t.Errorf("no response for %s in %v", key, all)
		}
	}
	if len(all) != 5 {
		t.Errorf("%d responses, want 5 (MFA is not answered with facts): %v", len(all), all)
	}
	if failing := postureResponses(HostPosture{}, queries, true); failing["mac"] != nil || len(failing) != 4 {
		t.Errorf("only failing: %v", failing)
	}
}

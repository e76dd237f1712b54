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

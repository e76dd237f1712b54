package ctrlproto

import (
	"strings"
	"testing"
)

func TestRoundTripAndHash(t *testing.T) {
	in := Sync{RouterID: "r", Index: 7, APISessions: []APISession{{ID: "a", TokenHash: TokenHash("tok"), CertFingerprints: []string{"ff"}}},
		Sessions: []Session{{ID: "s", Type: "Dial"}}, Services: []Service{{ID: "svc", EncryptionRequired: true}}}
	b, err := Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	var out Sync
	if err := Decode(b, &out); err != nil {
		t.Fatal(err)
	}
	if out.Index != 7 || out.APISessions[0].TokenHash != TokenHash("tok") || len(TokenHash("x")) != 64 || !out.Services[0].EncryptionRequired {
		t.Fatalf("round trip: %+v", out)
	}
	if strings.Contains(string(b), `"tok"`) {
		t.Fatal("a token travels in clear")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"index":1,"events":[{"kind":"delete","session":{"id":"x"}}]}`))
	f.Add([]byte(`{`))
	f.Add([]byte(`{"apiSessionIds":["a1","a2"]}`))
	f.Add([]byte(`{"routerId":"r","index":3,"apiSessionHeartbeatMillis":250}`))
	f.Add([]byte(`{"links":[{"id":"l1","source":"a","dest":"b","state":"connected","latencyMicros":120}]}`))
	f.Add([]byte(`{"routers":[{"id":"a","link":{"address":"h:1","cost":3}}],"terminators":[{"localId":"t","serviceId":"s","routerId":"a"}]}`))
	f.Add([]byte(`{"index":2,"tokenKeys":{"keys":[]},"revocations":[{"apiSessionId":"a","expiresAt":"2030-01-01T00:00:00Z"}]}`))
	f.Add([]byte(`{"index":4,"events":[{"kind":"upsert","revocation":{"apiSessionId":"a","expiresAt":"bad"}}]}`))
	f.Add([]byte(`{"index":5,"cas":[{"id":"c","name":"partner","certPem":"-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n"}]}`))
	f.Add([]byte(`{"index":6,"events":[{"kind":"delete","ca":{"id":"c"}}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var e Events
		_ = Decode(b, &e)
		var s Sync
		_ = Decode(b, &s)
		var lr LinkReport
		_ = Decode(b, &lr)
		var topo Topology
		_ = Decode(b, &topo)
		var cs Circuits
		_ = Decode(b, &cs)
		var hb APISessionHeartbeat
		if Decode(b, &hb) == nil {
			// What decodes encodes again and reads back the same.
			again, err := Encode(hb)
			if err != nil {
				t.Fatalf("encode %+v: %v", hb, err)
			}
			var back APISessionHeartbeat
			if err := Decode(again, &back); err != nil || len(back.APISessionIDs) != len(hb.APISessionIDs) {
				t.Fatalf("round trip of %+v: %+v %v", hb, back, err)
			}
		}
	})
}

package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestErrorRepliesCarryTheRequestIDAndUnexpectedOnesAreLogged: a responder
// that never sees the request still answers with its id, and a 500 is
// logged with that id; a 4xx is not logged.
func TestErrorRepliesCarryTheRequestIDAndUnexpectedOnesAreLogged(t *testing.T) {
	var logged bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logged, nil))
	var answered = map[string]string{}
	h := withRequestID(log, withEnvelopedRuntimeErrors(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		answered[r.URL.Path] = requestID(r)
		switch r.URL.Path {
		case "/boom":
			fail(errors.New("disk on fire")).WriteResponse(w, nil)
		default:
			fail(errNotFound).WriteResponse(w, nil)
		}
	})))
	for _, path := range []string{"/boom", "/missing"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		var env struct {
			Error struct {
				Code      string `json:"code"`
				RequestID string `json:"requestId"`
			} `json:"error"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
			t.Fatal(err)
		}
		if env.Error.RequestID == "" || env.Error.RequestID != answered[path] {
			t.Fatalf("%s: request id %q in the reply, %q in the request", path, env.Error.RequestID, answered[path])
		}
	}
	if !strings.Contains(logged.String(), answered["/boom"]) || !strings.Contains(logged.String(), "disk on fire") {
		t.Fatalf("the 500 was not logged with its request id: %s", logged.String())
	}
	if strings.Contains(logged.String(), answered["/missing"]) {
		t.Fatalf("a 404 was logged as unexpected: %s", logged.String())
	}
}

package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/go-openapi/runtime"
	"github.com/go-openapi/runtime/middleware"

	"github.com/ostium-net/ostium/controller/events"

	eventsops "github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/events"
)

// sseKeepAlive is how often an idle event stream gets a comment line, so
// that proxies and clients see it alive.
const sseKeepAlive = 15 * time.Second

// sseBuffer is how many events one stream may fall behind by; past it the
// stream misses events (counted by the bus) rather than slowing anything.
const sseBuffer = 1024

// streamEvents answers GET /events.
func (s *Server) streamEvents(p eventsops.StreamEventsParams, _ any) middleware.Responder {
	f, err := events.ParseTypes(str(p.Types))
	if err != nil {
		return fail(validationError("types", err.Error(), str(p.Types)))
	}
	if s.Events == nil {
		return fail(&APIError{Status: http.StatusNotFound, Code: CodeNotFound, Message: "this controller serves no event stream"})
	}
	return sseStream{bus: s.Events, filter: f, r: p.HTTPRequest}
}

// sseStream writes events as Server-Sent Events until the client goes.
type sseStream struct {
	bus    *events.Bus
	filter events.Filter
	r      *http.Request
}

func (st sseStream) WriteResponse(w http.ResponseWriter, _ runtime.Producer) {
	sub := st.bus.Subscribe(st.filter, sseBuffer)
	defer sub.Close()
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprint(w, ": ostium events\n\n"); err != nil {
		return
	}
	if rc.Flush() != nil {
		return
	}
	keep := time.NewTicker(sseKeepAlive)
	defer keep.Stop()
	ctx := st.r.Context()
	for {
		select {
		case <-ctx.Done():
			return
		case <-keep.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
		case e, ok := <-sub.Events():
			if !ok {
				return
			}
			if !writeEvent(w, e) {
				return
			}
			// Send what is queued already before flushing once.
			for drained := false; !drained; {
				select {
				case e := <-sub.Events():
					if !writeEvent(w, e) {
						return
					}
				default:
					drained = true
				}
			}
		}
		if rc.Flush() != nil {
			return
		}
	}
}

// writeEvent writes one event as a `data:` line; JSON never holds a raw
// newline, so one line always carries the whole object.
func writeEvent(w http.ResponseWriter, e events.Event) bool {
	b, err := json.Marshal(e)
	if err != nil {
		return true
	}
	// No "event:" line: EventSource clients get every event as a message,
	// and read its type from the object.
	_, err = fmt.Fprintf(w, "data: %s\n\n", b)
	return err == nil
}

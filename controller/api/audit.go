package api

import (
	"context"
	"net/http"
	"time"

	"github.com/go-openapi/runtime"
	"github.com/go-openapi/runtime/middleware"

	"github.com/ostium-net/ostium/controller/command"
	"github.com/ostium-net/ostium/controller/filter"

	"github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/audit"
	"github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/database"
	"github.com/ostium-net/ostium/controller/store"
	"github.com/ostium-net/ostium/sdk/restapi/models"
)

// The audit trail: every management write is applied as a command.Audited
// (see requestContext), which records what it changed, by whom and from
// where, in the same raft entry as the change. The records are listed here
// and pruned past their retention by the leader.

// DefaultAuditRetention is how long audit records are kept unless configured otherwise.
const DefaultAuditRetention = 90 * 24 * time.Hour

// auditPruneInterval is how often the leader prunes audit records, and
// auditPruneBatch how many one raft entry deletes at most.
const (
	auditPruneInterval = 10 * time.Minute
	auditPruneBatch    = 1000
)

// listAuditEvents answers GET /audit-events.
func (s *Server) listAuditEvents(p audit.ListAuditEventsParams, _ any) middleware.Responder {
	return s.auditList(store.AuditEvents, listParams{p.Filter, p.Sort, p.Limit, p.Offset}, "createdAt desc", nil, auditEventModel)
}

// createDatabaseSnapshot answers POST /database/snapshot.
func (s *Server) createDatabaseSnapshot(p database.CreateDatabaseSnapshotParams, _ any) middleware.Responder {
	return snapshotStream{s: s, r: p.HTTPRequest}
}

// listSchemas are the fields lists of a kind may filter and sort on, for
// the lists that refuse other names.
var listSchemas = map[*store.Kind]filter.Schema{
	store.AuditEvents: {
		"id": {Kind: filter.KindString}, "createdAt": {Kind: filter.KindTime}, "action": {Kind: filter.KindString},
		"entityType": {Kind: filter.KindString}, "entityId": {Kind: filter.KindString}, "actor": {Kind: filter.KindString},
		"actor.id": {Kind: filter.KindString}, "actor.name": {Kind: filter.KindString}, "actor.type": {Kind: filter.KindString},
		"sourceAddress": {Kind: filter.KindString}, "requestId": {Kind: filter.KindString},
	},
}

// auditEventFields are the filterable fields of an audit record.
func auditEventFields(a *store.AuditEvent) map[string]any {
	return map[string]any{"id": a.ID, "createdAt": a.CreatedAt, "action": a.Action, "entityType": a.EntityType,
		"entityId": a.EntityID, "actor": a.ActorID, "actor.id": a.ActorID, "actor.name": a.ActorName,
		"actor.type": a.ActorType, "sourceAddress": a.SourceAddress, "requestId": a.RequestID}
}

func auditEventModel(rec store.Record) any {
	a := rec.(*store.AuditEvent)
	return &models.AuditEventDetail{ID: ptr(a.ID), CreatedAt: dt(a.CreatedAt), Action: ptr(a.Action), EntityType: ptr(a.EntityType),
		EntityID: ptr(a.EntityID), Actor: &models.AuditActor{Type: ptr(a.ActorType), ID: ptr(a.ActorID), Name: a.ActorName},
		SourceAddress: a.SourceAddress, RequestID: a.RequestID}
}

// pruneAudit deletes, while this node leads, the audit records older than
// the retention, every auditPruneInterval, until ctx ends.
func (s *Server) pruneAudit(ctx context.Context) {
	retention := s.AuditRetention
	if retention <= 0 {
		retention = DefaultAuditRetention
	}
	s.everyWhileLeading(ctx, auditPruneInterval, func(ctx context.Context) {
		if n, err := s.pruneAuditBefore(ctx, time.Now().Add(-retention)); err != nil && ctx.Err() == nil {
			s.Log.Warn("pruning audit records failed", "err", err)
		} else if n > 0 {
			s.Log.Debug("pruned audit records", "count", n)
		}
	})
}

// PruneAudit deletes the audit records created before before, a batch per
// raft entry, and returns how many it deleted. The leader does so on its own
// for the records past the retention.
func (a *API) PruneAudit(ctx context.Context, before time.Time) (int, error) {
	return a.s.pruneAuditBefore(ctx, before)
}

func (s *Server) pruneAuditBefore(ctx context.Context, before time.Time) (int, error) {
	total := 0
	for {
		pending := 0
		_ = s.State.View(func(tx *store.Tx) error {
			return tx.ForEach(store.AuditEvents, func(rec store.Record) error {
				if !rec.Base().CreatedAt.Before(before) || pending >= auditPruneBatch {
					return store.ErrStop
				}
				pending++
				return nil
			})
		})
		if pending == 0 {
			return total, nil
		}
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := s.State.Apply(pctx, &command.PruneAudit{Before: before.UTC(), Max: auditPruneBatch})
		cancel()
		if err != nil {
			return total, err
		}
		total += pending
		if pending < auditPruneBatch {
			return total, nil
		}
	}
}

// snapshotStream writes a consistent copy of the database: one bbolt read
// transaction's WriteTo, streamed without buffering it.
type snapshotStream struct {
	s *Server
	r *http.Request
}

func (st snapshotStream) WriteResponse(w http.ResponseWriter, _ runtime.Producer) {
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", `attachment; filename="ostium-ctrl.db"`)
	h.Set("Cache-Control", "no-store")
	lw := &lazyHeader{w: w}
	if err := st.s.State.Store.Snapshot(lw); err != nil {
		st.s.Log.Warn("database snapshot failed", "err", err)
		if !lw.sent {
			h.Del("Content-Disposition")
			writeError(w, st.r, err)
		}
		// Past the first byte the answer is cut short; a backup checks
		// that what it received opens as a database.
	}
}

// lazyHeader sends the 200 status with the first byte, so that a snapshot
// that fails before writing anything is not half an answer.
type lazyHeader struct {
	w    http.ResponseWriter
	sent bool
}

func (l *lazyHeader) Write(p []byte) (int, error) {
	if !l.sent {
		l.sent = true
		l.w.WriteHeader(http.StatusOK)
	}
	return l.w.Write(p)
}

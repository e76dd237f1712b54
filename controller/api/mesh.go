package api

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/go-openapi/runtime/middleware"
	"github.com/go-openapi/strfmt"

	"github.com/ostium-net/ostium/controller/filter"

	"github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/circuit"
	linkops "github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/link"
	"github.com/ostium-net/ostium/controller/store"
	"github.com/ostium-net/ostium/internal/ctrlproto"
	"github.com/ostium-net/ostium/sdk/restapi/models"
)

// MeshDirectory is the router mesh as the routers attached to this controller report it:
// their links, and the circuits they hold. The router control channel provides it.
type MeshDirectory interface {
	Links() []ctrlproto.LinkState
	Circuits(ctx context.Context) ([]ctrlproto.Circuit, error)
	CloseCircuit(ctx context.Context, id, reason string) (bool, error)
}

type noMesh struct{}

func (noMesh) Links() []ctrlproto.LinkState                               { return nil }
func (noMesh) Circuits(context.Context) ([]ctrlproto.Circuit, error)      { return nil, nil }
func (noMesh) CloseCircuit(context.Context, string, string) (bool, error) { return false, nil }

func (s *Server) mesh() MeshDirectory {
	if s.Mesh == nil {
		return noMesh{}
	}
	return s.Mesh
}

// maxCircuitID bounds the id a circuit is asked for by.
const maxCircuitID = 128

// listLinks answers GET /links.
func (s *Server) listLinks(p linkops.ListLinksParams, _ any) middleware.Responder {
	skip, limit, err := pageOf(p.Limit, p.Offset)
	if err != nil {
		return fail(err)
	}
	links := s.mesh().Links()
	data := []*models.LinkDetail{}
	err = s.State.View(func(tx *store.Tx) error {
		for _, l := range page(links, skip, limit) {
			data = append(data, linkModel(tx, l))
		}
		return nil
	})
	if err != nil {
		return fail(err)
	}
	return list(data, pagination{Limit: limit, Offset: skip, TotalCount: int64(len(links))})
}

// listCircuits answers GET /circuits.
func (s *Server) listCircuits(p circuit.ListCircuitsParams, _ any) middleware.Responder {
	skip, limit, err := pageOf(p.Limit, p.Offset)
	if err != nil {
		return fail(err)
	}
	ctx, cancel := context.WithTimeout(requestContext(p.HTTPRequest), 10*time.Second)
	defer cancel()
	circuits, err := s.mesh().Circuits(ctx)
	if err != nil {
		return fail(fmt.Errorf("asking the routers for their circuits: %w", err))
	}
	data := []*models.CircuitDetail{}
	err = s.State.View(func(tx *store.Tx) error {
		for _, c := range page(circuits, skip, limit) {
			data = append(data, circuitModel(tx, c))
		}
		return nil
	})
	if err != nil {
		return fail(err)
	}
	return list(data, pagination{Limit: limit, Offset: skip, TotalCount: int64(len(circuits))})
}

// handleDeleteCircuit answers DELETE /circuits/{id}.
func (s *Server) handleDeleteCircuit(p circuit.DeleteCircuitParams, _ any) middleware.Responder {
	if p.ID == "" || len(p.ID) > maxCircuitID {
		return fail(store.ErrNotFound)
	}
	return s.deleteCircuit(p.HTTPRequest, p.ID)
}

func (s *Server) deleteCircuit(r *http.Request, id string) middleware.Responder {
	ctx, cancel := context.WithTimeout(requestContext(r), 10*time.Second)
	defer cancel()
	found, err := s.mesh().CloseCircuit(ctx, id, "closed by an administrator")
	if err != nil {
		return fail(err)
	}
	if !found {
		return fail(store.ErrNotFound)
	}
	return okEmpty()
}

// pageOf checks limit and offset as every list does.
func pageOf(limit, offset *int64) (skip, n int64, err error) {
	q, err := filter.FromListParams("", "", limit, offset, filter.DefaultLimit, filter.MaxLimit)
	if err != nil {
		return 0, 0, err
	}
	return *q.Skip, *q.Limit, nil
}

func page[T any](all []T, skip, limit int64) []T {
	if skip >= int64(len(all)) {
		return nil
	}
	return all[skip:min(int64(len(all)), skip+limit)]
}

func linkModel(tx *store.Tx, l ctrlproto.LinkState) *models.LinkDetail {
	d := &models.LinkDetail{
		ID:           ptr(l.ID),
		SourceRouter: routerRef(tx, l.Source),
		DestRouter:   routerRef(tx, l.Dest),
		State:        ptr(l.State),
		Cost:         ptr(int64(l.Cost)),
	}
	if l.State == ctrlproto.LinkConnected && l.LatencyMicros > 0 {
		d.Latency = ptr(float64(l.LatencyMicros) / 1000)
	}
	return d
}

// routerRef names a router, by id alone when it is not (or no longer) known.
func routerRef(tx *store.Tx, id string) *models.EntityRef {
	return refOf(store.EdgeRouters, id, nameOf(tx, store.EdgeRouters, id))
}

func circuitModel(tx *store.Tx, c ctrlproto.Circuit) *models.CircuitDetail {
	created := strfmt.DateTime(c.CreatedAt)
	d := &models.CircuitDetail{
		ID:        ptr(c.ID),
		Service:   refOf(store.Services, c.ServiceID, nameOf(tx, store.Services, c.ServiceID)),
		Path:      append([]string{}, c.Path...),
		CreatedAt: &created,
		BytesUp:   ptr(int64(min(c.BytesUp, 1<<63-1))),
		BytesDown: ptr(int64(min(c.BytesDown, 1<<63-1))),
	}
	if c.IdentityID != "" {
		d.Identity = refOf(store.Identities, c.IdentityID, nameOf(tx, store.Identities, c.IdentityID))
	}
	return d
}

// routerLinks are the links of one router, for its detail.
func (s *Server) routerLinks(tx *store.Tx, routerID string) []*models.LinkDetail {
	var out []*models.LinkDetail
	for _, l := range s.mesh().Links() {
		if l.Source == routerID || l.Dest == routerID {
			out = append(out, linkModel(tx, l))
		}
	}
	return out
}

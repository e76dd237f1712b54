package api

import (
	"net/http"
	"time"

	"github.com/go-openapi/runtime/middleware"
	"github.com/go-openapi/strfmt"

	"github.com/ostium-net/ostium/controller/filter"
	"github.com/ostium-net/ostium/controller/state"
	"github.com/ostium-net/ostium/controller/store"
	"github.com/ostium-net/ostium/sdk/restapi/models"
)

// The generic halves of list, detail, create, update and delete. Each entity's
// file supplies the mapping between its models and its store record.

// listParams are the query parameters every list takes.
type listParams struct {
	Filter, Sort  *string
	Limit, Offset *int64
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// toModelFunc maps a record to its API model inside the read transaction.
type toModelFunc func(tx *store.Tx, rec store.Record) any

// listOf answers a list of kind, restricted to the ids only returns when it
// is not nil (related lists).
func (s *Server) listOf(k *store.Kind, lp listParams, only func(tx *store.Tx) []string, toModel toModelFunc) middleware.Responder {
	q, err := filter.FromListParams(str(lp.Filter), str(lp.Sort), lp.Limit, lp.Offset, filter.DefaultLimit, filter.MaxLimit)
	if err != nil {
		return fail(err)
	}
	// A field the records do not have is a mistake (a misspelling, a field of
	// another entity), not a filter that matches nothing.
	if err := q.Validate(state.FilterSchema(k)); err != nil {
		return fail(err)
	}
	data := []any{}
	var page *state.Page
	err = s.State.View(func(tx *store.Tx) error {
		opts := state.ListOptions{}
		if only != nil {
			opts.Only = only(tx)
			if opts.Only == nil {
				opts.Only = []string{}
			}
		}
		var err error
		page, err = s.State.List(tx, k, q, opts)
		if err != nil {
			return err
		}
		for _, rec := range page.Records {
			data = append(data, toModel(tx, rec))
		}
		return nil
	})
	if err != nil {
		return fail(err)
	}
	return list(data, pagination{Limit: page.Limit, Offset: page.Offset, TotalCount: page.TotalCount})
}

// detailOf answers one record.
func (s *Server) detailOf(k *store.Kind, id string, toModel toModelFunc) middleware.Responder {
	var out any
	err := s.State.View(func(tx *store.Tx) error {
		rec, err := tx.Get(k, id)
		if err != nil {
			return err
		}
		out = toModel(tx, rec)
		return nil
	})
	if err != nil {
		return fail(err)
	}
	return ok(out)
}

// createOf stores a record and answers 201 with its id.
func (s *Server) createOf(r *http.Request, k *store.Kind, rec store.Record) middleware.Responder {
	id, err := s.State.Create(requestContext(r), k, rec)
	if err != nil {
		return fail(err)
	}
	return created(id, selfLink(k, id))
}

// updateOf applies mutate to the stored record and answers 200 {}.
func (s *Server) updateOf(r *http.Request, k *store.Kind, id string, mutate func(store.Record) error) middleware.Responder {
	if err := s.State.Update(requestContext(r), k, id, mutate); err != nil {
		return fail(err)
	}
	return okEmpty()
}

// deleteOf removes a record and answers 200 {}.
func (s *Server) deleteOf(r *http.Request, k *store.Kind, id string) middleware.Responder {
	if err := s.State.Delete(requestContext(r), k, id); err != nil {
		return fail(err)
	}
	return okEmpty()
}

func selfLink(k *store.Kind, id string) string {
	return "./" + k.Name + "/" + id
}

func modelLinks(k *store.Kind, id string) models.Links {
	href := strfmt.URI(selfLink(k, id))
	return models.Links{"self": models.Link{Href: &href}}
}

func dt(t time.Time) *strfmt.DateTime {
	d := strfmt.DateTime(t)
	return &d
}

func dtOpt(t *time.Time) *strfmt.DateTime {
	if t == nil {
		return nil
	}
	return dt(*t)
}

// baseOf fills the fields every entity carries.
func baseOf(k *store.Kind, m *store.Meta) models.BaseEntity {
	id := m.ID
	tags := models.Tags(m.Tags)
	if tags == nil {
		tags = models.Tags{}
	}
	return models.BaseEntity{ID: &id, CreatedAt: dt(m.CreatedAt), UpdatedAt: dt(m.UpdatedAt), Links: modelLinks(k, id), Tags: tags}
}

// refOf names another entity by id and name. Its entity is the collection
// the entity lives in (identities, edge-routers, ...), as OpenZiti's clients
// read it.
func refOf(k *store.Kind, id, name string) *models.EntityRef {
	if id == "" {
		return nil
	}
	return &models.EntityRef{ID: id, Name: name, Entity: k.Name, Links: modelLinks(k, id)}
}

func nameOf(tx *store.Tx, k *store.Kind, id string) string {
	rec, err := tx.Get(k, id)
	if err != nil {
		return ""
	}
	switch r := rec.(type) {
	case *store.Identity:
		return r.Name
	case *store.Service:
		return r.Name
	case *store.EdgeRouter:
		return r.Name
	case *store.AuthPolicy:
		return r.Name
	case *store.ConfigType:
		return r.Name
	case *store.Config:
		return r.Name
	case *store.CA:
		return r.Name
	case *store.PostureCheck:
		return r.Name
	case *store.ServicePolicy:
		return r.Name
	case *store.EdgeRouterPolicy:
		return r.Name
	case *store.ServiceEdgeRouterPolicy:
		return r.Name
	case *store.ExternalJWTSigner:
		return r.Name
	}
	return ""
}

// strs copies a string list, never returning nil (lists encode as []).
func strs[T ~[]string](in T) []string {
	out := make([]string, 0, len(in))
	return append(out, in...)
}

func tagsIn(t models.Tags) map[string]any {
	if len(t) == 0 {
		return nil
	}
	return map[string]any(t)
}

func ptr[T any](v T) *T { return &v }

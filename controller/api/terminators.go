package api

import (
	"github.com/go-openapi/runtime/middleware"

	"github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/terminator"
	"github.com/ostium-net/ostium/controller/store"
	"github.com/ostium-net/ostium/sdk/restapi/models"
)

// Terminator defaults and bounds.
const (
	DefaultTerminatorBinding    = "edge"
	DefaultTerminatorPrecedence = "default"
	maxTerminatorCost           = 65535
	maxTerminatorAddress        = 1024
)

// listTerminators answers GET /terminators.
func (s *Server) listTerminators(p terminator.ListTerminatorsParams, _ any) middleware.Responder {
	return s.listOf(store.Terminators, listParams{p.Filter, p.Sort, p.Limit, p.Offset}, nil, s.terminatorModel)
}

// detailTerminator answers GET /terminators/{id}.
func (s *Server) detailTerminator(p terminator.DetailTerminatorParams, _ any) middleware.Responder {
	return s.detailOf(store.Terminators, p.ID, s.terminatorModel)
}

// createTerminator answers POST /terminators.
func (s *Server) createTerminator(p terminator.CreateTerminatorParams, _ any) middleware.Responder {
	b := p.Terminator
	t := &store.Terminator{Meta: store.Meta{Tags: tagsIn(b.Tags)}}
	if err := terminatorFieldsIn(t, str(b.Service), str(b.Router), str(b.Binding), str(b.Address), b.Identity, b.Cost, string(b.Precedence)); err != nil {
		return fail(err)
	}
	return s.createOf(p.HTTPRequest, store.Terminators, t)
}

// updateTerminator answers PUT /terminators/{id}.
func (s *Server) updateTerminator(p terminator.UpdateTerminatorParams, _ any) middleware.Responder {
	b := p.Terminator
	next := &store.Terminator{}
	if err := terminatorFieldsIn(next, str(b.Service), str(b.Router), str(b.Binding), str(b.Address), b.Identity, b.Cost, string(b.Precedence)); err != nil {
		return fail(err)
	}
	return s.updateOf(p.HTTPRequest, store.Terminators, p.ID, func(r store.Record) error {
		t := r.(*store.Terminator)
		t.ServiceID, t.RouterID, t.Binding, t.Address = next.ServiceID, next.RouterID, next.Binding, next.Address
		t.Identity, t.Cost, t.Precedence = next.Identity, next.Cost, next.Precedence
		t.Tags = tagsIn(b.Tags)
		return nil
	})
}

// patchTerminator answers PATCH /terminators/{id}.
func (s *Server) patchTerminator(p terminator.PatchTerminatorParams, _ any) middleware.Responder {
	b := p.Terminator
	return s.updateOf(p.HTTPRequest, store.Terminators, p.ID, func(r store.Record) error {
		t := r.(*store.Terminator)
		service, router, binding, address, identity := t.ServiceID, t.RouterID, t.Binding, t.Address, t.Identity
		cost := ptr(models.TerminatorCost(t.Cost))
		precedence := t.Precedence
		if b.Service != nil {
			service = *b.Service
		}
		if b.Router != nil {
			router = *b.Router
		}
		if b.Binding != nil {
			binding = *b.Binding
		}
		if b.Address != nil {
			address = *b.Address
		}
		if b.Identity != nil {
			identity = *b.Identity
		}
		if b.Cost != nil {
			cost = ptr(models.TerminatorCost(*b.Cost))
		}
		if b.Precedence != nil {
			precedence = *b.Precedence
		}
		if b.Tags != nil {
			t.Tags = tagsIn(b.Tags)
		}
		return terminatorFieldsIn(t, service, router, binding, address, identity, cost, precedence)
	})
}

// deleteTerminator answers DELETE /terminators/{id}.
func (s *Server) deleteTerminator(p terminator.DeleteTerminatorParams, _ any) middleware.Responder {
	return s.deleteOf(p.HTTPRequest, store.Terminators, p.ID)
}

// terminatorFieldsIn checks and sets a terminator's fields. The service and
// router must exist; the store's foreign keys check that inside the write.
func terminatorFieldsIn(t *store.Terminator, service, router, binding, address, identity string, cost *models.TerminatorCost, precedence string) error {
	if service == "" {
		return validationError("service", "is required", nil)
	}
	if router == "" {
		return validationError("router", "is required", nil)
	}
	if binding == "" {
		binding = DefaultTerminatorBinding
	}
	if len(binding) > MaxNameLength {
		return validationError("binding", "must be at most 255 characters", len(binding))
	}
	if address == "" {
		return validationError("address", "is required", nil)
	}
	if len(address) > maxTerminatorAddress {
		return validationError("address", "must be at most 1024 characters", len(address))
	}
	if len(identity) > MaxNameLength {
		return validationError("identity", "must be at most 255 characters", len(identity))
	}
	var c int64
	if cost != nil {
		c = int64(*cost)
	}
	if c < 0 || c > maxTerminatorCost {
		return validationError("cost", "must be 0 to 65535", c)
	}
	switch precedence {
	case "":
		precedence = DefaultTerminatorPrecedence
	case "default", "required", "failed":
	default:
		return validationError("precedence", "must be default, required or failed", precedence)
	}
	t.ServiceID, t.RouterID, t.Binding, t.Address, t.Identity = service, router, binding, address, identity
	t.Cost, t.Precedence = uint16(c), precedence
	return nil
}

func (s *Server) terminatorModel(tx *store.Tx, rec store.Record) any {
	t := rec.(*store.Terminator)
	return &models.TerminatorDetail{
		BaseEntity:  baseOf(store.Terminators, &t.Meta),
		ServiceID:   ptr(t.ServiceID),
		Service:     refOf(store.Services, t.ServiceID, nameOf(tx, store.Services, t.ServiceID)),
		RouterID:    ptr(t.RouterID),
		Router:      refOf(store.EdgeRouters, t.RouterID, nameOf(tx, store.EdgeRouters, t.RouterID)),
		Binding:     ptr(t.Binding),
		Address:     ptr(t.Address),
		Identity:    ptr(t.Identity),
		Cost:        ptr(models.TerminatorCost(t.Cost)),
		Precedence:  ptr(models.TerminatorPrecedence(orDefault(t.Precedence, DefaultTerminatorPrecedence))),
		DynamicCost: ptr(int64(0)),
	}
}

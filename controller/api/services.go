package api

import (
	"net/http"

	"github.com/go-openapi/runtime/middleware"

	"github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/service"
	"github.com/ostium-net/ostium/controller/policy"
	"github.com/ostium-net/ostium/controller/store"
	"github.com/ostium-net/ostium/sdk/restapi/models"
)

// Terminator strategies a service may name.
const (
	StrategySmartRouting = "smartrouting"
	StrategyWeighted     = "weighted"
	StrategyRandom       = "random"
)

// listServices answers GET /services.
func (s *Server) listServices(p service.ListServicesParams, _ any) middleware.Responder {
	return s.listOf(store.Services, listParams{p.Filter, p.Sort, p.Limit, p.Offset}, nil, s.serviceAdminModel)
}

// detailService answers GET /services/{id}.
func (s *Server) detailService(p service.DetailServiceParams, _ any) middleware.Responder {
	return s.detailOf(store.Services, p.ID, s.serviceAdminModel)
}

// handleCreateService answers POST /services.
func (s *Server) handleCreateService(p service.CreateServiceParams, _ any) middleware.Responder {
	return s.createService(p.HTTPRequest, p.Service)
}

// updateService answers PUT /services/{id}.
func (s *Server) updateService(p service.UpdateServiceParams, _ any) middleware.Responder {
	b := p.Service
	f, err := s.serviceFieldsIn(b.Name, b.TerminatorStrategy, b.MaxIdleTimeMillis, b.Configs)
	if err != nil {
		return fail(err)
	}
	// encryptionRequired is fixed at creation (see the spec).
	return s.updateOf(p.HTTPRequest, store.Services, p.ID, func(r store.Record) error {
		sv := r.(*store.Service)
		sv.Name = str(b.Name)
		sv.Configs = f.configs
		sv.RoleAttributes = strs(b.RoleAttributes)
		sv.TerminatorStrategy = f.strategy
		sv.MaxIdleTimeMillis = f.maxIdle
		sv.Tags = tagsIn(b.Tags)
		return nil
	})
}

// patchService answers PATCH /services/{id}.
func (s *Server) patchService(p service.PatchServiceParams, _ any) middleware.Responder {
	b := p.Service
	// Absent fields are nil and kept; present ones, zero values included, are set.
	if b.Name != nil {
		if err := checkName("name", *b.Name); err != nil {
			return fail(err)
		}
	}
	var strategy string
	if b.TerminatorStrategy != nil {
		var err error
		if strategy, err = terminatorStrategyIn(*b.TerminatorStrategy); err != nil {
			return fail(err)
		}
	}
	if b.MaxIdleTimeMillis != nil {
		if err := checkMaxIdle(*b.MaxIdleTimeMillis); err != nil {
			return fail(err)
		}
	}
	var configs []string
	if b.Configs != nil {
		var err error
		if configs, err = s.serviceConfigsIn(b.Configs); err != nil {
			return fail(err)
		}
	}
	return s.updateOf(p.HTTPRequest, store.Services, p.ID, func(r store.Record) error {
		sv := r.(*store.Service)
		if b.Name != nil {
			sv.Name = *b.Name
		}
		if b.Configs != nil {
			sv.Configs = configs
		}
		if b.RoleAttributes != nil {
			sv.RoleAttributes = strs(b.RoleAttributes)
		}
		if b.TerminatorStrategy != nil {
			sv.TerminatorStrategy = strategy
		}
		if b.MaxIdleTimeMillis != nil {
			sv.MaxIdleTimeMillis = *b.MaxIdleTimeMillis
		}
		if b.Tags != nil {
			sv.Tags = tagsIn(b.Tags)
		}
		return nil
	})
}

// deleteService answers DELETE /services/{id}.
func (s *Server) deleteService(p service.DeleteServiceParams, _ any) middleware.Responder {
	return s.deleteOf(p.HTTPRequest, store.Services, p.ID)
}

// Related lists.

// listServiceIdentities answers GET /services/{id}/identities.
func (s *Server) listServiceIdentities(p service.ListServiceIdentitiesParams, _ any) middleware.Responder {
	if !s.State.Exists(store.Services, p.ID) {
		return fail(errNotFound)
	}
	return s.listOf(store.Identities, listParams{p.Filter, p.Sort, p.Limit, p.Offset}, func(tx *store.Tx) []string {
		return keys(policy.ServiceIdentities(tx, p.ID))
	}, s.identityModel)
}

// listServiceEdgeRouters answers GET /services/{id}/edge-routers.
func (s *Server) listServiceEdgeRouters(p service.ListServiceEdgeRoutersParams, _ any) middleware.Responder {
	if !s.State.Exists(store.Services, p.ID) {
		return fail(errNotFound)
	}
	return s.listOf(store.EdgeRouters, listParams{p.Filter, p.Sort, p.Limit, p.Offset}, func(tx *store.Tx) []string {
		return policy.ServiceEdgeRouters(tx, p.ID)
	}, s.edgeRouterModel)
}

// listServiceConfigs answers GET /services/{id}/configs.
func (s *Server) listServiceConfigs(p service.ListServiceConfigsParams, _ any) middleware.Responder {
	if !s.State.Exists(store.Services, p.ID) {
		return fail(errNotFound)
	}
	return s.listOf(store.Configs, listParams{p.Filter, p.Sort, p.Limit, p.Offset}, func(tx *store.Tx) []string {
		sv, err := store.Get[*store.Service](tx, store.Services, p.ID)
		if err != nil {
			return nil
		}
		return sv.Configs
	}, s.configModel)
}

// listServiceServicePolicies answers GET /services/{id}/service-policies.
func (s *Server) listServiceServicePolicies(p service.ListServiceServicePoliciesParams, _ any) middleware.Responder {
	if !s.State.Exists(store.Services, p.ID) {
		return fail(errNotFound)
	}
	return s.listOf(store.ServicePolicies, listParams{p.Filter, p.Sort, p.Limit, p.Offset}, func(tx *store.Tx) []string {
		return tx.Sources(store.ServicePolicyServices, p.ID)
	}, s.servicePolicyModel)
}

// listServiceTerminators answers GET /services/{id}/terminators.
func (s *Server) listServiceTerminators(p service.ListServiceTerminatorsParams, _ any) middleware.Responder {
	if !s.State.Exists(store.Services, p.ID) {
		return fail(errNotFound)
	}
	return s.listOf(store.Terminators, listParams{p.Filter, p.Sort, p.Limit, p.Offset}, func(tx *store.Tx) []string {
		return tx.Referencing(store.Terminators, "serviceId", p.ID)
	}, s.terminatorModel)
}

func (s *Server) createService(r *http.Request, b *models.ServiceCreate) middleware.Responder {
	f, err := s.serviceFieldsIn(b.Name, b.TerminatorStrategy, b.MaxIdleTimeMillis, b.Configs)
	if err != nil {
		return fail(err)
	}
	sv := &store.Service{Meta: store.Meta{Tags: tagsIn(b.Tags)}, Name: str(b.Name),
		EncryptionRequired: b.EncryptionRequired == nil || *b.EncryptionRequired,
		Configs:            f.configs, RoleAttributes: strs(b.RoleAttributes),
		TerminatorStrategy: f.strategy, MaxIdleTimeMillis: f.maxIdle}
	return s.createOf(r, store.Services, sv)
}

// serviceFields are the checked fields a whole service (create or update) sets.
type serviceFields struct {
	strategy string
	maxIdle  int64
	configs  []string
}

// serviceFieldsIn checks the fields a create and a full update share: the name, the
// terminator strategy (empty: smartrouting), the idle time (absent: 0) and the configs.
func (s *Server) serviceFieldsIn(name *string, strategy string, maxIdle *int64, configs []string) (serviceFields, error) {
	var f serviceFields
	if err := checkName("name", str(name)); err != nil {
		return f, err
	}
	var err error
	if f.strategy, err = terminatorStrategyIn(strategy); err != nil {
		return f, err
	}
	if maxIdle != nil {
		f.maxIdle = *maxIdle
	}
	if err := checkMaxIdle(f.maxIdle); err != nil {
		return f, err
	}
	if f.configs, err = s.serviceConfigsIn(configs); err != nil {
		return f, err
	}
	return f, nil
}

// terminatorStrategyIn accepts a known strategy; empty means smartrouting.
func terminatorStrategyIn(v string) (string, error) {
	switch v {
	case "":
		return StrategySmartRouting, nil
	case StrategySmartRouting, StrategyWeighted, StrategyRandom:
		return v, nil
	}
	return "", validationError("terminatorStrategy", "must be smartrouting, weighted or random", v)
}

func checkMaxIdle(v int64) error {
	if v < 0 {
		return validationError("maxIdleTimeMillis", "must not be negative", v)
	}
	return nil
}

// serviceConfigsIn resolves a service's config list (ids, or names) to ids,
// and allows at most one config of each config type.
func (s *Server) serviceConfigsIn(in []string) ([]string, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make([]string, 0, len(in))
	err := s.State.View(func(tx *store.Tx) error {
		byType := map[string]string{}
		for _, ref := range in {
			id := ref
			if !tx.Exists(store.Configs, id) {
				found := false
				if id, found = tx.Lookup(store.Configs, "name", ref); !found {
					return validationError("configs", "names no existing config", ref)
				}
			}
			c, err := store.Get[*store.Config](tx, store.Configs, id)
			if err != nil {
				return err
			}
			if other, dup := byType[c.ConfigTypeID]; dup {
				if other == id {
					continue
				}
				return validationError("configs", "holds more than one config of type "+nameOrID(tx, c.ConfigTypeID), ref)
			}
			byType[c.ConfigTypeID] = id
			out = append(out, id)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func nameOrID(tx *store.Tx, configTypeID string) string {
	if n := nameOf(tx, store.ConfigTypes, configTypeID); n != "" {
		return n
	}
	return configTypeID
}

func (s *Server) serviceAdminModel(tx *store.Tx, rec store.Record) any {
	sv := rec.(*store.Service)
	d := &models.ServiceAdminDetail{
		BaseEntity:         baseOf(store.Services, &sv.Meta),
		Name:               ptr(sv.Name),
		EncryptionRequired: ptr(sv.EncryptionRequired),
		Configs:            strs(sv.Configs),
		Config:             models.ServiceConfigsMap{},
		RoleAttributes:     strs(sv.RoleAttributes),
		TerminatorStrategy: ptr(orDefault(sv.TerminatorStrategy, StrategySmartRouting)),
		MaxIdleTimeMillis:  ptr(sv.MaxIdleTimeMillis),
	}
	for _, cid := range sv.Configs {
		c, err := store.Get[*store.Config](tx, store.Configs, cid)
		if err != nil {
			continue
		}
		data := c.Data
		if data == nil {
			data = map[string]any{}
		}
		d.Config[nameOrID(tx, c.ConfigTypeID)] = data
	}
	return d
}

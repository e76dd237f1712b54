package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/go-openapi/runtime/middleware"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/config"
	"github.com/ostium-net/ostium/controller/store"
	"github.com/ostium-net/ostium/sdk/restapi/models"
)

// MaxNameLength bounds the name of every entity managed here.
const MaxNameLength = 255

// listConfigs answers GET /configs.
func (s *Server) listConfigs(p config.ListConfigsParams, _ any) middleware.Responder {
	return s.listOf(store.Configs, listParams{p.Filter, p.Sort, p.Limit, p.Offset}, nil, s.configModel)
}

// detailConfig answers GET /configs/{id}.
func (s *Server) detailConfig(p config.DetailConfigParams, _ any) middleware.Responder {
	return s.detailOf(store.Configs, p.ID, s.configModel)
}

// handleCreateConfig answers POST /configs.
func (s *Server) handleCreateConfig(p config.CreateConfigParams, _ any) middleware.Responder {
	return s.createConfig(p.HTTPRequest, p.Config)
}

// updateConfig answers PUT /configs/{id}.
func (s *Server) updateConfig(p config.UpdateConfigParams, _ any) middleware.Responder {
	b := p.Config
	if err := checkName("name", str(b.Name)); err != nil {
		return fail(err)
	}
	data, err := configDataIn(b.Data)
	if err != nil {
		return fail(err)
	}
	return s.updateOf(p.HTTPRequest, store.Configs, p.ID, func(r store.Record) error {
		c := r.(*store.Config)
		if err := s.validateConfigData(c.ConfigTypeID, data); err != nil {
			return err
		}
		c.Name, c.Data, c.Tags = str(b.Name), data, tagsIn(b.Tags)
		return nil
	})
}

// patchConfig answers PATCH /configs/{id}.
func (s *Server) patchConfig(p config.PatchConfigParams, _ any) middleware.Responder {
	b := p.Config
	if b.Name != nil {
		if err := checkName("name", *b.Name); err != nil {
			return fail(err)
		}
	}
	var data map[string]any
	if b.Data != nil {
		var err error
		if data, err = configDataIn(b.Data); err != nil {
			return fail(err)
		}
	}
	return s.updateOf(p.HTTPRequest, store.Configs, p.ID, func(r store.Record) error {
		c := r.(*store.Config)
		if b.Name != nil {
			c.Name = *b.Name
		}
		if data != nil {
			if err := s.validateConfigData(c.ConfigTypeID, data); err != nil {
				return err
			}
			c.Data = data
		}
		if b.Tags != nil {
			c.Tags = tagsIn(b.Tags)
		}
		return nil
	})
}

// deleteConfig answers DELETE /configs/{id}.
func (s *Server) deleteConfig(p config.DeleteConfigParams, _ any) middleware.Responder {
	return s.deleteOf(p.HTTPRequest, store.Configs, p.ID)
}

// listConfigTypes answers GET /config-types.
func (s *Server) listConfigTypes(p config.ListConfigTypesParams, _ any) middleware.Responder {
	return s.listOf(store.ConfigTypes, listParams{p.Filter, p.Sort, p.Limit, p.Offset}, nil, s.configTypeModel)
}

// detailConfigType answers GET /config-types/{id}.
func (s *Server) detailConfigType(p config.DetailConfigTypeParams, _ any) middleware.Responder {
	return s.detailOf(store.ConfigTypes, p.ID, s.configTypeModel)
}

// createConfigType answers POST /config-types.
func (s *Server) createConfigType(p config.CreateConfigTypeParams, _ any) middleware.Responder {
	b := p.ConfigType
	if err := checkName("name", str(b.Name)); err != nil {
		return fail(err)
	}
	schema, err := configSchemaIn(b.Schema)
	if err != nil {
		return fail(err)
	}
	ct := &store.ConfigType{Meta: store.Meta{Tags: tagsIn(b.Tags)}, Name: str(b.Name), Schema: schema}
	return s.createOf(p.HTTPRequest, store.ConfigTypes, ct)
}

// updateConfigType answers PUT /config-types/{id}.
func (s *Server) updateConfigType(p config.UpdateConfigTypeParams, _ any) middleware.Responder {
	b := p.ConfigType
	if err := checkName("name", str(b.Name)); err != nil {
		return fail(err)
	}
	schema, err := configSchemaIn(b.Schema)
	if err != nil {
		return fail(err)
	}
	return s.updateOf(p.HTTPRequest, store.ConfigTypes, p.ID, func(r store.Record) error {
		ct := r.(*store.ConfigType)
		ct.Name, ct.Schema, ct.Tags = str(b.Name), schema, tagsIn(b.Tags)
		return nil
	})
}

// patchConfigType answers PATCH /config-types/{id}.
func (s *Server) patchConfigType(p config.PatchConfigTypeParams, _ any) middleware.Responder {
	b := p.ConfigType
	if b.Name != nil {
		if err := checkName("name", *b.Name); err != nil {
			return fail(err)
		}
	}
	var schema map[string]any
	if b.Schema != nil {
		var err error
		if schema, err = configSchemaIn(b.Schema); err != nil {
			return fail(err)
		}
	}
	return s.updateOf(p.HTTPRequest, store.ConfigTypes, p.ID, func(r store.Record) error {
		ct := r.(*store.ConfigType)
		if b.Name != nil {
			ct.Name = *b.Name
		}
		if schema != nil {
			ct.Schema = schema
		}
		if b.Tags != nil {
			ct.Tags = tagsIn(b.Tags)
		}
		return nil
	})
}

// deleteConfigType answers DELETE /config-types/{id}.
func (s *Server) deleteConfigType(p config.DeleteConfigTypeParams, _ any) middleware.Responder {
	return s.deleteOf(p.HTTPRequest, store.ConfigTypes, p.ID)
}

// listConfigTypeConfigs answers GET /config-types/{id}/configs.
func (s *Server) listConfigTypeConfigs(p config.ListConfigTypeConfigsParams, _ any) middleware.Responder {
	if !s.State.Exists(store.ConfigTypes, p.ID) {
		return fail(errNotFound)
	}
	return s.listOf(store.Configs, listParams{p.Filter, p.Sort, p.Limit, p.Offset}, func(tx *store.Tx) []string {
		return tx.Referencing(store.Configs, "configTypeId", p.ID)
	}, s.configModel)
}

// checkName rejects empty and over-long names; the specs bound names on
// create, not on every update body.
func checkName(field, name string) error {
	if strings.TrimSpace(name) == "" {
		return validationError(field, "is required", name)
	}
	if len(name) > MaxNameLength {
		return validationError(field, fmt.Sprintf("must be at most %d characters", MaxNameLength), len(name))
	}
	return nil
}

func (s *Server) createConfig(r *http.Request, b *models.ConfigCreate) middleware.Responder {
	if err := checkName("name", str(b.Name)); err != nil {
		return fail(err)
	}
	data, err := configDataIn(b.Data)
	if err != nil {
		return fail(err)
	}
	typeID := str(b.ConfigTypeID)
	err = s.State.View(func(tx *store.Tx) error {
		if !tx.Exists(store.ConfigTypes, typeID) {
			id, found := tx.Lookup(store.ConfigTypes, "name", typeID)
			if !found {
				return validationError("configTypeId", "names no existing config type", typeID)
			}
			typeID = id
		}
		return nil
	})
	if err != nil {
		return fail(err)
	}
	if err := s.validateConfigData(typeID, data); err != nil {
		return fail(err)
	}
	c := &store.Config{Meta: store.Meta{Tags: tagsIn(b.Tags)}, Name: str(b.Name), ConfigTypeID: typeID, Data: data}
	return s.createOf(r, store.Configs, c)
}

// configDataIn accepts a config's data: a JSON object.
func configDataIn(v models.ConfigData) (map[string]any, error) {
	m, ok := v.(map[string]any)
	if !ok || m == nil {
		return nil, validationError("data", "must be a JSON object", nil)
	}
	return m, nil
}

// configSchemaIn accepts a config type's schema: absent (no constraint) or a
// JSON object that compiles as a JSON schema.
func configSchemaIn(v models.ConfigTypeSchema) (map[string]any, error) {
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, validationError("schema", "must be a JSON object", nil)
	}
	if _, err := compileSchema(m); err != nil {
		return nil, validationError("schema", "is not a valid JSON schema: "+err.Error(), nil)
	}
	return m, nil
}

// validateConfigData checks data against the schema of the config type.
func (s *Server) validateConfigData(typeID string, data map[string]any) error {
	rec, err := s.State.Get(store.ConfigTypes, typeID)
	if errors.Is(err, store.ErrNotFound) {
		return validationError("configTypeId", "names no existing config type", typeID)
	}
	if err != nil {
		return fmt.Errorf("read config type %q: %w", typeID, err)
	}
	if err := builtinConfigProblem(typeID, data); err != nil {
		return err
	}
	return validateAgainstSchema(rec.(*store.ConfigType).Schema, data)
}

// validateAgainstSchema checks a config's data against a config type's
// schema; no schema accepts any object.
func validateAgainstSchema(schemaDoc, data map[string]any) (err error) {
	if len(schemaDoc) == 0 {
		return nil
	}
	schema, err := compileSchema(schemaDoc)
	if err != nil {
		return validationError("configTypeId", "the config type's schema does not compile: "+err.Error(), nil)
	}
	instance, err := normalizeJSON(data)
	if err != nil {
		return validationError("data", "is not valid JSON", nil)
	}
	defer func() {
		if r := recover(); r != nil {
			err = validationError("data", fmt.Sprintf("could not be checked against the schema: %v", r), nil)
		}
	}()
	err = schema.Validate(instance)
	var ve *jsonschema.ValidationError
	if errors.As(err, &ve) {
		field, reason := schemaFailure(ve)
		return validationError(field, reason, nil)
	}
	if err != nil {
		return validationError("data", err.Error(), nil)
	}
	return nil
}

// schemaFailure names the first failing location of data and why it fails.
func schemaFailure(ve *jsonschema.ValidationError) (field, reason string) {
	out := ve.BasicOutput()
	field, reason = "data", "does not match the config type's schema"
	for _, u := range out.Errors {
		if u.Error == nil {
			continue
		}
		loc := strings.TrimPrefix(u.InstanceLocation, "/")
		if loc != "" {
			field = "data." + strings.ReplaceAll(loc, "/", ".")
		}
		reason = u.Error.String()
		if loc != "" {
			break
		}
	}
	return field, reason
}

// refuseLoader keeps schemas from pulling in files or URLs: every schema a
// config type names must be self-contained.
type refuseLoader struct{}

func (refuseLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("external schema %q is not allowed", url)
}

const schemaURL = "urn:ostium:config-type-schema"

// compileSchema compiles a config type's schema (draft 7 unless it says
// otherwise). The schema is arbitrary input: a panic in the compiler is
// reported as an invalid schema.
func compileSchema(schema map[string]any) (compiled *jsonschema.Schema, err error) {
	defer func() {
		if r := recover(); r != nil {
			compiled, err = nil, fmt.Errorf("schema compiler failed: %v", r)
		}
	}()
	doc, err := normalizeJSON(schema)
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	c.UseLoader(refuseLoader{})
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, err
	}
	return c.Compile(schemaURL)
}

// normalizeJSON re-reads a decoded JSON value the way the schema library reads
// JSON, so numbers compare exactly.
func normalizeJSON(v any) (any, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return jsonschema.UnmarshalJSON(bytes.NewReader(raw))
}

func (s *Server) configModel(tx *store.Tx, rec store.Record) any {
	c := rec.(*store.Config)
	data := c.Data
	if data == nil {
		data = map[string]any{}
	}
	return &models.ConfigDetail{
		BaseEntity:   baseOf(store.Configs, &c.Meta),
		Name:         ptr(c.Name),
		ConfigTypeID: ptr(c.ConfigTypeID),
		ConfigType:   refOf(store.ConfigTypes, c.ConfigTypeID, nameOf(tx, store.ConfigTypes, c.ConfigTypeID)),
		Data:         data,
	}
}

func (s *Server) configTypeModel(_ *store.Tx, rec store.Record) any {
	ct := rec.(*store.ConfigType)
	schema := ct.Schema
	if schema == nil {
		schema = map[string]any{}
	}
	return &models.ConfigTypeDetail{
		BaseEntity: baseOf(store.ConfigTypes, &ct.Meta),
		Name:       ptr(ct.Name),
		Schema:     schema,
	}
}

package api

import (
	"fmt"
	"net/http"

	"github.com/go-openapi/runtime/middleware"

	"github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/posture_check"
	"github.com/ostium-net/ostium/controller/policy"
	"github.com/ostium-net/ostium/controller/store"
	"github.com/ostium-net/ostium/sdk/restapi/models"
)

// Posture checks are polymorphic on typeId: the generated bodies are one
// concrete type per check type, and each handler switches on them.

// listPostureChecks answers GET /posture-checks.
func (s *Server) listPostureChecks(p posture_check.ListPostureChecksParams, _ any) middleware.Responder {
	return s.listOf(store.PostureChecks, listParams{p.Filter, p.Sort, p.Limit, p.Offset}, nil, s.postureCheckModel)
}

// detailPostureCheck answers GET /posture-checks/{id}.
func (s *Server) detailPostureCheck(p posture_check.DetailPostureCheckParams, _ any) middleware.Responder {
	return s.detailOf(store.PostureChecks, p.ID, s.postureCheckModel)
}

// handleCreatePostureCheck answers POST /posture-checks.
func (s *Server) handleCreatePostureCheck(p posture_check.CreatePostureCheckParams, _ any) middleware.Responder {
	return s.createPostureCheck(p.HTTPRequest, p.PostureCheck)
}

// updatePostureCheck answers PUT /posture-checks/{id}.
func (s *Server) updatePostureCheck(p posture_check.UpdatePostureCheckParams, _ any) middleware.Responder {
	b := p.PostureCheck
	if b == nil {
		return fail(validationError("typeId", "is required", nil))
	}
	if err := checkName("name", str(b.Name())); err != nil {
		return fail(err)
	}
	next := &store.PostureCheck{}
	if err := postureCheckFieldsIn(next, b); err != nil {
		return fail(err)
	}
	return s.updateOf(p.HTTPRequest, store.PostureChecks, p.ID, func(r store.Record) error {
		pc := r.(*store.PostureCheck)
		if pc.TypeID != next.TypeID {
			return validationError("typeId", "must be the check's type "+pc.TypeID, next.TypeID)
		}
		next.Meta = pc.Meta
		next.Name, next.RoleAttributes, next.Tags = str(b.Name()), strs(b.RoleAttributes()), tagsIn(b.Tags())
		*pc = *next
		return nil
	})
}

// handlePatchPostureCheck answers PATCH /posture-checks/{id}.
func (s *Server) handlePatchPostureCheck(p posture_check.PatchPostureCheckParams, _ any) middleware.Responder {
	b := p.PostureCheck
	if b == nil {
		return fail(validationError("typeId", "is required", nil))
	}
	if b.Name() != nil {
		if err := checkName("name", *b.Name()); err != nil {
			return fail(err)
		}
	}
	if err := checkPostureCheckPatch(b); err != nil {
		return fail(err)
	}
	return s.updateOf(p.HTTPRequest, store.PostureChecks, p.ID, func(r store.Record) error {
		pc := r.(*store.PostureCheck)
		if string(b.TypeID()) != pc.TypeID {
			return validationError("typeId", "must be the check's type "+pc.TypeID, string(b.TypeID()))
		}
		if b.Name() != nil {
			pc.Name = *b.Name()
		}
		if b.RoleAttributes() != nil {
			pc.RoleAttributes = strs(b.RoleAttributes())
		}
		if b.Tags() != nil {
			pc.Tags = tagsIn(b.Tags())
		}
		return patchPostureCheck(pc, b)
	})
}

// deletePostureCheck answers DELETE /posture-checks/{id}.
func (s *Server) deletePostureCheck(p posture_check.DeletePostureCheckParams, _ any) middleware.Responder {
	return s.deleteOf(p.HTTPRequest, store.PostureChecks, p.ID)
}

func (s *Server) createPostureCheck(r *http.Request, b models.PostureCheckCreate) middleware.Responder {
	if b == nil {
		return fail(validationError("typeId", "is required", nil))
	}
	if err := checkName("name", str(b.Name())); err != nil {
		return fail(err)
	}
	pc := &store.PostureCheck{Meta: store.Meta{Tags: tagsIn(b.Tags())}, Name: str(b.Name()), RoleAttributes: strs(b.RoleAttributes())}
	if err := postureCheckFieldsIn(pc, b); err != nil {
		return fail(err)
	}
	return s.createOf(r, store.PostureChecks, pc)
}

// postureCheckFieldsIn sets the type and the type's fields of pc from a
// create or update body.
func postureCheckFieldsIn(pc *store.PostureCheck, body any) error {
	switch b := body.(type) {
	case *models.PostureCheckOperatingSystemCreate:
		return osChecksIn(pc, b.OperatingSystems)
	case *models.PostureCheckOperatingSystemUpdate:
		return osChecksIn(pc, b.OperatingSystems)
	case *models.PostureCheckProcessCreate:
		return processCheckIn(pc, b.Process)
	case *models.PostureCheckProcessUpdate:
		return processCheckIn(pc, b.Process)
	case *models.PostureCheckProcessMultiCreate:
		return processMultiCheckIn(pc, b.Processes, semanticIn(b.Semantic))
	case *models.PostureCheckProcessMultiUpdate:
		return processMultiCheckIn(pc, b.Processes, semanticIn(b.Semantic))
	case *models.PostureCheckDomainCreate:
		return domainCheckIn(pc, b.Domains)
	case *models.PostureCheckDomainUpdate:
		return domainCheckIn(pc, b.Domains)
	case *models.PostureCheckMacAddressCreate:
		return macCheckIn(pc, b.MacAddresses)
	case *models.PostureCheckMacAddressUpdate:
		return macCheckIn(pc, b.MacAddresses)
	case *models.PostureCheckMfaCreate:
		return mfaCheckIn(pc, b.TimeoutSeconds, b.PromptOnWake, b.PromptOnUnlock, b.IgnoreLegacyEndpoints)
	case *models.PostureCheckMfaUpdate:
		return mfaCheckIn(pc, b.TimeoutSeconds, b.PromptOnWake, b.PromptOnUnlock, b.IgnoreLegacyEndpoints)
	}
	return validationError("typeId", "must be one of OS, PROCESS, PROCESS_MULTI, DOMAIN, MAC, MFA", fmt.Sprintf("%T", body))
}

func osChecksIn(pc *store.PostureCheck, in models.PostureCheckOperatingSystemList) error {
	if len(in) == 0 {
		return validationError("operatingSystems", "must name at least one operating system", nil)
	}
	out := make([]store.OperatingSystem, 0, len(in))
	for i, o := range in {
		if o == nil || o.Type == nil {
			return validationError(fmt.Sprintf("operatingSystems[%d].type", i), "is required", nil)
		}
		out = append(out, store.OperatingSystem{Type: string(*o.Type), Versions: strs(o.Versions)})
	}
	pc.TypeID, pc.OperatingSystems = store.PostureOS, out
	return nil
}

func processIn(field string, osType *models.OsType, path *string) (store.Process, error) {
	if osType == nil {
		return store.Process{}, validationError(field+".osType", "is required", nil)
	}
	if path == nil || *path == "" {
		return store.Process{}, validationError(field+".path", "is required", nil)
	}
	return store.Process{OSType: string(*osType), Path: *path}, nil
}

func processCheckIn(pc *store.PostureCheck, in *models.PostureCheckProcess) error {
	if in == nil {
		return validationError("process", "is required", nil)
	}
	p, err := processIn("process", in.OsType, in.Path)
	if err != nil {
		return err
	}
	p.Hashes = strs(in.Hashes)
	if in.SignerFingerprint != "" {
		p.SignerFingerprints = []string{in.SignerFingerprint}
	}
	pc.TypeID, pc.Process = store.PostureProcess, &p
	return nil
}

func processMultiCheckIn(pc *store.PostureCheck, in models.PostureCheckProcessMultiList, semantic string) error {
	if len(in) == 0 {
		return validationError("processes", "must name at least one process", nil)
	}
	if err := policy.ValidateSemantic(semantic); err != nil {
		return validationError("semantic", "must be AllOf or AnyOf", semantic)
	}
	out := make([]store.Process, 0, len(in))
	for i, item := range in {
		field := fmt.Sprintf("processes[%d]", i)
		if item == nil {
			return validationError(field, "is required", nil)
		}
		p, err := processIn(field, item.OsType, item.Path)
		if err != nil {
			return err
		}
		p.Hashes, p.SignerFingerprints = strs(item.Hashes), strs(item.SignerFingerprints)
		out = append(out, p)
	}
	pc.TypeID, pc.Processes, pc.Semantic = store.PostureProcessMulti, out, semantic
	return nil
}

func nonEmptyList(field string, in []string) error {
	if len(in) == 0 {
		return validationError(field, "must hold at least one entry", nil)
	}
	for i, v := range in {
		if v == "" {
			return validationError(fmt.Sprintf("%s[%d]", field, i), "must not be empty", v)
		}
	}
	return nil
}

func domainCheckIn(pc *store.PostureCheck, in []string) error {
	if err := nonEmptyList("domains", in); err != nil {
		return err
	}
	pc.TypeID, pc.Domains = store.PostureDomain, strs(in)
	return nil
}

func macCheckIn(pc *store.PostureCheck, in []string) error {
	if err := nonEmptyList("macAddresses", in); err != nil {
		return err
	}
	pc.TypeID, pc.MACAddresses = store.PostureMAC, strs(in)
	return nil
}

func mfaCheckIn(pc *store.PostureCheck, timeout int64, onWake, onUnlock, ignoreLegacy bool) error {
	if timeout < -1 {
		return validationError("timeoutSeconds", "must be -1 or more", timeout)
	}
	pc.TypeID = store.PostureMFA
	pc.TimeoutSeconds, pc.PromptOnWake, pc.PromptOnUnlock, pc.IgnoreLegacyEndpoints = timeout, onWake, onUnlock, ignoreLegacy
	return nil
}

// checkPostureCheckPatch rejects patch bodies of no known type before any write.
func checkPostureCheckPatch(body models.PostureCheckPatch) error {
	switch body.(type) {
	case *models.PostureCheckOperatingSystemPatch, *models.PostureCheckProcessPatch, *models.PostureCheckProcessMultiPatch,
		*models.PostureCheckDomainPatch, *models.PostureCheckMacAddressPatch, *models.PostureCheckMfaPatch:
		return nil
	}
	return validationError("typeId", "must be one of OS, PROCESS, PROCESS_MULTI, DOMAIN, MAC, MFA", fmt.Sprintf("%T", body))
}

// patchPostureCheck applies the type's fields present in a patch body.
func patchPostureCheck(pc *store.PostureCheck, body models.PostureCheckPatch) error {
	switch b := body.(type) {
	case *models.PostureCheckOperatingSystemPatch:
		if b.OperatingSystems != nil {
			return osChecksIn(pc, b.OperatingSystems)
		}
	case *models.PostureCheckProcessPatch:
		if b.Process != nil {
			return processCheckIn(pc, b.Process)
		}
	case *models.PostureCheckProcessMultiPatch:
		processes := b.Processes
		if processes == nil {
			// Keep the stored processes, but let the semantic change.
			semantic := pc.Semantic
			if b.Semantic != nil {
				semantic = *b.Semantic
			}
			if err := policy.ValidateSemantic(semantic); err != nil {
				return validationError("semantic", "must be AllOf or AnyOf", semantic)
			}
			pc.Semantic = semantic
			return nil
		}
		semantic := pc.Semantic
		if b.Semantic != nil {
			semantic = *b.Semantic
		}
		return processMultiCheckIn(pc, processes, orDefault(semantic, store.SemanticAllOf))
	case *models.PostureCheckDomainPatch:
		if b.Domains != nil {
			return domainCheckIn(pc, b.Domains)
		}
	case *models.PostureCheckMacAddressPatch:
		if b.MacAddresses != nil {
			return macCheckIn(pc, b.MacAddresses)
		}
	case *models.PostureCheckMfaPatch:
		if b.TimeoutSeconds != nil {
			if *b.TimeoutSeconds < -1 {
				return validationError("timeoutSeconds", "must be -1 or more", *b.TimeoutSeconds)
			}
			pc.TimeoutSeconds = *b.TimeoutSeconds
		}
		if b.PromptOnWake != nil {
			pc.PromptOnWake = *b.PromptOnWake
		}
		if b.PromptOnUnlock != nil {
			pc.PromptOnUnlock = *b.PromptOnUnlock
		}
		if b.IgnoreLegacyEndpoints != nil {
			pc.IgnoreLegacyEndpoints = *b.IgnoreLegacyEndpoints
		}
	default:
		return checkPostureCheckPatch(body)
	}
	return nil
}

// postureCheckModel answers the concrete detail of the check's type. Its
// version is the raft index of the last change, which grows on every change.
func (s *Server) postureCheckModel(_ *store.Tx, rec store.Record) any {
	pc := rec.(*store.PostureCheck)
	var d models.PostureCheckDetail
	switch pc.TypeID {
	case store.PostureOS:
		oses := make([]*models.PostureCheckOperatingSystem, 0, len(pc.OperatingSystems))
		for _, o := range pc.OperatingSystems {
			oses = append(oses, &models.PostureCheckOperatingSystem{Type: ptr(models.OsType(o.Type)), Versions: strs(o.Versions)})
		}
		d = &models.PostureCheckOperatingSystemDetail{OperatingSystems: oses}
	case store.PostureProcess:
		p := &models.PostureCheckProcess{Hashes: []string{}}
		if pc.Process != nil {
			p.OsType, p.Path, p.Hashes = ptr(models.OsType(pc.Process.OSType)), ptr(pc.Process.Path), strs(pc.Process.Hashes)
			if len(pc.Process.SignerFingerprints) > 0 {
				p.SignerFingerprint = pc.Process.SignerFingerprints[0]
			}
		}
		d = &models.PostureCheckProcessDetail{Process: p}
	case store.PostureProcessMulti:
		items := make([]*models.PostureCheckProcessMultiItem, 0, len(pc.Processes))
		for _, p := range pc.Processes {
			items = append(items, &models.PostureCheckProcessMultiItem{OsType: ptr(models.OsType(p.OSType)), Path: ptr(p.Path),
				Hashes: strs(p.Hashes), SignerFingerprints: strs(p.SignerFingerprints)})
		}
		d = &models.PostureCheckProcessMultiDetail{Processes: items, Semantic: ptr(models.Semantic(orDefault(pc.Semantic, store.SemanticAllOf)))}
	case store.PostureDomain:
		d = &models.PostureCheckDomainDetail{Domains: strs(pc.Domains)}
	case store.PostureMAC:
		d = &models.PostureCheckMacAddressDetail{MacAddresses: strs(pc.MACAddresses)}
	default:
		d = &models.PostureCheckMfaDetail{TimeoutSeconds: ptr(pc.TimeoutSeconds), PromptOnWake: ptr(pc.PromptOnWake),
			PromptOnUnlock: ptr(pc.PromptOnUnlock), IgnoreLegacyEndpoints: ptr(pc.IgnoreLegacyEndpoints)}
	}
	base := baseOf(store.PostureChecks, &pc.Meta)
	d.SetID(base.ID)
	d.SetCreatedAt(base.CreatedAt)
	d.SetUpdatedAt(base.UpdatedAt)
	d.SetLinks(base.Links)
	d.SetTags(base.Tags)
	d.SetName(ptr(pc.Name))
	d.SetRoleAttributes(strs(pc.RoleAttributes))
	d.SetVersion(ptr(int64(pc.ModifyIndex)))
	return d
}

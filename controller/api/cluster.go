package api

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/pem"

	"github.com/go-openapi/runtime/middleware"

	"github.com/ostium-net/ostium/controller/cluster"

	clusterops "github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/cluster"
	"github.com/ostium-net/ostium/sdk/restapi/models"
)

// The cluster's membership: who is in the raft configuration, as this
// controller sees it, and the changes an operator makes to it. Changes run on
// the leader (cluster.Node forwards them).

// listClusterMembers answers GET /cluster/members.
func (s *Server) listClusterMembers(p clusterops.ListClusterMembersParams, _ any) middleware.Responder {
	members, err := s.Node.Members()
	if err != nil {
		return fail(err)
	}
	out := make([]any, 0, len(members))
	for _, m := range members {
		d := &models.ClusterMemberDetail{ID: ptr(m.ID), Address: ptr(m.Address), APIAddress: s.apiAddressOf(m),
			Leader: ptr(m.Leader), Voter: ptr(m.Voter), Self: ptr(m.Self), Connected: ptr(m.Connected),
			AppliedIndex: ptr(int64(m.AppliedIndex))}
		if !m.LastContact.IsZero() {
			d.LastContact = dt(m.LastContact.UTC())
		}
		out = append(out, d)
	}
	return list(out, pagination{Limit: int64(len(out)), TotalCount: int64(len(out))})
}

// addClusterMember answers POST /cluster/members.
func (s *Server) addClusterMember(p clusterops.AddClusterMemberParams, _ any) middleware.Responder {
	voter := p.Member.Voter == nil || *p.Member.Voter
	if err := s.Node.AddMember(requestContext(p.HTTPRequest), *p.Member.ID, *p.Member.Address, voter); err != nil {
		return fail(err)
	}
	return okEmpty()
}

// removeClusterMember answers DELETE /cluster/members/{id}.
func (s *Server) removeClusterMember(p clusterops.RemoveClusterMemberParams, _ any) middleware.Responder {
	if err := s.Node.RemoveMember(requestContext(p.HTTPRequest), p.ID); err != nil {
		return fail(err)
	}
	return okEmpty()
}

// transferClusterLeadership answers POST /cluster/transfer-leadership.
func (s *Server) transferClusterLeadership(p clusterops.TransferClusterLeadershipParams, _ any) middleware.Responder {
	target := ""
	if p.Transfer != nil {
		target = p.Transfer.ID
	}
	if err := s.Node.TransferLeadership(requestContext(p.HTTPRequest), target); err != nil {
		return fail(err)
	}
	return okEmpty()
}

// apiAddressOf is the member's API address: this controller's own, or what
// the member last said.
func (s *Server) apiAddressOf(m cluster.Member) string {
	if m.Self {
		return s.Advertise
	}
	return m.Info.APIAddress
}

// ctrlAddressOf is where routers reach the member's control channel, as
// OpenZiti's ctrlAddress: "tls:host:port"; the cluster address when the
// member has not told it yet.
func ctrlAddressOf(m cluster.Member) string {
	if m.Info.RouterAddress != "" {
		return "tls:" + m.Info.RouterAddress
	}
	return m.Address
}

// controllerModels describes every member for GET /controllers, from which
// SDKs pick another controller to fail over to.
func (s *Server) controllerModels() ([]any, error) {
	members, err := s.Node.Members()
	if err != nil {
		return nil, err
	}
	out := []any{}
	for _, m := range members {
		id := m.ID
		created := m.Info.CreatedAt
		certPEM, fingerprint := m.Info.CertPEM, ""
		if blk, _ := pem.Decode([]byte(certPEM)); blk != nil {
			sum := sha1.Sum(blk.Bytes)
			fingerprint = hex.EncodeToString(sum[:])
		}
		apis := models.APIAddressesMap{}
		if addr := s.apiAddressOf(m); addr != "" {
			apis["edge-client"] = []*models.APIAddress{{URL: "https://" + addr + clientBase, Version: "v1"}}
			apis["edge-management"] = []*models.APIAddress{{URL: "https://" + addr + managementBase, Version: "v1"}}
		}
		out = append(out, &models.ControllerDetail{
			BaseEntity:   models.BaseEntity{ID: &id, Links: models.Links{}, Tags: models.Tags{}, CreatedAt: dt(created), UpdatedAt: dt(created)},
			Name:         ptr(m.ID),
			CtrlAddress:  ptr(ctrlAddressOf(m)),
			IsOnline:     ptr(m.Connected),
			CertPem:      ptr(certPEM),
			Fingerprint:  ptr(fingerprint),
			APIAddresses: apis,
		})
	}
	return out, nil
}

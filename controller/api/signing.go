package api

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"time"

	"github.com/ostium-net/ostium/controller/pki"
)

// Certificates are signed on the raft leader, and the issued certificate is
// then replicated by the command that records it. A follower checks the
// request itself, asks the leader to sign over the cluster port, and goes on
// with the result as if it had signed.

const leaderSignCall = "pki.sign"

type signRequest struct {
	Server     bool     `json:"server"`
	CSR        []byte   `json:"csr"` // DER
	CommonName string   `json:"commonName"`
	DNSNames   []string `json:"dnsNames,omitempty"`
	IPs        []string `json:"ips,omitempty"`
	Lifetime   int64    `json:"lifetime"` // nanoseconds
}

func (s *Server) registerSigning() {
	if s.Node != nil {
		s.Node.HandleOnLeader(leaderSignCall, s.signOnLeader)
	}
}

// signOnLeader runs on the leader for a follower's request.
func (s *Server) signOnLeader(_ context.Context, payload []byte) ([]byte, error) {
	var req signRequest
	if err := json.Unmarshal(payload, &req); err != nil {
		return nil, fmt.Errorf("decode sign request: %w", err)
	}
	csr, err := x509.ParseCertificateRequest(req.CSR)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", pki.ErrInvalidCSR, err)
	}
	var issued *pki.Issued
	if req.Server {
		p := pki.ServerProfile{CommonName: req.CommonName, DNSNames: req.DNSNames, Lifetime: time.Duration(req.Lifetime)}
		for _, ip := range req.IPs {
			p.IPs = append(p.IPs, net.ParseIP(ip))
		}
		issued, err = s.CA.SignServerCSR(csr, p)
	} else {
		issued, err = s.CA.SignClientCSR(csr, pki.ClientProfile{CommonName: req.CommonName, Lifetime: time.Duration(req.Lifetime)})
	}
	if err != nil {
		return nil, err
	}
	return issued.DER, nil
}

func (s *Server) signRemotely(ctx context.Context, req signRequest) (*pki.Issued, error) {
	payload, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	der, err := s.Node.CallLeader(ctx, leaderSignCall, payload)
	if err != nil {
		return nil, fmt.Errorf("sign on the leader: %w", err)
	}
	return s.CA.Wrap(der)
}

// signClient issues a client certificate, on the leader.
func (s *Server) signClient(ctx context.Context, csr *x509.CertificateRequest, p pki.ClientProfile) (*pki.Issued, error) {
	if s.Node == nil || s.Node.IsLeader() {
		return s.CA.SignClientCSR(csr, p)
	}
	if err := pki.CheckCSR(csr); err != nil {
		return nil, err
	}
	return s.signRemotely(ctx, signRequest{CSR: csr.Raw, CommonName: p.CommonName, Lifetime: int64(p.Lifetime)})
}

// signServer issues a server certificate, on the leader.
func (s *Server) signServer(ctx context.Context, csr *x509.CertificateRequest, p pki.ServerProfile) (*pki.Issued, error) {
	if s.Node == nil || s.Node.IsLeader() {
		return s.CA.SignServerCSR(csr, p)
	}
	if err := pki.CheckCSR(csr); err != nil {
		return nil, err
	}
	req := signRequest{Server: true, CSR: csr.Raw, CommonName: p.CommonName, DNSNames: p.DNSNames, Lifetime: int64(p.Lifetime)}
	for _, ip := range p.IPs {
		req.IPs = append(req.IPs, ip.String())
	}
	return s.signRemotely(ctx, req)
}

// Package pki is the controller's certificate authority.
//
// It owns the on-disk CA material (a root CA, an intermediate signing CA and
// the controller's TLS server certificate), creates it on first start (Init)
// or loads operator-provided files (Load), signs client and server
// certificates from PKCS#10 requests, verifies that client certificates were
// issued by this authority, proves possession of third-party CAs, and builds
// the EST "cacerts" bundle clients fetch to learn which CAs to trust.
//
// The package is a pure library: it performs no replication and serves no
// HTTP. Callers sign on the raft leader and replicate the issued certificate
// themselves; an Authority is immutable after Load and safe for concurrent use.
package pki

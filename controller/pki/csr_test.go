package pki

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
)

func TestGenerateCSR(t *testing.T) {
	key := mustKey(t, KeyECDSAP256)
	data, err := GenerateCSR(key, "router-7", []string{"r7.example"}, []net.IP{net.ParseIP("198.51.100.1")})
	if err != nil {
		t.Fatal(err)
	}
	block, rest := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE REQUEST" || len(bytes.TrimSpace(rest)) != 0 {
		t.Fatalf("GenerateCSR did not produce one CERTIFICATE REQUEST block")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := csr.CheckSignature(); err != nil {
		t.Errorf("signature: %v", err)
	}
	if csr.Subject.CommonName != "router-7" || !slices.Equal(csr.DNSNames, []string{"r7.example"}) ||
		len(csr.IPAddresses) != 1 || !csr.IPAddresses[0].Equal(net.ParseIP("198.51.100.1")) {
		t.Errorf("request fields: %q %v %v", csr.Subject.CommonName, csr.DNSNames, csr.IPAddresses)
	}
}

func TestParseCSREncodings(t *testing.T) {
	key := mustKey(t, KeyECDSAP256)
	pemData, err := GenerateCSR(key, "enc", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(pemData)
	der := block.Bytes
	b64 := base64.StdEncoding.EncodeToString(der)
	wrapped := wrap64(b64)

	for _, tc := range []struct {
		name, contentType string
		data              []byte
	}{
		{"PEM", "application/x-pem-file", pemData},
		{"PEM with CRLF and surrounding text", "text/plain", []byte("csr follows\r\n" + strings.ReplaceAll(string(pemData), "\n", "\r\n") + "\r\n\r\n")},
		{"NEW CERTIFICATE REQUEST", "application/x-pem-file", pem.EncodeToMemory(&pem.Block{Type: "NEW CERTIFICATE REQUEST", Bytes: der})},
		{"PEM after a key block", "application/x-pem-file", append(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1}}), pemData...)},
		{"DER", "application/pkcs10", der},
		{"base64", "application/pkcs10", []byte(b64)},
		{"base64 in 64-char lines", "application/pkcs10; charset=utf-8", []byte(wrapped)},
		{"unpadded URL base64", "", []byte(base64.RawURLEncoding.EncodeToString(der))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			csr, err := ParseCSR(tc.data, tc.contentType)
			if err != nil {
				t.Fatalf("ParseCSR: %v", err)
			}
			if !bytes.Equal(csr.Raw, der) {
				t.Error("parsed a different request")
			}
		})
	}
}

func TestParseCSRRefusals(t *testing.T) {
	key := mustKey(t, KeyECDSAP256)
	pemData, err := GenerateCSR(key, "r", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(pemData)
	huge := append(bytes.Clone(pemData), bytes.Repeat([]byte("\n"), MaxCSRSize)...)
	keyPEM, err := MarshalPrivateKeyPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := EncodeCertificatesPEM(mustSelfSignedCAOnly(t))

	for _, tc := range []struct {
		name string
		data []byte
		hint string // expected in the message
	}{
		{"empty", nil, "empty"},
		{"whitespace", []byte(" \n\t"), "empty"},
		{"too large", huge, "exceeds"},
		{"private key instead", keyPEM, "PRIVATE KEY"},
		{"certificate instead", certPEM, "CERTIFICATE"},
		{"truncated PEM", pemData[:len(pemData)/2], "PEM"},
		{"truncated DER", block.Bytes[:len(block.Bytes)-3], "DER"},
		{"DER with trailing data", append(bytes.Clone(block.Bytes), 0, 0), "DER"},
		{"garbage", []byte("{\"csr\": 12}"), "base64"},
		{"base64 of garbage", []byte(base64.StdEncoding.EncodeToString([]byte("hello world"))), "base64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			csr, err := ParseCSR(tc.data, "application/x-pem-file")
			if !errors.Is(err, ErrInvalidCSR) {
				t.Fatalf("ParseCSR = %v, %v; want ErrInvalidCSR", csr, err)
			}
			if !strings.Contains(err.Error(), tc.hint) {
				t.Errorf("error %q does not mention %q", err, tc.hint)
			}
		})
	}
}

func FuzzParseCSR(f *testing.F) {
	key, err := GenerateKey(KeyECDSAP256)
	if err != nil {
		f.Fatal(err)
	}
	pemData, err := GenerateCSR(key, "fuzz", []string{"a.example"}, []net.IP{net.IPv4(192, 0, 2, 1)})
	if err != nil {
		f.Fatal(err)
	}
	block, _ := pem.Decode(pemData)
	f.Add(pemData, "application/x-pem-file")
	f.Add(block.Bytes, "application/pkcs10")
	f.Add([]byte(base64.StdEncoding.EncodeToString(block.Bytes)), "application/pkcs10")
	f.Add([]byte(wrap64(base64.StdEncoding.EncodeToString(block.Bytes))), "text/plain")
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "NEW CERTIFICATE REQUEST", Bytes: block.Bytes}), "")
	f.Add([]byte("-----BEGIN CERTIFICATE REQUEST-----\nMII=\n-----END CERTIFICATE REQUEST-----\n"), "text/plain")
	f.Add([]byte{0x30, 0x82, 0xff, 0xff}, "application/pkcs10")
	f.Add([]byte("0000"), "application/pkcs10")
	f.Add([]byte{}, "")
	f.Add([]byte("not a csr"), "application/json; charset=")

	f.Fuzz(func(t *testing.T, data []byte, contentType string) {
		csr, err := ParseCSR(data, contentType)
		if err != nil {
			if csr != nil {
				t.Fatal("request returned with an error")
			}
			if !errors.Is(err, ErrInvalidCSR) {
				t.Fatalf("error %v does not wrap ErrInvalidCSR", err)
			}
			return
		}
		if csr == nil || len(csr.Raw) == 0 {
			t.Fatal("nil request without an error")
		}
		if len(data) > MaxCSRSize {
			t.Fatalf("accepted %d bytes", len(data))
		}
		// Checking whatever parsed must not panic either.
		_ = checkCSR(csr)
	})
}

func wrap64(s string) string {
	var b strings.Builder
	for len(s) > 64 {
		b.WriteString(s[:64] + "\n")
		s = s[64:]
	}
	b.WriteString(s + "\n")
	return b.String()
}

func mustSelfSignedCAOnly(t *testing.T) *x509.Certificate {
	t.Helper()
	ca, _ := mustSelfSignedCA(t, "ca")
	return ca
}

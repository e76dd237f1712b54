package api

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-openapi/runtime/middleware"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"

	"github.com/ostium-net/ostium/controller/command"
	"github.com/ostium-net/ostium/controller/domain"

	"github.com/ostium-net/ostium/controller/internal/restserver/clientapi/operations/authentication"
	"github.com/ostium-net/ostium/controller/internal/restserver/clientapi/operations/mfa"
	"github.com/ostium-net/ostium/controller/pki"
	"github.com/ostium-net/ostium/controller/state"
	"github.com/ostium-net/ostium/controller/store"
	"github.com/ostium-net/ostium/sdk/restapi/models"
)

// TOTP multi-factor authentication (RFC 6238: 30 s, 6 digits, SHA-1) of the
// client API: enrollment, verification, recovery codes and the MFA step of
// an authentication.

const (
	mfaIssuer          = "Ostium"
	totpSecretSize     = 20
	recoveryCodeCount  = 20
	recoveryCodeLength = 10
	// recoveryAlphabet has 32 symbols without look-alikes (0/O, 1/I): 50
	// bits per code.
	recoveryAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	mfaSelf          = "./current-identity/mfa"
)

var totpOpts = totp.ValidateOpts{Period: 30, Skew: 1, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// mfaAuthQuery is the auth query of an API session that still needs its MFA step.
func mfaAuthQuery() *models.AuthQueryDetail {
	return &models.AuthQueryDetail{TypeID: "MFA", Provider: ptr(models.MfaProviders("ziti")), HTTPMethod: http.MethodPost,
		HTTPURL: "./authenticate/mfa", Format: models.MfaFormats("alphaNumeric"), MinLength: 4, MaxLength: 6}
}

// mfaKeys seal TOTP secrets and recovery codes (AES-256-GCM) and key the
// recovery codes' hashes (HMAC-SHA256), with keys derived from the CA.
type mfaKeys struct {
	aead    cipher.AEAD
	codeKey []byte
}

func newMFAKeys(ca *pki.Authority) (*mfaKeys, error) {
	sealKey, err := ca.DeriveSecret("mfa secrets")
	if err != nil {
		return nil, fmt.Errorf("mfa keys: %w", err)
	}
	block, err := aes.NewCipher(sealKey)
	if err != nil {
		return nil, fmt.Errorf("mfa keys: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("mfa keys: %w", err)
	}
	codeKey, err := ca.DeriveSecret("mfa recovery codes")
	if err != nil {
		return nil, fmt.Errorf("mfa keys: %w", err)
	}
	return &mfaKeys{aead: aead, codeKey: codeKey}, nil
}

// Purposes bound into each sealed value, with the identity id, so that a
// sealed value cannot be moved to another field or identity.
const (
	sealTOTPSecret    = "totp secret"
	sealRecoveryCodes = "recovery codes"
)

func (k *mfaKeys) seal(purpose, identityID string, plain []byte) (string, error) {
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal %s: %w", purpose, err)
	}
	out := k.aead.Seal(nonce, nonce, plain, []byte(purpose+"|"+identityID))
	return base64.RawStdEncoding.EncodeToString(out), nil
}

func (k *mfaKeys) open(purpose, identityID, sealed string) ([]byte, error) {
	raw, err := base64.RawStdEncoding.DecodeString(sealed)
	if err != nil || len(raw) < k.aead.NonceSize() {
		return nil, fmt.Errorf("open %s: malformed", purpose)
	}
	n := k.aead.NonceSize()
	plain, err := k.aead.Open(nil, raw[:n], raw[n:], []byte(purpose+"|"+identityID))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", purpose, err)
	}
	return plain, nil
}

// codeHash is the stored form of a recovery code.
func (k *mfaKeys) codeHash(code string) string {
	m := hmac.New(sha256.New, k.codeKey)
	m.Write([]byte(normalizeRecoveryCode(code)))
	return hex.EncodeToString(m.Sum(nil))
}

func normalizeRecoveryCode(code string) string { return strings.ToUpper(strings.TrimSpace(code)) }

// sealRecovery stores codes on m: their hashes and the sealed list.
func (k *mfaKeys) sealRecovery(m *store.MFA, codes []string) error {
	raw, err := json.Marshal(codes)
	if err != nil {
		return fmt.Errorf("encode recovery codes: %w", err)
	}
	sealed, err := k.seal(sealRecoveryCodes, m.IdentityID, raw)
	if err != nil {
		return err
	}
	m.RecoveryCodesSealed = sealed
	m.RecoveryCodeHashes = make([]string, 0, len(codes))
	for _, c := range codes {
		m.RecoveryCodeHashes = append(m.RecoveryCodeHashes, k.codeHash(c))
	}
	return nil
}

// recoveryCodes are the unused recovery codes of m.
func (k *mfaKeys) recoveryCodes(m *store.MFA) ([]string, error) {
	if m.RecoveryCodesSealed == "" {
		return []string{}, nil
	}
	raw, err := k.open(sealRecoveryCodes, m.IdentityID, m.RecoveryCodesSealed)
	if err != nil {
		return nil, err
	}
	var codes []string
	if err := json.Unmarshal(raw, &codes); err != nil {
		return nil, fmt.Errorf("decode recovery codes: %w", err)
	}
	return strs(codes), nil
}

// newRecoveryCodes draws a fresh set of recovery codes.
func newRecoveryCodes() ([]string, error) {
	codes := make([]string, recoveryCodeCount)
	buf := make([]byte, recoveryCodeLength)
	for i := range codes {
		if _, err := rand.Read(buf); err != nil {
			return nil, fmt.Errorf("recovery codes: %w", err)
		}
		for j, b := range buf {
			buf[j] = recoveryAlphabet[int(b)%len(recoveryAlphabet)] // 256 is a multiple of 32: no bias
		}
		codes[i] = string(buf)
	}
	return codes, nil
}

// mfaOf finds the MFA enrollment of an identity.
func mfaOf(tx *store.Tx, identityID string) (*store.MFA, bool) {
	id, found := tx.Lookup(store.MFAs, "identity", identityID)
	if !found {
		return nil, false
	}
	m, err := store.Get[*store.MFA](tx, store.MFAs, id)
	if err != nil {
		return nil, false
	}
	return m, true
}

func (s *Server) loadMFA(identityID string) (*store.MFA, bool) {
	var m *store.MFA
	var found bool
	_ = s.State.View(func(tx *store.Tx) error {
		m, found = mfaOf(tx, identityID)
		return nil
	})
	return m, found
}

// mfaEnabled reports whether the identity has a verified MFA enrollment.
func mfaEnabled(tx *store.Tx, identityID string) bool {
	m, found := mfaOf(tx, identityID)
	return found && m.IsVerified
}

// mfaRequiredByPolicy reports whether the identity's auth policy requires TOTP.
func mfaRequiredByPolicy(tx *store.Tx, identity *store.Identity) bool {
	policyID := orDefault(identity.AuthPolicyID, DefaultAuthPolicyID)
	p, err := store.Peek[*store.AuthPolicy](tx, store.AuthPolicies, policyID)
	if err != nil {
		return false
	}
	return p.Secondary.RequireTOTP
}

// totpKey rebuilds the TOTP key of m, named after accountName.
func (s *Server) totpKey(m *store.MFA, accountName string) (*otp.Key, error) {
	secret, err := s.mfa.open(sealTOTPSecret, m.IdentityID, m.SecretSealed)
	if err != nil {
		return nil, err
	}
	if accountName == "" {
		accountName = m.IdentityID
	}
	return totp.Generate(totp.GenerateOpts{Issuer: mfaIssuer, AccountName: accountName, Secret: secret,
		Period: totpOpts.Period, Digits: totpOpts.Digits, Algorithm: totpOpts.Algorithm})
}

// totpSteps are the time steps around now, within the accepted skew, whose
// TOTP code of m is code: none for a wrong code, one for a good one (two
// only when the codes of two steps collide).
func (s *Server) totpSteps(m *store.MFA, code string, now time.Time) []int64 {
	code = strings.TrimSpace(code)
	if len(code) != totpOpts.Digits.Length() {
		return nil
	}
	raw, err := s.mfa.open(sealTOTPSecret, m.IdentityID, m.SecretSealed)
	if err != nil {
		s.Log.Warn("open TOTP secret", "identity", m.IdentityID, "err", err)
		return nil
	}
	secret := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(raw)
	opts := hotp.ValidateOpts{Digits: totpOpts.Digits, Algorithm: totpOpts.Algorithm}
	current := now.Unix() / int64(totpOpts.Period)
	var steps []int64
	for step := current - int64(totpOpts.Skew); step <= current+int64(totpOpts.Skew); step++ {
		if ok, err := hotp.ValidateCustom(code, uint64(step), secret, opts); err == nil && ok {
			steps = append(steps, step)
		}
	}
	return steps
}

var errRecoveryCodeUnknown = errors.New("not an unused recovery code")

// mfaVerdict is what checkMFACode made of a code.
type mfaVerdict int

const (
	mfaCodeWrong mfaVerdict = iota
	mfaCodeAccepted
	// mfaCodeReplayed: a TOTP code of a step already taken (or earlier).
	mfaCodeReplayed
)

// checkMFACode accepts a current TOTP code of m or, when allowRecovery is
// set, one of its unused recovery codes. Either is used up: a recovery code
// is removed, and the time step of a TOTP code becomes the last one
// accepted, so that neither that code nor any of an earlier step is accepted
// again (RFC 6238, section 5.2). Both happen through raft and are checked
// where they are applied, so that a code is taken once across the cluster.
//
// With complete, a TOTP code is taken and the MFA step completed in one
// entry (domain.PassMFA); a recovery code is used up first and the step
// completed in a second entry. Either way, complete is applied when the
// verdict is mfaCodeAccepted and the error nil.
func (s *Server) checkMFACode(r *http.Request, m *store.MFA, code string, allowRecovery bool, complete *domain.CompleteMFA) (mfaVerdict, error) {
	if steps := s.totpSteps(m, code, time.Now()); len(steps) > 0 {
		accept := command.AcceptTOTP{MFAID: m.ID, Steps: steps}
		var entry command.Command = &accept
		if complete != nil {
			entry = &domain.PassMFA{TOTP: accept, Complete: *complete}
		}
		err := s.State.Apply(requestContext(r), entry)
		switch {
		case err == nil:
			return mfaCodeAccepted, nil
		case errors.Is(err, store.ErrConflict): // command.ErrTOTPReplayed, also when forwarded
			return mfaCodeReplayed, nil
		case errors.Is(err, store.ErrNotFound): // the enrollment was removed meanwhile
			return mfaCodeWrong, nil
		}
		return mfaCodeWrong, err
	}
	if !allowRecovery || len(normalizeRecoveryCode(code)) != recoveryCodeLength {
		return mfaCodeWrong, nil
	}
	hash := s.mfa.codeHash(code)
	if !containsHash(m.RecoveryCodeHashes, hash) {
		return mfaCodeWrong, nil
	}
	// Remove the code guarded by the record's modify index: of two
	// concurrent uses of one code, only one succeeds.
	err := s.State.Update(requestContext(r), store.MFAs, m.ID, func(rec store.Record) error {
		cur := rec.(*store.MFA)
		i := slices.IndexFunc(cur.RecoveryCodeHashes, func(h string) bool { return hmac.Equal([]byte(h), []byte(hash)) })
		if i < 0 {
			return errRecoveryCodeUnknown
		}
		codes, err := s.mfa.recoveryCodes(cur)
		if err != nil {
			return err
		}
		want := normalizeRecoveryCode(code)
		codes = slices.DeleteFunc(codes, func(c string) bool { return c == want })
		return s.mfa.sealRecovery(cur, codes)
	})
	if errors.Is(err, errRecoveryCodeUnknown) {
		return mfaCodeWrong, nil
	}
	if err != nil {
		return mfaCodeWrong, err
	}
	if complete != nil {
		if err := s.State.Apply(requestContext(r), complete); err != nil {
			return mfaCodeAccepted, err
		}
	}
	return mfaCodeAccepted, nil
}

func containsHash(hashes []string, hash string) bool {
	found := false
	for _, h := range hashes {
		if hmac.Equal([]byte(h), []byte(hash)) {
			found = true
		}
	}
	return found
}

var (
	errNoMFA          = newErr(http.StatusNotFound, CodeNotFound, "the identity has no MFA enrollment")
	errMFAUnverified  = newErr(http.StatusBadRequest, CodeCouldNotValidate, "the MFA enrollment is not verified yet")
	errMFAVerified    = newErr(http.StatusBadRequest, CodeCouldNotValidate, "the MFA enrollment is already verified")
	errMFAExists      = newErr(http.StatusConflict, CodeConflict, "an MFA enrollment already exists; delete it before enrolling again")
	errInvalidMFACode = newErr(http.StatusUnauthorized, CodeInvalidAuth, "the MFA code is not valid")
	errUsedMFACode    = newErr(http.StatusUnauthorized, CodeInvalidAuth, "the MFA code was already used: wait for the next one")
	errMFACodeMissing = newErr(http.StatusBadRequest, CodeCouldNotValidate, "an MFA code is required (the mfa-validation-code header or a body with code)")
)

// mfaGate checks code against the caller's enrollment, with the lockout: a
// locked caller is refused unchecked, and a wrong or replayed code counts.
// It returns nil when the code is good, and then the code is used up: a TOTP
// code is taken once, wherever it is presented. allowRecovery accepts (and
// uses up) recovery codes too.
func (s *Server) mfaGate(r *http.Request, caller *Principal, m *store.MFA, code string, allowRecovery bool) middleware.Responder {
	return s.mfaPass(r, caller, m, code, allowRecovery, nil)
}

// mfaPass is mfaGate that, with complete, also records the passed challenge
// (see checkMFACode): when it returns nil, complete was applied.
func (s *Server) mfaPass(r *http.Request, caller *Principal, m *store.MFA, code string, allowRecovery bool, complete *domain.CompleteMFA) middleware.Responder {
	if d := s.lockedFor(caller.Identity.ID, clientIP(r), true); d > 0 {
		return s.refuseLocked(r, caller.Identity.ID, store.AuthEventMFAFailure, d)
	}
	if strings.TrimSpace(code) == "" {
		return fail(errMFACodeMissing)
	}
	verdict, err := s.checkMFACode(r, m, code, allowRecovery, complete)
	if err != nil {
		return fail(err)
	}
	switch verdict {
	case mfaCodeAccepted:
		return nil
	case mfaCodeReplayed:
		return s.failCounted(r, caller.Identity.ID, store.AuthEventMFAFailure, "TOTP code already used", errUsedMFACode)
	}
	return s.failCounted(r, caller.Identity.ID, store.AuthEventMFAFailure, "wrong MFA code", errInvalidMFACode)
}

func codeOf(c *models.MfaCode) string {
	if c == nil {
		return ""
	}
	return str(c.Code)
}

// clientAuthenticateMfa answers POST /authenticate/mfa.
func (s *Server) clientAuthenticateMfa(p authentication.AuthenticateMfaParams, pr any) middleware.Responder {
	return s.authenticateMFA(p.HTTPRequest, principalOf(pr), codeOf(p.MfaAuth))
}

// enrollMfa answers POST /current-identity/mfa.
func (s *Server) enrollMfa(p mfa.EnrollMfaParams, pr any) middleware.Responder {
	return s.enrollMFA(p.HTTPRequest, principalOf(pr))
}

// detailMfa answers GET /current-identity/mfa.
func (s *Server) detailMfa(p mfa.DetailMfaParams, pr any) middleware.Responder {
	caller := principalOf(pr)
	m, found := s.loadMFA(caller.Identity.ID)
	if !found {
		return fail(errNoMFA)
	}
	d := &models.DetailMfa{BaseEntity: baseOf(store.MFAs, &m.Meta), IsVerified: ptr(m.IsVerified), RecoveryCodes: []string{}}
	d.Links = linksOf(map[string]string{"self": mfaSelf, "verify": mfaSelf + "/verify", "qr-code": mfaSelf + "/qr-code", "recovery-codes": mfaSelf + "/recovery-codes"})
	if !m.IsVerified {
		key, err := s.totpKey(m, caller.Identity.Name)
		if err != nil {
			return fail(err)
		}
		codes, err := s.mfa.recoveryCodes(m)
		if err != nil {
			return fail(err)
		}
		d.ProvisioningURL, d.RecoveryCodes = key.URL(), codes
	}
	return ok(d)
}

// detailMfaQrCode answers GET /current-identity/mfa/qr-code.
func (s *Server) detailMfaQrCode(p mfa.DetailMfaQrCodeParams, pr any) middleware.Responder {
	caller := principalOf(pr)
	m, found := s.loadMFA(caller.Identity.ID)
	if !found || m.IsVerified {
		return fail(errNotFound)
	}
	key, err := s.totpKey(m, caller.Identity.Name)
	if err != nil {
		return fail(err)
	}
	img, err := key.Image(256, 256)
	if err != nil {
		return fail(fmt.Errorf("draw QR code: %w", err))
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return fail(fmt.Errorf("encode QR code: %w", err))
	}
	return rawBody{status: 200, contentType: "image/png", body: buf.Bytes()}
}

// verifyMfa answers POST /current-identity/mfa/verify.
func (s *Server) verifyMfa(p mfa.VerifyMfaParams, pr any) middleware.Responder {
	return s.verifyMFA(p.HTTPRequest, principalOf(pr), codeOf(p.MfaValidation))
}

// deleteMfa answers DELETE /current-identity/mfa.
func (s *Server) deleteMfa(p mfa.DeleteMfaParams, pr any) middleware.Responder {
	caller := principalOf(pr)
	m, found := s.loadMFA(caller.Identity.ID)
	if !found {
		return fail(errNoMFA)
	}
	if m.IsVerified {
		if refused := s.mfaGate(p.HTTPRequest, caller, m, str(p.MfaValidationCode), true); refused != nil {
			return refused
		}
	}
	// An enrollment removed without a code must still be unverified when
	// the entry applies.
	err := s.State.Apply(requestContext(p.HTTPRequest), &domain.RemoveMFA{IdentityID: caller.Identity.ID, MFAID: m.ID, Unverified: !m.IsVerified})
	switch {
	case domain.Is(err, domain.ErrMFAVerified):
		return fail(errMFACodeMissing)
	case errors.Is(err, store.ErrNotFound):
		return fail(errNoMFA)
	case err != nil:
		return fail(err)
	}
	return okEmpty()
}

// detailMfaRecoveryCodes answers GET /current-identity/mfa/recovery-codes.
func (s *Server) detailMfaRecoveryCodes(p mfa.DetailMfaRecoveryCodesParams, pr any) middleware.Responder {
	caller := principalOf(pr)
	m, found := s.loadMFA(caller.Identity.ID)
	if !found {
		return fail(errNoMFA)
	}
	if !m.IsVerified {
		return fail(errMFAUnverified)
	}
	code := str(p.MfaValidationCode)
	if code == "" {
		code = codeOf(p.MfaValidation)
	}
	if refused := s.mfaGate(p.HTTPRequest, caller, m, code, true); refused != nil {
		return refused
	}
	m, found = s.loadMFA(caller.Identity.ID) // a recovery code may have been used up
	if !found {
		return fail(errNoMFA)
	}
	codes, err := s.mfa.recoveryCodes(m)
	if err != nil {
		return fail(err)
	}
	d := &models.DetailMfaRecoveryCodes{BaseEntity: baseOf(store.MFAs, &m.Meta), RecoveryCodes: codes}
	d.Links = linksOf(map[string]string{"self": mfaSelf + "/recovery-codes"})
	return ok(d)
}

// createMfaRecoveryCodes answers POST /current-identity/mfa/recovery-codes.
func (s *Server) createMfaRecoveryCodes(p mfa.CreateMfaRecoveryCodesParams, pr any) middleware.Responder {
	caller := principalOf(pr)
	m, found := s.loadMFA(caller.Identity.ID)
	if !found {
		return fail(errNoMFA)
	}
	if !m.IsVerified {
		return fail(errMFAUnverified)
	}
	if refused := s.mfaGate(p.HTTPRequest, caller, m, codeOf(p.MfaValidation), true); refused != nil {
		return refused
	}
	codes, err := newRecoveryCodes()
	if err != nil {
		return fail(err)
	}
	return s.updateOf(p.HTTPRequest, store.MFAs, m.ID, func(rec store.Record) error {
		return s.mfa.sealRecovery(rec.(*store.MFA), codes)
	})
}

// enrollMFA starts an unverified TOTP enrollment for the caller.
func (s *Server) enrollMFA(r *http.Request, caller *Principal) middleware.Responder {
	if _, found := s.loadMFA(caller.Identity.ID); found {
		return fail(errMFAExists)
	}
	secret := make([]byte, totpSecretSize)
	if _, err := rand.Read(secret); err != nil {
		return fail(fmt.Errorf("TOTP secret: %w", err))
	}
	m := &store.MFA{IdentityID: caller.Identity.ID}
	sealed, err := s.mfa.seal(sealTOTPSecret, m.IdentityID, secret)
	if err != nil {
		return fail(err)
	}
	m.SecretSealed = sealed
	codes, err := newRecoveryCodes()
	if err != nil {
		return fail(err)
	}
	if err := s.mfa.sealRecovery(m, codes); err != nil {
		return fail(err)
	}
	id, err := s.State.Create(requestContext(r), store.MFAs, m)
	if errors.Is(err, store.ErrConflict) {
		return fail(errMFAExists)
	}
	if err != nil {
		return fail(err)
	}
	return created(id, mfaSelf)
}

// verifyMFA completes the caller's enrollment with a TOTP code. A session
// that was waiting for MFA its auth policy requires is complete then.
func (s *Server) verifyMFA(r *http.Request, caller *Principal, code string) middleware.Responder {
	m, found := s.loadMFA(caller.Identity.ID)
	if !found {
		return fail(errNoMFA)
	}
	if m.IsVerified {
		return fail(errMFAVerified)
	}
	// Verifying the enrollment is a passed TOTP challenge: it completes a
	// waiting session and counts for MFA posture checks, in the entry that
	// takes the code.
	if refused := s.mfaPass(r, caller, m, code, false, s.completion(r, caller, "enrollment verified", true)); refused != nil {
		return refused
	}
	return okEmpty()
}

// authenticateMFA is the MFA step of an authentication: a TOTP code or an
// unused recovery code completes the API session.
func (s *Server) authenticateMFA(r *http.Request, caller *Principal, code string) (resp middleware.Responder) {
	if !caller.mfaPending() {
		return okEmpty()
	}
	defer func() { s.met.authenticated("mfa", resp) }()
	m, found := s.loadMFA(caller.Identity.ID)
	if !found || !m.IsVerified {
		return fail(newErr(http.StatusBadRequest, CodeCouldNotValidate, "the identity has no verified MFA enrollment: enroll with POST ./current-identity/mfa first"))
	}
	if refused := s.mfaPass(r, caller, m, code, true, s.completion(r, caller, "", false)); refused != nil {
		return refused
	}
	return okEmpty()
}

// completion is what records the caller's passed MFA challenge (see
// domain.CompleteMFA).
func (s *Server) completion(r *http.Request, caller *Principal, reason string, verifyEnrollment bool) *domain.CompleteMFA {
	return &domain.CompleteMFA{APISessionID: caller.Session.ID, EventID: state.NewID(),
		Source: clientIP(r), Reason: reason, VerifyEnrollment: verifyEnrollment}
}

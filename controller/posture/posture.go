// Package posture decides whether the device state an API session reported
// (store.PostureData) satisfies posture checks, and, from there, whether a
// service policy's checks let the session use a service. It only reads: the
// API handlers store posture responses and remove sessions that stop
// passing.
package posture

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ostium-net/ostium/controller/store"
)

// NoTimeout is the timeoutRemaining of a check that does not expire.
const NoTimeout int64 = -1

// MFAState is what an MFA check needs to know of an API session.
type MFAState struct {
	// CompletedAt is when the session last passed an MFA challenge; nil if never.
	CompletedAt *time.Time
}

// MFAStateOf reads the MFA state of an API session.
func MFAStateOf(as *store.APISession) MFAState {
	if as == nil {
		return MFAState{}
	}
	return MFAState{CompletedAt: as.MFACompletedAt}
}

// Evaluate reports whether data satisfies check at now. timeoutRemaining is
// the number of seconds a passing MFA check with a timeout stays valid (0
// when it has lapsed), NoTimeout otherwise. reason says why a failing check
// fails. data may be nil: nothing was reported.
func Evaluate(check *store.PostureCheck, data *store.PostureData, mfa MFAState, now time.Time) (passing bool, timeoutRemaining int64, reason string) {
	if data == nil {
		data = &store.PostureData{}
	}
	switch check.TypeID {
	case store.PostureOS:
		passing, reason = evaluateOS(check.OperatingSystems, data.OS)
	case store.PostureProcess:
		if check.Process == nil {
			return false, NoTimeout, "the check names no process"
		}
		passing, reason = evaluateProcess(*check.Process, data.Processes)
	case store.PostureProcessMulti:
		passing, reason = evaluateProcesses(check.Processes, check.Semantic, data.Processes)
	case store.PostureDomain:
		passing, reason = evaluateDomain(check.Domains, data.Domain)
	case store.PostureMAC:
		passing, reason = evaluateMAC(check.MACAddresses, data.MAC)
	case store.PostureMFA:
		return evaluateMFA(check, data, mfa, now)
	default:
		return false, NoTimeout, fmt.Sprintf("unknown check type %q", check.TypeID)
	}
	return passing, NoTimeout, reason
}

func evaluateOS(allowed []store.OperatingSystem, os *store.PostureOSData) (bool, string) {
	if os == nil {
		return false, "no operating system was reported"
	}
	for _, a := range allowed {
		if !strings.EqualFold(a.Type, os.Type) {
			continue
		}
		if len(a.Versions) == 0 {
			return true, ""
		}
		for _, constraint := range a.Versions {
			if VersionSatisfies(os.Version, constraint) {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%s version %q is not allowed", os.Type, os.Version)
	}
	return false, fmt.Sprintf("operating system %q is not allowed", os.Type)
}

// windowsPaths reports whether process paths of an OS type compare without case.
func windowsPaths(osType string) bool {
	return strings.EqualFold(osType, "Windows") || strings.EqualFold(osType, "WindowsServer")
}

func findProcess(want store.Process, reported []store.PostureProcessData) (store.PostureProcessData, bool) {
	for _, p := range reported {
		if p.Path == want.Path || (windowsPaths(want.OSType) && strings.EqualFold(p.Path, want.Path)) {
			return p, true
		}
	}
	return store.PostureProcessData{}, false
}

func evaluateProcess(want store.Process, reported []store.PostureProcessData) (bool, string) {
	got, found := findProcess(want, reported)
	switch {
	case !found:
		return false, fmt.Sprintf("process %q was not reported", want.Path)
	case !got.IsRunning:
		return false, fmt.Sprintf("process %q is not running", want.Path)
	case len(want.Hashes) > 0 && !containsFold(want.Hashes, got.Hash):
		return false, fmt.Sprintf("process %q has a hash that is not allowed", want.Path)
	}
	if len(want.SignerFingerprints) > 0 {
		for _, fp := range got.SignerFingerprints {
			if containsFold(want.SignerFingerprints, normalizeFingerprint(fp)) {
				return true, ""
			}
		}
		return false, fmt.Sprintf("process %q is not signed by an allowed signer", want.Path)
	}
	return true, ""
}

func evaluateProcesses(want []store.Process, semantic string, reported []store.PostureProcessData) (bool, string) {
	if len(want) == 0 {
		return false, "the check names no process"
	}
	var failures []string
	for _, w := range want {
		ok, reason := evaluateProcess(w, reported)
		if ok && semantic == store.SemanticAnyOf {
			return true, ""
		}
		if !ok {
			failures = append(failures, reason)
		}
	}
	if len(failures) == 0 {
		return true, ""
	}
	if semantic == store.SemanticAnyOf {
		return false, "no listed process passes: " + strings.Join(failures, "; ")
	}
	return false, strings.Join(failures, "; ")
}

func evaluateDomain(allowed []string, d *store.PostureDomainData) (bool, string) {
	if d == nil {
		return false, "no domain was reported"
	}
	if slices.ContainsFunc(allowed, func(a string) bool { return strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(d.Domain)) }) {
		return true, ""
	}
	return false, fmt.Sprintf("domain %q is not allowed", d.Domain)
}

// NormalizeMAC brings a MAC address to lower-case hex digits without
// separators, so "AA:BB-cc.dd" and "aabbccdd" compare equal.
func NormalizeMAC(mac string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(mac) {
		if r == ':' || r == '-' || r == '.' || r == ' ' {
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func evaluateMAC(allowed []string, m *store.PostureMACData) (bool, string) {
	if m == nil {
		return false, "no MAC addresses were reported"
	}
	for _, got := range m.Addresses {
		for _, a := range allowed {
			if n := NormalizeMAC(got); n != "" && n == NormalizeMAC(a) {
				return true, ""
			}
		}
	}
	return false, "no reported MAC address is allowed"
}

func evaluateMFA(check *store.PostureCheck, data *store.PostureData, mfa MFAState, now time.Time) (bool, int64, string) {
	if mfa.CompletedAt == nil {
		return false, timeoutOf(check, 0), "the API session has not passed MFA"
	}
	done := *mfa.CompletedAt
	if check.PromptOnWake && data.WokenAt != nil && data.WokenAt.After(done) {
		return false, 0, "the device woke since MFA was last passed"
	}
	if check.PromptOnUnlock && data.UnlockedAt != nil && data.UnlockedAt.After(done) {
		return false, 0, "the device was unlocked since MFA was last passed"
	}
	if check.TimeoutSeconds <= 0 {
		return true, NoTimeout, ""
	}
	remaining := check.TimeoutSeconds - int64(now.Sub(done)/time.Second)
	if remaining <= 0 {
		return false, 0, fmt.Sprintf("MFA was passed more than %d seconds ago", check.TimeoutSeconds)
	}
	return true, remaining, ""
}

// timeoutOf is the timeoutRemaining of an MFA check whose timer has not
// started or has run out.
func timeoutOf(check *store.PostureCheck, expired int64) int64 {
	if check.TimeoutSeconds <= 0 {
		return NoTimeout
	}
	return expired
}

func containsFold(list []string, v string) bool {
	return slices.ContainsFunc(list, func(x string) bool { return strings.EqualFold(normalizeFingerprint(x), normalizeFingerprint(v)) })
}

// normalizeFingerprint drops the separators of hex fingerprints and hashes.
func normalizeFingerprint(s string) string {
	return strings.ToLower(strings.NewReplacer(":", "", " ", "").Replace(strings.TrimSpace(s)))
}

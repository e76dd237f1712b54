package posture

import (
	"testing"
	"time"

	"github.com/ostium-net/ostium/controller/store"
)

func TestEvaluate(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { x := now.Add(d); return &x }
	mfaDone := MFAState{CompletedAt: at(-time.Minute)}
	windows := &store.PostureData{OS: &store.PostureOSData{Type: "Windows", Version: "10.0.19045"}}
	procs := &store.PostureData{Processes: []store.PostureProcessData{
		{Path: `C:\Program Files\AV\av.exe`, IsRunning: true, Hash: "ABCDEF", SignerFingerprints: []string{"aa:bb:cc"}},
		{Path: "/usr/bin/agent", IsRunning: false},
		{Path: "/usr/bin/other", IsRunning: true},
	}}
	av := store.Process{OSType: "Windows", Path: `c:\program files\av\AV.EXE`}
	osCheck := func(versions ...string) *store.PostureCheck {
		return &store.PostureCheck{TypeID: store.PostureOS, OperatingSystems: []store.OperatingSystem{{Type: "Linux"}, {Type: "Windows", Versions: versions}}}
	}
	proc := func(p store.Process) *store.PostureCheck {
		return &store.PostureCheck{TypeID: store.PostureProcess, Process: &p}
	}
	multi := func(semantic string, ps ...store.Process) *store.PostureCheck {
		return &store.PostureCheck{TypeID: store.PostureProcessMulti, Semantic: semantic, Processes: ps}
	}
	mfa := func(timeout int64, onWake, onUnlock bool) *store.PostureCheck {
		return &store.PostureCheck{TypeID: store.PostureMFA, TimeoutSeconds: timeout, PromptOnWake: onWake, PromptOnUnlock: onUnlock}
	}
	tests := []struct {
		name      string
		check     *store.PostureCheck
		data      *store.PostureData
		mfa       MFAState
		passing   bool
		remaining int64
	}{
		{name: "os any version", check: osCheck(), data: windows, passing: true, remaining: NoTimeout},
		{name: "os type case-insensitive", check: osCheck(), data: &store.PostureData{OS: &store.PostureOSData{Type: "linux", Version: "6.1"}}, passing: true, remaining: NoTimeout},
		{name: "os minimum version met", check: osCheck(">=10.0.19041"), data: windows, passing: true, remaining: NoTimeout},
		{name: "os minimum version not met", check: osCheck(">=10.0.22000"), data: windows, remaining: NoTimeout},
		{name: "os one of several versions", check: osCheck("11", "10.0"), data: windows, passing: true, remaining: NoTimeout},
		{name: "os other type", check: osCheck(), data: &store.PostureData{OS: &store.PostureOSData{Type: "macOS", Version: "14.1"}}, remaining: NoTimeout},
		{name: "os not reported", check: osCheck(), data: nil, remaining: NoTimeout},

		{name: "process running, windows path case", check: proc(av), data: procs, passing: true, remaining: NoTimeout},
		{name: "process allowed hash", check: proc(store.Process{OSType: "Windows", Path: av.Path, Hashes: []string{"000", "abcdef"}}), data: procs, passing: true, remaining: NoTimeout},
		{name: "process wrong hash", check: proc(store.Process{OSType: "Windows", Path: av.Path, Hashes: []string{"000"}}), data: procs, remaining: NoTimeout},
		{name: "process allowed signer", check: proc(store.Process{OSType: "Windows", Path: av.Path, SignerFingerprints: []string{"AABBCC"}}), data: procs, passing: true, remaining: NoTimeout},
		{name: "process wrong signer", check: proc(store.Process{OSType: "Windows", Path: av.Path, SignerFingerprints: []string{"ddeeff"}}), data: procs, remaining: NoTimeout},
		{name: "process not running", check: proc(store.Process{OSType: "Linux", Path: "/usr/bin/agent"}), data: procs, remaining: NoTimeout},
		{name: "process path case matters off windows", check: proc(store.Process{OSType: "Linux", Path: "/USR/BIN/OTHER"}), data: procs, remaining: NoTimeout},
		{name: "process not reported", check: proc(av), data: nil, remaining: NoTimeout},

		{name: "multi all of passing", check: multi(store.SemanticAllOf, av, store.Process{OSType: "Linux", Path: "/usr/bin/other"}), data: procs, passing: true, remaining: NoTimeout},
		{name: "multi all of, one stopped", check: multi(store.SemanticAllOf, av, store.Process{OSType: "Linux", Path: "/usr/bin/agent"}), data: procs, remaining: NoTimeout},
		{name: "multi any of, one running", check: multi(store.SemanticAnyOf, store.Process{OSType: "Linux", Path: "/usr/bin/agent"}, av), data: procs, passing: true, remaining: NoTimeout},
		{name: "multi any of, none running", check: multi(store.SemanticAnyOf, store.Process{OSType: "Linux", Path: "/usr/bin/agent"}, store.Process{OSType: "Linux", Path: "/nope"}), data: procs, remaining: NoTimeout},

		{name: "domain case-insensitive", check: &store.PostureCheck{TypeID: store.PostureDomain, Domains: []string{"corp.example"}}, data: &store.PostureData{Domain: &store.PostureDomainData{Domain: "CORP.example"}}, passing: true, remaining: NoTimeout},
		{name: "domain other", check: &store.PostureCheck{TypeID: store.PostureDomain, Domains: []string{"corp.example"}}, data: &store.PostureData{Domain: &store.PostureDomainData{Domain: "home"}}, remaining: NoTimeout},
		{name: "domain not reported", check: &store.PostureCheck{TypeID: store.PostureDomain, Domains: []string{"corp.example"}}, remaining: NoTimeout},

		{name: "mac normalized", check: &store.PostureCheck{TypeID: store.PostureMAC, MACAddresses: []string{"AA:BB:CC:DD:EE:FF"}}, data: &store.PostureData{MAC: &store.PostureMACData{Addresses: []string{"00-11-22-33-44-55", "aabb.ccdd.eeff"}}}, passing: true, remaining: NoTimeout},
		{name: "mac none allowed", check: &store.PostureCheck{TypeID: store.PostureMAC, MACAddresses: []string{"aa:bb:cc:dd:ee:ff"}}, data: &store.PostureData{MAC: &store.PostureMACData{Addresses: []string{"00:11:22:33:44:55"}}}, remaining: NoTimeout},
		{name: "mac not reported", check: &store.PostureCheck{TypeID: store.PostureMAC, MACAddresses: []string{"aa:bb:cc:dd:ee:ff"}}, remaining: NoTimeout},

		{name: "mfa passed, no timeout", check: mfa(-1, false, false), mfa: mfaDone, passing: true, remaining: NoTimeout},
		{name: "mfa never passed", check: mfa(-1, false, false), remaining: NoTimeout},
		{name: "mfa within timeout", check: mfa(300, false, false), mfa: mfaDone, passing: true, remaining: 240},
		{name: "mfa timed out", check: mfa(30, false, false), mfa: mfaDone, remaining: 0},
		{name: "mfa woken after mfa, prompt on wake", check: mfa(-1, true, false), mfa: mfaDone, data: &store.PostureData{WokenAt: at(-time.Second)}, remaining: 0},
		{name: "mfa woken before mfa", check: mfa(-1, true, false), mfa: mfaDone, data: &store.PostureData{WokenAt: at(-time.Hour)}, passing: true, remaining: NoTimeout},
		{name: "mfa woken, no prompt on wake", check: mfa(-1, false, true), mfa: mfaDone, data: &store.PostureData{WokenAt: at(-time.Second)}, passing: true, remaining: NoTimeout},
		{name: "mfa unlocked after mfa, prompt on unlock", check: mfa(-1, false, true), mfa: mfaDone, data: &store.PostureData{UnlockedAt: at(-time.Second)}, remaining: 0},

		{name: "unknown type", check: &store.PostureCheck{TypeID: "NOPE"}, remaining: NoTimeout},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			passing, remaining, reason := Evaluate(tc.check, tc.data, tc.mfa, now)
			if passing != tc.passing || remaining != tc.remaining {
				t.Fatalf("Evaluate = %v, %d (%q); want %v, %d", passing, remaining, reason, tc.passing, tc.remaining)
			}
			if !passing && reason == "" {
				t.Fatal("a failing check must say why")
			}
			if passing && reason != "" {
				t.Fatalf("a passing check gave a reason: %q", reason)
			}
		})
	}
}

func TestVersionSatisfies(t *testing.T) {
	tests := []struct {
		version, constraint string
		want                bool
	}{
		{"10.0.19045", ">=10.0.19041", true},
		{"10.0.19041", ">=10.0.19041", true},
		{"10.0.19040", ">=10.0.19041", false},
		{"10.0.19045", ">=10.0.0 <11.0.0", true},
		{"11.0.1", ">=10.0.0 <11.0.0", false},
		{"11.0.1", "<10 || >=11", true},
		{"10.0.19045", "10.0", true},
		{"10.1.19045", "10.0", false},
		{"10", "10.0.0", true},
		{"10.0.5", "=10.0.5", true},
		{"10.0.5", "!=10.0.5", false},
		{"14.2.1", "^14.1", true},
		{"15.0", "^14.1", false},
		{"14.1.9", "~14.1.2", true},
		{"14.2.0", "~14.1.2", false},
		{"v1.2.3", ">1.2", true},
		{"1.2.3-beta", "=1.2.3", true},
		{"", ">=1", false},
		{"1.0", "", false},
		{"1.0", ">=", false},
		{"1.a", ">1.9", true},
	}
	for _, tc := range tests {
		if got := VersionSatisfies(tc.version, tc.constraint); got != tc.want {
			t.Errorf("VersionSatisfies(%q, %q) = %v, want %v", tc.version, tc.constraint, got, tc.want)
		}
	}
}

func FuzzVersionSatisfies(f *testing.F) {
	for _, seed := range [][2]string{{"10.0.19045", ">=10.0.19041"}, {"1.2.3-rc1", "^1 || ~2.1"}, {"", ""}, {"a.b", "<=c"}, {"1..2", "==1.0.0.2"}} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, version, constraint string) {
		got := VersionSatisfies(version, constraint)
		// Any version satisfies itself as an exact constraint, when it
		// has a parseable form; and a constraint never matches an empty version.
		if version == "" && got {
			t.Fatalf("empty version satisfied %q", constraint)
		}
		if compareVersions(version, version) != 0 {
			t.Fatalf("version %q differs from itself", version)
		}
	})
}

func TestNormalizeMAC(t *testing.T) {
	if NormalizeMAC("AA:bb-CC.dd ee:FF") != "aabbccddeeff" {
		t.Fatal(NormalizeMAC("AA:bb-CC.dd ee:FF"))
	}
}

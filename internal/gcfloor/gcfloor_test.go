package gcfloor

import (
	"context"
	"log/slog"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestPercentFor(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		live  uint64
		base  int
		floor uint64
		want  int
	}{
		{live: 40 * mib, base: 100, floor: 128 * mib, want: 320},  // a small heap waits for the floor
		{live: 400 * mib, base: 100, floor: 128 * mib, want: 100}, // a large one keeps GOGC
		{live: 40 * mib, base: 500, floor: 128 * mib, want: 500},  // a GOGC set higher is kept
		{live: 6 * mib, base: 100, floor: 128 * mib, want: 2134},  // rounded up
		{live: 1, base: 100, floor: 128 * mib, want: 3200},        // counted as the runtime's least goal, 4 MiB
		{live: 0, base: 100, floor: 128 * mib, want: 3200},        // nothing live yet: the same
		{live: 1, base: 100, floor: 1 << 40, want: maxPercent},    // bounded
		{live: 128 * mib, base: 50, floor: 128 * mib, want: 100},  // exactly the floor
	} {
		if got := PercentFor(c.live, c.base, c.floor); got != c.want {
			t.Errorf("PercentFor(%d MiB, %d, %d MiB) = %d, want %d", c.live/mib, c.base, c.floor/mib, got, c.want)
		}
	}
}

func TestBasePercent(t *testing.T) {
	for env, want := range map[string]int{"": 100, " 200 ": 200, "50": 50, "0": 0} {
		if got, ok := basePercent(env); !ok || got != want {
			t.Errorf("GOGC=%q: %d %v, want %d", env, got, ok, want)
		}
	}
	for _, env := range []string{"off", "OFF", "-1", "lots"} {
		if _, ok := basePercent(env); ok {
			t.Errorf("GOGC=%q: Keep would act", env)
		}
	}
}

func gogc() int64 {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}

// TestKeepRaisesThePercentAndRestoresIt: with a small live heap the percent rises so that the
// next collection waits for the floor; when Keep's context ends the percent is GOGC's again.
func TestKeepRaisesThePercentAndRestoresIt(t *testing.T) {
	t.Setenv("GOGC", "")
	before := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(before) })
	ctx, cancel := context.WithCancel(context.Background())
	Keep(ctx, 512<<20, slog.New(slog.DiscardHandler))
	runtime.GC()
	deadline := time.Now().Add(10 * time.Second)
	for gogc() <= 100 {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("the percent stayed at %d", gogc())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	for gogc() != 100 {
		if time.Now().After(deadline) {
			t.Fatalf("the percent was left at %d", gogc())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestKeepLeavesAnOffCollectorAlone: GOGC=off means the operator chose; Keep does nothing.
func TestKeepLeavesAnOffCollectorAlone(t *testing.T) {
	t.Setenv("GOGC", "off")
	before := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(before) })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	Keep(ctx, 512<<20, slog.New(slog.DiscardHandler))
	runtime.GC()
	time.Sleep(3 * checkEvery)
	if p := gogc(); p != 100 {
		t.Errorf("the percent moved to %d", p)
	}
}

func TestFloorFromEnv(t *testing.T) {
	for env, want := range map[string]uint64{"": DefaultFloor, "64": 64 << 20, " 0 ": 0} {
		t.Setenv(FloorEnv, env)
		if got, err := FloorFromEnv(); err != nil || got != want {
			t.Errorf("%s=%q: %d %v, want %d", FloorEnv, env, got, err, want)
		}
	}
	for _, env := range []string{"-1", "1.5", "lots", "99999999999"} {
		t.Setenv(FloorEnv, env)
		if _, err := FloorFromEnv(); err == nil {
			t.Errorf("%s=%q accepted", FloorEnv, env)
		}
	}
}

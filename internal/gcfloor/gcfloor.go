// Package gcfloor keeps the garbage collector from running more often than a server's memory
// needs. Go collects when the heap has grown by GOGC percent (100 unless set) of what the
// last collection left live: a controller whose live heap is 40 MiB collects after every
// 40 MiB allocated, several times a second under load, and every collection's marking takes
// a share of the CPU away from requests for tens of milliseconds. Keep raises the percent
// while the live heap is small, so that a collection is due no sooner than a floor of
// allocation after the last; once the live heap is large enough that GOGC already gives
// that much, it leaves GOGC as it is, so a large network uses no more memory than before.
package gcfloor

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"
)

// DefaultFloor is the allocation a collection waits for at least, by default.
const DefaultFloor = 128 << 20

// FloorEnv names the environment variable that sets the floor, in MiB; 0 turns Keep off.
const FloorEnv = "OSTIUM_GC_FLOOR_MIB"

// FloorFromEnv is the floor FloorEnv sets, DefaultFloor when it is unset or empty.
func FloorFromEnv() (uint64, error) {
	v := strings.TrimSpace(os.Getenv(FloorEnv))
	if v == "" {
		return DefaultFloor, nil
	}
	mib, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: want a whole number of MiB (0 for none): %w", FloorEnv, v, err)
	}
	return mib << 20, nil
}

// maxPercent bounds the percent Keep sets, for a live heap of almost nothing.
const maxPercent = 10_000

// checkEvery is how often the live heap is looked at.
const checkEvery = 250 * time.Millisecond

// Keep adjusts the collector's percent until ctx ends, then sets GOGC's percent again. It
// does nothing when GOGC is "off" or floor is 0. A GOGC that is set is kept as the least
// percent. It returns at once; the adjusting runs on its own goroutine. log may be nil.
func Keep(ctx context.Context, floor uint64, log *slog.Logger) {
	base, ok := basePercent(os.Getenv("GOGC"))
	if !ok || floor == 0 {
		return
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	go func() {
		samples := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		current := base
		defer func() {
			if current != base {
				debug.SetGCPercent(base)
			}
		}()
		t := time.NewTicker(checkEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			metrics.Read(samples)
			if samples[0].Value.Kind() != metrics.KindUint64 {
				log.Warn("the runtime does not report its live heap; the collector's percent stays as it is")
				return
			}
			want := PercentFor(samples[0].Value.Uint64(), base, floor)
			// Small changes are not worth a new pacing: within a tenth, keep what is set.
			if math.Abs(float64(want-current)) > float64(current)/10 {
				debug.SetGCPercent(want)
				current = want
			}
		}
	}()
}

// runtimeMinHeap is the Go runtime's least heap goal at GOGC=100; the runtime scales it with
// the percent, so a percent meant for a live heap smaller than this would let the heap grow
// by more than the floor.
const runtimeMinHeap = 4 << 20

// PercentFor is the percent that lets the heap grow by floor bytes past live before the next
// collection, and at least by base percent of live. A live heap below the runtime's least
// goal (or none yet, before the first collection) counts as that goal.
func PercentFor(live uint64, base int, floor uint64) int {
	live = max(live, runtimeMinHeap)
	p := int(min((floor*100+live-1)/live, maxPercent))
	return max(p, base)
}

// basePercent reads GOGC as the runtime does: unset or empty is 100, "off" turns collection
// off (and Keep off), a number is that percent. ok is false when Keep must not act.
func basePercent(env string) (int, bool) {
	env = strings.TrimSpace(env)
	if env == "" {
		return 100, true
	}
	if strings.EqualFold(env, "off") {
		return 0, false
	}
	p, err := strconv.Atoi(env)
	if err != nil || p < 0 {
		return 0, false
	}
	return p, true
}

package gctune

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestPercentFor(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, maxPercent},
		{16 * mib, 200},       // 32 MiB of headroom is 200% of 16 MiB
		{46 * mib, 70},        // 69.5%: the base gives more
		{64 * mib, 70},        // large heaps keep the base
		{1 * mib, maxPercent}, // 3,200% is capped
	} {
		if got := percentFor(70, 32*mib, c.live); got != c.want {
			t.Errorf("percentFor(70, 32 MiB, %d MiB) = %d, want %d", c.live/mib, got, c.want)
		}
	}
}

// gcPercent reads the collector's percentage as the runtime has it.
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// TestTunerFollowsCollections checks that the percentage is set after a
// collection from the live heap of this test binary (a few MiB): raised
// with a headroom far above it, left at the base with a headroom below
// it, and at the base again once stopped.
func TestTunerFollowsCollections(t *testing.T) {
	old := gcPercent()
	defer debug.SetGCPercent(old)

	waitPercent := func(want func(int) bool, what string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !want(gcPercent()) {
			if time.Now().After(deadline) {
				t.Fatalf("GC percent %d after collections, want %s", gcPercent(), what)
			}
			runtime.GC()
			time.Sleep(time.Millisecond)
		}
	}

	tu := Start(70, 1<<30) // 1 GiB: far above this binary's heap
	waitPercent(func(p int) bool { return p == maxPercent }, "the maximum for a small heap")
	if tu.Percent() != maxPercent {
		t.Errorf("Percent() = %d, want %d", tu.Percent(), maxPercent)
	}
	tu.Stop()
	if p := gcPercent(); p != 70 {
		t.Fatalf("GC percent %d after Stop, want the base 70", p)
	}

	tu = Start(70, 1) // any heap gives one byte of headroom at 70%
	defer tu.Stop()
	deadline := time.Now().Add(10 * time.Second)
	for tu.adjusts.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the tuner saw no collection")
		}
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
	if p := gcPercent(); p != 70 {
		t.Fatalf("GC percent %d after collections, want the base 70", p)
	}
}

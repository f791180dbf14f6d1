package bench

import (
	"math"
	"slices"
	"time"
)

// Lost is the latency of a probe that was never notified: longer than any
// other, so that lost probes count in the percentiles.
const Lost = time.Duration(math.MaxInt64)

// Percentile returns the p-th percentile (0 < p <= 100) of ds by the
// nearest-rank method: the smallest value that at least p percent of the
// values are at or below. It returns 0 for no values.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	rank = min(max(rank, 1), len(s))
	return s[rank-1]
}

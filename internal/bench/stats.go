package bench

import (
	"math"
	"slices"
	"time"
)

// Summary is the figures of one run, or the medians of several.
type Summary struct {
	// Throughput is successful requests per second.
	Throughput float64
	// Latency percentiles of the successful requests, and the slowest.
	P50, P90, P99, P999, Max time.Duration
	// OK and Failed count requests (summed over runs in a median).
	OK, Failed int
}

// Summarize computes the figures of one run.
func Summarize(s *Sample) Summary {
	sorted := slices.Clone(s.Latencies)
	slices.Sort(sorted)
	return Summary{
		Throughput: s.Throughput(),
		P50:        Percentile(sorted, 0.50),
		P90:        Percentile(sorted, 0.90),
		P99:        Percentile(sorted, 0.99),
		P999:       Percentile(sorted, 0.999),
		Max:        Percentile(sorted, 1),
		OK:         s.OK,
		Failed:     s.Failed,
	}
}

// Percentile returns the q-quantile (0 < q <= 1) of sorted latencies by the
// nearest-rank method: the smallest value that at least q of the values
// do not exceed. Zero for no values.
func Percentile(sorted []time.Duration, q float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(q * float64(n)))
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}

// Median returns the median of xs (the mean of the middle two for an even
// count); zero for none.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// MedianDuration is Median for durations.
func MedianDuration(ds []time.Duration) time.Duration {
	xs := make([]float64, len(ds))
	for i, d := range ds {
		xs[i] = float64(d)
	}
	return time.Duration(math.Round(Median(xs)))
}

// MedianSummary takes the median of each figure across runs; the request
// counts are summed.
func MedianSummary(runs []Summary) Summary {
	var out Summary
	pick := func(get func(Summary) float64) float64 {
		xs := make([]float64, len(runs))
		for i, r := range runs {
			xs[i] = get(r)
		}
		return Median(xs)
	}
	dur := func(get func(Summary) time.Duration) time.Duration {
		return time.Duration(math.Round(pick(func(s Summary) float64 { return float64(get(s)) })))
	}
	out.Throughput = pick(func(s Summary) float64 { return s.Throughput })
	out.P50 = dur(func(s Summary) time.Duration { return s.P50 })
	out.P90 = dur(func(s Summary) time.Duration { return s.P90 })
	out.P99 = dur(func(s Summary) time.Duration { return s.P99 })
	out.P999 = dur(func(s Summary) time.Duration { return s.P999 })
	out.Max = dur(func(s Summary) time.Duration { return s.Max })
	for _, r := range runs {
		out.OK += r.OK
		out.Failed += r.Failed
	}
	return out
}

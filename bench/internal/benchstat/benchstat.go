// Package benchstat holds the small figures helpers the benchmark programs
// share: medians, milliseconds, rounding, and failing fast.
package benchstat

import (
	"log"
	"slices"
	"time"
)

// Median returns the middle of ds (the upper middle for an even count), or
// 0 when ds is empty.
func Median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// Ms is d in milliseconds, to the microsecond.
func Ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Round2 rounds a ratio to two decimals for printing in JSON.
func Round2(f float64) float64 { return float64(int(f*100+0.5)) / 100 }

// Check ends the program on an error: a benchmark that cannot set up has
// nothing honest to print.
func Check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

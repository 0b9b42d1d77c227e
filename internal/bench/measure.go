package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// side is one command of a comparison: run(i) runs it once and returns
// its wall time; i is the round, -1 for the unmeasured warm-up.
type side func(i int) (time.Duration, error)

// result is what one side measured: its samples in round order, and the
// error that stopped it (nil when every run succeeded).
type result struct {
	samples []time.Duration
	err     error
}

func (r result) stats() stats { return summarize(r.samples) }

// alternate runs every side n times, after one unmeasured warm-up run of
// each, in rounds: round i starts with side i mod k, so that which side
// goes first rotates and a change in the machine's speed hits every side
// alike. A side that fails (its warm-up included) stops there and keeps
// its error; the others go on.
func alternate(n int, sides ...side) []result {
	res := make([]result, len(sides))
	for i := -1; i < n; i++ {
		for j := range sides {
			k := j
			if i >= 0 {
				k = (i + j) % len(sides)
			}
			if res[k].err != nil {
				continue
			}
			d, err := sides[k](i)
			if err != nil {
				res[k].err = err
				continue
			}
			if i >= 0 {
				res[k].samples = append(res[k].samples, d)
			}
		}
	}
	return res
}

// pair is alternate for two sides that must both succeed.
func pair(n int, a, b side) (sa, sb stats, err error) {
	r := alternate(n, a, b)
	for _, x := range r {
		if x.err != nil {
			return sa, sb, x.err
		}
	}
	return r[0].stats(), r[1].stats(), nil
}

// differences returns a's samples minus b's, round by round: the overhead
// of a over b as measured in the same rounds. It is empty unless both
// sides completed every round.
func differences(a, b result) []time.Duration {
	if a.err != nil || b.err != nil || len(a.samples) != len(b.samples) {
		return nil
	}
	d := make([]time.Duration, len(a.samples))
	for i := range d {
		d[i] = a.samples[i] - b.samples[i]
	}
	return d
}

// stats summarises samples.
type stats struct {
	median, min, p90 time.Duration
	n                int
}

func summarize(s []time.Duration) stats {
	if len(s) == 0 {
		return stats{}
	}
	s = slices.Clone(s)
	slices.Sort(s)
	var med time.Duration
	if n := len(s); n%2 == 1 {
		med = s[n/2]
	} else {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	i := (len(s)*9+9)/10 - 1 // nearest-rank 90th percentile
	return stats{median: med, min: s[0], p90: s[i], n: len(s)}
}

// failure is a measurement that did not complete: which row and column,
// and why.
type failure struct {
	what, column string
	err          error
}

// oneLine is err's message on one line, for a table's notes.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// reportFailure says on standard error, as soon as it happens, that a
// measurement failed.
func reportFailure(f failure) {
	fmt.Fprintf(os.Stderr, "bench: FAILED: %s, %s: %s\n", f.what, f.column, oneLine(f.err))
}

// elapsed runs f and adds its wall time to the error it returns, so that a
// failure's row says how long the command ran before it failed.
func elapsed(f side) side {
	return func(i int) (time.Duration, error) {
		start := time.Now()
		d, err := f(i)
		if err != nil {
			return d, fmt.Errorf("%w (after %s)", err, ms(time.Since(start)))
		}
		return d, nil
	}
}

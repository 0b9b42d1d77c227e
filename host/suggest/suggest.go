// Package suggest finds the "did you mean" for a mistyped word among
// flyte's own words (commands, flags, settings). It returns only a
// candidate, never the word it was given, so a hint built from it repeats
// nothing the user typed.
package suggest

import "strings"

// Closest returns the candidate within an edit distance of 2 of word (and
// closer than half the candidate's length), the nearest first; failing
// that, the one candidate that starts or ends with word, when word has at
// least 3 letters ("as_env" and "env_var" for "as_env_var"); or "".
func Closest(word string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if d := Distance(word, c); d < bestD && 2*d < len(c) {
			best, bestD = c, d
		}
	}
	if best != "" || len(word) < 3 {
		return best
	}
	for _, c := range candidates {
		if c != word && (strings.HasPrefix(c, word) || strings.HasSuffix(c, word)) {
			if best != "" {
				return "" // more than one: no guess
			}
			best = c
		}
	}
	return best
}

// Distance is the optimal string alignment distance between a and b
// (insertions, deletions, substitutions, adjacent transpositions),
// bytewise; strings much longer than any of flyte's words are simply far.
func Distance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

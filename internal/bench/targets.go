package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Issue 8's targets ("How it is checked"), each printed beside the figure
// it is checked against, measured in the same run: PASS, MISS, or FAILED
// when the measurement did not complete; a figure the issue asks to
// report without a bound has no verdict.
type target struct {
	what, goal, measured string
	verdict              string // "PASS", "MISS", "FAILED" or ""
}

// nativeBin is bin/flyte-native, once binaries built it.
var nativeBin string

func verdict(pass bool) string {
	if pass {
		return "PASS"
	}
	return "MISS"
}

// ratioTarget checks the median of a against at most max times the
// median of base (max 0: report the ratio only).
func (t *table) ratioTarget(what string, a, base result, max float64) {
	tg := target{what: what, goal: "reported"}
	if max > 0 {
		tg.goal = "≤ " + strconv.FormatFloat(max, 'f', -1, 64) + "x flyte-native"
	}
	switch {
	case a.err != nil || base.err != nil || len(a.samples) == 0 || len(base.samples) == 0:
		tg.measured, tg.verdict = "-", "FAILED"
	default:
		r := float64(a.stats().median) / float64(base.stats().median)
		tg.measured = strconv.FormatFloat(r, 'f', 2, 64) + "x (" + ms(a.stats().median) + " / " + ms(base.stats().median) + ")"
		if max > 0 {
			tg.verdict = verdict(r <= max)
		}
	}
	t.targets = append(t.targets, tg)
}

// timeTarget checks a's median against at most max.
func (t *table) timeTarget(what string, a result, max time.Duration) {
	tg := target{what: what, goal: "≤ " + ms(max)}
	if a.err != nil || len(a.samples) == 0 {
		tg.measured, tg.verdict = "-", "FAILED"
	} else {
		tg.measured, tg.verdict = ms(a.stats().median), verdict(a.stats().median <= max)
	}
	t.targets = append(t.targets, tg)
}

// rssTarget checks a's median (bytes) against at most max bytes.
func (t *table) rssTarget(what string, a result, max int64) {
	tg := target{what: what, goal: "≤ " + sizeStr(max)}
	if a.err != nil || len(a.samples) == 0 {
		tg.measured, tg.verdict = "-", "FAILED"
	} else {
		tg.measured, tg.verdict = sizeStr(int64(a.stats().median)), verdict(int64(a.stats().median) <= max)
	}
	t.targets = append(t.targets, tg)
}

// printTargets writes the targets as a second table.
func (t *table) printTargets(w io.Writer) {
	if len(t.targets) == 0 {
		return
	}
	cells := [][]string{{"issue 8 target", "goal", "measured (median)", "verdict"}}
	for _, tg := range t.targets {
		cells = append(cells, []string{tg.what, tg.goal, tg.measured, cmpOr(tg.verdict, "-")})
	}
	fmt.Fprintln(w)
	markdown(w, cells)
}

// storeLayout says which on-disk layout the filestore of e's HOME has (the
// default store path): format 2 keeps a marker file named secrets, format
// 1 a directory of that name.
func storeLayout(e env) string {
	p := filepath.Join(e.home, ".local", "share", "flyte", "store", "secrets")
	fi, err := os.Lstat(p)
	switch {
	case err != nil:
		return "unknown (" + oneLine(err) + ")"
	case fi.IsDir():
		return "format 1 (a file per record)"
	case fi.Mode().IsRegular():
		return "format 2 (a log per organization)"
	}
	return "unknown (" + p + " is " + fi.Mode().String() + ")"
}

// belowTarget checks that a's median is below b's (the peer's).
func (t *table) belowTarget(what string, a, b result) {
	tg := target{what: what, goal: "median below sops'"}
	if a.err != nil || b.err != nil || len(a.samples) == 0 || len(b.samples) == 0 {
		tg.measured, tg.verdict = "-", "FAILED"
	} else {
		tg.measured = ms(a.stats().median) + " against " + ms(b.stats().median)
		tg.verdict = verdict(a.stats().median < b.stats().median)
	}
	t.targets = append(t.targets, tg)
}

// Command bench measures flyte's CLI against a native baseline and prints
// one table. `make bench` runs it after `make build`:
//
//	go run ./internal/bench [-n 101] [-n-large 15] [-n-huge 3] [-cold 7] [-secrets 1000] [-large 10000] [-huge 100000] [-etcd=false] [-in-process]
//
// It builds bin/flyte-native itself (go build -tags flytenative): the same
// CLI, the same filestore code and ABI codec, linked natively instead of
// loaded as WebAssembly (see cmd/flyte/native_baseline.go), which never
// uses the agent. "flyte" is bin/flyte served by a warm resident agent,
// which the bench starts in a runtime directory of its own and stops at
// the end (agent.go); the in-process fallback (FLYTE_NO_AGENT=1) is a
// further side of the same rounds where the issue asks for it, or of
// every row with -in-process. Both binaries
// run as real processes on the same store in throw-away HOME directories;
// measurements are interleaved so that drift in the machine's speed hits
// every side alike (measure.go). Every figure is a median over the runs,
// with the minimum and 90th percentile beside it. A command that fails is
// reported as a FAILED row, with its message under the table, and the
// bench goes on; it exits 1 at the end. Stores are filled in process with
// the native store code (fill.go); peak memory is measured through a small
// launcher (rss.go). The etcd rows (etcd.go) put the built-in etcd store,
// on a one-node etcd the bench starts on loopback, beside the filestore
// over the same secrets. With -peers (peers.go, `make bench-peers`) it
// builds sops and age from source instead and compares sops exec-env with
// flyte run. docs/PERFORMANCE.md explains the rows and records runs.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/capability"
	"github.com/flytesecrets/flyte/host/config"
	"github.com/flytesecrets/flyte/host/plugin"
	"github.com/tetratelabs/wazero"
)

var (
	flagN        = flag.Int("n", 101, "runs per warm measurement of a small command (version, get at the small size, create, run)")
	flagNLarge   = flag.Int("n-large", 15, "runs per measurement at the large size")
	flagNHuge    = flag.Int("n-huge", 3, "runs per measurement at the huge size")
	flagNPlugins = flag.Int("n-plugins", 51, "rounds of the per-plugin table (warm inspects and loads of each plugin); 0 leaves the table out")
	flagCold     = flag.Int("cold", 7, "cold first runs (each with an empty plugin cache)")
	flagSecrets  = flag.Int("secrets", 1000, "secrets in the store for the main get measurement")
	flagLarge    = flag.Int("large", 10000, "secrets in the store for the large get measurement")
	flagHuge     = flag.Int("huge", 100000, "secrets in the store for the huge get measurement (0 leaves it out)")
	flagJobs     = flag.Int("j", 4*runtime.NumCPU(), "parallel writers while filling stores")
	flagInProc   = flag.Bool("in-process", false, "run every flyte row also with FLYTE_NO_AGENT=1 (the in-process fallback) as a further side of the same rounds (get at -secrets always has it)")
	flagNRSS     = flag.Int("n-rss", 21, "runs per peak-RSS measurement")
	flagKeep     = flag.Bool("keep", false, "keep the temporary directories")
)

func main() {
	flag.Parse()
	if *flagRSSExec {
		os.Exit(rssExec(flag.Args()))
	}
	cleanupOnSignal()
	var err error
	if *flagPeers {
		err = peers()
	} else {
		err = run()
	}
	runExit() // stops the bench's agents, removes its files
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// env is a throw-away user: its HOME holds the configuration, identity and
// store; cache is its FLYTE_CACHE_DIR; extra are more variables. Commands
// run in HOME, so that no flyte.toml of the repository is found.
type env struct {
	home  string
	cache string
	extra []string
}

func (e env) environ() []string {
	env := []string{"HOME=" + e.home, "FLYTE_CACHE_DIR=" + e.cache, "PATH=" + os.Getenv("PATH"), "LANG=C"}
	if runtimeDir != "" {
		env = append(env, "XDG_RUNTIME_DIR="+runtimeDir) // never the user's agent (agent.go)
	}
	return append(env, e.extra...)
}

// getenv reads e's environment, as flyte would see it.
func (e env) getenv(name string) string {
	v := ""
	for _, kv := range e.environ() {
		if k, val, ok := strings.Cut(kv, "="); ok && k == name {
			v = val
		}
	}
	return v
}

// with returns e with more variables.
func (e env) with(vars ...string) env {
	e.extra = append(append([]string(nil), e.extra...), vars...)
	return e
}

// command returns bin with args as a process in e: in HOME, with e's
// environment, no input, its output discarded and its errors kept in
// stderr.
func (e env) command(stderr *bytes.Buffer, bin string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.Dir = e.home
	cmd.Env = e.environ()
	if bin == nativeBin {
		// flyte-native never uses the agent; said explicitly all the same.
		cmd.Env = append(cmd.Env, "FLYTE_NO_AGENT=1")
	}
	cmd.Stdin = nil
	cmd.Stdout = io.Discard
	cmd.Stderr = stderr
	return cmd
}

// exec runs bin with args as a process and returns its wall time. It fails
// unless the process exits with status 0, with what it wrote on stderr.
func (e env) exec(bin string, args ...string) (time.Duration, error) {
	done, err := busy()
	if err != nil {
		return 0, err
	}
	defer done()
	var stderr bytes.Buffer
	cmd := e.command(&stderr, bin, args...)
	start := time.Now()
	err = cmd.Run()
	d := time.Since(start)
	if err != nil {
		return 0, commandError(bin, args, err, &stderr)
	}
	return d, nil
}

func commandError(bin string, args []string, err error, stderr *bytes.Buffer) error {
	return fmt.Errorf("%s %s: %v: %s", filepath.Base(bin), strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
}

// row is one line of the table. A zero baseline prints as "-".
type row struct {
	what       string
	a, b       stats
	errA, errB error // a failed measurement: the side stopped there
	bytesA     int64 // for size rows
	bytesB     int64
	memory     bool   // a and b hold bytes (peak RSS), not times
	baseline   string // what the baseline column holds, when not flyte-native
}

type table struct {
	head     string // what the first figures' column holds; "flyte" when ""
	rows     []row
	failures []failure
	targets  []target
}

func (t *table) add(r row) {
	t.rows = append(t.rows, r)
	head := cmpOr(t.head, "flyte")
	for _, f := range []failure{{r.what, head, r.errA}, {r.what, cmpOr(r.baseline, "flyte-native"), r.errB}} {
		if f.err == nil || t.failed(f.err) {
			continue
		}
		t.failures = append(t.failures, f)
		reportFailure(f)
	}
	// Progress on stderr, so that a long run shows where it is.
	if r.a.n > 0 || r.errA != nil {
		fmt.Fprintf(os.Stderr, "bench: %-60s %9s  %9s\n", r.what, r.figure(r.a, r.errA), r.figure(r.b, r.errB))
	}
}

// failed reports whether err is already among t's failures (a baseline
// shared by several rows fails once).
func (t *table) failed(err error) bool {
	for _, f := range t.failures {
		if f.err == err {
			return true
		}
	}
	return false
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// figure is a median as the table shows it.
func (r row) figure(s stats, err error) string {
	switch {
	case err != nil:
		return "FAILED"
	case r.memory:
		return sizeStr(int64(s.median))
	}
	return ms(s.median)
}

func (r row) spread(s stats, err error) string {
	switch {
	case err != nil:
		return "FAILED"
	case s.n == 0:
		return "-"
	case r.memory:
		return sizeStr(int64(s.min)) + " / " + sizeStr(int64(s.p90))
	}
	return ms(s.min) + " / " + ms(s.p90)
}

func ms(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	switch {
	case d < time.Millisecond && d > -time.Millisecond:
		return strconv.FormatFloat(float64(d)/float64(time.Microsecond), 'f', 1, 64) + " µs"
	case d < 10*time.Second:
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + " ms"
	}
	return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + " s"
}

func spread(s stats) string {
	if s.n == 0 {
		return "-"
	}
	return ms(s.min) + " / " + ms(s.p90)
}

func sizeStr(n int64) string {
	switch {
	case n == 0:
		return "-"
	case n < 100e3: // a small module (the built-in injectors)
		return strconv.FormatFloat(float64(n)/1e3, 'f', 1, 64) + " KB"
	}
	return strconv.FormatFloat(float64(n)/1e6, 'f', 2, 64) + " MB"
}

// print writes the table as Markdown, padded so that it also reads well in
// a terminal, and below it the measurements that failed.
func (t *table) print(w io.Writer) {
	head := cmpOr(t.head, "flyte")
	cells := [][]string{{"what", head, "baseline", "ratio", "runs", head + " min / p90", "baseline min / p90", "baseline is"}}
	for _, r := range t.rows {
		base := cmpOr(r.baseline, "flyte-native")
		if r.a.n == 0 && r.errA == nil { // a size row
			ratio := "-"
			if r.bytesB > 0 {
				ratio = strconv.FormatFloat(float64(r.bytesA)/float64(r.bytesB), 'f', 2, 64) + "x"
			} else {
				base = "-"
			}
			cells = append(cells, []string{r.what, sizeStr(r.bytesA), sizeStr(r.bytesB), ratio, "-", "-", "-", base})
			continue
		}
		ratio := "-"
		if r.a.n > 0 && r.errA == nil && r.b.n > 0 && r.b.median > 0 && r.errB == nil {
			ratio = strconv.FormatFloat(float64(r.a.median)/float64(r.b.median), 'f', 1, 64) + "x"
		} else if r.b.n == 0 && r.errB == nil {
			base = "-"
		}
		n := strconv.Itoa(r.a.n)
		if r.b.n > 0 && r.b.n != r.a.n {
			n += " / " + strconv.Itoa(r.b.n)
		}
		cells = append(cells, []string{r.what, r.figure(r.a, r.errA), r.figure(r.b, r.errB), ratio, n,
			r.spread(r.a, r.errA), r.spread(r.b, r.errB), base})
	}
	markdown(w, cells)
	t.printTargets(w)
	if len(t.failures) > 0 {
		fmt.Fprintf(w, "\nFAILED (%d):\n", len(t.failures))
		for _, f := range t.failures {
			fmt.Fprintf(w, "- %s, %s: %s\n", f.what, f.column, oneLine(f.err))
		}
	}
}

// markdown writes cells as a Markdown table, the first row its header,
// padded so that it also reads well in a terminal: the first and last
// columns to the left, the others to the right.
func markdown(w io.Writer, cells [][]string) {
	width := make([]int, len(cells[0]))
	for _, row := range cells {
		for i, c := range row {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	line := func(row []string) {
		var b strings.Builder
		for i, c := range row {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			if i == 0 || i == len(row)-1 {
				b.WriteString("| " + c + pad + " ")
			} else {
				b.WriteString("| " + pad + c + " ")
			}
		}
		fmt.Fprintln(w, b.String()+"|")
	}
	line(cells[0])
	sep := make([]string, len(width))
	for i := range sep {
		sep[i] = strings.Repeat("-", width[i])
		if i != 0 && i != len(sep)-1 {
			sep[i] = sep[i][1:] + ":"
		}
	}
	line(sep)
	for _, row := range cells[1:] {
		line(row)
	}
}

// variant is one way of running flyte in a comparison: served by the
// bench's warm agent (the default path, "flyte" in the table), or with
// FLYTE_NO_AGENT=1, the in-process fallback.
type variant struct {
	label  string   // appended to the row's name
	env    []string // added to the command's environment
	prefix string   // of the keys its creates make
	agent  bool     // served by the bench's agent: compare checks that it was
}

var (
	agentVariant  = variant{prefix: "W", agent: true}
	inProcVariant = variant{label: ", in-process fallback (FLYTE_NO_AGENT=1)", env: []string{"FLYTE_NO_AGENT=1"}, prefix: "P"}
)

// variants are the sides of a flyte row: the agent's, and with
// -in-process (or always, when the issue asks for the fallback's figure)
// the in-process fallback's.
func variants(always bool) []variant {
	if *flagInProc || always {
		return []variant{agentVariant, inProcVariant}
	}
	return []variant{agentVariant}
}

// compare measures every variant of a flyte command and a baseline in the
// same rounds (alternate) and adds a row per variant, each against the
// baseline. It returns the results, the baseline's last. The agent's
// variant is checked to have been served by the bench's agent in every
// run (servedCheck); a side that was not is a FAILED row.
func (t *table) compare(n int, what string, vs []variant, run func(v variant, i int) (time.Duration, error), base side, baseline string) []result {
	sides := make([]side, 0, len(vs)+1)
	for _, v := range vs {
		sides = append(sides, elapsed(func(i int) (time.Duration, error) { return run(v, i) }))
	}
	check := t.agentBefore(vs)
	res := alternate(n, append(sides, elapsed(base))...)
	t.agentAfter(check, vs, res, n)
	b := res[len(vs)]
	for k, v := range vs {
		t.add(row{what: what + v.label, a: res[k].stats(), errA: res[k].err, b: b.stats(), errB: b.err, baseline: baseline})
	}
	return res
}

// agentBefore starts the bench's agent (it exits when idle, and an
// earlier step may have been long) and notes what it served so far, when
// a variant of vs is the agent's.
func (t *table) agentBefore(vs []variant) *servedCheck {
	for _, v := range vs {
		if v.agent {
			if err := startAgent(agentBin); err != nil {
				return &servedCheck{err: err}
			}
			return agentCheck(agentBin)
		}
	}
	return nil
}

// agentAfter fails the agent's side of res unless the agent served each
// of its n runs and the warm-up.
func (t *table) agentAfter(c *servedCheck, vs []variant, res []result, n int) {
	if c == nil {
		return
	}
	for k, v := range vs {
		if v.agent && res[k].err == nil {
			if err := c.verify(n + 1); err != nil {
				res[k].err = err
			}
		}
	}
}

// overhead adds a row per variant for what it costs over the baseline,
// from the differences within each round (a median of differences, which
// is steadier than a difference of medians).
func (t *table) overhead(what string, vs []variant, res []result, baseline string) {
	b := res[len(vs)]
	for k, v := range vs {
		d := differences(res[k], b)
		if d == nil {
			continue // the rows above report the failure
		}
		t.add(row{what: what + v.label, a: summarize(d), baseline: baseline})
	}
}

func run() error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	if *flagPluginsOnly {
		fmt.Println(machine())
		fmt.Printf("load average (1 min) before: %s\n\n", loadavg())
		if err := pluginTable(os.Stdout, root, *flagNPlugins, *flagCold, *flagCalls); err != nil {
			return err
		}
		fmt.Printf("\nload average (1 min) after: %s\n", loadavg())
		return nil
	}
	flyte, native, err := binaries(root)
	if err != nil {
		return err
	}

	tmp, err := os.MkdirTemp("", "flyte-bench-")
	if err != nil {
		return err
	}
	if *flagKeep {
		fmt.Fprintln(os.Stderr, "bench: keeping", tmp)
	} else {
		atExit(func() { _ = os.RemoveAll(tmp) }) // after the agents stop (registered later, run first)
	}
	// The bench's own agent: every flyte command below runs with
	// XDG_RUNTIME_DIR=tmp/run (agent.go).
	if err := newRuntimeDir(flyte, filepath.Join(tmp, "run")); err != nil {
		return err
	}
	runtimeDir = filepath.Join(tmp, "run")
	warmCache := filepath.Join(tmp, "cache")
	newEnv := func(name string) (env, error) {
		e := env{home: filepath.Join(tmp, name), cache: warmCache}
		return e, os.MkdirAll(e.home, 0o700)
	}

	var t table
	begin, loadBefore := time.Now(), loadavg()
	vs := variants(false)

	// Sizes.
	wasms, _ := filepath.Glob(filepath.Join(root, "host", "builtin", "wasm", "*.wasm"))
	if len(wasms) == 0 {
		return fmt.Errorf("no built-in plugins in host/builtin/wasm: run `make build` first")
	}
	for _, w := range wasms {
		t.add(row{what: "size: built-in plugin " + filepath.Base(w), bytesA: fileSize(w)})
	}
	t.add(row{what: "size: binary (flyte vs flyte-native)", bytesA: fileSize(flyte), bytesB: fileSize(native)})

	// Process start, no plugin: the floor of any command.
	small, err := stage(tmp, "small", warmCache, native, *flagSecrets)
	if err != nil {
		return err
	}
	layout := storeLayout(small)
	t.compare(*flagN, "flyte version (process start, no plugin, no agent)", []variant{{}},
		func(variant, int) (time.Duration, error) { return small.exec(flyte, "version") },
		func(int) (time.Duration, error) { return small.exec(native, "version") }, "")

	// get secret over the small store: the agent, and the in-process
	// fallback, each against flyte-native.
	getFlyte := func(e env) func(v variant, _ int) (time.Duration, error) {
		return func(v variant, _ int) (time.Duration, error) { return e.with(v.env...).exec(flyte, "get", "secret") }
	}
	getNative := func(e env) side {
		return func(int) (time.Duration, error) { return e.exec(native, "get", "secret") }
	}
	getWhat := fmt.Sprintf("get secret, %d secrets, warm", *flagSecrets)
	gvs := variants(true)
	res := t.compare(*flagN, getWhat, gvs, getFlyte(small), getNative(small), "")
	warmGet := res[0].stats()
	t.ratioTarget(getWhat+" (agent)", res[0], res[len(gvs)], 2)
	t.ratioTarget(getWhat+", in-process fallback", res[1], res[len(gvs)], 0)

	// create, warm caches, in a store of its own that starts with one
	// secret, and in one that starts with -secrets: a create does not cost
	// the same whatever the store holds (it reads the first page of the
	// listing to check the data key, secrets.Manager.checkNotOlder, and
	// rewrites the marks file of the versions seen).
	cr, err := newEnv("create")
	if err != nil {
		return err
	}
	if err := fill(cr, native, 0, 1); err != nil {
		return err
	}
	createRow := func(e env, what string) {
		res := t.compare(*flagN, what, vs,
			func(v variant, i int) (time.Duration, error) {
				return e.with(v.env...).exec(flyte, "create", "secret", v.prefix+strconv.Itoa(i+1), "bench-create-value")
			},
			func(i int) (time.Duration, error) {
				return e.exec(native, "create", "secret", "N"+strconv.Itoa(i+1), "bench-create-value")
			}, "")
		t.ratioTarget(what+" (agent)", res[0], res[len(vs)], 1.5)
	}
	createRow(cr, "create secret, warm")
	crBig, err := stage(tmp, "create-big", warmCache, native, *flagSecrets)
	if err != nil {
		return err
	}
	createRow(crBig, fmt.Sprintf("create secret, %d secrets, warm", *flagSecrets))

	// The cold first run: an empty plugin cache and no agent running, so
	// the command starts one and it compiles the plugin.
	cold := t.cold(fmt.Sprintf("get secret, %d secrets, cold (empty cache, no agent)", *flagSecrets), small, tmp, warmGet, flyte, "get", "secret")
	t.timeTarget(fmt.Sprintf("get secret, %d secrets, cold", *flagSecrets), cold, 1500*time.Millisecond)

	// In process, with the same warm cache: what loading the plugin costs.
	loadS, compileS, err := inProcess(warmCache, *flagN)
	if err != nil {
		return err
	}
	t.add(row{what: "in-process: plugin Load, warm cache", a: loadS})
	t.add(row{what: "  of which CompileModule (cache hit)", a: compileS})

	// flyte run: a task with two env and two file secrets (namespace,
	// tmpfs, two injector plugins, the masker) beside the bare command.
	task, err := taskEnv(newEnv, flyte)
	if err != nil {
		return err
	}
	taskRows(&t, task, tmp, flyte, vs)

	// get secret over the large store.
	large, err := stage(tmp, "large", warmCache, native, *flagLarge)
	if err != nil {
		return err
	}
	t.compare(*flagNLarge, fmt.Sprintf("get secret, %d secrets, warm", *flagLarge), vs, getFlyte(large), getNative(large), "")

	// The etcd store over the same large store's secrets (etcd.go).
	if *flagEtcd {
		if err := etcdRows(&t, large, flyte, tmp); err != nil {
			return err
		}
	}

	// get secret over the huge store. A failure (before issue 8: the guest
	// ran out of memory) is a FAILED row, not the end of the bench.
	if *flagHuge > 0 {
		huge, err := stage(tmp, "huge", warmCache, native, *flagHuge)
		if err != nil {
			return err
		}
		what := fmt.Sprintf("get secret, %d secrets, warm", *flagHuge)
		res := t.compare(*flagNHuge, what, vs, getFlyte(huge), getNative(huge), "")
		t.timeTarget(what+" (agent)", res[0], time.Second)
		if !*flagKeep {
			_ = os.RemoveAll(huge.home) // hundreds of MB
		}
	}

	fmt.Fprintf(os.Stderr, "bench: done in %s\n\n", time.Since(begin).Round(time.Second))
	fmt.Println(machine())
	fmt.Printf("load average (1 min) before / after: %s / %s\n", loadBefore, loadavg())
	fmt.Println("flyte: bin/flyte served by a warm resident agent (the bench's own, in a private XDG_RUNTIME_DIR); " +
		"in-process fallback: bin/flyte with FLYTE_NO_AGENT=1; flyte-native: the native build, in-process")
	fmt.Println("store layout measured: " + layout)
	fmt.Println()
	t.print(os.Stdout)
	if launcherFloor > 0 {
		fmt.Printf("\npeak RSS is wait4's ru_maxrss of the command through a launcher whose own peak was at most %s (rss.go)\n", sizeStr(launcherFloor))
	}
	if *flagNPlugins > 0 {
		fmt.Println()
		if err := pluginTable(os.Stdout, root, *flagNPlugins, *flagCold, *flagCalls); err != nil {
			return err
		}
	}
	if len(t.failures) > 0 {
		return fmt.Errorf("%d measurement(s) FAILED (listed under the table)", len(t.failures))
	}
	return nil
}

// binaries returns bin/flyte, which make build made, and bin/flyte-native,
// which it builds now from the same tree.
func binaries(root string) (flyte, native string, err error) {
	flyte = filepath.Join(root, "bin", "flyte")
	native = filepath.Join(root, "bin", "flyte-native")
	nativeBin = native
	if _, err := os.Stat(flyte); err != nil {
		return "", "", fmt.Errorf("%s is missing: run `make build` first (make bench does)", flyte)
	}
	fmt.Fprintln(os.Stderr, "bench: go build -tags flytenative -o bin/flyte-native ./cmd/flyte")
	build := exec.Command("go", "build", "-tags", "flytenative", "-o", native, "./cmd/flyte")
	build.Dir, build.Stdout, build.Stderr = root, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return "", "", fmt.Errorf("building the native baseline: %w", err)
	}
	return flyte, native, nil
}

// cold adds a row per variant for -cold first runs of flyte args in e's
// HOME, against warm, the warm median, and returns the agent's result.
// Each run is a first use on a new machine: an empty plugin cache, an
// empty state directory (XDG_STATE_HOME) and a runtime directory
// (XDG_RUNTIME_DIR) of its own, so that nothing compiled, no plan cached
// and no agent started by an earlier run helps. Through the agent, the
// command starts one, which compiles the plugins and serves it; that
// agent is stopped after the run, outside the time measured. With
// -in-process the fallback is a further side of the same rounds.
func (t *table) cold(what string, e env, tmp string, warm stats, flyte string, args ...string) result {
	vs := variants(false)
	var sides []side
	for k, v := range vs {
		sides = append(sides, elapsed(func(i int) (time.Duration, error) {
			if i < 0 {
				return 0, nil // no warm-up: every run is a first one
			}
			id := strconv.Itoa(k) + "-" + strconv.Itoa(i)
			stateHome, run := filepath.Join(tmp, "cold-state-"+id), filepath.Join(tmp, "cold-run-"+id)
			if err := newRuntimeDir(flyte, run); err != nil {
				return 0, err
			}
			c := env{home: e.home, cache: filepath.Join(tmp, "cold-"+id),
				extra: append([]string{"XDG_STATE_HOME=" + stateHome, "XDG_RUNTIME_DIR=" + run}, v.env...)}
			d, err := c.exec(flyte, args...)
			if serr := stopAgent(flyte, run); err == nil && serr != nil {
				err = fmt.Errorf("stopping the agent the cold run started: %w", serr)
			}
			_ = os.RemoveAll(c.cache)
			_ = os.RemoveAll(stateHome)
			return d, err
		}))
	}
	res := alternate(*flagCold, sides...)
	for k, v := range vs {
		t.add(row{what: what + v.label, a: res[k].stats(), errA: res[k].err, b: warm, baseline: "flyte, warm"})
	}
	return res[0]
}

const taskConfig = `
[[environments]]
name = "task"
project = "proj"
domain = "development"
secrets = ["E1", "E2", { key = "F1", mount = "/etc/flyte/secrets" }, { key = "F2", mount = "/etc/flyte/secrets" }]

[[environments]]
name = "envonly"
project = "proj"
domain = "development"
secrets = ["E1", "E2"]
`

// taskEnv is a HOME whose flyte.toml has the environments "task" (two env
// and two file secrets) and "envonly" (the two env secrets), with the four
// secrets created by flyte.
func taskEnv(newEnv func(string) (env, error), flyte string) (env, error) {
	e, err := newEnv("task")
	if err != nil {
		return e, err
	}
	if err := os.WriteFile(filepath.Join(e.home, config.FileName), []byte(taskConfig), 0o600); err != nil {
		return e, err
	}
	for _, k := range []string{"E1", "E2", "F1", "F2"} {
		if _, err := e.exec(flyte, "create", "secret", k, "bench-task-value-"+k); err != nil {
			return e, err
		}
	}
	return e, nil
}

// taskRows measures flyte run ENV -- /bin/true against a bare /bin/true in
// the same rounds, the overhead (median of the differences within each
// round), the cold first run, and the peak memory of flyte run.
func taskRows(t *table, e env, tmp, flyte string, vs []variant) {
	trueBin := trueBinary()
	bare := func(int) (time.Duration, error) { return e.exec(trueBin) }
	var warm stats
	for _, c := range []struct{ env, what string }{
		{"task", "run ENV -- /bin/true, 2 env + 2 file secrets, warm"},
		{"envonly", "run ENV -- /bin/true, 2 env secrets, warm"},
	} {
		res := t.compare(*flagN, c.what, vs, func(v variant, _ int) (time.Duration, error) {
			return e.with(v.env...).exec(flyte, "run", c.env, "--", trueBin)
		}, bare, "bare /bin/true")
		t.overhead("  overhead over bare /bin/true (median of differences)", vs, res, "-")
		if c.env == "task" {
			warm = res[0].stats()
			if d := differences(res[0], res[len(vs)]); d != nil {
				t.targets = append(t.targets, target{what: "run ENV -- /bin/true, 2 env + 2 file secrets: overhead over bare /bin/true (agent)",
					goal: "reported (below sops': make bench-peers)", measured: ms(summarize(d).median)})
			}
		}
	}
	cold := t.cold("run ENV -- /bin/true, 2 env + 2 file secrets, cold (empty cache, no agent, 3 plugins)", e, tmp, warm, flyte, "run", "task", "--", trueBin)
	t.timeTarget("run ENV -- /bin/true, 2 env + 2 file secrets, cold", cold, 1500*time.Millisecond)
	check := t.agentBefore(vs)
	res := alternate(*flagNRSS, append(rssSides(e, vs, flyte, "run", "task", "--", trueBin),
		elapsed(func(int) (time.Duration, error) { return e.peakRSS(trueBin) }))...)
	t.agentAfter(check, vs, res, *flagNRSS)
	b := res[len(vs)]
	for k, v := range vs {
		t.add(row{what: "peak RSS: flyte run, 2 env + 2 file secrets" + v.label, a: res[k].stats(), errA: res[k].err,
			b: b.stats(), errB: b.err, memory: true, baseline: "bare /bin/true"})
	}
	t.rssTarget("peak RSS of the flyte client in flyte run (agent)", res[0], 40e6)
}

// rssSides measures the peak RSS of flyte args, one side per variant.
func rssSides(e env, vs []variant, flyte string, args ...string) []side {
	var sides []side
	for _, v := range vs {
		sides = append(sides, elapsed(func(int) (time.Duration, error) { return e.with(v.env...).peakRSS(flyte, args...) }))
	}
	return sides
}

// trueBinary is /bin/true, or true from PATH where there is none.
func trueBinary() string {
	if _, err := os.Stat("/bin/true"); err == nil {
		return "/bin/true"
	}
	if p, err := exec.LookPath("true"); err == nil {
		return p
	}
	return "/bin/true"
}

// inProcess times plugin.Host.Load of the built-in store plugin with the
// given (warm) cache: a cache-hit compile, instantiation (the guest's Go
// runtime start-up) and one describe call, as every CLI process pays; and
// the cache-hit CompileModule alone.
func inProcess(cache string, n int) (load, compile stats, err error) {
	wasm, err := os.ReadFile(filepath.Join("host", "builtin", "wasm", "filestore.wasm"))
	if err != nil {
		return
	}
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "flyte-bench-store-")
	if err != nil {
		return
	}
	defer os.RemoveAll(dir)
	var dl, dc []time.Duration
	for i := -1; i < n; i++ {
		h, err := plugin.NewHost(plugin.Options{CacheDir: cache})
		if err != nil {
			return load, compile, err
		}
		start := time.Now()
		p, err := h.Load(ctx, plugin.Spec{Name: "filestore", Wasm: wasm, Kind: abi.KindStore,
			Grants: map[string]capability.Grant{"fs": capability.FSGrant(dir)}})
		d := time.Since(start)
		if err != nil {
			return load, compile, err
		}
		p.Close(ctx)
		h.Close()

		wc, err := wazero.NewCompilationCacheWithDir(filepath.Join(cache, "wazero"))
		if err != nil {
			return load, compile, err
		}
		rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCloseOnContextDone(true).
			WithMemoryLimitPages(plugin.DefaultMemoryPages).WithCompilationCache(wc))
		start = time.Now()
		cm, err := rt.CompileModule(ctx, wasm)
		c := time.Since(start)
		if err != nil {
			return load, compile, err
		}
		_ = cm.Close(ctx)
		_ = rt.Close(ctx)
		_ = wc.Close(ctx)
		if i >= 0 { // the first round warms up
			dl, dc = append(dl, d), append(dc, c)
		}
	}
	return summarize(dl), summarize(dc), nil
}

// loadavg returns the 1-minute load average: on a shared machine it says
// how much to trust the figures.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

func fileSize(p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return fi.Size()
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("run bench from inside the flyte module (make bench)")
	}
	root := filepath.Dir(gomod)
	if err := os.Chdir(root); err != nil {
		return "", err
	}
	return root, nil
}

// machine describes where the figures come from.
func machine() string {
	gv, _ := exec.Command("go", "version").Output()
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel := ""
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = ", Linux " + strings.TrimSpace(string(b))
	}
	runs := fmt.Sprintf("n=%d, n-large=%d, n-huge=%d, n-rss=%d, cold=%d, n-plugins=%d; secrets: %d, %d, %d",
		*flagN, *flagNLarge, *flagNHuge, *flagNRSS, *flagCold, *flagNPlugins, *flagSecrets, *flagLarge, *flagHuge)
	if *flagPeers {
		runs = fmt.Sprintf("n=%d, n-rss=%d", *flagN, *flagNRSS)
	}
	return fmt.Sprintf("machine: %d CPUs (nproc), %s%s; %s; runs: %s", runtime.NumCPU(), cpu, kernel, strings.TrimSpace(string(gv)), runs)
}

// Command bench measures flyte's CLI against a native baseline and prints
// one table. `make bench` runs it after `make build`:
//
//	go run ./internal/bench [-n 51] [-n-large 15] [-cold 7] [-secrets 1000] [-large 10000] [-etcd=false]
//
// It builds bin/flyte-native itself (go build -tags flytenative): the same
// CLI, the same filestore code and ABI codec, linked natively instead of
// loaded as WebAssembly (see cmd/flyte/native_baseline.go). Both binaries
// run as real processes on the same store in throw-away HOME directories;
// measurements of the two are interleaved so that drift in the machine's
// speed hits both alike. Every figure is a median over the runs, with the
// minimum and 90th percentile beside it. The etcd rows (etcd.go) put the
// built-in etcd store, on a one-node etcd the bench starts on loopback,
// beside the filestore over the same secrets. docs/PERFORMANCE.md explains
// the rows and records a run.
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
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/capability"
	"github.com/flytesecrets/flyte/host/plugin"
	"github.com/tetratelabs/wazero"
)

var (
	flagN       = flag.Int("n", 51, "runs per warm measurement (get at the small size, create, version)")
	flagNLarge  = flag.Int("n-large", 15, "runs per measurement at the large size")
	flagCold    = flag.Int("cold", 7, "cold first runs (each with an empty plugin cache)")
	flagSecrets = flag.Int("secrets", 1000, "secrets in the store for the main get measurement")
	flagLarge   = flag.Int("large", 10000, "secrets in the store for the large get measurement")
	flagJobs    = flag.Int("j", 4*runtime.NumCPU(), "parallel processes while populating stores")
	flagKeep    = flag.Bool("keep", false, "keep the temporary directories")
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// env is a throw-away user: its HOME holds the configuration, identity and
// store; cache is its FLYTE_CACHE_DIR. Commands run in HOME, so that no
// flyte.toml of the repository is found.
type env struct {
	home  string
	cache string
}

func (e env) environ() []string {
	return []string{"HOME=" + e.home, "FLYTE_CACHE_DIR=" + e.cache, "PATH=" + os.Getenv("PATH"), "LANG=C"}
}

// exec runs bin with args as a process and returns its wall time. It fails
// unless the process exits with status 0.
func (e env) exec(bin string, args ...string) (time.Duration, error) {
	d, _, err := e.execRSS(bin, args...)
	return d, err
}

// execRSS is exec that also returns the process's peak resident set size.
func (e env) execRSS(bin string, args ...string) (time.Duration, int64, error) {
	cmd := exec.Command(bin, args...)
	cmd.Dir = e.home
	cmd.Env = e.environ()
	cmd.Stdin = nil
	cmd.Stdout = io.Discard
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		return 0, 0, fmt.Errorf("%s %s: %v: %s", filepath.Base(bin), strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	var rss int64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rss = ru.Maxrss << 10 // kilobytes on Linux
	}
	return d, rss, nil
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

// pair measures a and b n times each, interleaved, alternating which goes
// first, after one unmeasured warm-up run of each.
func pair(n int, a, b func(i int) (time.Duration, error)) (sa, sb stats, err error) {
	if _, err = a(-1); err != nil {
		return
	}
	if _, err = b(-1); err != nil {
		return
	}
	var da, db []time.Duration
	for i := 0; i < n; i++ {
		first, second := a, b
		if i%2 == 1 {
			first, second = b, a
		}
		d1, err := first(i)
		if err != nil {
			return sa, sb, err
		}
		d2, err := second(i)
		if err != nil {
			return sa, sb, err
		}
		if i%2 == 1 {
			d1, d2 = d2, d1
		}
		da, db = append(da, d1), append(db, d2)
	}
	return summarize(da), summarize(db), nil
}

// row is one line of the table. A zero baseline prints as "-".
type row struct {
	what     string
	a, b     stats
	bytesA   int64 // for size rows
	bytesB   int64
	baseline string // what the baseline column holds, when not flyte-native
}

type table struct {
	rows []row
}

func (t *table) add(r row) {
	t.rows = append(t.rows, r)
	// Progress on stderr, so that a long run shows where it is.
	if r.a.n > 0 {
		fmt.Fprintf(os.Stderr, "bench: %-52s %9s  %9s\n", r.what, ms(r.a.median), ms(r.b.median))
	}
}

func ms(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	switch {
	case d < time.Millisecond:
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
	if n == 0 {
		return "-"
	}
	return strconv.FormatFloat(float64(n)/1e6, 'f', 2, 64) + " MB"
}

// print writes the table as Markdown, padded so that it also reads well in
// a terminal.
func (t *table) print(w io.Writer) {
	cells := [][]string{{"what", "flyte (wasm)", "baseline", "ratio", "runs", "wasm min / p90", "baseline min / p90", "baseline is"}}
	for _, r := range t.rows {
		base := r.baseline
		if base == "" {
			base = "flyte-native"
		}
		if r.a.n == 0 { // a size row
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
		if r.b.n > 0 && r.b.median > 0 {
			ratio = strconv.FormatFloat(float64(r.a.median)/float64(r.b.median), 'f', 1, 64) + "x"
		} else {
			base = "-"
		}
		n := strconv.Itoa(r.a.n)
		if r.b.n > 0 && r.b.n != r.a.n {
			n += " / " + strconv.Itoa(r.b.n)
		}
		cells = append(cells, []string{r.what, ms(r.a.median), ms(r.b.median), ratio, n, spread(r.a), spread(r.b), base})
	}
	markdown(w, cells)
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

// populate adds the secrets first..last-1 to e's store with bin, in
// parallel. Scopes rotate through organization, project, domain and
// project+domain, so that listings filter and sort a realistic mix.
func populate(e env, bin string, first, last int) error {
	var next atomic.Int64
	next.Store(int64(first))
	var wg sync.WaitGroup
	errs := make(chan error, *flagJobs)
	for j := 0; j < max(1, *flagJobs); j++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= last {
					return
				}
				args := []string{"create", "secret", fmt.Sprintf("S%05d", i), fmt.Sprintf("bench-value-%08d-%x", i, i*2654435761)}
				switch i % 4 {
				case 1:
					args = append(args, "-p", "proj"+strconv.Itoa(i%7))
				case 2:
					args = append(args, "-d", []string{"development", "staging", "production"}[i%3])
				case 3:
					args = append(args, "-p", "proj"+strconv.Itoa(i%7), "-d", []string{"development", "staging", "production"}[i%3])
				}
				if _, err := e.exec(bin, args...); err != nil {
					select {
					case errs <- err:
					default:
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// populateStore adds secrets first..last-1 to e's store and says how long
// it took. In a fresh store the first secret is created alone: the first
// use makes the identity and the data key, and concurrent first uses would
// race for them.
func populateStore(e env, bin string, first, last int) error {
	start, count := time.Now(), last-first
	if first == 0 && last > 0 {
		if err := populate(e, bin, 0, 1); err != nil {
			return err
		}
		first = 1
	}
	if err := populate(e, bin, first, last); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "bench: populated %d secrets in %s\n", count, time.Since(start).Round(time.Millisecond))
	return nil
}

func run() error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	if *flagPluginsOnly {
		fmt.Println(machine())
		fmt.Printf("load average (1 min) before: %s\n\n", loadavg())
		if err := pluginTable(os.Stdout, root, *flagN, *flagCold, *flagCalls); err != nil {
			return err
		}
		fmt.Printf("\nload average (1 min) after: %s\n", loadavg())
		return nil
	}
	flyte := filepath.Join(root, "bin", "flyte")
	native := filepath.Join(root, "bin", "flyte-native")
	if _, err := os.Stat(flyte); err != nil {
		return fmt.Errorf("%s is missing: run `make build` first (make bench does)", flyte)
	}
	fmt.Fprintln(os.Stderr, "bench: go build -tags flytenative -o bin/flyte-native ./cmd/flyte")
	build := exec.Command("go", "build", "-tags", "flytenative", "-o", native, "./cmd/flyte")
	build.Dir, build.Stdout, build.Stderr = root, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("building the native baseline: %w", err)
	}

	tmp, err := os.MkdirTemp("", "flyte-bench-")
	if err != nil {
		return err
	}
	if *flagKeep {
		fmt.Fprintln(os.Stderr, "bench: keeping", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	warmCache := filepath.Join(tmp, "cache")
	newEnv := func(name string) (env, error) {
		e := env{home: filepath.Join(tmp, name), cache: warmCache}
		return e, os.MkdirAll(e.home, 0o700)
	}

	var t table
	begin, loadBefore := time.Now(), loadavg()

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
	small, err := newEnv("small")
	if err != nil {
		return err
	}
	a, b, err := pair(*flagN, func(int) (time.Duration, error) { return small.exec(flyte, "version") },
		func(int) (time.Duration, error) { return small.exec(native, "version") })
	if err != nil {
		return err
	}
	t.add(row{what: "flyte version (process start, no plugin)", a: a, b: b})

	// get secret over the small store, populated once by the native binary.
	if err := populateStore(small, native, 0, *flagSecrets); err != nil {
		return err
	}
	getSmall := [2]func(int) (time.Duration, error){
		func(int) (time.Duration, error) { return small.exec(flyte, "get", "secret") },
		func(int) (time.Duration, error) { return small.exec(native, "get", "secret") },
	}
	a, b, err = pair(*flagN, getSmall[0], getSmall[1])
	if err != nil {
		return err
	}
	warmGet := a
	t.add(row{what: fmt.Sprintf("get secret, %d secrets, warm", *flagSecrets), a: a, b: b})

	// create, warm caches, in a store of its own (create costs the same
	// whatever the store holds).
	cr, err := newEnv("create")
	if err != nil {
		return err
	}
	if err := populateStore(cr, native, 0, 1); err != nil {
		return err
	}
	a, b, err = pair(*flagN,
		func(i int) (time.Duration, error) {
			return cr.exec(flyte, "create", "secret", "W"+strconv.Itoa(i+1), "bench-create-value")
		},
		func(i int) (time.Duration, error) {
			return cr.exec(native, "create", "secret", "N"+strconv.Itoa(i+1), "bench-create-value")
		})
	if err != nil {
		return err
	}
	t.add(row{what: "create secret, warm", a: a, b: b})

	// The cold first run: an empty plugin cache, so the plugin compiles.
	var cold []time.Duration
	for i := 0; i < *flagCold; i++ {
		c := env{home: small.home, cache: filepath.Join(tmp, "cold-"+strconv.Itoa(i))}
		d, err := c.exec(flyte, "get", "secret")
		if err != nil {
			return err
		}
		cold = append(cold, d)
		_ = os.RemoveAll(c.cache)
	}
	t.add(row{what: fmt.Sprintf("get secret, %d secrets, cold (empty cache)", *flagSecrets), a: summarize(cold), b: warmGet, baseline: "flyte, warm"})

	// In process, with the same warm cache: what loading the plugin costs.
	loadS, compileS, err := inProcess(warmCache, *flagN)
	if err != nil {
		return err
	}
	t.add(row{what: "in-process: plugin Load, warm cache", a: loadS})
	t.add(row{what: "  of which CompileModule (cache hit)", a: compileS})

	// flyte run: a task with two env and two file secrets (namespace,
	// tmpfs, two injector plugins, the masker) beside the bare command.
	if err := taskRows(&t, newEnv, flyte); err != nil {
		return err
	}

	// get secret over the large store: the small one, grown.
	if err := populateStore(small, native, *flagSecrets, *flagLarge); err != nil {
		return err
	}
	a, b, err = pair(*flagNLarge, getSmall[0], getSmall[1])
	if err != nil {
		return err
	}
	t.add(row{what: fmt.Sprintf("get secret, %d secrets, warm", *flagLarge), a: a, b: b})

	// The etcd store over the same large store's secrets (etcd.go).
	if *flagEtcd {
		if err := etcdRows(&t, small, flyte, tmp); err != nil {
			return err
		}
	}

	fmt.Fprintf(os.Stderr, "bench: done in %s\n\n", time.Since(begin).Round(time.Second))
	fmt.Println(machine())
	fmt.Printf("load average (1 min) before / after: %s / %s\n", loadBefore, loadavg())
	fmt.Println()
	t.print(os.Stdout)
	fmt.Println()
	return pluginTable(os.Stdout, root, *flagN, *flagCold, *flagCalls)
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

// taskRows measures flyte run ENV -- true against a bare true, and the
// peak memory of flyte run.
func taskRows(t *table, newEnv func(string) (env, error), flyte string) error {
	e, err := newEnv("task")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(e.home, "flyte.toml"), []byte(taskConfig), 0o600); err != nil {
		return err
	}
	for _, k := range []string{"E1", "E2", "F1", "F2"} {
		if _, err := e.exec(flyte, "create", "secret", k, "bench-task-value-"+k); err != nil {
			return err
		}
	}
	trueBin, err := exec.LookPath("true")
	if err != nil {
		return err
	}
	bare := func(int) (time.Duration, error) { return e.exec(trueBin) }
	var rss []time.Duration // peak RSS in bytes, carried in a Duration for summarize
	for _, c := range []struct{ env, what string }{
		{"task", "run ENV -- true, 2 env + 2 file secrets, warm"},
		{"envonly", "run ENV -- true, 2 env secrets (no namespace), warm"},
	} {
		a, b, err := pair(*flagN, func(int) (time.Duration, error) {
			d, r, err := e.execRSS(flyte, "run", c.env, "--", trueBin)
			if c.env == "task" {
				rss = append(rss, time.Duration(r))
			}
			return d, err
		}, bare)
		if err != nil {
			return err
		}
		t.add(row{what: c.what, a: a, b: b, baseline: "bare true"})
	}
	t.add(row{what: "peak RSS: flyte run, 2 env + 2 file secrets (median)", bytesA: int64(summarize(rss).median)})
	return nil
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
	return fmt.Sprintf("machine: %d CPUs (nproc), %s%s; %s; runs: n=%d, n-large=%d, cold=%d",
		runtime.NumCPU(), cpu, kernel, strings.TrimSpace(string(gv)), *flagN, *flagNLarge, *flagCold)
}

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/capability"
	"github.com/flytesecrets/flyte/host/fsgrant"
	"github.com/flytesecrets/flyte/host/plugin"
	"github.com/flytesecrets/flyte/plugins/filestore"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental"
)

var (
	flagPluginsOnly = flag.Bool("plugins", false, "measure only the per-plugin table (needs make plugins examples)")
	flagCalls       = flag.Int("calls", 5, "calls timed after each warm load, per plugin")
)

// pluginCase is one module of the per-plugin table and the call that
// stands for its work: a GET of one record for a store, a PLAN of two
// secrets for an injector.
type pluginCase struct {
	name, lang, path string
	kind             abi.PluginKind
	op               abi.Op
	req              []byte
	dir              string // a store's granted directory
	wasm             []byte
}

// pluginCases lists the built-in plugins and the examples that are built;
// a missing example is left out with a note (cinject needs clang-14).
func pluginCases(root, tmp string) ([]*pluginCase, error) {
	plan := func(file bool) []byte {
		req := abi.PlanRequest{Task: abi.Task{Environment: "e", Org: "o"}}
		for i, k := range []string{"db_user", "db_password"} {
			s := abi.SecretRequest{Ref: uint32(i + 1), Key: k, Kind: abi.SecretString, AsEnvVar: "DB_" + strconv.Itoa(i), Size: 16}
			if file {
				s.AsEnvVar, s.Mount = "", abi.SecretsDir
			}
			req.Secrets = append(req.Secrets, s)
		}
		return abi.Marshal(&req)
	}
	get := abi.Marshal(&abi.KeyRequest{Scope: abi.Scope{Org: "o"}, Key: "k"})
	cases := []*pluginCase{
		{name: "envinject", lang: "Go, built in", kind: abi.KindInjector, op: abi.OpPlan, req: plan(false)},
		{name: "fileinject", lang: "Go, built in", kind: abi.KindInjector, op: abi.OpPlan, req: plan(true)},
		{name: "filestore", lang: "Go, built in", kind: abi.KindStore, op: abi.OpGet, req: get},
		{name: "tmplinject", lang: "Go, example", kind: abi.KindInjector, op: abi.OpPlan, req: plan(false)},
		{name: "dirstore", lang: "Go, example", kind: abi.KindStore, op: abi.OpGet, req: get},
		{name: "cinject", lang: "C, example", kind: abi.KindInjector, op: abi.OpPlan, req: plan(false)},
	}
	var out []*pluginCase
	for _, c := range cases {
		c.path = filepath.Join(root, "bin", "examples", c.name+".wasm")
		if c.lang == "Go, built in" {
			c.path = filepath.Join(root, "host", "builtin", "wasm", c.name+".wasm")
		}
		b, err := plugin.ReadFile(c.path)
		if err != nil {
			if c.lang != "Go, built in" && os.IsNotExist(err) {
				fmt.Fprintf(os.Stderr, "bench: %s is not built (make examples; cinject needs clang-14): left out\n", c.path)
				continue
			}
			return nil, err
		}
		c.wasm = b
		if c.kind == abi.KindStore {
			c.dir = filepath.Join(tmp, "dir-"+c.name)
			if err := os.MkdirAll(c.dir, 0o700); err != nil {
				return nil, err
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// builtin says c is one of flyte's built-in plugins, loaded as flyte
// loads them (plugin.Spec.Builtin).
func (c *pluginCase) builtin() bool { return c.lang == "Go, built in" }

func (c *pluginCase) spec() plugin.Spec {
	s := plugin.Spec{Name: c.name, Source: c.path, Wasm: c.wasm, Kind: c.kind, Builtin: c.builtin()}
	if c.dir != "" {
		s.Grants = map[string]capability.Grant{"fs": capability.FSGrant(c.dir)}
	}
	return s
}

// prepare puts the record a store's GET reads in place: through CREATE
// for a store that writes; for the read-only dirstore, which reads the
// filestore's layout, written by the filestore's code on its directory.
func (c *pluginCase) prepare(ctx context.Context, h *plugin.Host) error {
	if c.kind != abi.KindStore {
		return nil
	}
	r := abi.Record{Scope: abi.Scope{Org: "o"}, Key: "k", Kind: abi.SecretString, Created: 1, Updated: 1, Sealed: make([]byte, 100)}
	if c.name == "dirstore" {
		_, err := filestore.New(fsgrant.New(c.dir).Begin(ctx)).Create(&r)
		return err
	}
	p, err := h.Load(ctx, c.spec())
	if err != nil {
		return err
	}
	defer p.Close(ctx)
	_, err = p.Call(ctx, abi.OpCreate, abi.Marshal(&abi.WriteRequest{Record: r}))
	return err
}

type pluginStats struct {
	cold, inspect, load, call []time.Duration
}

// pluginTable measures every plugin in the same rounds, rotating which goes
// first, so that the medians can be read side by side: the cold compile
// (a fresh runtime without a cache), a warm flyte plugin inspect
// (Host.Inspect: a cache-hit compile, never instantiated), a warm load
// (Host.Load: cache hit, instantiation, describe) and single calls.
func pluginTable(w io.Writer, root string, n, cold, calls int) error {
	tmp, err := os.MkdirTemp("", "flyte-bench-plugins-")
	if err != nil {
		return err
	}
	if *flagKeep {
		fmt.Fprintln(os.Stderr, "bench: keeping", tmp)
	} else {
		defer os.RemoveAll(tmp)
		atExit(func() { _ = os.RemoveAll(tmp) })
	}
	cases, err := pluginCases(root, tmp)
	if err != nil {
		return err
	}
	ctx := context.Background()
	cache := filepath.Join(tmp, "cache")
	h, err := plugin.NewHost(plugin.Options{CacheDir: cache})
	if err != nil {
		return err
	}
	for _, c := range cases { // fills the warm cache too
		if err := c.prepare(ctx, h); err != nil {
			h.Close()
			return fmt.Errorf("%s: %w", c.name, err)
		}
	}
	h.Close()

	st := make([]pluginStats, len(cases))
	fmt.Fprintf(os.Stderr, "bench: plugins: %d cold compiles each\n", cold)
	for r := 0; r < cold; r++ {
		for k := range cases {
			i := (k + r) % len(cases)
			// As Host compiles: built-ins without the deadline checks
			// (host/plugin/watchdog.go), others with them.
			rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCloseOnContextDone(!cases[i].builtin() || !plugin.UncheckedBuiltins).
				WithMemoryLimitPages(plugin.DefaultMemoryPages))
			start := time.Now()
			cm, err := rt.CompileModule(experimental.WithCompilationWorkers(ctx, runtime.NumCPU()), cases[i].wasm) // as Host does
			d := time.Since(start)
			if err != nil {
				return fmt.Errorf("%s: %w", cases[i].name, err)
			}
			_ = cm.Close(ctx)
			_ = rt.Close(ctx)
			st[i].cold = append(st[i].cold, d)
		}
	}
	fmt.Fprintf(os.Stderr, "bench: plugins: %d warm inspects, loads and %d calls after each\n", n, calls)
	for r := -1; r < n; r++ { // round -1 warms up
		for k := range cases {
			i := (k + max(r, 0)) % len(cases)
			c := cases[i]
			// Each measure in a host of its own, as each CLI process has.
			h, err := plugin.NewHost(plugin.Options{CacheDir: cache})
			if err != nil {
				return err
			}
			start := time.Now()
			if c.builtin() {
				_, err = h.InspectBuiltin(ctx, c.name, c.wasm)
			} else {
				_, err = h.Inspect(ctx, c.name, c.wasm)
			}
			di := time.Since(start)
			h.Close()
			if err != nil {
				return fmt.Errorf("%s: inspect: %w", c.name, err)
			}
			if h, err = plugin.NewHost(plugin.Options{CacheDir: cache}); err != nil {
				return err
			}
			start = time.Now()
			p, err := h.Load(ctx, c.spec())
			dl := time.Since(start)
			if err != nil {
				h.Close()
				return fmt.Errorf("%s: %w", c.name, err)
			}
			var dc []time.Duration
			for j := 0; j < calls; j++ {
				start = time.Now()
				_, err = p.Call(ctx, c.op, c.req)
				dc = append(dc, time.Since(start))
				if err != nil {
					break
				}
			}
			p.Close(ctx)
			h.Close()
			if err != nil {
				return fmt.Errorf("%s: call: %w", c.name, err)
			}
			if r >= 0 {
				st[i].inspect = append(st[i].inspect, di)
				st[i].load = append(st[i].load, dl)
				st[i].call = append(st[i].call, dc...)
			}
		}
	}

	cells := [][]string{{"plugin", "size", "cold compile", "warm inspect", "warm load", "load min / p90", "one call", "call min / p90", "call is"}}
	for i, c := range cases {
		call := "GET, 100 B"
		if c.kind == abi.KindInjector {
			call = "PLAN, 2 secrets"
		}
		load, one := summarize(st[i].load), summarize(st[i].call)
		cells = append(cells, []string{c.name + " (" + c.lang + ")", kb(len(c.wasm)), ms(summarize(st[i].cold).median),
			ms(summarize(st[i].inspect).median), ms(load.median), spread(load), ms(one.median), spread(one), call})
	}
	fmt.Fprintf(w, "per plugin: medians of %d cold compiles, %d warm inspects and loads, %d calls\n\n", cold, n, n*calls)
	markdown(w, cells)

	var t table
	if err := httpRows(&t, root, n*calls); err != nil {
		return err
	}
	fmt.Fprintln(w)
	t.print(w)
	return nil
}

func kb(n int) string {
	if n >= 1e6 {
		return strconv.FormatFloat(float64(n)/1e6, 'f', 2, 64) + " MB"
	}
	return strconv.FormatFloat(float64(n)/1e3, 'f', 1, 64) + " KB"
}

// httpRows times one http request through the capability (a store's GET
// that fetches a loopback URL: the call, the guest's request, the host's
// checks and client) against the same request from plain net/http, each
// with a kept-alive connection, interleaved.
func httpRows(t *table, root string, n int) error {
	tmp, err := os.MkdirTemp("", "flyte-bench-http-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	wasmPath := filepath.Join(tmp, "timeleft.wasm")
	fmt.Fprintln(os.Stderr, "bench: go build ./plugins/examples/testdata/timeleft (a guest that makes one http request per GET)")
	build := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-ldflags=-s", "-o", wasmPath, "./plugins/examples/testdata/timeleft")
	build.Dir, build.Stdout, build.Stderr = root, os.Stderr, os.Stderr
	build.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if err := build.Run(); err != nil {
		return fmt.Errorf("building the http guest: %w", err)
	}
	wasm, err := plugin.ReadFile(wasmPath)
	if err != nil {
		return err
	}
	body := make([]byte, 100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(body) }))
	defer srv.Close()

	c, ok := capability.ByName("http")
	if !ok {
		return fmt.Errorf("this flyte has no http capability")
	}
	g, err := c.Parse("timeleft", map[string]any{"origins": []any{srv.URL}})
	if err != nil {
		return err
	}
	if err := g.Check(nil); err != nil {
		return err
	}
	ctx := context.Background()
	h, err := plugin.NewHost(plugin.Options{CacheDir: filepath.Join(tmp, "cache")})
	if err != nil {
		return err
	}
	defer h.Close()
	p, err := h.Load(ctx, plugin.Spec{Name: "timeleft", Wasm: wasm, Kind: abi.KindStore, Grants: map[string]capability.Grant{"http": g},
		Config: abi.Marshal(&abi.PluginConfig{Entries: []abi.KeyValue{{Key: "url", Value: srv.URL + "/v1/secret"}}})})
	if err != nil {
		return err
	}
	defer p.Close(ctx)
	get := abi.Marshal(&abi.KeyRequest{Scope: abi.Scope{Org: "o"}, Key: "k"})
	guest := func(int) (time.Duration, error) {
		start := time.Now()
		out, err := p.Call(ctx, abi.OpGet, get)
		d := time.Since(start)
		var r abi.Record
		if err == nil && (abi.Unmarshal(out, &r) != nil || len(r.Sealed) != len(body)) {
			err = fmt.Errorf("the guest did not answer the body")
		}
		return d, err
	}
	client := &http.Client{}
	plain := func(int) (time.Duration, error) {
		start := time.Now()
		resp, err := client.Get(srv.URL + "/v1/secret")
		if err != nil {
			return 0, err
		}
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		return time.Since(start), err
	}
	a, b, err := pair(n, guest, plain)
	if err != nil {
		return err
	}
	t.add(row{what: "http GET on loopback: plugin call through the capability", a: a, b: b, baseline: "plain net/http"})
	return nil
}

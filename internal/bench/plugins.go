package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/capability"
	"github.com/flytesecrets/flyte/host/plugin"
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

func (c *pluginCase) spec() plugin.Spec {
	s := plugin.Spec{Name: c.name, Source: c.path, Wasm: c.wasm, Kind: c.kind}
	if c.dir != "" {
		s.Grants = map[string]capability.Grant{"fs": capability.FSGrant(c.dir)}
	}
	return s
}

// prepare puts the record a store's GET reads in place: through CREATE
// for a store that writes, as a plain file for dirstore.
func (c *pluginCase) prepare(ctx context.Context, h *plugin.Host) error {
	if c.kind != abi.KindStore {
		return nil
	}
	if c.name == "dirstore" {
		return os.WriteFile(filepath.Join(c.dir, "k"), make([]byte, 100), 0o600)
	}
	p, err := h.Load(ctx, c.spec())
	if err != nil {
		return err
	}
	defer p.Close(ctx)
	r := abi.Record{Scope: abi.Scope{Org: "o"}, Key: "k", Kind: abi.SecretString, Created: 1, Updated: 1, Sealed: make([]byte, 100)}
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
			rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCloseOnContextDone(true).
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
			_, err = h.Inspect(ctx, c.name, c.wasm)
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
	return nil
}

func kb(n int) string {
	if n >= 1e6 {
		return strconv.FormatFloat(float64(n)/1e6, 'f', 2, 64) + " MB"
	}
	return strconv.FormatFloat(float64(n)/1e3, 'f', 1, 64) + " KB"
}

package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/flytesecrets/flyte/internal/etcdtest"
)

var flagEtcd = flag.Bool("etcd", true, "measure the etcd store next to the filestore (a one-node etcd on loopback; left out without etcd unless FLYTE_REQUIRE_ETCD=1)")

// benchFatal collects what etcdtest.Launch reports: the bench returns it
// as an error instead of stopping a test.
type benchFatal struct{ err error }

func (f *benchFatal) Fatalf(format string, args ...any) {
	if f.err == nil {
		f.err = fmt.Errorf(format, args...)
	}
}

func (f *benchFatal) Logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

// etcdRows measures the built-in etcd store against the built-in
// filestore, both as the same flyte binary (wasm), in the same HOME (one
// identity, one state directory) over the same secrets: e's filestore,
// grown to the large size, is copied into a one-node etcd on loopback
// (started here with internal/etcdtest, as the tests start theirs, and
// stopped before returning) by `flyte store migrate`, timed once. Then
// `get secret` and `create secret` run against etcd (flyte -c etcd.toml)
// and the filestore, interleaved as every pair is.
func etcdRows(t *table, e env, flyte, tmp string) error {
	bin, err := etcdtest.Binary()
	if err != nil {
		if etcdtest.Required() {
			return fmt.Errorf("%v, and %s=1", err, etcdtest.RequireEnv)
		}
		fmt.Fprintf(os.Stderr, "bench: %v: the etcd rows are left out\n", err)
		return nil
	}
	f := &benchFatal{}
	c := etcdtest.Launch(f, bin, filepath.Join(tmp, "etcd"), 1)
	if c == nil || f.err != nil {
		if f.err == nil {
			f.err = errors.New("etcd did not start")
		}
		return f.err
	}
	defer c.Stop()
	atExit(c.Stop) // also when interrupted
	cfg := filepath.Join(e.home, "etcd.toml")
	if err := os.WriteFile(cfg, []byte("[store]\nplugin = \"etcd\"\nendpoints = ["+c.TOMLEndpoints()+"]\n"), 0o600); err != nil {
		return err
	}
	start := time.Now()
	d, err := e.exec(flyte, "store", "migrate", "--to", cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "bench: migrated %d secrets into etcd in %s\n", *flagLarge, time.Since(start).Round(time.Millisecond))
	t.add(row{what: fmt.Sprintf("etcd: store migrate, %d secrets from the filestore (once)", *flagLarge), a: stats{median: d, min: d, p90: d, n: 1}})

	a, b, err := t.agentPair(*flagNLarge,
		func(int) (time.Duration, error) { return e.exec(flyte, "-c", cfg, "get", "secret") },
		func(int) (time.Duration, error) { return e.exec(flyte, "get", "secret") })
	if err != nil {
		return err
	}
	t.add(row{what: fmt.Sprintf("etcd: get secret, %d secrets, warm", *flagLarge), a: a, b: b, baseline: "filestore"})

	a, b, err = t.agentPair(*flagN,
		func(i int) (time.Duration, error) {
			return e.exec(flyte, "-c", cfg, "create", "secret", "E"+strconv.Itoa(i+1), "bench-create-value")
		},
		func(i int) (time.Duration, error) {
			return e.exec(flyte, "create", "secret", "F"+strconv.Itoa(i+1), "bench-create-value")
		})
	if err != nil {
		return err
	}
	t.add(row{what: fmt.Sprintf("etcd: create secret, %d secrets, warm", *flagLarge), a: a, b: b, baseline: "filestore"})
	return nil
}

// agentPair is pair for two flyte commands that the bench's agent must
// both serve: it served each run, the warm-ups included, or it is an error.
func (t *table) agentPair(n int, a, b side) (sa, sb stats, err error) {
	check := t.agentBefore([]variant{agentVariant})
	sa, sb, err = pair(n, a, b)
	if err == nil && check != nil {
		err = check.verify(2 * (n + 1))
	}
	return sa, sb, err
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/config"
	"github.com/flytesecrets/flyte/host/core"
	"github.com/flytesecrets/flyte/host/identity"
	"github.com/flytesecrets/flyte/host/scope"
	"github.com/flytesecrets/flyte/host/secrets"
	"github.com/flytesecrets/flyte/host/state"
	"github.com/flytesecrets/flyte/internal/nativestore"
)

// fill adds the secrets first..last-1 to e's store and says how long it
// took. The first secret of a fresh store is created by a flyte-native
// process, which makes the identity, the data key and the state directory
// as a user's first create does. The rest are written in this process,
// through the code a flyte-native process runs: host/core with its
// NativeStore (the filestore plugin's Go code over the fs capability),
// the secrets service and its sealing, from -j goroutines at once, with the
// versions this machine has seen recorded once at the end
// (secrets.Manager.DeferMarks) instead of once per secret. That is what
// makes 100,000 secrets take seconds rather than the many minutes of
// 100,000 processes, and it writes whatever on-disk layout the store code
// of this tree writes.
//
// Scopes rotate through organization, project, domain and project+domain,
// so that listings filter and sort a realistic mix.
func fill(e env, native string, first, last int) error {
	start, count := time.Now(), last-first
	if first == 0 && last > 0 {
		s, key, value := secretN(0)
		args := []string{"create", "secret", key, string(value)}
		if s.Project != "" {
			args = append(args, "-p", s.Project)
		}
		if s.Domain != "" {
			args = append(args, "-d", s.Domain)
		}
		if _, err := e.exec(native, args...); err != nil {
			return err
		}
		first = 1
	}
	if first < last {
		done, err := busy()
		if err != nil {
			return err
		}
		err = fillInProcess(e, first, last)
		done()
		if err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "bench: filled %d secrets in %s\n", count, time.Since(start).Round(time.Millisecond))
	return nil
}

var flagStage = flag.String("stage", "/dev/shm", "where stores are filled before they are copied into the bench's directory: on a tmpfs a write's fsyncs cost nothing (\"\" fills in place)")

// stage returns a new HOME named name in tmp, with a store of count
// secrets (fill). The store is filled in a HOME of the same name under
// -stage and then copied, HOME and all (cp -a), into tmp, where it is
// measured: filling goes through the store code's durable writes (two
// fsyncs each, under the store's lock), which on this kind of disk cost
// milliseconds apiece, so 100,000 of them would take many minutes; on a
// tmpfs they cost nothing. The copy is then flushed to disk (sync) so
// that its write-back does not run under the measurements. The store is
// the same bytes at another path: the first command there records the new
// location, as when a user moves a store (the unmeasured warm-up runs do).
func stage(tmp, name, cache, native string, count int) (env, error) {
	dst := env{home: filepath.Join(tmp, name), cache: cache}
	if err := os.MkdirAll(dst.home, 0o700); err != nil {
		return dst, err
	}
	if *flagStage == "" {
		return dst, fill(dst, native, 0, count)
	}
	dir, err := os.MkdirTemp(*flagStage, "flyte-bench-stage-")
	if err != nil {
		return dst, err
	}
	defer os.RemoveAll(dir)
	atExit(func() { _ = os.RemoveAll(dir) }) // also when interrupted (hundreds of MB on a tmpfs)
	src := env{home: filepath.Join(dir, name), cache: cache}
	if err := os.MkdirAll(src.home, 0o700); err != nil {
		return dst, err
	}
	if err := fill(src, native, 0, count); err != nil {
		return dst, err
	}
	start := time.Now()
	done, err := busy()
	if err != nil {
		return dst, err
	}
	out, err := exec.Command("cp", "-a", src.home+"/.", dst.home+"/").CombinedOutput()
	done()
	if err != nil {
		return dst, fmt.Errorf("cp -a %s %s: %v: %s", src.home, dst.home, err, strings.TrimSpace(string(out)))
	}
	syscall.Sync()
	fmt.Fprintf(os.Stderr, "bench: copied the store of %d secrets from %s in %s\n", count, *flagStage, time.Since(start).Round(time.Millisecond))
	return dst, nil
}

// secretN is the i-th secret the bench stores: its scope, key and value.
func secretN(i int) (scope.Scope, string, []byte) {
	var s scope.Scope
	domain := []string{"development", "staging", "production"}[i%3]
	switch i % 4 {
	case 1:
		s.Project = "proj" + strconv.Itoa(i%7)
	case 2:
		s.Domain = domain
	case 3:
		s.Project, s.Domain = "proj"+strconv.Itoa(i%7), domain
	}
	return s, fmt.Sprintf("S%05d", i), fmt.Appendf(nil, "bench-value-%08d-%x", i, i*2654435761)
}

// fillInProcess writes secrets first..last-1 with e's configuration,
// identity and state directory, as flyte-native would.
func fillInProcess(e env, first, last int) error {
	getenv := e.getenv
	cfgPath := filepath.Join(e.home, config.FileName)
	if _, err := os.Stat(cfgPath); err != nil {
		cfgPath = "" // the defaults, as flyte finds no file
	}
	cfg, err := config.Load(cfgPath, getenv)
	if err != nil {
		return err
	}
	if cfg.Store.Plugin != config.DefaultStorePlugin {
		return fmt.Errorf("fill: the store is %s, not the built-in filestore", cfg.Store.Plugin)
	}
	c, err := core.New(cfg, core.Options{NativeStore: newNativeStore, StateDir: state.Path(getenv),
		Identity: identity.Resolve(getenv, cfg.Seal.Identity)})
	if err != nil {
		return err
	}
	defer c.Close()
	ctx := context.Background()
	m, err := c.Secrets(ctx)
	if err != nil {
		return err
	}
	m.DeferMarks()
	var next atomic.Int64
	next.Store(int64(first))
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	// Writes take the store's lock, so more writers than CPUs only wait.
	for j := 0; j < max(1, min(*flagJobs, runtime.NumCPU())); j++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= last {
					return
				}
				if stopping.Load() {
					mu.Lock()
					firstErr = cmpErr(firstErr, errInterrupted)
					mu.Unlock()
					return
				}
				s, key, value := secretN(i)
				if err := create(ctx, m, s, key, value); err != nil {
					mu.Lock()
					firstErr = cmpErr(firstErr, fmt.Errorf("fill: %s: %w", key, err))
					mu.Unlock()
					next.Store(int64(last)) // the others stop too
					return
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(firstErr, m.FlushMarks())
}

// create creates one secret, and tries again after a failure (the store's
// lock given up under load): up to three times, where a secret that then
// exists is the earlier try's.
func create(ctx context.Context, m *secrets.Manager, s scope.Scope, key string, value []byte) error {
	var err error
	for try := 0; try < 3; try++ {
		_, err = m.Create(ctx, s, key, abi.SecretString, value)
		if err == nil || (try > 0 && errors.Is(err, secrets.ErrExists)) {
			return nil
		}
	}
	return err
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// newNativeStore links the filestore's code in this process, as
// flyte-native does (internal/nativestore).
func newNativeStore(dir string) secrets.Store { return nativestore.New(dir) }

package main

// Stress tests: several real flyte processes on one store at once, and a
// writer killed with SIGKILL in the middle of its work. Each flyte runs as a
// separate process (the test binary, which testscript.Main puts on $PATH as
// "flyte"), so the store's cross-process guarantees are what is tested:
// exclusive creation, the writers' flock, atomic replacement.
//
// The assertions are about what a user sees afterwards (exit codes,
// messages, listings), never about how long anything took.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/config"
	"github.com/flytesecrets/flyte/host/fsgrant"
	"github.com/flytesecrets/flyte/host/seal"
	"github.com/flytesecrets/flyte/host/secrets"
	"github.com/flytesecrets/flyte/plugins/filestore"
)

// isoEnv is a private user for flyte processes: its own HOME (config,
// identity and store live there), the shared plugin cache, and a working
// directory outside HOME for input files.
type isoEnv struct {
	t    *testing.T
	bin  string
	home string
	work string
}

// isoSafety only keeps a hung process from hanging the suite; no assertion
// depends on it.
const isoSafety = 5 * time.Minute

func newIsoEnv(t *testing.T) *isoEnv {
	t.Helper()
	bin, err := exec.LookPath("flyte")
	if err != nil {
		t.Fatalf("flyte is not on $PATH (testscript.Main puts it there): %v", err)
	}
	warmCache(t)
	return &isoEnv{t: t, bin: bin, home: t.TempDir(), work: t.TempDir()}
}

// storeDir and identityPath are the default locations under HOME.
func (e *isoEnv) storeDir() string { return filepath.Join(e.home, ".local", "share", "flyte", "store") }
func (e *isoEnv) identityPath() string {
	return filepath.Join(e.home, ".config", "flyte", "identity.txt")
}

func (e *isoEnv) environ() []string {
	return []string{
		"HOME=" + e.home,
		"PATH=" + os.Getenv("PATH"),
		"FLYTE_CACHE_DIR=" + testCache,
		"FLYTE_CONFIG=",
		"FLYTE_DEBUG=",
		"FLYTE_NO_AGENT=1", // no agent outlives the test (agent.go)
		"XDG_CONFIG_HOME=",
		"XDG_DATA_HOME=",
		"XDG_CACHE_HOME=",
		"LANG=C",
	}
}

// command prepares `flyte args...` with the given standard input (nil: none).
func (e *isoEnv) command(ctx context.Context, stdin []byte, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	cmd := exec.CommandContext(ctx, e.bin, args...)
	cmd.Env = e.environ()
	cmd.Dir = e.work
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	return cmd, &out, &errb
}

// isoResult is what a user sees of one command.
type isoResult struct {
	args   []string
	code   int
	stdout string
	stderr string
	killed bool // ended by a signal
}

func (r isoResult) String() string {
	return fmt.Sprintf("flyte %s: exit %d\nstdout:\n%sstderr:\n%s", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

func isoWait(cmd *exec.Cmd, args []string, out, errb *bytes.Buffer, err error) isoResult {
	r := isoResult{args: args, stdout: out.String(), stderr: errb.String()}
	if err == nil {
		return r
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			r.killed = true
		}
		return r
	}
	r.code = -1
	r.stderr += "\n(test: " + err.Error() + ")"
	return r
}

// run runs one flyte command to completion.
func (e *isoEnv) run(stdin []byte, args ...string) isoResult {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), isoSafety)
	defer cancel()
	cmd, out, errb := e.command(ctx, stdin, args...)
	return isoWait(cmd, args, out, errb, cmd.Run())
}

// runAll starts every command before waiting for any of them.
func (e *isoEnv) runAll(argv [][]string) []isoResult {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), isoSafety)
	defer cancel()
	type proc struct {
		cmd       *exec.Cmd
		out, errb *bytes.Buffer
	}
	procs := make([]proc, len(argv))
	for i, a := range argv {
		cmd, out, errb := e.command(ctx, nil, a...)
		procs[i] = proc{cmd, out, errb}
	}
	for i, p := range procs {
		if err := p.cmd.Start(); err != nil {
			e.t.Fatalf("start flyte %s: %v", strings.Join(argv[i], " "), err)
		}
	}
	res := make([]isoResult, len(procs))
	var wg sync.WaitGroup
	for i, p := range procs {
		wg.Go(func() { res[i] = isoWait(p.cmd, argv[i], p.out, p.errb, p.cmd.Wait()) })
	}
	wg.Wait()
	return res
}

// mustOK fails the test unless r exited 0 with nothing on stderr (but the
// notice of a first create that it made the identity).
func mustOK(t *testing.T, r isoResult) {
	t.Helper()
	if r.code != 0 || withoutIdentityNotice(r.stderr) != "" {
		t.Fatalf("want exit 0 and an empty stderr, got %s", r)
	}
}

// listedSecret is one element of `flyte get secret -o json`.
type listedSecret struct {
	Name    string `json:"name"`
	Project string `json:"project"`
	Domain  string `json:"domain"`
	Type    string `json:"type"`
	Version uint64 `json:"version"`
	Created string `json:"created"`
	Updated string `json:"updated"`
}

// list runs `flyte get secret -o json [args]`, which opens (checks) every
// record it lists: exit 0 and an empty stderr mean that no record is damaged.
func (e *isoEnv) list(args ...string) []listedSecret {
	e.t.Helper()
	r := e.run(nil, append([]string{"get", "secret", "-o", "json"}, args...)...)
	mustOK(e.t, r)
	var out []listedSecret
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		e.t.Fatalf("get secret -o json printed invalid JSON: %v\n%s", err, r.stdout)
	}
	return out
}

// openValue reads the value of an organization-scope secret straight from
// the store, unsealed with the user's identity, the way flyte itself does.
// It lets a test check which value a concurrent update left behind, which
// the CLI (rightly) never shows.
func (e *isoEnv) openValue(key string) ([]byte, uint64) {
	e.t.Helper()
	return e.openValueAt(abi.Scope{Org: config.DefaultOrganization}, key)
}

// openValueAt is openValue for a secret of scope sc.
func (e *isoEnv) openValueAt(sc abi.Scope, key string) ([]byte, uint64) {
	e.t.Helper()
	id, err := seal.LoadIdentity(e.identityPath())
	if err != nil {
		e.t.Fatalf("load identity: %v", err)
	}
	dir := fsgrant.New(e.storeDir())
	defer dir.Close()
	call := dir.Begin(context.Background())
	defer call.End()
	st := filestore.New(call)
	wrapped, err := st.MetaGet("datakey")
	if err != nil {
		e.t.Fatalf("read the data key: %v", err)
	}
	env, err := seal.ParseEnvelope(wrapped)
	if err != nil {
		e.t.Fatalf("read the data key: %v", err)
	}
	sealer, err := env.Open(id, func(seal.PublicKey) bool { return true })
	if err != nil {
		e.t.Fatalf("unwrap the data key: %v", err)
	}
	defer sealer.Destroy()
	rec, err := st.Get(sc, key)
	if err != nil {
		e.t.Fatalf("read record %s: %v", key, err)
	}
	v, err := sealer.Open(seal.AAD{Org: sc.Org, Project: sc.Project, Domain: sc.Domain, Key: key, Kind: secrets.AADKind(rec.Kind)}, rec.Sealed)
	if err != nil {
		e.t.Fatalf("open record %s: %v", key, err)
	}
	return v, rec.Version
}

// forLayouts runs f on a store of each layout the filestore starts from:
// "files" (format 1, one file per record, as an older flyte left it: here
// an empty secrets directory), which the first write converts, and "log"
// (a new store, which starts in format 2); and checks afterwards that the
// store is of format 2 with its conversion done (storeIsLog).
func forLayouts(t *testing.T, f func(t *testing.T, e *isoEnv)) {
	for _, layout := range []string{"files", "log"} {
		t.Run(layout, func(t *testing.T) {
			e := newIsoEnv(t)
			if layout == "files" {
				if err := os.MkdirAll(filepath.Join(e.storeDir(), "secrets"), 0o700); err != nil {
					t.Fatal(err)
				}
			}
			f(t, e)
			storeIsLog(t, e.storeDir())
		})
	}
}

// storeIsLog fails the test unless the store at dir is of format 2 (its
// secrets is the marker), no conversion is under way (no legacy tree),
// and the default organization has its log.
func storeIsLog(t *testing.T, dir string) {
	t.Helper()
	if b, err := os.ReadFile(filepath.Join(dir, "secrets")); err != nil || string(b) != "flyte store format 2\n" {
		t.Fatalf("the store is not of format 2: its secrets holds %q (%v)", b, err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range ents {
		if strings.HasPrefix(de.Name(), "legacy-") {
			t.Fatalf("a conversion is still under way: %s", de.Name())
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "log", config.DefaultOrganization)); err != nil {
		t.Fatalf("log of the organization: %v", err)
	}
}

// toFormat1 rewrites the store at dir, of format 2, as the tree of format
// 1 that an older flyte would have written for the same records: one file
// per record, secrets/ORG/PROJECT/DOMAIN/KEY (@ for none), holding
// "flyterec1\n" and the record; no log, no marker.
func toFormat1(t *testing.T, dir string) {
	t.Helper()
	logs, err := os.ReadDir(filepath.Join(dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "secrets")); err != nil {
		t.Fatal(err)
	}
	at := func(s string) string {
		if s == "" {
			return "@"
		}
		return s
	}
	for _, l := range logs {
		b, err := os.ReadFile(filepath.Join(dir, "log", l.Name()))
		if err != nil {
			t.Fatal(err)
		}
		frames, err := parseLog(b)
		if err != nil {
			t.Fatalf("log %s: %v", l.Name(), err)
		}
		latest := map[string]logFrame{}
		for _, f := range frames {
			latest[filepath.Join(l.Name(), at(f.rec.Scope.Project), at(f.rec.Scope.Domain), f.rec.Key)] = f
		}
		for p, f := range latest {
			if f.op != logOpPut && f.op != logOpLegacy {
				continue
			}
			out := append([]byte(recordMagic), abi.Marshal(&f.rec)...)
			if f.op == logOpLegacy {
				out = f.rec.Sealed
			}
			p = filepath.Join(dir, "secrets", p)
			if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, out, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.RemoveAll(filepath.Join(dir, "log")); err != nil {
		t.Fatal(err)
	}
}

// treeState describes every entry under dir (type, mode, size, contents'
// digest), to show that a command changed nothing there.
func treeState(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		desc := fi.Mode().String()
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			desc += fmt.Sprintf(" %d %x", len(b), sha256.Sum256(b))
		}
		out[p] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestConvertOldStore: a store of format 1 (a file per record, as an older
// flyte left it) is read as it is by the read-only commands (get, run),
// which change nothing in it, and converted to the log by the first write,
// which keeps every secret: its scope, version, times and value.
func TestConvertOldStore(t *testing.T) {
	e := newIsoEnv(t)
	scopes := [][]string{nil, {"-p", "proj"}, {"-d", "staging"}, {"-p", "proj", "-d", "production"}}
	values := map[string]string{}
	var argv [][]string
	for i := range 12 {
		key := fmt.Sprintf("KEY_%02d", i)
		values[key] = randText(t, 24)
		argv = append(argv, append([]string{"create", "secret", key, values[key]}, scopes[i%4]...))
	}
	mustOK(t, e.run(nil, argv[0]...)) // makes the identity and the data key
	for _, r := range e.runAll(argv[1:]) {
		mustOK(t, r)
	}
	values["KEY_04"] = randText(t, 24)
	mustOK(t, e.run(nil, "update", "secret", "KEY_04", values["KEY_04"]))
	toFormat1(t, e.storeDir())
	if err := os.WriteFile(filepath.Join(e.work, "flyte.toml"), []byte("[[environments]]\nname = \"e\"\nsecrets = [\"KEY_00\", \"KEY_04\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	state := treeState(t, e.storeDir())
	before := e.list()
	mustOK(t, e.run(nil, "get", "secret", "KEY_01", "-p", "proj"))
	r := e.run(nil, "run", "e", "--no-mask", "--", "sh", "-c", "echo $KEY_00 $KEY_04")
	mustOK(t, r)
	if want := values["KEY_00"] + " " + values["KEY_04"] + "\n"; r.stdout != want {
		t.Fatalf("run on the store of format 1 printed %q, want %q", r.stdout, want)
	}
	if len(before) != 12 {
		t.Fatalf("the store of format 1 lists %d secrets, want 12", len(before))
	}
	if after := treeState(t, e.storeDir()); !maps.Equal(after, state) {
		t.Fatalf("a read-only command changed the store of format 1:\nbefore %v\nafter  %v", state, after)
	}

	mustOK(t, e.run(nil, "create", "secret", "NEW", "new_value"))
	storeIsLog(t, e.storeDir())
	after := e.list()
	i := slices.IndexFunc(after, func(s listedSecret) bool { return s.Name == "NEW" })
	if i < 0 {
		t.Fatalf("NEW is not listed after the conversion")
	}
	if after = slices.Delete(after, i, i+1); !slices.Equal(after, before) {
		t.Fatalf("the conversion changed the secrets:\nbefore %+v\nafter  %+v", before, after)
	}
	for i, a := range argv {
		key := a[2]
		sc := abi.Scope{Org: config.DefaultOrganization}
		if sl := scopes[i%4]; len(sl) > 0 {
			for j := 0; j < len(sl); j += 2 {
				if sl[j] == "-p" {
					sc.Project = sl[j+1]
				} else {
					sc.Domain = sl[j+1]
				}
			}
		}
		if v, _ := e.openValueAt(sc, key); string(v) != values[key] {
			t.Errorf("%s does not hold its value after the conversion", key)
		}
	}
}

// tempFiles lists the writers' temporary files left under dir.
func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	var left []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".flyte-tmp-") || strings.HasPrefix(d.Name(), ".flyte-identity-") {
			left = append(left, p)
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("walk %s: %v", dir, err)
	}
	return left
}

// randText returns n random letters and digits.
func randText(t testing.TB, n int) string {
	t.Helper()
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	for i := range b {
		x, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			t.Fatal(err)
		}
		b[i] = alphabet[x.Int64()]
	}
	return string(b)
}

func randInt(t testing.TB, n int64) int64 {
	t.Helper()
	x, err := rand.Int(rand.Reader, big.NewInt(n))
	if err != nil {
		t.Fatal(err)
	}
	return x.Int64()
}

// TestConcurrentCreates starts 20 `flyte create secret` processes at once
// on a fresh HOME, so they also race to create the identity and the
// store's data key: every one succeeds and every secret opens afterwards.
func TestConcurrentCreates(t *testing.T) { forLayouts(t, testConcurrentCreates) }

func testConcurrentCreates(t *testing.T, e *isoEnv) {
	const n = 20
	var argv [][]string
	var want []string
	for i := range n {
		key := fmt.Sprintf("KEY_%02d", i)
		want = append(want, key)
		argv = append(argv, []string{"create", "secret", key, randText(t, 32)})
	}
	for i, r := range e.runAll(argv) {
		mustOK(t, r)
		if w := fmt.Sprintf("Successfully created secret %s (regular, scope: organization, version 1).\n", want[i]); r.stdout != w {
			t.Errorf("flyte %s printed %q, want %q", strings.Join(r.args[:3], " "), r.stdout, w)
		}
	}

	got := e.list()
	var names []string
	for _, s := range got {
		names = append(names, s.Name)
		if s.Project != "" || s.Domain != "" || s.Type != "regular" || s.Version != 1 {
			t.Errorf("unexpected listing entry %+v", s)
		}
	}
	if !slices.Equal(names, want) {
		t.Fatalf("get secret lists %d secrets %v; want exactly %v", len(names), names, want)
	}
	// The table (the default output) opens every record too.
	r := e.run(nil, "get", "secret")
	mustOK(t, r)
	if lines := strings.Count(r.stdout, "\n"); lines != n+1 {
		t.Errorf("get secret table has %d lines, want %d:\n%s", lines, n+1, r.stdout)
	}
	if left := tempFiles(t, e.home); len(left) > 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
}

// TestConcurrentUpdates rotates one key from 20 processes at once (last
// writer wins under the store lock: every update gets its own version),
// then races 10 compare-and-set updates of which exactly one may win.
func TestConcurrentUpdates(t *testing.T) { forLayouts(t, testConcurrentUpdates) }

func testConcurrentUpdates(t *testing.T, e *isoEnv) {
	mustOK(t, e.run(nil, "create", "secret", "SHARED", randText(t, 32)))

	const n = 20
	values := map[string]bool{}
	var argv [][]string
	for range n {
		v := randText(t, 32)
		values[v] = true
		argv = append(argv, []string{"update", "secret", "SHARED", v})
	}
	versions := map[uint64]string{} // version -> value that got it
	for _, r := range e.runAll(argv) {
		mustOK(t, r)
		var v uint64
		if _, err := fmt.Sscanf(r.stdout, "Successfully updated secret SHARED (regular, scope: organization, version %d).\n", &v); err != nil {
			t.Fatalf("unexpected output of %s", r)
		}
		if prev, dup := versions[v]; dup {
			t.Errorf("two updates both got version %d (%s and %s)", v, prev, r.args[3])
		}
		versions[v] = r.args[3]
	}
	for v := uint64(2); v <= n+1; v++ {
		if _, ok := versions[v]; !ok {
			t.Errorf("no update reported version %d; got %v", v, slices.Sorted(maps.Keys(versions)))
		}
	}

	got := e.list()
	if len(got) != 1 || got[0].Name != "SHARED" || got[0].Version != n+1 {
		t.Fatalf("after %d updates: listing %+v, want SHARED at version %d", n, got, n+1)
	}
	// The value left is the one of the update that reported the last version.
	v, ver := e.openValue("SHARED")
	if ver != n+1 || string(v) != versions[n+1] {
		t.Errorf("stored value is at version %d and is %s; want version %d with the value of its update",
			ver, map[bool]string{true: "one of the updates' values", false: "none of the updates' values"}[values[string(v)]], n+1)
	}
	if left := tempFiles(t, e.home); len(left) > 0 {
		t.Errorf("temporary files left behind: %v", left)
	}

	// Compare-and-set: 10 processes all expect version 1.
	mustOK(t, e.run(nil, "create", "secret", "CAS", randText(t, 32)))
	const m = 10
	argv = nil
	for range m {
		argv = append(argv, []string{"update", "secret", "CAS", randText(t, 32), "--if-version", "1"})
	}
	var won []isoResult
	const conflict = "flyte: secret CAS in organization scope is at version 2, not 1\n" +
		"flyte: hint: someone changed it meanwhile: check with 'flyte get secret CAS -o json' before updating again\n"
	for _, r := range e.runAll(argv) {
		switch r.code {
		case 0:
			won = append(won, r)
			if r.stdout != "Successfully updated secret CAS (regular, scope: organization, version 2).\n" || r.stderr != "" {
				t.Errorf("unexpected output of the winning update: %s", r)
			}
		case 1:
			if r.stdout != "" || r.stderr != conflict {
				t.Errorf("a losing compare-and-set printed %s\nwant on stderr: %q", r, conflict)
			}
			if strings.Contains(r.stderr, r.args[3]) {
				t.Errorf("the conflict message shows the value: %s", r)
			}
		default:
			t.Errorf("unexpected exit: %s", r)
		}
	}
	if len(won) != 1 {
		t.Fatalf("%d of %d compare-and-set updates at version 1 succeeded; want exactly 1", len(won), m)
	}
	t.Logf("conflict message seen by the %d losers: %q", m-1, conflict)
	for _, s := range e.list() {
		if s.Name == "CAS" && s.Version != 2 {
			t.Errorf("CAS is at version %d after one successful compare-and-set; want 2", s.Version)
		}
	}
	if v, _ := e.openValue("CAS"); string(v) != won[0].args[3] {
		t.Errorf("CAS does not hold the winning update's value")
	}
	if left := tempFiles(t, e.home); len(left) > 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
}

// TestKillMidWrite kills writers of ~1 MiB file secrets with SIGKILL after
// a random delay, up to a little longer than one write takes. Wherever the kill lands (before the write, after it, or
// after the process already finished), the store must open cleanly, every
// record must be intact, and the next write must work.
func TestKillMidWrite(t *testing.T) { forLayouts(t, testKillMidWrite) }

func testKillMidWrite(t *testing.T, e *isoEnv) {
	const rounds = 16
	const size = 1<<20 - 4096 // just under the 1 MiB limit

	// Kill within the time one write takes (measured here, not asserted),
	// so that most kills land while the writer works.
	calib := filepath.Join(e.work, "calibrate")
	if err := os.WriteFile(calib, make([]byte, size), 0o600); err != nil {
		t.Fatal(err)
	}
	mustOK(t, e.run(nil, "create", "secret", "CALIBRATE", "--from-file", calib))
	var took []time.Duration
	for range 3 {
		start := time.Now()
		mustOK(t, e.run(nil, "update", "secret", "CALIBRATE", "--from-file", calib))
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	span := took[1] * 6 / 5
	mustOK(t, e.run(nil, "delete", "secret", "CALIBRATE"))
	t.Logf("one write of %d bytes takes about %v; kills land within 0-%v", size, took[1].Round(time.Millisecond), span.Round(time.Millisecond))

	var before, after, finished int
	for i := range rounds {
		// Even rounds create a new key; odd rounds rotate one key.
		big := make([]byte, size)
		if _, err := rand.Read(big); err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(e.work, fmt.Sprintf("big%d", i))
		if err := os.WriteFile(file, big, 0o600); err != nil {
			t.Fatal(err)
		}
		key := fmt.Sprintf("KEY%d", i)
		args := []string{"create", "secret", key, "--from-file", file}
		prevVersion := uint64(0)
		if i%2 == 1 {
			key = "ROTATED"
			args = []string{"update", "secret", key, "--from-file", file}
			for _, s := range e.list() {
				if s.Name == key {
					prevVersion = s.Version
				}
			}
			if prevVersion == 0 {
				// The first update round creates it.
				initial := filepath.Join(e.work, "initial")
				if err := os.WriteFile(initial, []byte("initial"+randText(t, 8)), 0o600); err != nil {
					t.Fatal(err)
				}
				mustOK(t, e.run(nil, "create", "secret", key, "--from-file", initial))
				prevVersion = 1
			}
		}

		ctx, cancel := context.WithTimeout(context.Background(), isoSafety)
		cmd, out, errb := e.command(ctx, nil, args...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		delay := time.Duration(randInt(t, int64(span)+1))
		time.Sleep(delay)
		_ = cmd.Process.Signal(syscall.SIGKILL) // fails only if already reaped: it is not
		r := isoWait(cmd, args, out, errb, cmd.Wait())
		cancel()
		if !r.killed && r.code != 0 {
			t.Fatalf("round %d: the writer failed before it was killed: %s", i, r)
		}

		// The store opens cleanly: no damaged record, nothing on stderr.
		list := e.list()
		var cur uint64
		for _, s := range list {
			if s.Name == key {
				cur = s.Version
			}
		}
		wrote := cur > prevVersion
		switch {
		case !r.killed:
			finished++
			if !wrote {
				t.Fatalf("round %d: flyte %s exited 0 but the listing does not show the write: %+v", i, args[0], list)
			}
		case wrote:
			after++
		default:
			before++
		}
		if wrote && cur != prevVersion+1 {
			t.Fatalf("round %d: %s went from version %d to %d", i, key, prevVersion, cur)
		}
		what := "killed before the write"
		switch {
		case !r.killed:
			what = "finished before the kill"
		case wrote:
			what = "killed after the write"
		}
		t.Logf("round %d: %s %s, SIGKILL after %v: %s", i, args[0], key, delay.Round(time.Millisecond), what)

		// The next write to the same key works.
		if cur == 0 {
			mustOK(t, e.run(nil, "create", "secret", key, "--from-file", file))
		} else {
			mustOK(t, e.run(nil, "update", "secret", key, "--from-file", file))
		}
		if v, _ := e.openValue(key); !bytes.Equal(v, big) {
			t.Fatalf("round %d: %s does not hold the value just written", i, key)
		}
		if i%2 == 0 {
			// Keep at most two ~1 MiB records in the store: a listing of
			// about eight of them exceeds the plugin's 8 MiB answer limit
			// and fails as a whole (see TestListManyLargeSecrets).
			mustOK(t, e.run(nil, "delete", "secret", key))
			mustOK(t, e.run(nil, "create", "secret", key, "small"+randText(t, 8)))
		}
	}
	// Every key of the test is listed and opens.
	final := e.list()
	if want := rounds/2 + 1; len(final) != want {
		t.Errorf("final listing has %d secrets, want %d: %+v", len(final), want, final)
	}
	t.Logf("%d kills: %d landed before the write, %d after it, %d after the process had finished",
		rounds, before, after, finished)
	if left := tempFiles(t, e.home); len(left) > 0 {
		// A killed writer may leave its temporary file; listings remove
		// it once it is stale, readers never see it.
		t.Logf("temporary files left by killed writers: %d", len(left))
	}
}

// TestListManyLargeSecrets lists a store holding ten file secrets of just
// under 1 MiB each, all valid values. Known product bug: the filestore
// plugin returns up to 500 records per List page with their sealed values,
// so nine such records exceed the 8 MiB answer limit (abi.MaxMessage) and
// `flyte get secret` fails as a whole with "plugin filestore: answer larger
// than the limit" (as do delete/update of a missing key, which list to
// build their hints). Skipped until the plugin bounds its pages by size;
// run with FLYTE_TEST_KNOWN_BUGS=1.
func TestListManyLargeSecrets(t *testing.T) {
	e := newIsoEnv(t)
	file := filepath.Join(e.work, "big")
	b := make([]byte, 1<<20-4096)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	const n = 10
	for i := range n {
		mustOK(t, e.run(nil, "create", "secret", fmt.Sprintf("BIG%d", i), "--from-file", file))
	}
	if got := e.list(); len(got) != n {
		t.Errorf("listed %d secrets, want %d", len(got), n)
	}
	r := e.run(nil, "delete", "secret", "BIG0", "-p", "elsewhere")
	if r.code != 1 || !strings.Contains(r.stderr, "BIG0 exists in organization scope") {
		t.Errorf("delete in the wrong scope should fail and name the scope where BIG0 exists; got %s", r)
	}
}

package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/flytesecrets/flyte/host/agent"
	"github.com/flytesecrets/flyte/host/identity"
	"github.com/flytesecrets/flyte/internal/httpfixture"
	"github.com/flytesecrets/flyte/internal/wasmtest"
	"github.com/rogpeppe/go-internal/testscript"
)

// testCache is shared by every flyte process the tests start, so that the
// suite compiles each plugin once, not once per process. It is keyed by
// the plugins' content, so a stale entry is never used.
var testCache = filepath.Join(os.TempDir(), fmt.Sprintf("flyte-test-cache-%d", os.Getuid()))

func TestMain(m *testing.M) {
	// A test-only hook (the binary has none): a script may shorten
	// FLYTE_IDENTITY_CMD's timeout, to see a hanging command stopped.
	if d, err := time.ParseDuration(os.Getenv("FLYTE_TEST_IDENTITY_CMD_TIMEOUT")); err == nil {
		identityCmdTimeout = d
	}
	// flyte run inside the test binary never starts an agent (it would
	// start the test binary), nor do the flyte processes the tests start
	// unless a script turns it on (TestScriptsAgent).
	if filepath.Base(os.Args[0]) != "flyte" {
		noAgent = true
		os.Setenv(envNoAgent, "1")
	}
	testscript.Main(cleaningM{m}, map[string]func(){
		"flyte": main,
	})
}

// cleaningM removes the plugins buildPlugin compiled once the tests ran:
// testscript.Main exits, so nothing after it would.
type cleaningM struct{ m *testing.M }

func (c cleaningM) Run() int {
	code := c.m.Run()
	builtMu.Lock()
	defer builtMu.Unlock()
	for _, dir := range builtDirs {
		os.RemoveAll(dir)
	}
	return code
}

// warmCache compiles the built-in plugins into testCache once, so that no
// script sees the first-run progress line unless it asks for a cold cache.
func warmCache(t testing.TB) {
	t.Helper()
	home := t.TempDir()
	// An empty configuration of its own, not the repository's flyte.toml
	// that the upward search from this directory would find.
	empty := filepath.Join(home, "flyte.toml")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HOME": home, "FLYTE_CACHE_DIR": testCache, "FLYTE_CONFIG": empty}
	var out, errb bytes.Buffer
	if code := run([]string{"plugin", "list"}, nil, &out, &errb, func(k string) string { return env[k] }); code != 0 {
		t.Fatalf("flyte plugin list: exit %d\n%s%s", code, out.String(), errb.String())
	}
}

// scriptEnv sets the environment every script starts with: a private home
// (so config, identity and store live in $WORK), the shared plugin cache,
// and nothing inherited that could change flyte's behaviour.
func scriptEnv(e *testscript.Env) error {
	home := filepath.Join(e.WorkDir, "home")
	e.Setenv("HOME", home)
	e.Setenv("XDG_CONFIG_HOME", "")
	e.Setenv("XDG_DATA_HOME", "")
	e.Setenv("XDG_CACHE_HOME", "")
	e.Setenv("FLYTE_CONFIG", "")
	e.Setenv("FLYTE_DEBUG", "")
	// Each script has its own runtime directory, so its own agent (off
	// unless TestScriptsAgent or the script turns it on), stopped when the
	// script ends.
	run := filepath.Join(e.WorkDir, ".run")
	if err := os.Mkdir(run, 0o700); err != nil {
		return err
	}
	e.Setenv("XDG_RUNTIME_DIR", run)
	e.Setenv(envNoAgent, "1")
	e.Defer(func() { stopScriptAgent(filepath.Base(e.WorkDir), run) })
	for _, v := range identity.Variables {
		e.Setenv(v, "")
	}
	e.Setenv("FLYTE_CACHE_DIR", testCache)
	e.Setenv("STORE", filepath.Join(home, ".local", "share", "flyte", "store"))
	return nil
}

// buildTestPlugin compiles a test plugin from testdata/plugins to wasm,
// once per test binary, and returns its path.
func buildTestPlugin(t testing.TB, name string) string {
	t.Helper()
	return buildPlugin(t, name, "../../testdata/plugins/"+name)
}

// buildExample compiles an example plugin of plugins/examples as make
// examples does, with its flyte.describe section, once per test binary.
func buildExample(t testing.TB, name string) string {
	t.Helper()
	return buildPlugin(t, name, "../../plugins/examples/"+name+"/wasm")
}

// buildPlugin compiles the plugin at pkg (relative to this directory),
// once per test binary, and returns its path. A plugin of plugins/examples
// gets its flyte.describe section.
func buildPlugin(t testing.TB, name, pkg string) string {
	t.Helper()
	builtMu.Lock()
	defer builtMu.Unlock()
	if p, ok := built[name]; ok {
		return p
	}
	// A nested run as another user gets the plugins prebuilt: it may not
	// be able to read the Go module cache.
	if p := os.Getenv("FLYTE_TEST_PLUGIN_" + strings.ToUpper(name)); p != "" {
		built[name] = p
		return p
	}
	dir, err := os.MkdirTemp("", "flyte-testplugin-")
	if err != nil {
		t.Fatal(err)
	}
	builtDirs = append(builtDirs, dir)
	out := filepath.Join(dir, name+".wasm")
	if err := wasmtest.BuildGo(pkg, out); err != nil {
		t.Fatalf("building test plugin %s: %v", name, err)
	}
	if strings.HasPrefix(pkg, "../../plugins/") {
		if b, err := exec.Command("go", "run", "../../internal/describesection", out).CombinedOutput(); err != nil {
			t.Fatalf("adding the flyte.describe section to %s: %v\n%s", name, err, b)
		}
	}
	built[name] = out
	return out
}

var (
	builtMu   sync.Mutex
	built     = map[string]string{}
	builtDirs []string // removed by cleaningM
)

func TestScripts(t *testing.T) {
	testscript.Run(t, scriptParams(t))
}

// TestScriptsAgent runs the scripts again with the agent on: their output
// must be the same. Each script has its own runtime directory, so its own
// agent, stopped when it ends; the agents must have served the commands.
// As root, TestScriptsAsUser runs it as uid 65534 instead: the scripts then
// run twice, not three times (in-process as root, with the agent as an
// ordinary user), which keeps CI within its time.
func TestScriptsAgent(t *testing.T) {
	if os.Geteuid() == 0 && os.Getenv("FLYTE_TEST_AS_USER") == "" && os.Getenv("FLYTE_TEST_AGENT_AS_ROOT") == "" {
		t.Skip("as root, TestScriptsAsUser runs the scripts with the agent as uid 65534 (FLYTE_TEST_AGENT_AS_ROOT=1 runs them here)")
	}
	p := scriptParams(t)
	setup := p.Setup
	p.Setup = func(e *testscript.Env) error {
		if err := setup(e); err != nil {
			return err
		}
		e.Setenv(envNoAgent, "")
		agentScripts.Add(1)
		return nil
	}
	agentServed.Clear()
	agentScripts.Store(0)
	t.Cleanup(func() { checkAgentsServed(t) }) // once every script ran (they run in parallel)
	testscript.Run(t, p)
}

// checkAgentsServed checks that the agents of TestScriptsAgent's scripts
// served their commands.
func checkAgentsServed(t *testing.T) {
	if t.Failed() {
		return
	}
	served := map[string]uint64{}
	agentServed.Range(func(k, v any) bool { served[k.(string)] = v.(uint64); return true })
	total := uint64(0)
	for name, n := range served {
		if n == 0 {
			t.Errorf("%s: its agent served nothing", name)
		}
		total += n
	}
	// Nearly every script uses the store (67 of 71 when the agent came).
	if n := agentScripts.Load(); n >= 10 && len(served)*10 < int(n)*8 {
		t.Errorf("only %d scripts of %d had an agent serve their commands", len(served), n)
	}
	t.Logf("agents of %d scripts served %d requests", len(served), total)
}

// scriptParams are the scripts' settings: commands, conditions, and the
// plugins and environment each script starts with.
func scriptParams(t *testing.T) testscript.Params {
	warmCache(t)
	badinject := buildTestPlugin(t, "badinject")
	liarstore := buildTestPlugin(t, "liarstore")
	plugins := map[string]string{} // issue 9's plugins, by environment variable
	for _, name := range []string{"brokenstore", "httpprobe"} {
		plugins[strings.ToUpper(name)] = buildTestPlugin(t, name)
	}
	for _, name := range []string{"dirstore", "tmplinject"} {
		plugins[strings.ToUpper(name)] = buildExample(t, name)
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return testscript.Params{
		Dir: "testdata/script",
		Setup: func(e *testscript.Env) error {
			// $TAB puts a control character in an argument.
			e.Setenv("TAB", "\t")
			e.Setenv("BADINJECT", badinject)
			e.Setenv("LIARSTORE", liarstore)
			for k, v := range plugins {
				e.Setenv(k, v)
			}
			// plugin_author builds an example with the go command, when there is one.
			e.Setenv("REPO", repo)
			for _, k := range []string{"GOCACHE", "GOMODCACHE", "GOPATH", "GOROOT"} {
				e.Setenv(k, goEnv(k))
			}
			return scriptEnv(e)
		},
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"genfile":    cmdGenfile,
			"writefile":  cmdWritefile,
			"snapshot":   cmdSnapshot,
			"perm":       cmdPerm,
			"jsonget":    cmdJSONGet,
			"forgekey":   cmdForgekey,
			"chown":      cmdChown,
			"chgrp":      cmdChgrp,
			"mkfifo":     cmdMkfifo,
			"setmode":    cmdSetmode,
			"wasmgen":    cmdWasmgen,
			"holdlock":   cmdHoldlock,
			"httpserve":  cmdHTTPServe,
			"appendfile": cmdAppendfile,
			"etcd":       cmdEtcd,
			"storehas":   cmdStorehas,
			"logrec":     cmdLogrec,
		},
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "root":
				// Permission checks do not apply to root: chmod 000 leaves a
				// file readable.
				return os.Geteuid() == 0, nil
			case "etcd":
				return etcdCondition(), nil
			case "pty":
				// ttyin needs a pseudo-terminal, which a container may lack.
				f, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
				if err != nil {
					return false, nil
				}
				return true, f.Close()
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
	}
}

// cmdGenfile writes a file of SIZE letters (testscript has no dd),
// followed by SUFFIX, a Go-escaped string, when given:
//
//	genfile NAME SIZE [SUFFIX]
func cmdGenfile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: genfile NAME SIZE [SUFFIX]")
	}
	n, err := strconv.Atoi(args[1])
	ts.Check(err)
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	if len(args) == 3 {
		suffix, err := strconv.Unquote(`"` + args[2] + `"`)
		ts.Check(err)
		b = append(b, suffix...)
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), b, 0o644))
}

// cmdWritefile writes exactly the bytes of a Go-escaped string to a file,
// for contents a txtar section cannot hold: NUL bytes, no final newline:
//
//	writefile NAME 'BEGIN\x00\xff\r\n'
func cmdWritefile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: writefile NAME CONTENT")
	}
	b, err := strconv.Unquote(`"` + args[1] + `"`)
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), []byte(b), 0o644))
}

// cmdSnapshot writes a listing of the tree at DIR to OUT, one line per
// entry with its type, permissions, size and a digest of its contents (or
// a symlink's target), so that `cmp` of two snapshots shows that a
// command changed nothing on disk:
//
//	snapshot DIR OUT
func cmdSnapshot(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: snapshot DIR OUT")
	}
	root := ts.MkAbs(args[0])
	var out strings.Builder
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(&out, "%s %v -> %s\n", rel, fi.Mode(), target)
		case d.IsDir():
			fmt.Fprintf(&out, "%s %v\n", rel, fi.Mode())
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(&out, "%s %v %d %x\n", rel, fi.Mode(), len(b), sha256.Sum256(b))
		}
		return nil
	})
	if os.IsNotExist(err) {
		out.Reset()
		out.WriteString("(no such directory)\n")
	} else {
		ts.Check(err)
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(out.String()), 0o644))
}

// cmdPerm checks a file's permission bits:
//
//	[!] perm MODE FILE
func cmdPerm(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: perm MODE FILE")
	}
	want, err := strconv.ParseUint(args[0], 8, 32)
	ts.Check(err)
	fi, err := os.Stat(ts.MkAbs(args[1]))
	ts.Check(err)
	got := fi.Mode().Perm()
	if (got == fs.FileMode(want)) == neg {
		ts.Fatalf("%s has mode %#o; want %s%#o", args[1], got, map[bool]string{true: "not ", false: ""}[neg], want)
	}
}

// cmdJSONGet sets VAR to a string field of one element of the JSON array
// in FILE (or stdout), to compare values between commands:
//
//	jsonget FILE INDEX FIELD VAR
func cmdJSONGet(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 4 {
		ts.Fatalf("usage: jsonget FILE INDEX FIELD VAR")
	}
	var list []map[string]any
	ts.Check(json.Unmarshal([]byte(ts.ReadFile(args[0])), &list))
	i, err := strconv.Atoi(args[1])
	ts.Check(err)
	if i < 0 || i >= len(list) {
		ts.Fatalf("jsonget: index %d out of range (%d elements)", i, len(list))
	}
	v, ok := list[i][args[2]]
	if !ok {
		ts.Fatalf("jsonget: element %d has no field %q", i, args[2])
	}
	ts.Setenv(args[3], fmt.Sprint(v))
}

// cmdChown gives a file to another user and group (root only), as if
// another user had planted it:
//
//	chown UID PATH
func cmdChown(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: chown UID PATH")
	}
	uid, err := strconv.Atoi(args[0])
	ts.Check(err)
	ts.Check(os.Lchown(ts.MkAbs(args[1]), uid, uid))
}

// cmdChgrp sets a file's group (chgrp GID PATH). Debian's nogroup (65534) is shared: it is the primary
// group of several accounts, so group write on a file of that group lets others change it.
func cmdChgrp(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: chgrp GID PATH")
	}
	gid, err := strconv.Atoi(args[0])
	ts.Check(err)
	ts.Check(os.Lchown(ts.MkAbs(args[1]), -1, gid))
}

// cmdMkfifo makes a named pipe:
//
//	mkfifo PATH
func cmdMkfifo(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: mkfifo PATH")
	}
	ts.Check(syscall.Mkfifo(ts.MkAbs(args[0]), 0o644))
}

// cmdSetmode sets all twelve mode bits, the sticky bit included (the
// built-in chmod takes only the permission bits):
//
//	setmode MODE PATH
func cmdSetmode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: setmode MODE PATH")
	}
	mode, err := strconv.ParseUint(args[0], 8, 12)
	ts.Check(err)
	ts.Check(syscall.Chmod(ts.MkAbs(args[1]), uint32(mode)))
}

// TestScriptsAsUser runs every script again as an ordinary user (nobody),
// when the tests run as root, with the agent on (TestScriptsAgent): file
// secrets then go through a user namespace, the commands through the
// user's agent, and every message and exit status must be the same.
func TestScriptsAsUser(t *testing.T) {
	const nobody = 65534
	if os.Geteuid() != 0 {
		t.Skip("already an ordinary user: TestScripts covers it")
	}
	if os.Getenv("FLYTE_TEST_AS_USER") != "" {
		t.Skip("nested")
	}
	badinject := buildTestPlugin(t, "badinject")
	root, err := os.MkdirTemp("", "flyte-as-user-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin, plug := filepath.Join(root, "flyte.test"), filepath.Join(root, "badinject.wasm")
	liar := filepath.Join(root, "liarstore.wasm")
	copies := map[string]string{exe: bin, badinject: plug, buildTestPlugin(t, "liarstore"): liar}
	var pluginEnv []string
	for _, name := range []string{"brokenstore", "httpprobe", "dirstore", "tmplinject"} {
		src := ""
		if name == "dirstore" || name == "tmplinject" {
			src = buildExample(t, name)
		} else {
			src = buildTestPlugin(t, name)
		}
		dst := filepath.Join(root, name+".wasm")
		copies[src] = dst
		pluginEnv = append(pluginEnv, "FLYTE_TEST_PLUGIN_"+strings.ToUpper(name)+"="+dst)
	}
	for src, dst := range copies {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	home, tmp := filepath.Join(root, "home"), filepath.Join(root, "tmp")
	for _, d := range []string{home, tmp} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(d, nobody, nobody); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	// With the agent on (TestScriptsAgent): TestScripts ran them in-process.
	cmd := exec.Command(bin, "-test.run", "^TestScriptsAgent$", "-test.count=1", "-test.v")
	cmd.Dir = wd
	cmd.Env = []string{"HOME=" + home, "TMPDIR=" + tmp, "PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C",
		"FLYTE_TEST_AS_USER=1", "FLYTE_TEST_PLUGIN_BADINJECT=" + plug, "FLYTE_TEST_PLUGIN_LIARSTORE=" + liar,
		etcdRequireEnv()}
	cmd.Env = append(cmd.Env, pluginEnv...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		failed, logs := scriptFailures(out)
		t.Fatalf("the scripts failed as uid %d: %v; failed: %s\n%s", nobody, err, strings.Join(failed, ", "), logs)
	}
	// The file-secret scripts must really have run, through a user namespace.
	for _, name := range []string{"run_file", "run_env", "run_hostile", "run_resolve", "create_scopes", "render", "plugin_install", "hostile_http"} {
		if !bytes.Contains(out, []byte("--- PASS: TestScriptsAgent/"+name+" ")) {
			t.Errorf("script %s did not pass as uid %d", name, nobody)
		}
	}
	t.Logf("as uid %d: %d scripts passed, %d skipped", nobody,
		bytes.Count(out, []byte("--- PASS: TestScriptsAgent/")), bytes.Count(out, []byte("--- SKIP: TestScriptsAgent/")))
}

// agentServed holds, by script, how many requests its agent served, for
// the scripts whose agent ran (stopScriptAgent).
var agentServed sync.Map

// agentScripts counts the scripts TestScriptsAgent started.
var agentScripts atomic.Int64

// stopScriptAgent stops the agent of a script's runtime directory run, if
// one runs, and records what it served.
func stopScriptAgent(name, run string) {
	cl := &agent.Client{Dir: filepath.Join(run, "flyte"), Build: buildID()}
	if st, err := cl.Status(); err == nil {
		agentServed.Store(name, st.Served)
	}
	_, _ = cl.Stop()
}

// scriptFailures picks out of a verbose run's output the names of the
// scripts that failed and their own lines (the last 200 of each), which go
// test interleaves with every other script's under "=== NAME" headers: a
// whole verbose run is too long for CI to show.
func scriptFailures(out []byte) ([]string, []byte) {
	const keep = 200
	var failed []string
	lines := map[string][]string{}
	cur := ""
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "===" {
			cur = f[2]
			continue
		}
		if f := strings.Fields(l); len(f) >= 3 && f[0] == "---" && strings.HasSuffix(f[1], ":") {
			if cur = f[2]; f[1] == "FAIL:" && strings.Contains(cur, "/") {
				failed = append(failed, cur)
			}
			continue
		}
		lines[cur] = append(lines[cur], l)
	}
	var b bytes.Buffer
	for _, name := range failed {
		ls := lines[name]
		if len(ls) > keep {
			ls = ls[len(ls)-keep:]
		}
		fmt.Fprintf(&b, "--- %s (its last %d lines):\n%s\n", name, len(ls), strings.Join(ls, "\n"))
	}
	if len(failed) == 0 {
		b.Write(out[max(0, len(out)-20000):])
	}
	return failed, b.Bytes()
}

// goEnv is a setting of the go command ("" without one, as in a nested
// run as another user).
func goEnv(name string) string {
	if os.Getenv("FLYTE_TEST_AS_USER") != "" {
		return ""
	}
	out, err := exec.Command("go", "env", name).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// cmdHTTPServe starts an HTTP server on loopback (internal/httpfixture) for
// the rest of the script, and sets VAR to its URL (http://127.0.0.1:PORT,
// or https:// for the tls modes) and, when it has them, VAR_CA to its CA
// file and VAR_PASSWORD to the password an auth server accepts:
//
//	httpserve VAR MODE
func cmdHTTPServe(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: httpserve VAR MODE (%s)", httpfixture.Modes)
	}
	s, err := httpfixture.Start(args[1])
	ts.Check(err)
	ts.Defer(s.Close)
	ts.Setenv(args[0], s.URL)
	if s.CAFile != "" {
		ts.Setenv(args[0]+"_CA", s.CAFile)
	}
	if s.Password != "" {
		ts.Setenv(args[0]+"_PASSWORD", s.Password)
	}
}

// cmdAppendfile appends the contents of SRC to FILE, as a user adds to a
// file that flyte wrote:
//
//	appendfile FILE SRC
func cmdAppendfile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: appendfile FILE SRC")
	}
	f, err := os.OpenFile(ts.MkAbs(args[0]), os.O_WRONLY|os.O_APPEND, 0)
	ts.Check(err)
	_, err = f.WriteString(ts.ReadFile(args[1]))
	ts.Check(err)
	ts.Check(f.Close())
}

func TestScriptFailures(t *testing.T) {
	out := "=== RUN   TestScripts/a\n=== PAUSE TestScripts/a\n=== RUN   TestScripts/b\n=== CONT  TestScripts/a\n    a line 1\n" +
		"=== NAME  TestScripts/b\n    b line\n=== NAME  TestScripts/a\n    a line 2\n        FAIL: a.txt:3: unexpected\n" +
		"--- FAIL: TestScripts (1.00s)\n    --- FAIL: TestScripts/a (0.50s)\n    --- PASS: TestScripts/b (0.40s)\nFAIL\n"
	failed, logs := scriptFailures([]byte(out))
	if strings.Join(failed, ",") != "TestScripts/a" {
		t.Fatalf("failed: %q", failed)
	}
	if string(logs) != "--- TestScripts/a (its last 3 lines):\n    a line 1\n    a line 2\n        FAIL: a.txt:3: unexpected\n" {
		t.Fatalf("logs:\n%s", logs)
	}
}

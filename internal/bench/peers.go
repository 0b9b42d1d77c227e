package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The peers bench (`make bench-peers`, go run ./internal/bench -peers)
// puts flyte run beside sops exec-env, the tool most like it: both start a
// command with secrets they decrypted. sops and age are built from source
// with the Go toolchain (go install) into a temporary directory, never
// into the repository: GOBIN and GOPATH are in it, and the modules come
// from the user's module cache (-peers-modcache temp: a fresh one in the
// temporary directory). It may take minutes, so it is in neither make
// test nor CI.
var (
	flagPeers         = flag.Bool("peers", false, "build sops and age from source into a temporary directory and compare `sops exec-env --same-process` with `flyte run` (make bench-peers)")
	flagSopsVersion   = flag.String("sops-version", "latest", "version of github.com/getsops/sops/v3 for -peers")
	flagAgeVersion    = flag.String("age-version", "v1.3.2", "version of filippo.io/age for -peers")
	flagPeersModcache = flag.String("peers-modcache", "user", "module cache for -peers: user (go env GOMODCACHE) or temp (a fresh one in the temporary directory)")
)

const (
	sopsPkg      = "github.com/getsops/sops/v3/cmd/sops"
	agePkg       = "filippo.io/age/cmd/age"
	ageKeygenPkg = "filippo.io/age/cmd/age-keygen"
)

// peerSecrets are the four secrets both tools hold: E1 and E2 are
// environment variables for both, F1 and F2 are files for flyte (taskEnv)
// and, since sops exec-env gives variables only, variables for sops.
var peerSecrets = []string{"E1", "E2", "F1", "F2"}

func peers() error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	flyte := filepath.Join(root, "bin", "flyte")
	if _, err := os.Stat(flyte); err != nil {
		return fmt.Errorf("%s is missing: run `make build` first (make bench-peers does)", flyte)
	}
	tmp, err := os.MkdirTemp("", "flyte-bench-peers-")
	if err != nil {
		return err
	}
	if *flagKeep {
		fmt.Fprintln(os.Stderr, "bench: keeping", tmp)
	} else {
		atExit(func() { _ = os.RemoveAll(tmp) }) // after the agent stops
	}
	// flyte run is served by the bench's own warm agent (agent.go).
	if err := newRuntimeDir(flyte, filepath.Join(tmp, "run")); err != nil {
		return err
	}
	runtimeDir = filepath.Join(tmp, "run")
	begin, loadBefore := time.Now(), loadavg()

	bin, versions, err := installPeers(tmp)
	if err != nil {
		return err
	}
	sops := filepath.Join(bin, "sops")

	// flyte's task HOME (two env and two file secrets), which also holds
	// the age key and the sops file with the same four values.
	newEnv := func(name string) (env, error) {
		e := env{home: filepath.Join(tmp, name), cache: filepath.Join(tmp, "cache")}
		return e, os.MkdirAll(e.home, 0o700)
	}
	task, err := taskEnv(newEnv, flyte)
	if err != nil {
		return err
	}
	keyFile := filepath.Join(task.home, "age-key.txt")
	if _, err := task.exec(filepath.Join(bin, "age-keygen"), "-o", keyFile); err != nil {
		return err
	}
	var pub, stderr bytes.Buffer
	cmd := task.command(&stderr, filepath.Join(bin, "age-keygen"), "-y", keyFile)
	cmd.Stdout = &pub
	if err := cmd.Run(); err != nil {
		return commandError("age-keygen", []string{"-y", keyFile}, err, &stderr)
	}
	plain := filepath.Join(task.home, "plain.env")
	var b strings.Builder
	for _, k := range peerSecrets {
		b.WriteString(k + "=bench-task-value-" + k + "\n")
	}
	if err := os.WriteFile(plain, []byte(b.String()), 0o600); err != nil {
		return err
	}
	sopsFile := filepath.Join(task.home, "secrets.env")
	enc, err := os.OpenFile(sopsFile, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	stderr.Reset()
	cmd = task.command(&stderr, sops, "--encrypt", "--age", strings.TrimSpace(pub.String()), "--input-type", "dotenv", "--output-type", "dotenv", plain)
	cmd.Stdout = enc
	err = cmd.Run()
	enc.Close()
	if err != nil {
		return commandError("sops", []string{"--encrypt", "..."}, err, &stderr)
	}
	if err := os.Remove(plain); err != nil {
		return err
	}
	sopsEnv := task.with("SOPS_AGE_KEY_FILE=" + keyFile)
	// Check that sops really gives the command the four values before
	// timing it (the values are the bench's own, not anyone's secrets).
	var check []string
	for _, k := range peerSecrets {
		check = append(check, `test "$`+k+`" = bench-task-value-`+k)
	}
	if _, err := sopsEnv.exec(sops, "exec-env", sopsFile, strings.Join(check, " && ")); err != nil {
		return fmt.Errorf("sops does not give the command the secrets: %w", err)
	}

	trueBin := trueBinary()
	vs := variants(false)
	// Check as sops is checked that flyte gives the task the four values:
	// two variables and two files.
	check = check[:2]
	for _, k := range peerSecrets[2:] {
		check = append(check, `test "$(cat /etc/flyte/secrets/`+k+`)" = bench-task-value-`+k)
	}
	if _, err := task.exec(flyte, "run", "task", "--", "/bin/sh", "-c", strings.Join(check, " && ")); err != nil {
		return fmt.Errorf("flyte run does not give the command the secrets: %w", err)
	}
	sopsArgs := []string{"exec-env", "--same-process", sopsFile, trueBin}
	var sides []side
	for _, v := range vs {
		sides = append(sides, elapsed(func(int) (time.Duration, error) {
			return task.with(v.env...).exec(flyte, "run", "task", "--", trueBin)
		}))
	}
	sides = append(sides,
		elapsed(func(int) (time.Duration, error) { return sopsEnv.exec(sops, sopsArgs...) }),
		elapsed(func(int) (time.Duration, error) { return task.exec(trueBin) }))
	fmt.Fprintf(os.Stderr, "bench: %d rounds of flyte run, sops exec-env and a bare %s\n", *flagN, trueBin)
	t := table{head: "measured"}
	served := t.agentBefore(vs)
	res := alternate(*flagN, sides...)
	t.agentAfter(served, vs, res, *flagN)
	s, bare := res[len(vs)], res[len(vs)+1]

	for k, v := range vs {
		t.add(row{what: "flyte run ENV -- /bin/true, 2 env + 2 file secrets, masked" + v.label, a: res[k].stats(), errA: res[k].err,
			b: s.stats(), errB: s.err, baseline: "sops exec-env"})
	}
	t.add(row{what: "sops exec-env --same-process FILE /bin/true, 4 age secrets (env)", a: s.stats(), errA: s.err,
		b: bare.stats(), errB: bare.err, baseline: "bare /bin/true"})
	sopsOver := differences(s, bare)
	for k, v := range vs {
		if d := differences(res[k], bare); d != nil && sopsOver != nil {
			t.add(row{what: "  overhead over bare /bin/true (median of differences)" + v.label, a: summarize(d), b: summarize(sopsOver),
				baseline: "sops' overhead"})
		}
	}

	fmt.Fprintf(os.Stderr, "bench: %d rounds of peak RSS\n", *flagNRSS)
	rss := alternate(*flagNRSS, append(rssSides(task, vs, flyte, "run", "task", "--", trueBin),
		elapsed(func(int) (time.Duration, error) { return sopsEnv.peakRSS(sops, sopsArgs...) }),
		elapsed(func(int) (time.Duration, error) { return task.peakRSS(trueBin) }))...)
	rs, rbare := rss[len(vs)], rss[len(vs)+1]
	t.belowTarget("flyte run (agent, 2 env + 2 file secrets, masked) against sops exec-env --same-process (4 env)", res[0], s)
	for k, v := range vs {
		t.add(row{what: "peak RSS: flyte run, 2 env + 2 file secrets" + v.label, a: rss[k].stats(), errA: rss[k].err,
			b: rs.stats(), errB: rs.err, memory: true, baseline: "sops exec-env"})
	}
	t.add(row{what: "peak RSS: sops exec-env --same-process, 4 secrets", a: rs.stats(), errA: rs.err,
		b: rbare.stats(), errB: rbare.err, memory: true, baseline: "bare /bin/true"})

	fmt.Fprintf(os.Stderr, "bench: done in %s\n\n", time.Since(begin).Round(time.Second))
	fmt.Println(machine())
	fmt.Println("peers, built from source with " + goVersion() + ": " + strings.Join(versions, ", "))
	fmt.Printf("load average (1 min) before / after: %s / %s\n\n", loadBefore, loadavg())
	t.print(os.Stdout)
	if launcherFloor > 0 {
		fmt.Printf("\npeak RSS is wait4's ru_maxrss of the command through a launcher whose own peak was at most %s (rss.go)\n", sizeStr(launcherFloor))
	}
	if len(t.failures) > 0 {
		return fmt.Errorf("%d measurement(s) FAILED (listed under the table)", len(t.failures))
	}
	return nil
}

// installPeers builds sops, age and age-keygen from source into tmp/bin
// and returns that directory and the module versions it built.
func installPeers(tmp string) (bin string, versions []string, err error) {
	bin = filepath.Join(tmp, "bin")
	gopath := filepath.Join(tmp, "gopath")
	modcache := filepath.Join(gopath, "pkg", "mod")
	switch *flagPeersModcache {
	case "temp":
	case "user":
		out, err := exec.Command("go", "env", "GOMODCACHE").Output()
		if err != nil || strings.TrimSpace(string(out)) == "" {
			return "", nil, fmt.Errorf("go env GOMODCACHE: %v", err)
		}
		modcache = strings.TrimSpace(string(out))
	default:
		return "", nil, fmt.Errorf("-peers-modcache is user or temp, not %q", *flagPeersModcache)
	}
	if err := os.MkdirAll(bin, 0o700); err != nil {
		return "", nil, err
	}
	environ := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return slices.Contains([]string{"GOBIN", "GOPATH", "GOMODCACHE", "GOFLAGS", "GOWORK", "GOTOOLCHAIN"}, k)
	})
	// GOTOOLCHAIN=local: build with this toolchain, never download another;
	// -modcacherw only for a temporary module cache, so that it can be
	// removed afterwards: the user's own stays read-only, as go keeps it.
	environ = append(environ, "GOBIN="+bin, "GOPATH="+gopath, "GOMODCACHE="+modcache, "GOTOOLCHAIN=local", "GOWORK=off")
	if *flagPeersModcache == "temp" {
		environ = append(environ, "GOFLAGS=-modcacherw")
	}
	proxy, _ := exec.Command("go", "env", "GOPROXY").Output()
	for _, pkgs := range [][]string{
		{sopsPkg + "@" + *flagSopsVersion},
		{agePkg + "@" + *flagAgeVersion, ageKeygenPkg + "@" + *flagAgeVersion},
	} {
		args := append([]string{"install"}, pkgs...)
		fmt.Fprintf(os.Stderr, "bench: go %s (GOBIN and GOPATH in %s, GOMODCACHE=%s)\n", strings.Join(args, " "), tmp, modcache)
		start := time.Now()
		cmd := exec.Command("go", args...)
		cmd.Dir, cmd.Env = tmp, environ // outside the repository: its go.mod plays no part
		out, err := cmd.CombinedOutput()
		if err != nil {
			return "", nil, fmt.Errorf("go %s failed (GOBIN=%s GOPATH=%s GOMODCACHE=%s GOPROXY=%s GOTOOLCHAIN=local): %v\n%s",
				strings.Join(args, " "), bin, gopath, modcache, strings.TrimSpace(string(proxy)), err, lastLines(string(out), 30))
		}
		fmt.Fprintf(os.Stderr, "bench: built in %s\n", time.Since(start).Round(time.Second))
	}
	for _, name := range []string{"sops", "age", "age-keygen"} {
		versions = append(versions, name+" "+moduleVersion(filepath.Join(bin, name)))
	}
	return bin, versions, nil
}

// moduleVersion is the main module's version recorded in a Go binary
// (go version -m), or "?".
func moduleVersion(path string) string {
	out, err := exec.Command("go", "version", "-m", path).Output()
	if err != nil {
		return "?"
	}
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) >= 3 && f[0] == "mod" {
			return f[1] + "@" + f[2]
		}
	}
	return "?"
}

func goVersion() string {
	out, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		return "go"
	}
	return strings.TrimSpace(string(out))
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	if len(l) > n {
		l = append([]string{"..."}, l[len(l)-n:]...)
	}
	return strings.Join(l, "\n")
}

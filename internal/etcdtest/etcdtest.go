// Package etcdtest runs real etcd clusters (Debian's etcd-server, 3.4) on
// the loopback interface for the tests of the etcd store: one node for
// most tests, three for the fault tests. Every node listens on free
// loopback ports, keeps its data in a directory of the test's, and logs to
// a file that is shown when the test fails; a cluster is always stopped
// (SIGKILL, then waited for) when its test ends, and its processes die
// with the test process if that is killed first.
//
// Without an etcd binary the tests skip, unless FLYTE_REQUIRE_ETCD=1 (as
// .ci/run sets it), where they fail instead.
package etcdtest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RequireEnv is the variable that makes a missing etcd a failure, not a skip.
const RequireEnv = "FLYTE_REQUIRE_ETCD"

// MaxRequestBytes is every node's --max-request-bytes: flyte's largest
// message (8 MiB) fits, with room for the JSON gateway's base64.
const MaxRequestBytes = 10 << 20

// startCeiling bounds how long a cluster may take to become healthy, and
// a leader to be elected. It is a sanity ceiling for a broken etcd (one
// that never becomes healthy), far above the second or two it takes on
// a loaded machine, not a measurement: a node that exits is reported at
// once, with its log.
const startCeiling = 2 * time.Minute

// Fataler is what a cluster reports a failure to and logs with: a
// testing.TB, or a testscript.TestScript.
type Fataler interface {
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
}

// Binary returns the etcd to run: `etcd` on PATH, else /usr/bin/etcd
// (Debian's etcd-server), else an error.
func Binary() (string, error) {
	if p, err := exec.LookPath("etcd"); err == nil {
		return p, nil
	}
	const debian = "/usr/bin/etcd"
	if _, err := os.Stat(debian); err != nil {
		return "", errors.New("etcd is not installed (Debian: apt-get install etcd-server)")
	}
	return debian, nil
}

// Required reports whether FLYTE_REQUIRE_ETCD=1: a test that needs etcd
// fails without it instead of skipping.
func Required() bool { return os.Getenv(RequireEnv) == "1" }

// Cluster is a running etcd cluster on loopback.
type Cluster struct {
	f     Fataler
	bin   string
	dir   string
	token string
	// initial is the --initial-cluster flag: name=peer URL, each node.
	initial string
	nodes   []*node
	spawn   *spawner

	mu      sync.Mutex
	stopped bool
}

type node struct {
	name         string
	client, peer int
	data, log    string
	cmd          *exec.Cmd
	exited       chan struct{} // closed when cmd has been waited for
}

// Start runs a cluster of nodes (1 or more) for the test t, waits until
// every node is healthy, and stops it when t ends. It skips t when etcd is
// not installed, unless FLYTE_REQUIRE_ETCD=1.
func Start(t testing.TB, nodes int) *Cluster {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		if Required() {
			t.Fatalf("%v, and %s=1", err, RequireEnv)
		}
		t.Skipf("%v (set %s=1 to fail instead)", err, RequireEnv)
	}
	dir := t.TempDir() // removed after the cleanup below has stopped the nodes
	c := Launch(t, bin, dir, nodes)
	t.Cleanup(func() {
		c.Stop()
		if t.Failed() {
			t.Logf("%s", c.Logs())
		}
	})
	return c
}

// Launch runs a cluster of nodes with etcd binary bin and data and logs in
// dir, and waits until every node is healthy; on an error it stops what it
// started and calls f.Fatalf. The caller must Stop the cluster: Start
// does this for a test; a testscript command defers it.
func Launch(f Fataler, bin, dir string, nodes int) *Cluster {
	if nodes < 1 {
		f.Fatalf("etcdtest: a cluster needs at least one node, not %d", nodes)
	}
	var last error
	// Free ports are found by listening and closing; another process may
	// take one in between, so a node that cannot bind is a reason to try
	// again with other ports (three times at most).
	for attempt := 1; attempt <= 3; attempt++ {
		c := &Cluster{f: f, bin: bin, dir: filepath.Join(dir, "etcd-"+strconv.Itoa(attempt)),
			token: fmt.Sprintf("flyte-test-%d-%d", os.Getpid(), time.Now().UnixNano())}
		err := c.launch(nodes)
		if err == nil {
			return c
		}
		c.Stop()
		last = err
		if !errors.Is(err, errAddrInUse) {
			break
		}
	}
	f.Fatalf("etcdtest: %v", last)
	return nil
}

var errAddrInUse = errors.New("address already in use")

func (c *Cluster) launch(n int) error {
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return err
	}
	ports, err := freePorts(2 * n)
	if err != nil {
		return err
	}
	var initial []string
	for i := range n {
		nd := &node{name: "n" + strconv.Itoa(i+1), client: ports[2*i], peer: ports[2*i+1]}
		nd.data = filepath.Join(c.dir, nd.name+".data")
		nd.log = filepath.Join(c.dir, nd.name+".log")
		c.nodes = append(c.nodes, nd)
		initial = append(initial, nd.name+"="+nd.peerURL())
	}
	c.initial = strings.Join(initial, ",")
	c.spawn = newSpawner()
	for _, nd := range c.nodes {
		if err := c.run(nd); err != nil {
			return err
		}
	}
	return c.waitHealthy(c.nodes)
}

func (nd *node) clientURL() string { return "http://127.0.0.1:" + strconv.Itoa(nd.client) }
func (nd *node) peerURL() string   { return "http://127.0.0.1:" + strconv.Itoa(nd.peer) }

// run starts nd's etcd process. The initial cluster flags only matter the
// first time: a restarted node finds its membership in its data directory.
func (c *Cluster) run(nd *node) error {
	logf, err := os.OpenFile(nd.log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(c.bin,
		"--name", nd.name,
		"--data-dir", nd.data,
		"--listen-client-urls", nd.clientURL(),
		"--advertise-client-urls", nd.clientURL(),
		"--listen-peer-urls", nd.peerURL(),
		"--initial-advertise-peer-urls", nd.peerURL(),
		"--initial-cluster", c.initial,
		"--initial-cluster-state", "new",
		"--initial-cluster-token", c.token,
		"--max-request-bytes", strconv.Itoa(MaxRequestBytes),
		"--quota-backend-bytes", strconv.Itoa(1<<30),
		"--logger", "zap",
		"--log-outputs", "stderr",
	)
	// etcd reads any ETCD_* variable as a flag: none of the test's.
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	if runtime.GOARCH != "amd64" {
		cmd.Env = append(cmd.Env, "ETCD_UNSUPPORTED_ARCH="+runtime.GOARCH)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	dieWithParent(cmd)
	if err := c.spawn.start(cmd); err != nil {
		return fmt.Errorf("starting etcd %s: %v", nd.name, err)
	}
	nd.cmd, nd.exited = cmd, make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) {
		_ = cmd.Wait() // a killed node exits with an error, as expected
		close(exited)
	}(cmd, nd.exited)
	return nil
}

// freePorts returns n distinct loopback TCP ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func (nd *node) running() bool {
	if nd.cmd == nil {
		return false
	}
	select {
	case <-nd.exited:
		return false
	default:
		return true
	}
}

// waitHealthy waits until every node of nodes answers /health with
// "true", failing at once when one of them exits.
func (c *Cluster) waitHealthy(nodes []*node) error {
	return c.waitFor(nodes, func(nd *node) bool {
		var h struct {
			Health string `json:"health"`
		}
		return getJSON(nd.clientURL()+"/health", &h) == nil && h.Health == "true"
	})
}

// waitFor polls ok on every node of nodes until each has said yes.
func (c *Cluster) waitFor(nodes []*node, ok func(*node) bool) error {
	deadline := time.Now().Add(startCeiling)
	pending := append([]*node(nil), nodes...)
	for {
		var still []*node
		for _, nd := range pending {
			if !nd.running() {
				b, _ := os.ReadFile(nd.log)
				if bytes.Contains(b, []byte("address already in use")) {
					return fmt.Errorf("etcd %s: %w", nd.name, errAddrInUse)
				}
				return fmt.Errorf("etcd %s exited while starting:\n%s", nd.name, tail(b, 30))
			}
			if !ok(nd) {
				still = append(still, nd)
			}
		}
		if len(still) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("etcd %s not ready after %v (a sanity ceiling):\n%s", still[0].name, startCeiling, c.Logs())
		}
		pending = still
		time.Sleep(50 * time.Millisecond)
	}
}

var httpClient = &http.Client{Timeout: 5 * time.Second}

func getJSON(url string, v any) error {
	resp, err := httpClient.Get(url)
	if err != nil {
		return err
	}
	return decode(resp, v)
}

func postJSON(url string, body, v any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	resp, err := httpClient.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		return err
	}
	return decode(resp, v)
}

func decode(resp *http.Response, v any) error {
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(b))
	}
	return json.Unmarshal(b, v)
}

// Endpoints are the nodes' client URLs (http://127.0.0.1:PORT), in node
// order, whether or not a node is running.
func (c *Cluster) Endpoints() []string {
	var eps []string
	for _, nd := range c.nodes {
		eps = append(eps, nd.clientURL())
	}
	return eps
}

// TOMLEndpoints is the body of a TOML array of the endpoints:
// "http://127.0.0.1:P1", "http://127.0.0.1:P2".
func (c *Cluster) TOMLEndpoints() string {
	var q []string
	for _, e := range c.Endpoints() {
		q = append(q, strconv.Quote(e))
	}
	return strings.Join(q, ", ")
}

// Size is the number of nodes.
func (c *Cluster) Size() int { return len(c.nodes) }

func (c *Cluster) node(i int) *node {
	if i < 0 || i >= len(c.nodes) {
		c.f.Fatalf("etcdtest: no node %d in a cluster of %d", i, len(c.nodes))
	}
	return c.nodes[i]
}

// Kill sends node i (from 0) SIGKILL and waits until it has exited.
func (c *Cluster) Kill(i int) {
	nd := c.node(i)
	if !nd.running() {
		c.f.Fatalf("etcdtest: node %d (%s) is not running", i, nd.name)
	}
	_ = nd.cmd.Process.Signal(syscall.SIGKILL) // it may have exited meanwhile: exited tells
	<-nd.exited
}

// Running reports whether node i runs.
func (c *Cluster) Running(i int) bool { return c.node(i).running() }

// Restart starts node i again, on its ports and data, after Kill. When a
// majority of the nodes then runs, it waits until every running node is
// healthy; else until node i listens on its client port (without a quorum
// no node is healthy, and a restarted one does not answer).
func (c *Cluster) Restart(i int) {
	nd := c.node(i)
	if nd.running() {
		c.f.Fatalf("etcdtest: node %d (%s) is running: Kill it first", i, nd.name)
	}
	c.mu.Lock()
	stopped := c.stopped
	c.mu.Unlock()
	if stopped {
		c.f.Fatalf("etcdtest: the cluster was stopped")
	}
	if err := c.run(nd); err != nil {
		c.f.Fatalf("etcdtest: %v", err)
	}
	var running []*node
	for _, n := range c.nodes {
		if n.running() {
			running = append(running, n)
		}
	}
	var err error
	if 2*len(running) > len(c.nodes) {
		err = c.waitHealthy(running)
	} else {
		// Without a quorum a restarted node does not serve its clients
		// (it waits to publish itself through raft); it listens, though.
		err = c.waitFor([]*node{nd}, func(nd *node) bool {
			conn, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(nd.client))
			if err == nil {
				conn.Close()
			}
			return err == nil
		})
	}
	if err != nil {
		c.f.Fatalf("etcdtest: restarting node %d: %v", i, err)
	}
}

type status struct {
	Header struct {
		MemberID string `json:"member_id"`
	} `json:"header"`
	Leader string `json:"leader"`
}

// Leader returns the index of the leader, waiting until every running
// node agrees on one of them (after a leader was killed, an election).
func (c *Cluster) Leader() int {
	deadline := time.Now().Add(startCeiling)
	for {
		if i, ok := c.leader(); ok {
			return i
		}
		if time.Now().After(deadline) {
			c.f.Fatalf("etcdtest: no leader after %v (a sanity ceiling):\n%s", startCeiling, c.Logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *Cluster) leader() (int, bool) {
	leader, found := "", -1
	for i, nd := range c.nodes {
		if !nd.running() {
			continue
		}
		var s status
		if err := postJSON(nd.clientURL()+"/v3/maintenance/status", struct{}{}, &s); err != nil {
			return 0, false
		}
		if s.Leader == "" || s.Leader == "0" || (leader != "" && s.Leader != leader) {
			return 0, false
		}
		leader = s.Leader
		if s.Header.MemberID == s.Leader {
			found = i
		}
	}
	return found, found >= 0
}

// KV is one key of a Range.
type KV struct {
	Key, Value                           []byte
	CreateRevision, ModRevision, Version int64
}

// Range reads every key that starts with prefix ("": every key), as etcd
// held them at revision rev (0: now), through the first running node's
// JSON gateway, and the revision it answered at. Reading at a revision that was
// compacted fails with etcd's "required revision has been compacted".
func (c *Cluster) Range(prefix string, rev int64) ([]KV, int64, error) {
	var nd *node
	for _, n := range c.nodes {
		if n.running() {
			nd = n
			break
		}
	}
	if nd == nil {
		return nil, 0, errors.New("no node is running")
	}
	key := prefix
	if key == "" {
		key = "\x00" // with range_end "\x00": every key
	}
	req := map[string]string{"key": b64(key), "range_end": b64(prefixEnd(prefix))}
	if rev != 0 {
		req["revision"] = strconv.FormatInt(rev, 10)
	}
	var resp struct {
		Header struct {
			Revision string `json:"revision"`
		} `json:"header"`
		KVs []struct {
			Key            []byte `json:"key"` // base64 in JSON, as []byte is
			Value          []byte `json:"value"`
			CreateRevision string `json:"create_revision"` // int64 as a string
			ModRevision    string `json:"mod_revision"`
			Version        string `json:"version"`
		} `json:"kvs"`
	}
	if err := postJSON(nd.clientURL()+"/v3/kv/range", req, &resp); err != nil {
		return nil, 0, err
	}
	var kvs []KV
	for _, kv := range resp.KVs {
		k := KV{Key: kv.Key, Value: kv.Value}
		k.CreateRevision, _ = strconv.ParseInt(kv.CreateRevision, 10, 64)
		k.ModRevision, _ = strconv.ParseInt(kv.ModRevision, 10, 64)
		k.Version, _ = strconv.ParseInt(kv.Version, 10, 64)
		kvs = append(kvs, k)
	}
	at, _ := strconv.ParseInt(resp.Header.Revision, 10, 64)
	return kvs, at, nil
}

// prefixEnd is the end of the range of keys that start with prefix.
func prefixEnd(prefix string) string {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1])
		}
	}
	return "\x00" // every key
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// Stop kills every node and waits for each; it may be called more than once.
func (c *Cluster) Stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return
	}
	c.stopped = true
	for _, nd := range c.nodes {
		if nd.running() {
			_ = nd.cmd.Process.Signal(syscall.SIGKILL) // it may have exited meanwhile: exited tells
			<-nd.exited
		}
	}
	if c.spawn != nil {
		c.spawn.close()
	}
}

// Logs is the end of every node's log, for a failure message.
func (c *Cluster) Logs() string {
	var b strings.Builder
	for _, nd := range c.nodes {
		log, _ := os.ReadFile(nd.log)
		fmt.Fprintf(&b, "--- etcd %s (client %s, peer %s), end of %s:\n%s\n", nd.name, nd.clientURL(), nd.peerURL(), nd.log, tail(log, 40))
	}
	return b.String()
}

// tail is the last n lines of b.
func tail(b []byte, n int) []byte {
	b = bytes.TrimRight(b, "\n")
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '\n' {
			if n--; n == 0 {
				return b[i+1:]
			}
		}
	}
	return b
}

// spawner starts processes from one OS thread that it keeps until the
// cluster stops: a process's parent-death signal (Linux) follows the
// thread that started it, and Go may end other threads at any time.
type spawner struct {
	reqs chan func()
	once sync.Once
}

func newSpawner() *spawner {
	s := &spawner{reqs: make(chan func())}
	go func() {
		runtime.LockOSThread()
		for f := range s.reqs {
			f()
		}
		runtime.UnlockOSThread()
	}()
	return s
}

func (s *spawner) start(cmd *exec.Cmd) error {
	errc := make(chan error)
	s.reqs <- func() { errc <- cmd.Start() }
	return <-errc
}

func (s *spawner) close() { s.once.Do(func() { close(s.reqs) }) }

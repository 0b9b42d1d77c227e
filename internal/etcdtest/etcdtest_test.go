package etcdtest

import (
	"encoding/base64"
	"os"
	"strconv"
	"strings"
	"testing"
)

// put writes key=value through node i's JSON gateway.
func put(t *testing.T, c *Cluster, i int, key, value string) {
	t.Helper()
	body := map[string]string{"key": b64(key), "value": b64(value)}
	var resp map[string]any
	if err := postJSON(c.Endpoints()[i]+"/v3/kv/put", body, &resp); err != nil {
		t.Fatalf("put %s on node %d: %v", key, i, err)
	}
}

// get reads key through node i's JSON gateway ("" when it is absent).
func get(t *testing.T, c *Cluster, i int, key string) string {
	t.Helper()
	var resp struct {
		KVs []struct {
			Value string `json:"value"`
		} `json:"kvs"`
	}
	if err := postJSON(c.Endpoints()[i]+"/v3/kv/range", map[string]string{"key": b64(key)}, &resp); err != nil {
		t.Fatalf("range %s on node %d: %v", key, i, err)
	}
	if len(resp.KVs) == 0 {
		return ""
	}
	v, err := base64.StdEncoding.DecodeString(resp.KVs[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	return string(v)
}

func TestOneNode(t *testing.T) {
	c := Start(t, 1)
	if len(c.Endpoints()) != 1 || c.Leader() != 0 {
		t.Fatalf("endpoints %v, leader %d", c.Endpoints(), c.Leader())
	}
	put(t, c, 0, "k", "v1")
	if got := get(t, c, 0, "k"); got != "v1" {
		t.Fatalf("got %q", got)
	}
	put(t, c, 0, "k2", "v2")
	put(t, c, 0, "l", "other")
	kvs, rev, err := c.Range("k", 0)
	if err != nil || len(kvs) != 2 || string(kvs[0].Key) != "k" || string(kvs[0].Value) != "v1" ||
		string(kvs[1].Key) != "k2" || kvs[1].Version != 1 || kvs[1].ModRevision >= rev {
		t.Fatalf("Range(k) = %+v at %d, %v", kvs, rev, err)
	}
	// Compacted history is gone.
	var comp map[string]any
	if err := postJSON(c.Endpoints()[0]+"/v3/kv/compaction", map[string]any{"revision": strconv.FormatInt(rev, 10), "physical": true}, &comp); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Range("k", kvs[0].ModRevision); err == nil || !strings.Contains(err.Error(), "required revision has been compacted") {
		t.Fatalf("Range at a compacted revision: %v", err)
	}
	c.Stop()
	if _, _, err := c.Range("k", 0); err == nil {
		t.Fatal("Range on a stopped cluster worked")
	}
	if c.Running(0) {
		t.Fatal("node 0 still runs after Stop")
	}
	c.Stop() // twice is fine
}

// TestThreeNodes kills the leader: the two others elect a new one and keep
// what was written; the old leader, restarted, catches up.
func TestThreeNodes(t *testing.T) {
	c := Start(t, 3)
	if got := c.TOMLEndpoints(); got != `"`+c.Endpoints()[0]+`", "`+c.Endpoints()[1]+`", "`+c.Endpoints()[2]+`"` {
		t.Fatalf("TOMLEndpoints = %s", got)
	}
	old := c.Leader()
	put(t, c, old, "before", "1")
	c.Kill(old)
	if c.Running(old) {
		t.Fatal("killed node still runs")
	}
	leader := c.Leader()
	if leader == old {
		t.Fatalf("node %d, killed, is still the leader", old)
	}
	put(t, c, leader, "after", "2")
	if got := get(t, c, leader, "before"); got != "1" {
		t.Fatalf("before = %q after the leader died", got)
	}
	c.Restart(old)
	// Restart waited for every node's health: the old leader has caught up
	// (a linearizable read on it goes through the leader).
	if got := get(t, c, old, "after"); got != "2" {
		t.Fatalf("after = %q on the restarted node", got)
	}
}

// TestNoQuorum: with two of three nodes down the last one is not healthy;
// a node restarted alone is waited for until it answers, and with a
// second one the cluster is healthy again and has kept what it held.
func TestNoQuorum(t *testing.T) {
	c := Start(t, 3)
	put(t, c, 0, "k", "v")
	c.Kill(1)
	c.Kill(2)
	var h struct {
		Health string `json:"health"`
	}
	if err := getJSON(c.Endpoints()[0]+"/health", &h); err == nil && h.Health == "true" {
		t.Fatal("node 0 alone says it is healthy")
	}
	c.Kill(0)
	c.Restart(0) // alone: listens, no quorum
	if !c.Running(0) || c.Running(1) || c.Running(2) {
		t.Fatal("wrong nodes running")
	}
	c.Restart(2) // a quorum: healthy
	if l := c.Leader(); l == 1 {
		t.Fatal("a dead node is the leader")
	}
	if got := get(t, c, 2, "k"); got != "v" {
		t.Fatalf("k = %q after the restarts", got)
	}
	c.Restart(1)
	put(t, c, 1, "k2", "v2")
}

// TestCleanup: a cluster the test did not stop is stopped when it ends.
func TestCleanup(t *testing.T) {
	var c *Cluster
	t.Run("inner", func(t *testing.T) { c = Start(t, 1) })
	if c.Running(0) {
		t.Fatal("the node outlived its test")
	}
	if _, err := os.Stat(c.dir); !os.IsNotExist(err) {
		t.Fatalf("the data directory outlived its test: %v", err)
	}
}

package main

import (
	"os"
	"strconv"
	"sync"

	"github.com/flytesecrets/flyte/internal/etcdtest"
	"github.com/rogpeppe/go-internal/testscript"
)

// scriptClusters holds each script's etcd cluster (at most one), stopped
// when the script ends.
var scriptClusters sync.Map // *testscript.TestScript -> *etcdtest.Cluster

// cmdEtcd runs an etcd cluster on loopback for the rest of the script
// (internal/etcdtest), and stops it when the script ends:
//
//	etcd start N     N nodes; sets ETCD_ENDPOINTS to the body of a TOML array
//	                 ("http://127.0.0.1:P1", "http://127.0.0.1:P2") and
//	                 ETCD_ENDPOINT1..N to each node's URL. A script skips
//	                 where there is no etcd with [!etcd] skip (see etcdCondition).
//	etcd kill I      SIGKILL node I (from 1), and wait for it
//	etcd restart I   start node I again (waits for the cluster's health when
//	                 a majority runs)
//	etcd leader      set ETCD_LEADER to the leader's number (from 1)
//	etcd stop        stop every node
func cmdEtcd(ts *testscript.TestScript, neg bool, args []string) {
	const usage = "usage: etcd start N | kill I | restart I | leader | stop"
	if neg || len(args) == 0 {
		ts.Fatalf(usage)
	}
	if args[0] == "start" {
		if len(args) != 2 {
			ts.Fatalf(usage)
		}
		n, err := strconv.Atoi(args[1])
		if err != nil || n < 1 || n > 9 {
			ts.Fatalf("etcd start: N is 1 to 9, not %q", args[1])
		}
		if _, ok := scriptClusters.Load(ts); ok {
			ts.Fatalf("etcd start: this script runs a cluster already")
		}
		bin, err := etcdtest.Binary()
		if err != nil {
			ts.Fatalf("etcd start: %v (a script starts with [!etcd] skip)", err)
		}
		// Outside $WORK, so that the script's tree holds only its own files.
		dir, err := os.MkdirTemp("", "flyte-script-etcd-")
		ts.Check(err)
		ts.Defer(func() { os.RemoveAll(dir) })
		c := etcdtest.Launch(ts, bin, dir, n)
		scriptClusters.Store(ts, c)
		ts.Defer(func() {
			c.Stop()
			scriptClusters.Delete(ts)
		})
		ts.Setenv("ETCD_ENDPOINTS", c.TOMLEndpoints())
		for i, e := range c.Endpoints() {
			ts.Setenv("ETCD_ENDPOINT"+strconv.Itoa(i+1), e)
		}
		return
	}
	v, ok := scriptClusters.Load(ts)
	if !ok {
		ts.Fatalf("etcd %s: no cluster: etcd start N first", args[0])
	}
	c := v.(*etcdtest.Cluster)
	node := func() int {
		if len(args) != 2 {
			ts.Fatalf(usage)
		}
		i, err := strconv.Atoi(args[1])
		if err != nil || i < 1 || i > c.Size() {
			ts.Fatalf("etcd %s: I is 1 to %d, not %q", args[0], c.Size(), args[1])
		}
		return i - 1
	}
	switch args[0] {
	case "kill":
		c.Kill(node())
	case "restart":
		c.Restart(node())
	case "leader":
		if len(args) != 1 {
			ts.Fatalf(usage)
		}
		ts.Setenv("ETCD_LEADER", strconv.Itoa(c.Leader()+1))
	case "stop":
		if len(args) != 1 {
			ts.Fatalf(usage)
		}
		c.Stop()
	default:
		ts.Fatalf(usage)
	}
}

// etcdRequireEnv passes FLYTE_REQUIRE_ETCD on to a nested test run (as
// another user): where etcd is required, it is required there too.
func etcdRequireEnv() string {
	return etcdtest.RequireEnv + "=" + os.Getenv(etcdtest.RequireEnv)
}

// etcdCondition is the script condition [etcd]: etcd is installed, or
// FLYTE_REQUIRE_ETCD=1 says it must be (then etcd start fails without it).
func etcdCondition() bool {
	_, err := etcdtest.Binary()
	return err == nil || etcdtest.Required()
}

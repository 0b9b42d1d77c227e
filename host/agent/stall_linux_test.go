package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/flytesecrets/flyte/host/core"
	"github.com/flytesecrets/flyte/host/scope"
)

// A client that stops reading (stopped with ^Z, its standard error a full
// pipe) while the agent sends it a large answer holds up no other request
// of the same configuration: the answer is sent after the core is
// released. (Found by review: the second listing waited forever.)
func TestStalledClientHoldsNoOne(t *testing.T) {
	dir := runDir(t)
	c := client(t, dir, "A")
	setup := testSetup(t)
	pad := string(bytes.Repeat([]byte("K"), 120))
	for i := range 1200 { // an answer larger than the socket's buffers
		var sec core.Secret
		req := core.WriteRequest{Scope: scope.Scope{Org: setup.Config.Organization}, Key: fmt.Sprintf("%s%05d", pad, i), Value: []byte("v")}
		if _, err := c.Call(context.Background(), OpWrite, setup, req, &sec, nil); err != nil {
			t.Fatal(err)
		}
	}
	// The stalled client: hello, a listing, then it reads nothing more.
	d, err := openDir(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	conn, _, err := c.dial(d)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body, _ := json.Marshal(core.ListRequest{Resolve: true})
	if err := send(conn, request{Op: OpList, Setup: setup, Body: body}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // not a bound: time for the agent to fill the socket
	// Without the fix this call never returns (the test's timeout fails it).
	var res core.ListResult
	if _, err := c.Call(context.Background(), OpList, setup, core.ListRequest{}, &res, nil); err != nil {
		t.Fatalf("another client's listing on the same configuration: %v", err)
	}
}

// A core evicted between warmFor and the request's lock is seen closed,
// and the request takes the core filed for its setup now (review: it ran
// on the closed core and failed with "flyte is shutting down").
func TestEvictedCoreNotUsed(t *testing.T) {
	s := &Server{cores: map[string]*warm{}}
	base := testSetup(t)
	w1, _, err := s.warmFor(base) // a request got its core, then waits
	if err != nil {
		t.Fatal(err)
	}
	for i := range maxCores { // while other configurations arrive
		o := *base
		o.StateDir = filepath.Join(t.TempDir(), fmt.Sprint(i))
		if _, _, err := s.warmFor(&o); err != nil {
			t.Fatal(err)
		}
	}
	for { // the eviction closes it
		w1.mu.Lock()
		closed := w1.closed
		w1.mu.Unlock()
		if closed {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	w2, _, err := s.warmFor(base)
	if err != nil {
		t.Fatal(err)
	}
	if w2 == w1 || w2.closed {
		t.Fatal("the setup's core is the evicted one")
	}
	w2.mu.Lock()
	w2.core.Renew(base.Identity.source(base.Config.Seal.Identity))
	_, err = w2.core.List(context.Background(), core.ListRequest{})
	w2.mu.Unlock()
	if err != nil {
		t.Fatalf("the request on the core filed now: %v", err)
	}
	for _, w := range s.cores {
		w.close()
	}
}

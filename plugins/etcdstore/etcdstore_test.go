//go:build !wasip1

package etcdstore_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/httpgrant"
	"github.com/flytesecrets/flyte/internal/etcdtest"
	"github.com/flytesecrets/flyte/plugins/etcdstore"
)

// The store linked natively, its requests sent by the host's own http
// client (host/httpgrant) under a call deadline, to real etcd nodes: these
// tests see the store's own words, which the plugin host may replace with
// its reason for the last failed request (host/builtin's tests load the
// built .wasm as flyte does).

// hostHTTP is guest.HTTP over the host's client, one call at a time.
type hostHTTP struct {
	c        *httpgrant.Client
	call     *httpgrant.Call
	deadline time.Time
}

func (h *hostHTTP) Do(r *abi.HTTPRequest) (*abi.HTTPResponse, error) {
	ctx, cancel := context.WithDeadline(context.Background(), h.deadline)
	defer cancel()
	resp, d, st := h.call.Do(ctx, r)
	if st != abi.OK {
		return nil, &abi.StatusError{Code: st, Message: d.Msg}
	}
	return resp, nil
}

func (h *hostHTTP) Credential(name string) ([]byte, error) {
	v, st := h.c.Credential(name)
	if st != abi.OK {
		return nil, abi.Errorf(st, "no such credential")
	}
	return v, nil
}

func (h *hostHTTP) timeLeft() uint32 {
	return uint32(max(0, time.Until(h.deadline).Milliseconds()))
}

// store is the etcd store over endpoints, each call with a deadline of
// 10s, each request of timeout.
type store struct {
	*etcdstore.Store
	h *hostHTTP
}

func newStore(t *testing.T, timeout time.Duration, endpoints ...string) *store {
	t.Helper()
	g, err := httpgrant.Store("etcd", httpgrant.StoreSettings{Endpoints: endpoints, RequestTimeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Check(nil); err != nil {
		t.Fatal(err)
	}
	c, err := httpgrant.New(g)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	h := &hostHTTP{c: c}
	cfg := abi.Marshal(&abi.PluginConfig{Entries: []abi.KeyValue{
		{Key: "endpoints", Value: strings.Join(endpoints, ",")}, {Key: "prefix", Value: "/t/"},
	}})
	return &store{etcdstore.New(h, func() []byte { return cfg }, h.timeLeft), h}
}

// begin starts a call.
func (s *store) begin() *store {
	s.h.call = s.h.c.Begin()
	s.h.deadline = time.Now().Add(10 * time.Second)
	return s
}

func record(key string) *abi.Record {
	return &abi.Record{Scope: abi.Scope{Org: "acme"}, Key: key, Kind: abi.SecretString, Created: 1, Updated: 1, Sealed: []byte("sealed " + key)}
}

func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return "http://" + l.Addr().String()
}

// silent accepts connections and never answers.
func silent(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + l.Addr().String()
}

// lossy passes requests on to etcd and loses the answers of writes.
func lossy(t *testing.T, to string) string { return lossyThen(t, to, nil) }

// lossyThen is lossy, and calls then after each write it forwarded: another
// writer acting between our lost answer and our retry.
func lossyThen(t *testing.T, to string, then func()) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		resp, err := http.Post(to+r.URL.Path, "application/json", bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.HasSuffix(r.URL.Path, "/txn") || strings.HasSuffix(r.URL.Path, "/put") {
			if then != nil {
				then()
			}
			<-r.Context().Done()
			return
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(out)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// The one line of a call that found no endpoint names each and why.
func TestUnavailable(t *testing.T) {
	c := etcdtest.Start(t, 1)
	live := c.Endpoints()[0]
	dead, slow := closedPort(t), silent(t)

	s := newStore(t, 300*time.Millisecond, dead, slow, live)
	if _, err := s.begin().Create(record("K")); err != nil {
		t.Fatalf("the third endpoint answers: %v", err)
	}
	s = newStore(t, 300*time.Millisecond, dead, slow)
	_, err := s.begin().Get(abi.Scope{Org: "acme"}, "K")
	want := "etcd store unavailable: tried " + dead + " (connection refused), " + slow + " (did not answer within 300ms)"
	if abi.StatusOf(err) != abi.Unavailable || err.Error() != want {
		t.Fatalf("get: %v\nwant %s", err, want)
	}
	// A create that reached a silent endpoint may have been applied.
	_, err = s.begin().Create(record("K2"))
	if abi.StatusOf(err) != abi.Unavailable || err.Error() != want+"; the write may or may not have been applied; check with flyte get secret" {
		t.Fatalf("create: %v", err)
	}
	// One refused everywhere was not applied.
	s = newStore(t, 300*time.Millisecond, dead)
	_, err = s.begin().Create(record("K2"))
	if err == nil || err.Error() != "etcd store unavailable: tried "+dead+" (connection refused)" {
		t.Fatalf("create, refused: %v", err)
	}
}

// A write whose answer was lost is found by its retry on the next
// endpoint; with no next endpoint, the outcome is unknown, and says so.
func TestLostAnswers(t *testing.T) {
	c := etcdtest.Start(t, 1)
	live := c.Endpoints()[0]
	lost := lossy(t, live)
	sc := abi.Scope{Org: "acme"}

	s := newStore(t, 500*time.Millisecond, lost, live)
	r := record("K")
	if got, err := s.begin().Create(r); err != nil || got.Version != 1 {
		t.Fatalf("create: %+v %v", got, err)
	}
	for i, op := range []func(*store) error{
		func(s *store) error {
			_, err := s.Update(&abi.Record{Scope: sc, Key: "K", Sealed: []byte("v2")}, 1)
			return err
		},
		func(s *store) error { _, err := s.MetaPut("m", []byte("a"), true); return err },
		func(s *store) error { _, err := s.MetaSwap("m", []byte("b"), []byte("a")); return err },
		func(s *store) error { return s.MetaDelete("m", []byte("b"), true) },
		func(s *store) error { return s.Delete(sc, "K", 2) },
	} {
		// A fresh store tries the lossy endpoint first.
		s := newStore(t, 500*time.Millisecond, lost, live)
		if err := op(s.begin()); err != nil {
			t.Fatalf("op %d: %v", i, err)
		}
	}
	if _, err := s.begin().Get(sc, "K"); abi.StatusOf(err) != abi.NotFound {
		t.Fatalf("after the delete: %v", err)
	}

	s = newStore(t, 500*time.Millisecond, lost)
	_, err := s.begin().Create(r)
	want := "etcd store unavailable: tried " + lost + " (did not answer within 500ms); the write may or may not have been applied; check with flyte get secret"
	if abi.StatusOf(err) != abi.Unavailable || err.Error() != want {
		t.Fatalf("create with no answer: %v", err)
	}
	if got, err := newStore(t, time.Second, live).begin().Get(sc, "K"); err != nil || string(got.Sealed) != "sealed K" {
		t.Fatalf("the create was applied: %v", err)
	}
}

// Bad configurations are refused, without quoting them.
func TestConfiguration(t *testing.T) {
	for cfg, want := range map[string]string{
		"":                                   "etcd store: no endpoints are configured (hint: set store.endpoints in flyte.toml)",
		"endpoints=ftp://h:1":                "etcd store: endpoint #1 is not http(s)://HOST:PORT",
		"endpoints=http://h:1,":              "etcd store: endpoint #2 is not http(s)://HOST:PORT",
		"endpoints=http://h:1/p":             "etcd store: endpoint #1 is not http(s)://HOST:PORT",
		"endpoints=http://h:1;prefix=flyte/": `etcd store: the prefix must start and end with "/", be printable ASCII without "//" and at most 256 bytes`,
		"endpoints=http://h:1;prefix=/a//b/": `etcd store: the prefix must start and end with "/", be printable ASCII without "//" and at most 256 bytes`,
		"endpoints=http://h:1;user=a b":      "etcd store: the user name must be printable ASCII without spaces",
	} {
		var kvs []abi.KeyValue
		for _, e := range strings.Split(cfg, ";") {
			if k, v, ok := strings.Cut(e, "="); ok {
				kvs = append(kvs, abi.KeyValue{Key: k, Value: v})
			}
		}
		b := abi.Marshal(&abi.PluginConfig{Entries: kvs})
		s := etcdstore.New(nil, func() []byte { return b }, func() uint32 { return 0 })
		_, err := s.Get(abi.Scope{Org: "acme"}, "K")
		if abi.StatusOf(err) != abi.InvalidArgument || err.Error() != want {
			t.Errorf("%q: %v", cfg, err)
		}
	}
}

// A write whose lost attempt was applied, then changed by another writer
// before the retry, has an unknown outcome: not a conflict, not "already
// exists".
func TestLostAnswerThenAnotherWriter(t *testing.T) {
	c := etcdtest.Start(t, 1)
	live := c.Endpoints()[0]
	sc := abi.Scope{Org: "acme"}
	other := func(key string) func() {
		return func() {
			s := newStore(t, time.Second, live).begin()
			cur, err := s.Get(sc, key)
			if err != nil {
				t.Errorf("other writer: %v", err)
				return
			}
			if _, err := s.Update(&abi.Record{Scope: sc, Key: key, Sealed: []byte("theirs")}, cur.Version); err != nil {
				t.Errorf("other writer: %v", err)
			}
		}
	}
	want := "the write may or may not have been applied; check with flyte get secret"

	if _, err := newStore(t, time.Second, live).begin().Create(record("U")); err != nil {
		t.Fatal(err)
	}
	s := newStore(t, 500*time.Millisecond, lossyThen(t, live, other("U")), live)
	_, err := s.begin().Update(&abi.Record{Scope: sc, Key: "U", Sealed: []byte("ours")}, 1)
	if abi.StatusOf(err) != abi.Unavailable || !strings.HasSuffix(err.Error(), want) {
		t.Fatalf("update: %v", err)
	}

	s = newStore(t, 500*time.Millisecond, lossyThen(t, live, other("C")), live)
	_, err = s.begin().Create(record("C"))
	if abi.StatusOf(err) != abi.Unavailable || !strings.HasSuffix(err.Error(), want) {
		t.Fatalf("create: %v", err)
	}
}

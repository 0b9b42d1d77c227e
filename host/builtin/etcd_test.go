package builtin_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/builtin"
	"github.com/flytesecrets/flyte/host/capability"
	"github.com/flytesecrets/flyte/host/conformance"
	"github.com/flytesecrets/flyte/host/httpgrant"
	"github.com/flytesecrets/flyte/host/plugin"
	"github.com/flytesecrets/flyte/internal/etcdtest"
)

// The built-in etcd store, loaded as flyte loads it (a real http grant of
// its endpoints, its configuration entries), against real etcd nodes.

// cache is the compiled-plugin cache the tests share.
var cache = filepath.Join(os.TempDir(), fmt.Sprintf("flyte-test-cache-%d", os.Getuid()))

type etcdOpts struct {
	endpoints []string
	prefix    string
	user      string
	password  string // written to a credential file
	timeout   string // request_timeout
	call      time.Duration
}

func loadEtcd(t *testing.T, o etcdOpts) *plugin.Plugin {
	t.Helper()
	if _, ok := capability.ByName("http"); !ok {
		t.Skip("this flyte has no http")
	}
	settings := httpgrant.StoreSettings{Endpoints: o.endpoints, RequestTimeout: 2 * time.Second}
	if o.timeout != "" {
		d, err := time.ParseDuration(o.timeout)
		if err != nil {
			t.Fatal(err)
		}
		settings.RequestTimeout = d
	}
	entries := []abi.KeyValue{{Key: "endpoints", Value: strings.Join(o.endpoints, ",")}}
	if o.prefix == "" {
		o.prefix = "/flyte/"
	}
	entries = append(entries, abi.KeyValue{Key: "prefix", Value: o.prefix})
	if o.user != "" {
		entries = append(entries, abi.KeyValue{Key: "user", Value: o.user})
		f := filepath.Join(t.TempDir(), "password")
		if err := os.WriteFile(f, []byte(o.password+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		settings.PasswordFile = f
	}
	hg, err := httpgrant.Store("etcd", settings)
	if err != nil {
		t.Fatal(err)
	}
	g := capability.HTTPGrant(hg)
	if err := g.Check(nil); err != nil {
		t.Fatal(err)
	}
	h, err := plugin.NewHost(plugin.Options{CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	wasm, err := builtin.Module("etcd")
	if err != nil {
		t.Fatal(err)
	}
	if o.call == 0 {
		o.call = 10 * time.Second
	}
	p, err := h.Load(context.Background(), plugin.Spec{
		Name: "etcd", Source: "built-in", Wasm: wasm, Kind: abi.KindStore, Timeout: o.call,
		Grants: map[string]capability.Grant{"http": g},
		Config: abi.Marshal(&abi.PluginConfig{Entries: entries}),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(context.Background()) })
	return p
}

// call runs one op; resp may be nil.
func call(p *plugin.Plugin, op abi.Op, req, resp abi.Message) error {
	var in []byte
	if req != nil {
		in = abi.Marshal(req)
	}
	out, err := p.Call(context.Background(), op, in)
	if err != nil {
		return err
	}
	if resp != nil {
		return abi.Unmarshal(out, resp)
	}
	return nil
}

func status(err error) abi.Status {
	var se *abi.StatusError
	if errors.As(err, &se) {
		return se.Code
	}
	if err == nil {
		return abi.OK
	}
	return abi.Internal
}

func wantStatus(t *testing.T, what string, err error, st abi.Status) {
	t.Helper()
	if status(err) != st {
		t.Fatalf("%s: %v (%v), want %v", what, err, status(err), st)
	}
}

func sealed(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func rec(org, project, domain, key string, n int) abi.Record {
	return abi.Record{Scope: abi.Scope{Org: org, Project: project, Domain: domain}, Key: key,
		Kind: abi.SecretString, Created: 100, Updated: 100, Sealed: sealed(n)}
}

func create(t *testing.T, p *plugin.Plugin, r abi.Record, g *abi.Guard) (*abi.Record, error) {
	t.Helper()
	out := new(abi.Record)
	err := call(p, abi.OpCreate, &abi.WriteRequest{Record: r, Guard: g}, out)
	return out, err
}

func update(t *testing.T, p *plugin.Plugin, r abi.Record, expected uint64, g *abi.Guard) (*abi.Record, error) {
	t.Helper()
	out := new(abi.Record)
	err := call(p, abi.OpUpdate, &abi.WriteRequest{Record: r, ExpectedVersion: expected, Guard: g}, out)
	return out, err
}

func get(p *plugin.Plugin, r abi.Record) (*abi.Record, error) {
	out := new(abi.Record)
	err := call(p, abi.OpGet, &abi.KeyRequest{Scope: r.Scope, Key: r.Key}, out)
	return out, err
}

func metaPut(p *plugin.Plugin, m *abi.MetaRequest) ([]byte, error) {
	var out abi.MetaResponse
	err := call(p, abi.OpMetaPut, m, &out)
	return out.Value, err
}

// listAll pages through a listing and returns its entries' names and the
// number of pages.
func listAll(t *testing.T, p *plugin.Plugin, req abi.ListRequest) ([]string, int) {
	t.Helper()
	var names []string
	pages := 0
	for {
		var resp abi.ListResponse
		if err := call(p, abi.OpList, &req, &resp); err != nil {
			t.Fatalf("list (page %d): %v", pages+1, err)
		}
		pages++
		for _, r := range resp.Records {
			names = append(names, r.Scope.Org+"/"+r.Scope.Project+"/"+r.Scope.Domain+"/"+r.Key)
		}
		for _, d := range resp.Damaged {
			names = append(names, "damaged "+d.Scope.Org+"/"+d.Scope.Project+"/"+d.Scope.Domain+"/"+d.Key+": "+d.Reason)
		}
		if resp.NextPageToken == "" {
			return names, pages
		}
		if pages > 1000 {
			t.Fatal("listing does not end")
		}
		req.PageToken = resp.NextPageToken
	}
}

// gateway posts a JSON body to etcd's gateway directly.
func gateway(t *testing.T, url string, body any, header ...string) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", url, bytes.NewReader(b))
	if len(header) == 2 {
		req.Header.Set(header[0], header[1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestEtcdStore(t *testing.T) {
	c := etcdtest.Start(t, 1)
	p := loadEtcd(t, etcdOpts{endpoints: c.Endpoints()})
	if p.Info.Minor != abi.Minor || len(p.Info.Ops) != 9 {
		t.Fatalf("describes minor %d, ops %v", p.Info.Minor, p.Info.Ops)
	}

	a := rec("acme", "", "", "TOKEN", 40)
	got, err := create(t, p, a, nil)
	if err != nil || got.Version != 1 || !bytes.Equal(got.Sealed, a.Sealed) {
		t.Fatalf("create: %+v %v", got, err)
	}
	_, err = create(t, p, rec("acme", "", "", "TOKEN", 40), nil)
	wantStatus(t, "create existing", err, abi.AlreadyExists)
	if g, err := get(p, a); err != nil || g.Version != 1 || !bytes.Equal(g.Sealed, a.Sealed) || g.Created != 100 {
		t.Fatalf("get: %+v %v", g, err)
	}
	_, err = get(p, rec("acme", "web", "", "TOKEN", 1))
	wantStatus(t, "get missing", err, abi.NotFound)

	u := a
	u.Sealed, u.Updated, u.Created = sealed(50), 200, 999
	got, err = update(t, p, u, 1, nil)
	if err != nil || got.Version != 2 || got.Created != 100 || got.Updated != 200 {
		t.Fatalf("update: %+v %v", got, err)
	}
	_, err = update(t, p, u, 1, nil)
	wantStatus(t, "update from version 1", err, abi.Conflict)
	if err.Error() != "secret was changed since version 1 (now version 2)" {
		t.Fatalf("conflict says %q", err)
	}
	_, err = update(t, p, rec("acme", "web", "", "NONE", 1), 0, nil)
	wantStatus(t, "update missing", err, abi.NotFound)
	got, err = update(t, p, u, 0, nil)
	if err != nil || got.Version != 3 {
		t.Fatalf("update any: %+v %v", got, err)
	}

	wantStatus(t, "delete conflict", call(p, abi.OpDelete, &abi.KeyRequest{Scope: a.Scope, Key: a.Key, ExpectedVersion: 2}, nil), abi.Conflict)
	wantStatus(t, "delete", call(p, abi.OpDelete, &abi.KeyRequest{Scope: a.Scope, Key: a.Key, ExpectedVersion: 3}, nil), abi.OK)
	wantStatus(t, "delete missing", call(p, abi.OpDelete, &abi.KeyRequest{Scope: a.Scope, Key: a.Key}, nil), abi.NotFound)
	if _, err := create(t, p, a, nil); err != nil {
		t.Fatalf("create after delete: %v", err)
	}

	// Meta values: put, create-only, compare-and-set, delete.
	var mr abi.MetaResponse
	wantStatus(t, "meta get missing", call(p, abi.OpMetaGet, &abi.MetaRequest{Name: "datakey"}, &mr), abi.NotFound)
	if v, err := metaPut(p, &abi.MetaRequest{Name: "datakey", Value: []byte("E1"), CreateOnly: true}); err != nil || string(v) != "E1" {
		t.Fatalf("meta create: %q %v", v, err)
	}
	if v, err := metaPut(p, &abi.MetaRequest{Name: "datakey", Value: []byte("X"), CreateOnly: true}); err != nil || string(v) != "E1" {
		t.Fatalf("meta create existing: %q %v", v, err)
	}
	_, err = metaPut(p, &abi.MetaRequest{Name: "datakey", Value: []byte("E2"), Expected: []byte("E0"), HasExpected: true})
	wantStatus(t, "meta swap from a wrong value", err, abi.Conflict)
	_, err = metaPut(p, &abi.MetaRequest{Name: "nothing", Value: []byte("E2"), Expected: []byte("E0"), HasExpected: true})
	wantStatus(t, "meta swap of an absent value", err, abi.NotFound)
	if v, err := metaPut(p, &abi.MetaRequest{Name: "datakey", Value: []byte("E2"), Expected: []byte("E1"), HasExpected: true}); err != nil || string(v) != "E2" {
		t.Fatalf("meta swap: %q %v", v, err)
	}
	if v, err := metaPut(p, &abi.MetaRequest{Name: "other", Value: []byte("o")}); err != nil || string(v) != "o" {
		t.Fatalf("meta put: %q %v", v, err)
	}
	wantStatus(t, "meta delete expecting another", call(p, abi.OpMetaDelete, &abi.MetaRequest{Name: "other", Expected: []byte("p"), HasExpected: true}, nil), abi.Conflict)
	wantStatus(t, "meta delete expecting it", call(p, abi.OpMetaDelete, &abi.MetaRequest{Name: "other", Expected: []byte("o"), HasExpected: true}, nil), abi.OK)
	wantStatus(t, "meta delete missing", call(p, abi.OpMetaDelete, &abi.MetaRequest{Name: "other"}, nil), abi.NotFound)
	if _, err := metaPut(p, &abi.MetaRequest{Name: "other", Value: []byte("o")}); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, "meta delete any", call(p, abi.OpMetaDelete, &abi.MetaRequest{Name: "other"}, nil), abi.OK)
	wantStatus(t, "meta get deleted", call(p, abi.OpMetaGet, &abi.MetaRequest{Name: "other"}, &mr), abi.NotFound)

	// Guards: the write happens only while datakey holds E2.
	e2 := &abi.Guard{Name: "datakey", Value: []byte("E2")}
	_, err = create(t, p, rec("acme", "web", "", "G1", 10), &abi.Guard{Name: "datakey", Value: []byte("E1")})
	wantStatus(t, "create guarded by an old value", err, abi.Conflict)
	_, err = create(t, p, rec("acme", "web", "", "G1", 10), &abi.Guard{Name: "absent", Value: []byte("E2")})
	wantStatus(t, "create guarded by an absent value", err, abi.Conflict)
	if _, err := get(p, rec("acme", "web", "", "G1", 10)); status(err) != abi.NotFound {
		t.Fatalf("a fenced create wrote: %v", err)
	}
	g1 := rec("acme", "web", "", "G1", 10)
	if _, err := create(t, p, g1, e2); err != nil {
		t.Fatalf("guarded create: %v", err)
	}
	g1.Sealed = sealed(11)
	_, err = update(t, p, g1, 1, &abi.Guard{Name: "datakey", Value: []byte("E1")})
	wantStatus(t, "update guarded by an old value", err, abi.Conflict)
	if got, err := update(t, p, g1, 1, e2); err != nil || got.Version != 2 {
		t.Fatalf("guarded update: %+v %v", got, err)
	}

	// Listing: order (org, project, domain, key) with "" first, across
	// organizations with AllOrgs, and the filters.
	for _, r := range []abi.Record{
		rec("acme", "web-x", "", "K", 5), rec("acme", "web", "prod", "K", 5), rec("acme", "web", "", "A-", 5),
		rec("acme", "web", "", "A", 5), rec("acme-2", "", "", "K", 5), rec("acm", "", "", "K", 5),
	} {
		if _, err := create(t, p, r, nil); err != nil {
			t.Fatal(err)
		}
	}
	names, _ := listAll(t, p, abi.ListRequest{Org: "acme"})
	want := "acme///TOKEN acme/web//A acme/web//A- acme/web//G1 acme/web/prod/K acme/web-x//K"
	if strings.Join(names, " ") != want {
		t.Fatalf("list acme:\n%s\nwant\n%s", strings.Join(names, " "), want)
	}
	names, pages := listAll(t, p, abi.ListRequest{AllOrgs: true, Limit: 2})
	want = "acm///K " + want + " acme-2///K"
	if strings.Join(names, " ") != want || pages != 4 {
		t.Fatalf("list all orgs (%d pages):\n%s\nwant\n%s", pages, strings.Join(names, " "), want)
	}
	for _, f := range []struct {
		req  abi.ListRequest
		want string
	}{
		{abi.ListRequest{Org: "acme", HasProject: true, Project: "web"}, "acme/web//A acme/web//A- acme/web//G1 acme/web/prod/K"},
		{abi.ListRequest{Org: "acme", HasProject: true, Project: "web", HasDomain: true}, "acme/web//A acme/web//A- acme/web//G1"},
		{abi.ListRequest{Org: "acme", HasDomain: true, Domain: "prod"}, "acme/web/prod/K"},
		{abi.ListRequest{Org: "acme", Key: "K"}, "acme/web/prod/K acme/web-x//K"},
		{abi.ListRequest{Org: "acme", HasProject: true, Project: "web", HasDomain: true, Key: "A"}, "acme/web//A"},
		{abi.ListRequest{Org: "nobody"}, ""},
		{abi.ListRequest{AllOrgs: true, Key: "K", Limit: 1}, "acm///K acme/web/prod/K acme/web-x//K acme-2///K"},
	} {
		if names, _ := listAll(t, p, f.req); strings.Join(names, " ") != f.want {
			t.Errorf("list %+v: %q, want %q", f.req, strings.Join(names, " "), f.want)
		}
	}
	wantStatus(t, "a page token from elsewhere", call(p, abi.OpList, &abi.ListRequest{Org: "acme", PageToken: "zzz,,,K"}, nil), abi.InvalidArgument)

	// A value that is not a record is listed as damaged, under its name.
	ep := c.Endpoints()[0]
	gateway(t, ep+"/v3/kv/put", map[string]string{"key": b64("/flyte/s/acme,web,,BAD"), "value": b64("junk")})
	gateway(t, ep+"/v3/kv/put", map[string]string{"key": b64("/flyte/s/acme,web,,Z/../x"), "value": b64("junk")})
	names, _ = listAll(t, p, abi.ListRequest{Org: "acme", HasProject: true, Project: "web", HasDomain: true})
	if want := "acme/web//A acme/web//A- acme/web//G1 damaged acme/web//BAD: not a flyte record"; strings.Join(names, " ") != want {
		t.Fatalf("list with junk: %q", strings.Join(names, " "))
	}
	_, err = get(p, rec("acme", "web", "", "BAD", 1))
	wantStatus(t, "get junk", err, abi.Internal)

	// Compaction drops the history: the revision of the first value of
	// TOKEN cannot be read any more.
	_, first := gateway(t, ep+"/v3/kv/range", map[string]any{"key": b64("/flyte/s/acme,,,TOKEN")})
	old := first["kvs"].([]any)[0].(map[string]any)["create_revision"].(string)
	if st, _ := gateway(t, ep+"/v3/kv/range", map[string]any{"key": b64("/flyte/s/acme,,,TOKEN"), "revision": "2"}); st != 200 {
		t.Fatalf("history before compaction: HTTP %d", st)
	}
	wantStatus(t, "compact", call(p, abi.OpCompact, nil, nil), abi.OK)
	st, ans := gateway(t, ep+"/v3/kv/range", map[string]any{"key": b64("/flyte/s/acme,,,TOKEN"), "revision": "2"})
	if st == 200 || !strings.Contains(fmt.Sprint(ans["message"]), "compacted") {
		t.Fatalf("history after compaction: HTTP %d %v", st, ans)
	}
	wantStatus(t, "compact again", call(p, abi.OpCompact, nil, nil), abi.OK)
	if g, err := get(p, a); err != nil || !bytes.Equal(g.Sealed, a.Sealed) {
		t.Fatalf("get after compaction (created at revision %s): %v", old, err)
	}

	// Another prefix is another store.
	q := loadEtcd(t, etcdOpts{endpoints: c.Endpoints(), prefix: "/other/"})
	if names, _ := listAll(t, q, abi.ListRequest{AllOrgs: true}); len(names) != 0 {
		t.Fatalf("another prefix lists %v", names)
	}
}

// Two instances (two processes) updating one secret: no update is lost,
// and of two updates from one version exactly one wins.
func TestEtcdCompareAndSet(t *testing.T) {
	c := etcdtest.Start(t, 1)
	ps := []*plugin.Plugin{loadEtcd(t, etcdOpts{endpoints: c.Endpoints()}), loadEtcd(t, etcdOpts{endpoints: c.Endpoints()})}
	r := rec("acme", "", "", "COUNTER", 16)
	if _, err := create(t, ps[0], r, nil); err != nil {
		t.Fatal(err)
	}
	const each = 15
	var wg sync.WaitGroup
	errs := make(chan error, 2*each)
	for _, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				u := r
				u.Sealed = sealed(16)
				if _, err := update(t, p, u, 0, nil); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if status(err) != abi.Conflict || !strings.Contains(err.Error(), "kept changing") {
			t.Fatalf("a concurrent update failed: %v", err)
		}
		failed++
	}
	g, err := get(ps[0], r)
	if err != nil || g.Version != uint64(1+2*each-failed) {
		t.Fatalf("after %d updates (%d failed): version %d, %v", 2*each, failed, g.Version, err)
	}

	// From one version, twice at once: one wins.
	for round := 0; round < 5; round++ {
		cur, _ := get(ps[0], r)
		results := make([]error, 2)
		values := make([][]byte, 2)
		var wg sync.WaitGroup
		for i, p := range ps {
			wg.Add(1)
			go func() {
				defer wg.Done()
				u := r
				values[i] = sealed(16)
				u.Sealed = values[i]
				_, results[i] = update(t, p, u, cur.Version, nil)
			}()
		}
		wg.Wait()
		won := -1
		for i, err := range results {
			switch status(err) {
			case abi.OK:
				if won >= 0 {
					t.Fatal("both updates from one version won")
				}
				won = i
			case abi.Conflict:
			default:
				t.Fatal(err)
			}
		}
		g, _ := get(ps[0], r)
		if won < 0 || g.Version != cur.Version+1 || !bytes.Equal(g.Sealed, values[won]) {
			t.Fatalf("round %d: winner %d, stored version %d", round, won, g.Version)
		}
	}
}

// Values of 1 MiB are listed in pages that each fit in a message.
func TestEtcdLargeValues(t *testing.T) {
	c := etcdtest.Start(t, 1)
	p := loadEtcd(t, etcdOpts{endpoints: c.Endpoints()})
	var want []string
	for i := 0; i < 7; i++ {
		r := rec("big", "", "", fmt.Sprintf("K%d", i), 1<<20+100)
		if _, err := create(t, p, r, nil); err != nil {
			t.Fatalf("create %d: %v", i, err)
		}
		if i == 3 {
			// a small one among them
			if _, err := create(t, p, rec("big", "", "", "K3a", 10), nil); err != nil {
				t.Fatal(err)
			}
			want = append(want, "big///K3")
			want = append(want, "big///K3a")
			continue
		}
		want = append(want, fmt.Sprintf("big///K%d", i))
	}
	for _, limit := range []uint32{0, 3} {
		names, pages := listAll(t, p, abi.ListRequest{Org: "big", Limit: limit})
		if strings.Join(names, " ") != strings.Join(want, " ") || pages < 2 {
			t.Fatalf("limit %d: %d pages: %v", limit, pages, names)
		}
	}
	// A fresh instance, which has not learned the sizes yet, too.
	q := loadEtcd(t, etcdOpts{endpoints: c.Endpoints()})
	if names, _ := listAll(t, q, abi.ListRequest{AllOrgs: true}); strings.Join(names, " ") != strings.Join(want, " ") {
		t.Fatalf("fresh instance: %v", names)
	}
}

// closedPort is a loopback endpoint nothing listens on.
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ep := "http://" + l.Addr().String()
	l.Close()
	return ep
}

// silent is a loopback endpoint that accepts connections and never answers.
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
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return "http://" + l.Addr().String()
}

// A dead or silent first endpoint: the next one answers; with none left,
// the error names every endpoint tried and why.
func TestEtcdFailover(t *testing.T) {
	c := etcdtest.Start(t, 1)
	live := c.Endpoints()[0]
	dead, slow := closedPort(t), silent(t)

	p := loadEtcd(t, etcdOpts{endpoints: []string{dead, live}, timeout: "300ms"})
	r := rec("acme", "", "", "K", 10)
	if _, err := create(t, p, r, nil); err != nil {
		t.Fatalf("with the first endpoint down: %v", err)
	}
	p = loadEtcd(t, etcdOpts{endpoints: []string{slow, live}, timeout: "300ms"})
	for i := 0; i < 3; i++ {
		if _, err := get(p, r); err != nil {
			t.Fatalf("with the first endpoint silent: %v", err)
		}
	}

	// With no endpoint left the plugin answers UNAVAILABLE with one line
	// naming each endpoint and why, and the user sees it: requests that
	// were not answered leave the guest's words (abi/SPEC.md, section 2.4).
	p = loadEtcd(t, etcdOpts{endpoints: []string{dead, slow}, timeout: "300ms"})
	tried := "etcd store unavailable: tried " + dead + " ("
	_, err := get(p, r)
	var se *abi.StatusError
	if !errors.As(err, &se) || se.Code != abi.Unavailable || !strings.HasPrefix(se.Message, tried) || !strings.Contains(se.Message, slow+" (did not answer within 300ms)") {
		t.Fatalf("a read with no endpoint: %v", err)
	}
	_, err = create(t, p, rec("acme", "", "", "K2", 10), nil)
	if !errors.As(err, &se) || se.Code != abi.Unavailable || !strings.HasPrefix(se.Message, tried) || !strings.Contains(se.Message, slow) {
		t.Fatalf("a create with no endpoint: %v", err)
	}
}

// stall is an endpoint in front of etcd that passes requests on and loses
// the answers of writes (txn, put): the write is applied, its answer never
// comes.
func stall(t *testing.T, to string) string {
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
			<-r.Context().Done()
			return
		}
		w.WriteHeader(resp.StatusCode)
		w.Write(out)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// A write whose answer is lost was applied: its retry on the next
// endpoint finds it and succeeds; with no next endpoint the error says
// the outcome is unknown.
func TestEtcdUnknownOutcome(t *testing.T) {
	c := etcdtest.Start(t, 1)
	live := c.Endpoints()[0]
	lossy := stall(t, live)

	p := loadEtcd(t, etcdOpts{endpoints: []string{lossy, live}, timeout: "500ms"})
	r := rec("acme", "", "", "K", 10)
	got, err := create(t, p, r, nil)
	if err != nil || got.Version != 1 {
		t.Fatalf("create retried on the next endpoint: %+v %v", got, err)
	}
	r.Sealed = sealed(10)
	// The instance now starts with the live endpoint: make it start with
	// the lossy one again.
	p = loadEtcd(t, etcdOpts{endpoints: []string{lossy, live}, timeout: "500ms"})
	if got, err := update(t, p, r, 1, nil); err != nil || got.Version != 2 {
		t.Fatalf("update retried on the next endpoint: %+v %v", got, err)
	}
	p = loadEtcd(t, etcdOpts{endpoints: []string{lossy, live}, timeout: "500ms"})
	if err := call(p, abi.OpDelete, &abi.KeyRequest{Scope: r.Scope, Key: r.Key, ExpectedVersion: 2}, nil); err != nil {
		t.Fatalf("delete retried on the next endpoint: %v", err)
	}

	// With no endpoint left to ask, the user is told the outcome is
	// unknown (see TestEtcdFailover), and indeed the write was applied.
	p = loadEtcd(t, etcdOpts{endpoints: []string{lossy}, timeout: "500ms"})
	_, err = create(t, p, r, nil)
	var se *abi.StatusError
	if !errors.As(err, &se) || se.Code != abi.Unavailable || !strings.Contains(se.Message, "may or may not have been applied; check with flyte get secret") {
		t.Fatalf("a create whose answer was lost: %v", err)
	}
	q := loadEtcd(t, etcdOpts{endpoints: []string{live}})
	if g, err := get(q, r); err != nil || !bytes.Equal(g.Sealed, r.Sealed) {
		t.Fatalf("the lost create was applied: %v", err)
	}
}

// With a user and a password: the store authenticates, and again when its
// token is no longer valid (etcd restarted); a wrong password and a
// missing user are refused with what to do.
func TestEtcdAuth(t *testing.T) {
	c := etcdtest.Start(t, 1)
	ep := c.Endpoints()[0]
	for _, path := range []string{"/v3/auth/user/add", "/v3/auth/user/grant", "/v3/auth/enable"} {
		body := map[string]any{}
		switch path {
		case "/v3/auth/user/add":
			body = map[string]any{"name": "root", "password": "s3cret pw"}
		case "/v3/auth/user/grant":
			body = map[string]any{"user": "root", "role": "root"}
		}
		if st, ans := gateway(t, ep+path, body); st != 200 {
			t.Fatalf("%s: %v", path, ans)
		}
	}
	p := loadEtcd(t, etcdOpts{endpoints: c.Endpoints(), user: "root", password: "s3cret pw"})
	r := rec("acme", "", "", "K", 10)
	if _, err := create(t, p, r, nil); err != nil {
		t.Fatalf("create as root: %v", err)
	}
	c.Kill(0)
	c.Restart(0)
	if _, err := get(p, r); err != nil {
		t.Fatalf("get after etcd restarted (a new token): %v", err)
	}
	wantStatus(t, "compact as root", call(p, abi.OpCompact, nil, nil), abi.OK)

	bad := loadEtcd(t, etcdOpts{endpoints: c.Endpoints(), user: "root", password: "wrong"})
	_, err := get(bad, r)
	wantStatus(t, "wrong password", err, abi.PermissionDenied)
	if err.Error() != "etcd refused user root: authentication failed" {
		t.Fatalf("wrong password: %q", err)
	}
	anon := loadEtcd(t, etcdOpts{endpoints: c.Endpoints()})
	_, err = get(anon, r)
	wantStatus(t, "no user", err, abi.PermissionDenied)
	if err.Error() != "etcd requires authentication (hint: set store.user and store.password_file in flyte.toml)" {
		t.Fatalf("no user: %q", err)
	}
}

// Answers that are not etcd's: the store says so, and tries the next
// endpoint.
func TestEtcdMalformedAnswers(t *testing.T) {
	c := etcdtest.Start(t, 1)
	live := c.Endpoints()[0]
	for _, tc := range []struct {
		name, body string
		status     int
		says       string
	}{
		{"not JSON", "<html>", 200, "(answered malformed JSON)"},
		{"truncated", `{"header":{"revision":"3"},"kvs":[{"key":"`, 200, "(answered malformed JSON)"},
		{"a 404 page", "404 page not found", 404, "(answered HTTP 404, not as etcd's v3 gateway does)"},
		{"a 503", `{"error":"etcdserver: no leader","message":"etcdserver: no leader","code":14}`, 503, "(answered: etcdserver: no leader)"},
		{"a timed-out put", `{"error":"context deadline exceeded","message":"context deadline exceeded","code":2}`, 500, "(answered: context deadline exceeded)"},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(tc.status)
			io.WriteString(w, tc.body)
		}))
		p := loadEtcd(t, etcdOpts{endpoints: []string{srv.URL}})
		_, err := get(p, rec("acme", "", "", "K", 1))
		if status(err) != abi.Unavailable || err.Error() != "etcd store unavailable: tried "+srv.URL+" "+tc.says {
			t.Errorf("%s: %v", tc.name, err)
		}
		p = loadEtcd(t, etcdOpts{endpoints: []string{srv.URL, live}})
		if _, err := get(p, rec("acme", "", "", "K", 1)); status(err) != abi.NotFound {
			t.Errorf("%s, then etcd: %v", tc.name, err)
		}
		srv.Close()
	}

	// Well-formed JSON that is not the answer asked for.
	for _, body := range []string{
		`{"kvs":"x"}`, `{"kvs":[{"key":"!!!"}]}`, `{"kvs":[{"key":"` + b64("/flyte/s/acme,,,OTHER") + `"}]}`,
		`{"kvs":[{"key":"` + b64("/flyte/s/acme,,,K") + `","mod_revision":{}}]}`,
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) }))
		p := loadEtcd(t, etcdOpts{endpoints: []string{srv.URL}})
		_, err := get(p, rec("acme", "", "", "K", 1))
		if status(err) != abi.Unavailable || err.Error() != "etcd store: the gateway's answer is not what etcd 3.4 sends" {
			t.Errorf("%s: %v", body, err)
		}
		srv.Close()
	}
}

// The conformance suite, as flyte plugin test runs it, passes.
func TestEtcdConformance(t *testing.T) {
	c := etcdtest.Start(t, 1)
	p := loadEtcd(t, etcdOpts{endpoints: c.Endpoints()})
	rs := conformance.Store(context.Background(), p, conformance.Options{})
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintln(&b, r)
	}
	fmt.Fprintln(&b, conformance.Summary(rs))
	for _, r := range rs {
		// The suite's "unknown op" check sends op 8, which ABI 1.3 made
		// META_DELETE: the etcd store serves it.
		if r.Err != nil && !(r.Name == "unknown op" && strings.Contains(r.Err.Error(), "op 8")) {
			t.Fatal(b.String())
		}
	}
	t.Log(b.String())
}

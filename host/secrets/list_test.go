package secrets_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/fsgrant"
	"github.com/flytesecrets/flyte/host/scope"
	"github.com/flytesecrets/flyte/host/secrets"
)

// pagedStore is a store whose listing is a function of the page token. It
// holds no data key: a listing that passes with records in it ends in
// that error, one with damaged entries only is a result.
type pagedStore struct {
	page    func(token string) abi.ListResponse
	pages   int
	timeout time.Duration // CallTimeout; 0: the default
	delay   time.Duration // each page takes this long
}

func (s *pagedStore) Call(ctx context.Context, op abi.Op, in []byte) ([]byte, error) {
	switch op {
	case abi.OpList:
		var req abi.ListRequest
		if err := abi.Unmarshal(in, &req); err != nil {
			return nil, err
		}
		s.pages++
		if s.delay > 0 {
			select {
			case <-time.After(s.delay):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		resp := s.page(req.PageToken)
		return abi.Marshal(&resp), nil
	case abi.OpMetaGet:
		return nil, &abi.StatusError{Code: abi.NotFound}
	}
	return nil, &abi.StatusError{Code: abi.Unimplemented}
}

func (s *pagedStore) CallTimeout() time.Duration { return s.timeout }

func rec(project, domain, key string) abi.Record {
	return abi.Record{Scope: abi.Scope{Org: "acme", Project: project, Domain: domain}, Key: key, Kind: abi.SecretString, Version: 1, Sealed: []byte("sealed")}
}

func dmg(project, domain, key string) abi.Damaged {
	return abi.Damaged{Scope: abi.Scope{Org: "acme", Project: project, Domain: domain}, Key: key, Reason: "unreadable"}
}

// pages serves fixed pages; page i's token is "i".
func pages(ps ...abi.ListResponse) func(string) abi.ListResponse {
	return func(token string) abi.ListResponse {
		i := 0
		if token != "" {
			fmt.Sscan(token, &i)
		}
		p := ps[i]
		if i+1 < len(ps) {
			p.NextPageToken = fmt.Sprint(i + 1)
		}
		return p
	}
}

func list(t *testing.T, st secrets.Store) (secrets.ListResult, error) {
	t.Helper()
	m := secrets.New(st, secrets.Options{Org: "acme", Identity: t.TempDir() + "/identity.txt"})
	defer m.Close()
	return m.List(context.Background(), secrets.Filter{})
}

// A listing must advance in strictly increasing (project, domain, key)
// order, records and damaged entries together, across pages.
func TestListOrder(t *testing.T) {
	for _, c := range []struct {
		name  string
		pages []abi.ListResponse
		want  string
	}{
		{"duplicate in a page", []abi.ListResponse{{Records: []abi.Record{rec("", "", "A"), rec("", "", "A")}}},
			"store listed secret A in organization scope twice"},
		{"duplicate across pages", []abi.ListResponse{{Records: []abi.Record{rec("", "", "A")}}, {Records: []abi.Record{rec("", "", "A")}}},
			"store listed secret A in organization scope twice"},
		{"record also damaged", []abi.ListResponse{{Records: []abi.Record{rec("p", "", "A")}, Damaged: []abi.Damaged{dmg("p", "", "A")}}},
			"store listed secret A in project p scope twice"},
		{"out of order in a page", []abi.ListResponse{{Records: []abi.Record{rec("", "", "B"), rec("", "", "A")}}},
			"store sent its listing out of order: secret A in organization scope after secret B in organization scope"},
		{"a page goes back", []abi.ListResponse{{Records: []abi.Record{rec("p", "d", "A")}}, {Records: []abi.Record{rec("p", "", "Z")}}},
			"store sent its listing out of order: secret Z in project p scope after secret A in project p, domain d scope"},
		{"damaged goes back", []abi.ListResponse{{Records: []abi.Record{rec("q", "", "A")}}, {Damaged: []abi.Damaged{dmg("p", "", "A")}}},
			"store sent its listing out of order: secret A in project p scope after secret A in project q scope"},
		{"names are sanitised", []abi.ListResponse{{Records: []abi.Record{rec("\x1b[2J", "", "A\r"), rec("", "", "B")}}},
			`store sent its listing out of order: secret B in organization scope after secret "A " in project " [2J" scope`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := list(t, &pagedStore{page: pages(c.pages...)})
			if err == nil || err.Error() != c.want {
				t.Fatalf("got  %v\nwant %s", err, c.want)
			}
		})
	}
}

// Interleaved records and damaged entries in order, across pages, with
// empty scope parts first, are a good listing; entries another
// organization's are dropped before the order is checked.
func TestListOrderAccepts(t *testing.T) {
	foreign := rec("", "", "A")
	foreign.Scope.Org = "evil"
	st := &pagedStore{page: pages(
		abi.ListResponse{Records: []abi.Record{rec("", "", "A"), rec("", "dev", "A"), foreign}, Damaged: []abi.Damaged{dmg("", "", "B")}},
		abi.ListResponse{},
		abi.ListResponse{Records: []abi.Record{rec("p", "", "A"), rec("p", "dev", "B")}, Damaged: []abi.Damaged{dmg("p", "dev", "A"), dmg("q", "", "")}},
	)}
	// The order is good: what stops the listing is the missing data key.
	if _, err := list(t, st); err == nil || !strings.Contains(err.Error(), "data key is missing") || st.pages < 3 {
		t.Fatalf("%d pages: %v", st.pages, err)
	}
	st = &pagedStore{page: pages(
		abi.ListResponse{Damaged: []abi.Damaged{dmg("", "", "A"), dmg("", "dev", "A"), dmg("p", "", "")}},
		abi.ListResponse{Damaged: []abi.Damaged{dmg("p", "", "A")}},
	)}
	if res, err := list(t, st); err != nil || len(res.Damaged) != 4 {
		t.Fatalf("%+v: %v", res, err)
	}
}

// endless sends pages of n fresh records with size bytes sealed, or with
// size 0 damaged entries, forever.
func endless(n, size int) func(string) abi.ListResponse {
	return func(token string) abi.ListResponse {
		i := 0
		fmt.Sscan(token, &i)
		var p abi.ListResponse
		for j := 0; j < n; j++ {
			key := fmt.Sprintf("K%09d", i*n+j)
			if size == 0 {
				p.Damaged = append(p.Damaged, dmg("", "", key))
				continue
			}
			r := rec("", "", key)
			r.Sealed = make([]byte, size)
			p.Records = append(p.Records, r)
		}
		p.NextPageToken = fmt.Sprint(i + 1)
		return p
	}
}

func TestListBounds(t *testing.T) {
	defer secrets.SetListLimits(1000, 1<<20, 24)()
	st := &pagedStore{page: endless(100, 10)}
	if _, err := list(t, st); err == nil || err.Error() != "store's listing exceeded 1000 entries" {
		t.Fatalf("endless listing: %v", err)
	}
	if st.pages != 11 {
		t.Fatalf("%d pages asked", st.pages)
	}
	st = &pagedStore{page: endless(10, 64<<10)}
	if _, err := list(t, st); err == nil || err.Error() != "store's listing exceeded 1048576 bytes (1 MiB)" {
		t.Fatalf("big pages: %v", err)
	}
	if st.pages != 2 {
		t.Fatalf("%d pages asked", st.pages)
	}
	// Pages each well within the call timeout, but never ending.
	st = &pagedStore{page: endless(1, 1), timeout: 10 * time.Millisecond, delay: 2 * time.Millisecond}
	if _, err := list(t, st); err == nil || err.Error() != "store's listing did not finish within 240ms (24 times its 10ms call timeout)" {
		t.Fatalf("slow listing: %v", err)
	}
	// The caller's own cancellation is not the store's fault.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m := secrets.New(&pagedStore{page: endless(1, 1), delay: time.Second}, secrets.Options{Org: "acme", Identity: t.TempDir() + "/id"})
	if _, err := m.List(ctx, secrets.Filter{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

// The limits let 100,000 secrets list, in pages of 1000.
func TestListManySecrets(t *testing.T) {
	if testing.Short() {
		t.Skip("100,000 entries")
	}
	const n, per = 100_000, 1000
	st := &pagedStore{page: func(token string) abi.ListResponse {
		p := endless(per, 0)(token)
		if p.Damaged[per-1].Key == fmt.Sprintf("K%09d", n-1) {
			p.NextPageToken = ""
		}
		return p
	}}
	res, err := list(t, st)
	if err != nil || len(res.Damaged) != n || st.pages != n/per {
		t.Fatalf("%d damaged, %d pages: %v", len(res.Damaged), st.pages, err)
	}
}

// The real filestore's order passes, one entry a page, next to empty
// scope parts.
func TestFilestoreOrderPasses(t *testing.T) {
	dir := t.TempDir()
	st := &nativeStore{dir: fsgrant.New(filepath.Join(dir, "store"))}
	m := secrets.New(st, secrets.Options{Org: "acme", Identity: filepath.Join(dir, "identity.txt")})
	for _, s := range []scope.Scope{{}, {Domain: "dev"}, {Project: "p"}, {Project: "p", Domain: "dev"}, {Project: "p-2"}, {Project: "p_2", Domain: "a"}} {
		for _, k := range []string{"A", "B", "a", "_"} {
			if _, err := m.Create(ctx, s, k, abi.SecretString, []byte("value-"+k)); err != nil {
				t.Fatal(err)
			}
		}
	}
	m.Close()
	m = secrets.New(onePerPage{st}, secrets.Options{Org: "acme", Identity: filepath.Join(dir, "identity.txt")})
	defer m.Close()
	res, err := m.List(ctx, secrets.Filter{})
	if err != nil || len(res.Secrets) != 24 || len(res.Damaged) != 0 {
		t.Fatalf("%d secrets, %+v: %v", len(res.Secrets), res.Damaged, err)
	}
}

// onePerPage asks the store for one entry a page.
type onePerPage struct{ *nativeStore }

func (s onePerPage) Call(ctx context.Context, op abi.Op, in []byte) ([]byte, error) {
	if op == abi.OpList {
		var req abi.ListRequest
		if err := abi.Unmarshal(in, &req); err != nil {
			return nil, err
		}
		req.Limit = 1
		in = abi.Marshal(&req)
	}
	return s.nativeStore.Call(ctx, op, in)
}

// FuzzList: whatever a store sends as a page, List returns (no panic),
// and a refusal is one line without control characters.
func FuzzList(f *testing.F) {
	f.Add(abi.Marshal(&abi.ListResponse{Damaged: []abi.Damaged{dmg("", "", "A"), dmg("p", "", "B")}}))
	f.Add(abi.Marshal(&abi.ListResponse{Records: []abi.Record{rec("", "", "B"), rec("", "", "A")}, Damaged: []abi.Damaged{dmg("", "", "A")}}))
	f.Add(abi.Marshal(&abi.ListResponse{Damaged: []abi.Damaged{dmg("", "", "A")}, NextPageToken: "again"}))
	f.Add([]byte{0x12, 0x00, 0x12, 0x00})
	f.Fuzz(func(t *testing.T, page []byte) {
		st := &rawStore{pages: [][]byte{page, nil}}
		m := secrets.New(st, secrets.Options{Org: "acme", Identity: t.TempDir() + "/id"})
		defer m.Close()
		if _, err := m.List(context.Background(), secrets.Filter{}); err != nil && strings.ContainsAny(err.Error(), "\n\r\x1b") {
			t.Fatalf("not one clean line: %q", err)
		}
	})
}

// rawStore answers LIST with the bytes of its pages, in turn (then empty
// pages), and has no data key.
type rawStore struct{ pages [][]byte }

func (s *rawStore) Call(ctx context.Context, op abi.Op, in []byte) ([]byte, error) {
	switch op {
	case abi.OpList:
		if len(s.pages) == 0 {
			return nil, nil
		}
		p := s.pages[0]
		s.pages = s.pages[1:]
		return p, nil
	case abi.OpMetaGet:
		return nil, &abi.StatusError{Code: abi.NotFound}
	}
	return nil, &abi.StatusError{Code: abi.Unimplemented}
}

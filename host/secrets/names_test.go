package secrets_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/scope"
	"github.com/flytesecrets/flyte/host/secrets"
)

// listOnly fails the test on any call but a listing: Names never reads
// the data key, a record or anything else.
type listOnly struct {
	t    *testing.T
	page func(req abi.ListRequest) abi.ListResponse
	n    int
}

func (s *listOnly) Call(ctx context.Context, op abi.Op, in []byte) ([]byte, error) {
	if op != abi.OpList {
		s.t.Errorf("Names called op %d", op)
		return nil, &abi.StatusError{Code: abi.Unimplemented}
	}
	var req abi.ListRequest
	if err := abi.Unmarshal(in, &req); err != nil {
		return nil, err
	}
	s.n++
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	resp := s.page(req)
	return abi.Marshal(&resp), nil
}

func names(t *testing.T, st secrets.Store, f secrets.Filter) (secrets.Names, error) {
	t.Helper()
	m := secrets.New(st, secrets.Options{Org: "acme", Identity: t.TempDir() + "/id", StateDir: t.TempDir() + "/state"})
	defer m.Close()
	return m.Names(context.Background(), f)
}

func TestNamesUntrusted(t *testing.T) {
	hostile := []string{"a\x1b[31m", "a\nb", "$(touch x)", "`id`", "a;b", "a b", "a|b", "a&b", "a>b", "'", "\"", "\\",
		"*", "~root", "a\u202eb", "clé", "\xff", "", strings.Repeat("a", scope.MaxKeyLen+1)}
	st := &listOnly{t: t, page: func(req abi.ListRequest) abi.ListResponse {
		var resp abi.ListResponse
		for _, h := range hostile {
			resp.Records = append(resp.Records, rec("", "", h), rec(h, "", "FROM_HOSTILE_PROJECT"))
			resp.Damaged = append(resp.Damaged, dmg("", h, "FROM_HOSTILE_DOMAIN"))
		}
		resp.Records = append(resp.Records, rec("", "", "A"), rec("web", "", "A"), rec("web", "development", "B"),
			rec("Upper", "", "C"), rec("-dash", "", "D"),
			abi.Record{Scope: abi.Scope{Org: "other", Project: "theirs"}, Key: "OTHER_ORG"})
		resp.Damaged = append(resp.Damaged, dmg("api", "", "BROKEN"))
		return resp
	}}
	got, err := names(t, st, secrets.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	// Hostile projects and domains are not offered, but the keys beside
	// them are names like any other: the key is what completion offers.
	wantKeys := []string{"A", "B", "BROKEN", "C", "D", "FROM_HOSTILE_DOMAIN", "FROM_HOSTILE_PROJECT"}
	if !slices.Equal(got.Keys, wantKeys) {
		t.Errorf("keys = %q, want %q", got.Keys, wantKeys)
	}
	if want := []string{"api", "web"}; !slices.Equal(got.Projects, want) {
		t.Errorf("projects = %q, want %q", got.Projects, want)
	}
	if st.n != 1 {
		t.Errorf("%d pages asked for, want 1", st.n)
	}
}

func TestNamesFilter(t *testing.T) {
	var got abi.ListRequest
	st := &listOnly{t: t, page: func(req abi.ListRequest) abi.ListResponse {
		got = req
		// A store that ignores the filter: Names applies it again.
		return abi.ListResponse{Records: []abi.Record{rec("", "", "ORG"), rec("web", "", "WEB"), rec("web", "staging", "WEB_STAGING")}}
	}}
	web := "web"
	n, err := names(t, st, secrets.Filter{Project: &web})
	if err != nil {
		t.Fatal(err)
	}
	if !got.HasProject || got.Project != "web" || got.HasDomain || got.Org != "acme" {
		t.Errorf("request = %+v", got)
	}
	if want := []string{"WEB", "WEB_STAGING"}; !slices.Equal(n.Keys, want) {
		t.Errorf("keys = %q, want %q", n.Keys, want)
	}
}

// An endless listing stops at MaxNames names, and one that repeats its
// page token or sends no names stops at the page bound.
func TestNamesBounded(t *testing.T) {
	endless := &listOnly{t: t, page: func(req abi.ListRequest) abi.ListResponse {
		i, _ := strconv.Atoi(req.PageToken)
		var resp abi.ListResponse
		for j := range 30 {
			resp.Records = append(resp.Records, rec("p"+strconv.Itoa(i+j), "", "K"+strconv.Itoa(i+j)))
		}
		resp.NextPageToken = strconv.Itoa(i + 30)
		return resp
	}}
	n, err := names(t, endless, secrets.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(n.Keys) != secrets.MaxNames || len(n.Projects) != secrets.MaxNames {
		t.Errorf("%d keys and %d projects, want %d of each", len(n.Keys), len(n.Projects), secrets.MaxNames)
	}
	if want := (secrets.MaxNames + 29) / 30; endless.n != want {
		t.Errorf("%d pages, want %d", endless.n, want)
	}

	empty := &listOnly{t: t, page: func(req abi.ListRequest) abi.ListResponse {
		i, _ := strconv.Atoi(req.PageToken)
		return abi.ListResponse{NextPageToken: strconv.Itoa(i + 1)}
	}}
	if _, err := names(t, empty, secrets.Filter{}); err != nil {
		t.Fatal(err)
	}
	if empty.n != 100 {
		t.Errorf("%d pages of nothing, want 100", empty.n)
	}

	again := &listOnly{t: t, page: func(req abi.ListRequest) abi.ListResponse {
		return abi.ListResponse{Records: []abi.Record{rec("", "", "A")}, NextPageToken: "same"}
	}}
	if _, err := names(t, again, secrets.Filter{}); err != nil {
		t.Fatal(err)
	}
	if again.n != 2 {
		t.Errorf("%d pages of a repeated token, want 2", again.n)
	}
}

// A listing cut short (the caller's deadline, a store error) returns the
// names found so far with the error.
func TestNamesPartial(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	st := &listOnly{t: t, page: func(req abi.ListRequest) abi.ListResponse {
		cancel() // the deadline passes while the first page is on its way
		return abi.ListResponse{Records: []abi.Record{rec("", "", "FIRST")}, NextPageToken: "next"}
	}}
	m := secrets.New(st, secrets.Options{Org: "acme", Identity: t.TempDir() + "/id"})
	defer m.Close()
	n, err := m.Names(ctx, secrets.Filter{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if want := []string{"FIRST"}; !slices.Equal(n.Keys, want) {
		t.Errorf("keys = %q, want %q", n.Keys, want)
	}
}

// FuzzNames: whatever a store sends, every name Names returns passes the
// validators, once.
func FuzzNames(f *testing.F) {
	f.Add(abi.Marshal(&abi.ListResponse{Records: []abi.Record{rec("", "", "A"), rec("p", "", "A")}, Damaged: []abi.Damaged{dmg("q", "", "B")}}))
	f.Add(abi.Marshal(&abi.ListResponse{Records: []abi.Record{rec("$(x)", "", "a\x1bb"), rec("", "", "`id`")}, NextPageToken: "x"}))
	f.Add([]byte{0x0a, 0x00, 0x12, 0x00})
	f.Fuzz(func(t *testing.T, page []byte) {
		st := &rawStore{pages: [][]byte{page, page}}
		m := secrets.New(st, secrets.Options{Org: "acme", Identity: t.TempDir() + "/id"})
		defer m.Close()
		n, _ := m.Names(context.Background(), secrets.Filter{})
		check := func(list []string, valid func(string) error) {
			for i, s := range list {
				if valid(s) != nil || i > 0 && list[i-1] >= s {
					t.Fatalf("name %q offered (%q)", s, list)
				}
			}
		}
		check(n.Keys, scope.ValidateKey)
		check(n.Projects, func(p string) error {
			if p == "" {
				return errors.New("empty")
			}
			return scope.ValidateProject(p)
		})
	})
}

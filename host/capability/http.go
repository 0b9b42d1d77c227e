//go:build !flytenohttp

package capability

import (
	"context"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/grant"
	"github.com/flytesecrets/flyte/host/httpgrant"
	"github.com/tetratelabs/wazero/api"
)

// maxCredentialName bounds the name argument of credential.
const maxCredentialName = 256

// http: requests to the granted origins, and the granted credentials,
// through host/httpgrant (abi/SPEC.md, section 2.4). A flyte built with the
// tag flytenohttp does not have it.
func init() {
	Register(&Capability{
		Name:   "http",
		Module: abi.HTTPModule,
		Minor:  abi.MinorHTTP,
		Funcs: []Func{
			{Name: "request", Params: pathArgs, Results: []api.ValueType{i32}, Call: httpRequest},
			{Name: "credential", Params: pathArgs, Results: []api.ValueType{i32}, Call: httpCredential},
		},
		Parse: func(plugin string, t map[string]any) (Grant, error) {
			g, err := httpgrant.Parse(plugin, t)
			if err != nil {
				return nil, err
			}
			return &httpGrant{g}, nil
		},
		Example: func(plugin string) []string {
			return []string{"[plugins." + plugin + ".grant.http]", `origins = ["https://HOST:PORT"]`}
		},
	})
}

// request (req, req_len) -> status: req is an abi.HTTPRequest; on OK the
// result is the abi.HTTPResponse, whatever its HTTP status.
func httpRequest(ctx context.Context, s Session, m api.Module, stack []uint64) {
	hs := s.(*httpSession)
	ptr, n := uint32(stack[0]), uint32(stack[1])
	if n > abi.MaxMessage {
		stack[0] = hs.out.Reply(nil, abi.Errorf(abi.TooLarge, "http request too large"))
		return
	}
	var r abi.HTTPRequest
	if err := abi.Unmarshal(MustRead(m, ptr, n, "http request"), &r); err != nil {
		stack[0] = hs.out.Reply(nil, abi.Errorf(abi.InvalidArgument, "malformed http request"))
		return
	}
	resp, d, st := hs.call.Do(ctx, &r)
	if st != abi.OK {
		msg := "http request failed"
		if d != nil {
			msg = d.Msg
		}
		stack[0] = hs.out.Reply(nil, abi.Errorf(st, msg))
		return
	}
	stack[0] = hs.out.Reply(abi.Marshal(resp), nil)
}

// credential (name, name_len) -> status: the result is the file the grant
// names so; NOT_FOUND when it names none.
func httpCredential(_ context.Context, s Session, m api.Module, stack []uint64) {
	hs := s.(*httpSession)
	ptr, n := uint32(stack[0]), uint32(stack[1])
	if n > maxCredentialName {
		stack[0] = hs.out.Reply(nil, abi.Errorf(abi.InvalidArgument, "credential name too long"))
		return
	}
	name := string(MustRead(m, ptr, n, "credential name"))
	v, st := hs.call.Credential(name)
	if st != abi.OK {
		stack[0] = hs.out.Reply(nil, abi.Errorf(st, "no such credential in the grant"))
		return
	}
	stack[0] = hs.out.Reply(v, nil)
}

// HTTPGrant is the http grant g built from settings rather than parsed from
// a [plugins.NAME.grant.http] table: the etcd store's, from [store]
// (httpgrant.Store). A flyte built without http returns nil.
func HTTPGrant(g *httpgrant.Grant) Grant { return &httpGrant{g} }

type httpGrant struct{ g *httpgrant.Grant }

func (g *httpGrant) Check(protected []grant.Protected) error { return g.g.Check(protected) }

func (g *httpGrant) Open() (Instance, error) {
	c, err := httpgrant.New(g.g)
	if err != nil {
		return nil, err
	}
	return &httpInstance{c}, nil
}

type httpInstance struct{ c *httpgrant.Client }

func (i *httpInstance) Begin(_ context.Context, out *Result) Session {
	return &httpSession{call: i.c.Begin(), out: out}
}

func (i *httpInstance) Close() error { i.c.Close(); return nil }

// Reveals: a guest's text that quotes a credential is withheld.
func (i *httpInstance) Reveals(b []byte) bool { return i.c.Reveals(b) }

type httpSession struct {
	call *httpgrant.Call
	out  *Result
}

func (s *httpSession) End() {}

// Failure is the call's last denial: the host's reason the last request
// failed (a request answered since, from the next endpoint, clears it).
// A guest that answers UNAVAILABLE after requests that were not answered
// (connection, TLS, time) keeps its own words: it is the one that knows
// every endpoint it tried, and its text is still sanitized and checked
// for credentials. A refusal (an origin not granted, a limit) is always
// the host's.
func (s *httpSession) Failure(guest abi.Status) (string, bool) {
	msg, st, ok := s.call.Failure()
	if !ok || st == abi.Unavailable && guest == abi.Unavailable {
		return "", false
	}
	return msg, true
}

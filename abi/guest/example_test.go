package guest_test

import (
	"fmt"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/abi/guest"
)

// memStore is a store that keeps records in memory: enough to show the
// shape of a Store. A real one keeps them in a granted directory
// (guest.HostFS) or behind an http backend (guest.HostHTTP), since an
// instance may be discarded after any call.
type memStore struct{ recs map[string]abi.Record }

func id(s abi.Scope, key string) string { return s.Org + "/" + s.Project + "/" + s.Domain + "/" + key }

func (m *memStore) Create(r *abi.Record) (*abi.Record, error) {
	if _, ok := m.recs[id(r.Scope, r.Key)]; ok {
		return nil, abi.Errorf(abi.AlreadyExists, "secret ", r.Key, " already exists")
	}
	c := *r
	c.Version = 1
	m.recs[id(r.Scope, r.Key)] = c
	return &c, nil
}

func (m *memStore) Update(r *abi.Record, expected uint64) (*abi.Record, error) {
	old, ok := m.recs[id(r.Scope, r.Key)]
	switch {
	case !ok:
		return nil, abi.Errorf(abi.NotFound, "no secret ", r.Key)
	case expected != 0 && expected != old.Version:
		return nil, abi.Errorf(abi.Conflict, "secret ", r.Key, " changed")
	}
	c := *r
	c.Version, c.Created = old.Version+1, old.Created
	m.recs[id(r.Scope, r.Key)] = c
	return &c, nil
}

func (m *memStore) Get(s abi.Scope, key string) (*abi.Record, error) {
	r, ok := m.recs[id(s, key)]
	if !ok {
		return nil, abi.Errorf(abi.NotFound, "no secret ", key)
	}
	return &r, nil
}

func (m *memStore) List(*abi.ListRequest) (*abi.ListResponse, error) {
	return nil, abi.Errorf(abi.Unimplemented, "not in this example")
}

func (m *memStore) Delete(abi.Scope, string, uint64) error {
	return abi.Errorf(abi.Unimplemented, "not in this example")
}

func (m *memStore) MetaGet(string) ([]byte, error) {
	return nil, abi.Errorf(abi.NotFound, "no meta values")
}

func (m *memStore) MetaPut(string, []byte, bool) ([]byte, error) {
	return nil, abi.Errorf(abi.PermissionDenied, "read-only")
}

// A store plugin registers its Store with guest.ServeStore from an init
// function. Dispatch is what the wasm export runs for each call; natively it
// serves the same call, which is how a store is tested.
func ExampleStoreHandler() {
	h := guest.StoreHandler(guest.Info{Name: "memstore", Version: "0.1.0"}, &memStore{recs: map[string]abi.Record{}})
	// In the plugin: func init() { guest.ServeStore(info, store) }

	rec := abi.Record{Scope: abi.Scope{Org: "acme"}, Key: "db_password", Kind: abi.SecretString, Sealed: []byte("opaque")}
	st, out := guest.Dispatch(h, abi.OpCreate, abi.Marshal(&abi.WriteRequest{Record: rec}))
	var got abi.Record
	_ = abi.Unmarshal(out, &got)
	fmt.Println(st, got.Key, "version", got.Version)

	st, out = guest.Dispatch(h, abi.OpCreate, abi.Marshal(&abi.WriteRequest{Record: rec}))
	var msg abi.ErrorMessage
	_ = abi.Unmarshal(out, &msg)
	fmt.Println(st, msg.Message)

	st, _ = guest.Dispatch(h, abi.OpGet, abi.Marshal(&abi.KeyRequest{Scope: rec.Scope, Key: "other"}))
	fmt.Println(st)
	// Output:
	// ok db_password version 1
	// already exists secret db_password already exists
	// not found
}

// dotEnv puts each secret in the variable it was requested as, and files
// under the mount directory; the host checks the plan and fills in values.
type dotEnv struct{}

func (dotEnv) Plan(req *abi.PlanRequest) (*abi.Plan, error) {
	plan := new(abi.Plan)
	for _, s := range req.Secrets {
		if s.AsEnvVar != "" {
			plan.Env = append(plan.Env, abi.EnvEntry{Name: s.AsEnvVar, Ref: s.Ref})
		} else {
			plan.Files = append(plan.Files, abi.FileEntry{Path: s.Mount + "/" + s.Key, Mode: 0o400, Ref: s.Ref})
		}
	}
	return plan, nil
}

// An injector plugin registers its Injector with guest.ServeInjector. It
// gets secrets by reference and answers a plan; it never sees a value.
func ExampleInjectorHandler() {
	h := guest.InjectorHandler(guest.Info{Name: "dotenv"}, dotEnv{})
	fmt.Println(h.Describe().Kind, h.Describe().Ops)

	req := abi.PlanRequest{Secrets: []abi.SecretRequest{
		{Ref: 1, Key: "db_password", Kind: abi.SecretString, AsEnvVar: "DB_PASSWORD"},
		{Ref: 2, Key: "tls_key", Kind: abi.SecretFile, Mount: abi.SecretsDir},
	}}
	st, out := guest.Dispatch(h, abi.OpPlan, abi.Marshal(&req))
	var plan abi.Plan
	_ = abi.Unmarshal(out, &plan)
	fmt.Println(st, plan.Env[0].Name, "= secret", plan.Env[0].Ref)
	fmt.Printf("%s %o = secret %d\n", plan.Files[0].Path, plan.Files[0].Mode, plan.Files[0].Ref)
	// Output:
	// injector [100]
	// ok DB_PASSWORD = secret 1
	// /etc/flyte/secrets/tls_key 400 = secret 2
}

// dockerAuth renders each output as a docker config.json whose auth is
// base64(user:password), from the first two secrets routed to the output.
type dockerAuth struct{ dotEnv }

func (dockerAuth) Render(req *abi.RenderRequest) (*abi.RenderPlan, error) {
	plan := new(abi.RenderPlan)
	for _, o := range req.Outputs {
		if len(o.Refs) != 2 {
			return nil, abi.Errorf(abi.InvalidArgument, "output needs two secrets: user and password")
		}
		user, password := o.Refs[0], o.Refs[1]
		plan.Outputs = append(plan.Outputs, abi.Output{ID: o.ID, Parts: []abi.Part{
			{Text: []byte(`{"auths":{"registry.example.com":{"auth":"`)},
			{Parts: []abi.Part{{Ref: user}, {Text: []byte(":")}, {Ref: password}}, Transforms: []abi.Transform{abi.Base64Encode}},
			{Text: []byte(`"}}}`)},
		}})
	}
	return plan, nil
}

// An injector that is also a Renderer serves op 101, RENDER: for each
// output the user declared, it answers a template of literal text, secret
// references and transforms, which the host renders.
func ExampleRenderer() {
	h := guest.InjectorHandler(guest.Info{Name: "dockerauth"}, dockerAuth{})
	fmt.Println(h.Describe().Ops)

	req := abi.RenderRequest{
		Secrets: []abi.SecretRequest{{Ref: 1, Key: "registry_user"}, {Ref: 2, Key: "registry_password"}},
		Outputs: []abi.OutputRequest{{ID: 7, File: "config.json", Refs: []uint32{1, 2}}},
	}
	st, out := guest.Dispatch(h, abi.OpRender, abi.Marshal(&req))
	var plan abi.RenderPlan
	_ = abi.Unmarshal(out, &plan)
	fmt.Println(st, "output", plan.Outputs[0].ID)
	for _, p := range plan.Outputs[0].Parts {
		switch {
		case p.Parts != nil:
			fmt.Println(" secret", p.Parts[0].Ref, "+", string(p.Parts[1].Text), "+ secret", p.Parts[2].Ref, "|", p.Transforms[0])
		default:
			fmt.Println(" text", string(p.Text))
		}
	}
	// Output:
	// [100 101]
	// ok output 7
	//  text {"auths":{"registry.example.com":{"auth":"
	//  secret 1 + : + secret 2 | base64
	//  text "}}}
}

// A network store reads its backend credential through the http capability
// and sends it in a header. Built natively, HostHTTP fails with
// Unavailable; in a wasip1 plugin the host serves it when flyte.toml grants
// the origin ([plugins.NAME.grant.http]).
func ExampleHostHTTP() {
	net := guest.HostHTTP()
	token, err := net.Credential("token")
	if err != nil {
		fmt.Println(abi.StatusOf(err))
		return
	}
	resp, err := net.Do(&abi.HTTPRequest{
		Method:  "GET",
		URL:     "https://vault.example.com:8200/v1/secret/data/flyte",
		Headers: []abi.HTTPHeader{{Name: "X-Vault-Token", Value: token}},
	})
	if err != nil {
		fmt.Println(abi.StatusOf(err)) // Unavailable: try the next endpoint
		return
	}
	fmt.Println(resp.Status, guest.TimeLeft(), "ms left")
	// Output:
	// unavailable
}

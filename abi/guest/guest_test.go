package guest

import (
	"slices"
	"testing"

	"github.com/flytesecrets/flyte/abi"
)

type planOnly struct{}

func (planOnly) Plan(*abi.PlanRequest) (*abi.Plan, error) { return new(abi.Plan), nil }

type renders struct{ planOnly }

func (renders) Render(req *abi.RenderRequest) (*abi.RenderPlan, error) {
	p := new(abi.RenderPlan)
	for _, o := range req.Outputs {
		p.Outputs = append(p.Outputs, abi.Output{ID: o.ID, Parts: []abi.Part{{Text: []byte("x")}}})
	}
	return p, nil
}

// Op 101 is declared and served only by an injector that renders; a
// malformed request is the caller's error, not the plugin's.
func TestRenderOp(t *testing.T) {
	req := abi.Marshal(&abi.RenderRequest{Outputs: []abi.OutputRequest{{ID: 3, Env: "URL"}}})
	if st, _ := Dispatch(InjectorHandler(Info{}, planOnly{}), abi.OpRender, req); st != abi.Unimplemented {
		t.Errorf("render on a plan-only injector: %v, want unimplemented", st)
	}
	h := InjectorHandler(Info{Capabilities: nil}, renders{})
	if ops := h.Describe().Ops; len(ops) != 2 || ops[1] != abi.OpRender {
		t.Errorf("ops %v, want [100 101]", ops)
	}
	st, out := Dispatch(h, abi.OpRender, req)
	var p abi.RenderPlan
	if st != abi.OK || abi.Unmarshal(out, &p) != nil || len(p.Outputs) != 1 || p.Outputs[0].ID != 3 {
		t.Errorf("render: %v %+v", st, p)
	}
	if st, _ := Dispatch(h, abi.OpRender, []byte{0x0a, 0x80}); st != abi.InvalidArgument {
		t.Errorf("malformed render request: %v, want invalid argument", st)
	}
	if st, _ := Dispatch(h, abi.OpCreate, nil); st != abi.Unimplemented {
		t.Errorf("store op on an injector: %v, want unimplemented", st)
	}
}

// Describe carries what Info declares.
func TestDescribeCapabilities(t *testing.T) {
	d := StoreHandler(Info{Name: "s", Capabilities: []string{"http"}}, nil).Describe()
	// A Store that is not Fenced declares the minor before fences, so
	// the host never sends it a guard it would ignore.
	if d.Minor != abi.MinorFence-1 || d.Kind != abi.KindStore || len(d.Capabilities) != 1 || d.Capabilities[0] != "http" {
		t.Errorf("describe = %+v", d)
	}
}

// fencedStore is a Store that is also Fenced, but serves nothing.
type fencedStore struct{ Store }

func (fencedStore) CreateIf(*abi.Record, abi.Guard) (*abi.Record, error) {
	return nil, abi.Errorf(abi.Conflict, "create fenced")
}
func (fencedStore) UpdateIf(*abi.Record, uint64, abi.Guard) (*abi.Record, error) {
	return nil, abi.Errorf(abi.Conflict, "update fenced")
}
func (fencedStore) MetaSwap(string, []byte, []byte) ([]byte, error) {
	return nil, abi.Errorf(abi.Conflict, "swap")
}
func (fencedStore) MetaDelete(string, []byte, bool) error { return abi.Errorf(abi.NotFound, "delete") }

// A Fenced store declares this kit's minor (1.3 or later) and gets its
// guarded writes and meta operations; a plain one refuses them rather than
// ignore a guard.
func TestFenced(t *testing.T) {
	f := StoreHandler(Info{Name: "f"}, fencedStore{})
	if d := f.Describe(); d.Minor != abi.Minor || d.Minor < abi.MinorFence || !slices.Contains(d.Ops, abi.OpMetaDelete) || slices.Contains(d.Ops, abi.OpCompact) {
		t.Errorf("fenced describe = %+v", d)
	}
	guarded := abi.Marshal(&abi.WriteRequest{Guard: &abi.Guard{Name: "datakey", Value: []byte("e")}})
	swap := abi.Marshal(&abi.MetaRequest{Name: "n", HasExpected: true})
	for _, c := range []struct {
		h    Handler
		op   abi.Op
		in   []byte
		want abi.Status
	}{
		{f, abi.OpCreate, guarded, abi.Conflict},
		{f, abi.OpUpdate, guarded, abi.Conflict},
		{f, abi.OpMetaPut, swap, abi.Conflict},
		{f, abi.OpMetaDelete, swap, abi.NotFound},
		{f, abi.OpCompact, nil, abi.Unimplemented},
		{f, abi.OpMetaPut, abi.Marshal(&abi.MetaRequest{Name: "n", HasExpected: true, CreateOnly: true}), abi.InvalidArgument},
		{StoreHandler(Info{}, nil), abi.OpCreate, guarded, abi.Unimplemented},
		{StoreHandler(Info{}, nil), abi.OpMetaPut, swap, abi.Unimplemented},
		{StoreHandler(Info{}, nil), abi.OpMetaDelete, swap, abi.Unimplemented},
	} {
		if st, _ := Dispatch(c.h, c.op, c.in); st != c.want {
			t.Errorf("op %d: %v, want %v", c.op, st, c.want)
		}
	}
}

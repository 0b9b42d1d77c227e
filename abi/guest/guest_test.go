package guest

import (
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
	if d.Minor != abi.Minor || d.Kind != abi.KindStore || len(d.Capabilities) != 1 || d.Capabilities[0] != "http" {
		t.Errorf("describe = %+v", d)
	}
}

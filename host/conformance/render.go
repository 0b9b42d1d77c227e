package conformance

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	"github.com/flytesecrets/flyte/abi"
)

// renderRequest asks for one file and one variable, each from two
// secrets of the request.
func renderRequest() *abi.RenderRequest {
	req, _ := planRequest(requestSets[3].secrets)
	return &abi.RenderRequest{Task: req.Task, Secrets: req.Secrets, Outputs: []abi.OutputRequest{
		{ID: 1, File: "app.conf", Refs: []uint32{1, 3}},
		{ID: 2, Env: "DATABASE_URL", Refs: []uint32{4, 5}},
	}}
}

// render checks RENDER, for an injector that lists it: every output
// answered once, only from the secrets routed to it, the same plan twice;
// or a clean refusal.
func (s *injectorSuite) render(ctx context.Context) error {
	if !slices.Contains(s.info.Ops, abi.OpRender) {
		return skip("does not list op 101 (RENDER)")
	}
	req := renderRequest()
	var first []byte
	for i := range 2 {
		out, err := s.p.Call(ctx, abi.OpRender, abi.Marshal(req))
		if err != nil {
			st, ok := status(err)
			switch {
			case !ok:
				return fmt.Errorf("RENDER: %s", short(err))
			case st == abi.Internal:
				return fmt.Errorf("RENDER answered internal error; a request it does not handle needs a clean status")
			}
			return nil
		}
		if i == 1 {
			if !bytes.Equal(first, out) {
				return fmt.Errorf("RENDER answered differently twice")
			}
			break
		}
		first = out
		var plan abi.RenderPlan
		if err := abi.Unmarshal(out, &plan); err != nil {
			return fmt.Errorf("RENDER answered a malformed plan")
		}
		if err := checkRender(req, &plan); err != nil {
			return fmt.Errorf("the host refuses its plan: %w", err)
		}
	}
	return nil
}

// checkRender applies the rules of abi/SPEC.md section 7.1 that do not
// need values.
func checkRender(req *abi.RenderRequest, plan *abi.RenderPlan) error {
	outs := map[uint32]*abi.OutputRequest{}
	for i := range req.Outputs {
		outs[req.Outputs[i].ID] = &req.Outputs[i]
	}
	seen := map[uint32]bool{}
	for _, o := range plan.Outputs {
		r, ok := outs[o.ID]
		if !ok {
			return fmt.Errorf("answers output #%d, which was not asked for", o.ID)
		}
		if seen[o.ID] {
			return fmt.Errorf("answers output #%d twice", o.ID)
		}
		seen[o.ID] = true
		if err := checkParts(r, o.Parts, 1); err != nil {
			return err
		}
	}
	for _, o := range req.Outputs {
		if !seen[o.ID] {
			return fmt.Errorf("leaves out output #%d", o.ID)
		}
	}
	return nil
}

func checkParts(o *abi.OutputRequest, parts []abi.Part, depth int) error {
	if depth > 8 {
		return fmt.Errorf("nests parts deeper than 8")
	}
	for _, p := range parts {
		if p.Ref != 0 && !slices.Contains(o.Refs, p.Ref) {
			return fmt.Errorf("uses secret #%d, which is not routed to output #%d", p.Ref, o.ID)
		}
		for _, t := range p.Transforms {
			if t < abi.Base64Encode || t > abi.URLEscape {
				return fmt.Errorf("applies transform %d, which this host does not know", t)
			}
		}
		if err := checkParts(o, p.Parts, depth+1); err != nil {
			return err
		}
	}
	return nil
}

package conformance

import (
	"testing"

	"github.com/flytesecrets/flyte/abi"
)

// Every input of the malformed-request checks fails to decode as every
// request message the suite sends it as: malformed means the wire format's
// own errors, never a decodable request with names the host would not send
// (abi/SPEC.md, sections 5 and 9).
func TestMalformedInputsDoNotDecode(t *testing.T) {
	msgs := map[string]func() abi.Message{
		"WriteRequest":  func() abi.Message { return &abi.WriteRequest{} },
		"KeyRequest":    func() abi.Message { return &abi.KeyRequest{} },
		"ListRequest":   func() abi.Message { return &abi.ListRequest{} },
		"MetaRequest":   func() abi.Message { return &abi.MetaRequest{} },
		"PlanRequest":   func() abi.Message { return &abi.PlanRequest{} },
		"RenderRequest": func() abi.Message { return &abi.RenderRequest{} },
	}
	for name, m := range msgs {
		for _, in := range malformedInputs {
			if err := abi.Unmarshal(in.in, m()); err == nil {
				t.Errorf("%s decodes %s", name, in.what)
			}
		}
	}
}

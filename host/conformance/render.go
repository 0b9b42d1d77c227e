package conformance

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/inject"
)

// renderSecrets and renderOutputs are the RENDER request of the suite: the
// outputs of plugins/examples/tmplinject's README, so that a template
// injector configured as it shows renders them all.
var (
	renderSecrets = []inject.Secret{
		secret("db_user", "", abi.SecretString, "DB_USER", 8),
		secret("db_password", "", abi.SecretString, "DB_PASSWORD", 20),
		secret("registry_user", "", abi.SecretString, "REGISTRY_USER", 6),
		secret("registry_password", "", abi.SecretString, "REGISTRY_PASSWORD", 16),
	}
	renderOutputs = []inject.Output{
		{File: "app.conf", Injector: injectorName, Refs: []int{0, 1}},
		{Env: "DATABASE_URL", Injector: injectorName, Refs: []int{0, 1}},
		{File: "config.json", Injector: injectorName, Refs: []int{2, 3}},
	}
)

// render checks RENDER, for an injector that lists it: a plan the host's
// renderer accepts (every output answered once, only from the secrets
// routed to it, within the limits), the same twice; or a clean refusal.
func (s *injectorSuite) render(ctx context.Context) error {
	if !slices.Contains(s.info.Ops, abi.OpRender) {
		return skip("does not list op 101 (RENDER)")
	}
	var answers [][]byte
	var callErr error
	load := func(string) (inject.Injector, error) { return recorder{s.p, &answers, &callErr}, nil }
	_, err := inject.Render(ctx, task, renderSecrets, renderOutputs, load)
	if len(answers) == 0 {
		if callErr == nil {
			return fmt.Errorf("the suite's RENDER request was refused: %v", err)
		}
		st, ok := status(callErr)
		switch {
		case !ok:
			return fmt.Errorf("RENDER: %s", short(callErr))
		case st == abi.Internal:
			return fmt.Errorf("RENDER answered internal error; a request it does not handle needs a clean status (invalid argument, unimplemented)")
		}
		return skip("refused cleanly: it does not handle this request (configure templates for app.conf, DATABASE_URL and config.json to render them)")
	}
	if err != nil {
		return fmt.Errorf("the host refuses its render plan: %s", strings.TrimPrefix(err.Error(), "injector "+injectorName+": "))
	}
	if _, err := inject.Render(ctx, task, renderSecrets, renderOutputs, load); err != nil || len(answers) != 2 || !bytes.Equal(answers[0], answers[1]) {
		return fmt.Errorf("RENDER answered differently twice")
	}
	return nil
}

// recorder keeps the raw answers of an injector: OK ones, and the last
// error as the injector returned it.
type recorder struct {
	p       Caller
	answers *[][]byte
	err     *error
}

func (r recorder) Call(ctx context.Context, op abi.Op, in []byte) ([]byte, error) {
	out, err := r.p.Call(ctx, op, in)
	if err == nil {
		*r.answers = append(*r.answers, out)
	} else {
		*r.err = err
	}
	return out, err
}

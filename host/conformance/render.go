package conformance

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/inject"
)

// renderSecrets are the secrets the RENDER requests may use: a database
// user and password and a registry user and password, with values of the
// suite's own (valid base64, valid UTF-8, no NUL byte), so that any of the
// host's transforms applies to them.
var renderSecrets = []inject.Secret{
	secret("db_user", "", abi.SecretString, "DB_USER", 8),
	secret("db_password", "", abi.SecretString, "DB_PASSWORD", 20),
	secret("registry_user", "", abi.SecretString, "REGISTRY_USER", 8),
	secret("registry_password", "", abi.SecretString, "REGISTRY_PASSWORD", 16),
}

// renderCase is one RENDER request of the suite: one per kind of output,
// and one with several outputs. The names are the usual ones (a config
// file, a DATABASE_URL, a docker config.json) so that an injector
// configured for real outputs renders them.
type renderCase struct {
	name    string
	outputs []inject.Output
}

var renderCases = []renderCase{
	{"a file", []inject.Output{{File: "app.conf", Injector: injectorName, Refs: []int{0, 1}}}},
	{"a variable", []inject.Output{{Env: "DATABASE_URL", Injector: injectorName, Refs: []int{0, 1}}}},
	{"several outputs", []inject.Output{
		{File: "app.conf", Injector: injectorName, Refs: []int{0, 1}},
		{Env: "DATABASE_URL", Injector: injectorName, Refs: []int{0, 1}},
		{File: "config.json", Injector: injectorName, Refs: []int{2, 3}},
	}},
}

// outputsSent describes the outputs of a request: "file app.conf from
// db_user, db_password; variable DATABASE_URL from ...".
func outputsSent(outs []inject.Output) string {
	var parts []string
	for _, o := range outs {
		what := "file " + o.File
		if o.Env != "" {
			what = "variable " + o.Env
		}
		var keys []string
		for _, i := range o.Refs {
			keys = append(keys, renderSecrets[i].Key)
		}
		parts = append(parts, what+" from "+strings.Join(keys, ", "))
	}
	return strings.Join(parts, "; ")
}

// render checks one RENDER request, for an injector that lists RENDER: a
// plan the host's renderer accepts (inject.Render: every output answered
// once, only from the secrets routed to it, within the limits), the same
// twice; or a clean refusal, which skips the check with the injector's
// own reason.
func (s *injectorSuite) render(ctx context.Context, rc renderCase) error {
	what := "RENDER of " + outputsSent(rc.outputs)
	var answers [][]byte
	var callErr error
	load := func(string) (inject.Injector, error) { return recorder{s.p, &answers, &callErr}, nil }
	_, err := inject.Render(ctx, task, renderSecrets, rc.outputs, load)
	if len(answers) == 0 {
		if callErr == nil {
			return fmt.Errorf("%s: the suite's request was refused by the host: %v", what, err)
		}
		st, ok := status(callErr)
		switch {
		case !ok:
			return fmt.Errorf("%s: %s; want a render plan, or a clean status (invalid argument, unimplemented) for an output it cannot render", what, short(callErr))
		case st == abi.Internal:
			return fmt.Errorf("%s answered %s; want a render plan, or a clean status (invalid argument, unimplemented) for an output it cannot render", what, answered(callErr))
		}
		return skip("refused cleanly: " + answered(callErr))
	}
	if err != nil {
		return fmt.Errorf("%s answered a plan the host refuses: %s; want one output per id, from its own refs, as abi/SPEC.md section 7.1 says", what, strings.TrimPrefix(err.Error(), "injector "+injectorName+": "))
	}
	if _, err := inject.Render(ctx, task, renderSecrets, rc.outputs, load); err != nil || len(answers) != 2 || !bytes.Equal(answers[0], answers[1]) {
		return fmt.Errorf("%s, sent twice, answered differently; want the same answer", what)
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

package conformance

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/inject"
	"github.com/flytesecrets/flyte/host/plugin"
	"github.com/flytesecrets/flyte/host/sanitize"
)

// injectorName is what messages of the host's validator call the injector.
const injectorName = "under-test"

// injectorOrg is the organization of the injector suite's task and
// secrets (an injector keeps nothing, so it needs no name of its own).
const injectorOrg = "conformance"

// requestSet is one PLAN request the suite sends.
type requestSet struct {
	name    string
	secrets []inject.Secret
}

func secret(key, group string, kind abi.SecretKind, env string, size int) inject.Secret {
	s := inject.Secret{Key: key, Group: group, Kind: kind, AsEnvVar: env, Injector: injectorName,
		Scope: abi.Scope{Org: injectorOrg, Project: "proj", Domain: "development"}, Value: bytes.Repeat([]byte{'v'}, size)}
	if env == "" {
		s.Mount = abi.SecretsDir
	}
	return s
}

var requestSets = []requestSet{
	{"variables", []inject.Secret{
		secret("api_token", "", abi.SecretString, "API_TOKEN", 40),
		secret("db-password", "", abi.SecretString, "DB_PASSWORD", 24),
		secret("registry", "", abi.SecretImagePull, "REGISTRY_AUTH", 120),
	}},
	{"files", []inject.Secret{
		secret("tls_cert", "", abi.SecretFile, "", 2000),
		secret("config-json", "", abi.SecretString, "", 300),
		secret("Empty", "", abi.SecretString, "", 0),
	}},
	{"group secrets", []inject.Secret{
		secret("token", "github", abi.SecretString, "GITHUB_TOKEN", 40),
		secret("id_ed25519", "ssh", abi.SecretFile, "", 400),
	}},
	{"a mixed request", []inject.Secret{
		secret("a", "", abi.SecretString, "A", 1),
		secret("b", "", abi.SecretFile, "", 10),
		secret("c", "grp", abi.SecretString, "GRP_C", 3),
		secret("d", "", abi.SecretString, "", 7),
		secret("e", "", abi.SecretString, "CUSTOM_NAME", 9),
		secret("f", "other", abi.SecretFile, "", 11),
	}},
}

var task = abi.Task{Environment: "conformance", Org: injectorOrg, Project: "proj", Domain: "development"}

type injectorSuite struct {
	p       Caller
	info    abi.Describe
	planned map[string]bool // request sets that got a valid plan
}

// Injector runs the injector suite on p.
func Injector(ctx context.Context, p *plugin.Plugin, o Options) []Result {
	return InjectorOf(ctx, p, p.Info, o)
}

// InjectorOf runs the injector suite on any Caller that describes itself
// as info.
func InjectorOf(ctx context.Context, p Caller, info abi.Describe, _ Options) []Result {
	s := &injectorSuite{p: p, info: info, planned: map[string]bool{}}
	checks := []check{{"describe", s.describe}}
	for _, set := range requestSets {
		checks = append(checks, check{"plan " + set.name, func(ctx context.Context) error { return s.plan(ctx, set) }})
	}
	checks = append(checks,
		check{"plan an empty request", s.planEmpty},
		check{"plans some request", s.plansSome},
		check{"plans are deterministic", s.deterministic},
		check{"malformed request", s.malformed},
		check{"unknown op", s.unknownOp},
	)
	if !slices.Contains(info.Ops, abi.OpRender) {
		checks = append(checks, check{"render", func(context.Context) error { return skip("does not list op 101 (RENDER)") }})
		return runChecks(ctx, checks)
	}
	for _, rc := range renderCases {
		checks = append(checks, check{"render " + rc.name, func(ctx context.Context) error { return s.render(ctx, rc) }})
	}
	rs := runChecks(ctx, checks)
	for i := range rs {
		rs[i].render = strings.HasPrefix(rs[i].Name, "render ")
	}
	return rs
}

func (s *injectorSuite) describe(context.Context) error {
	if s.info.Kind != abi.KindInjector {
		return fmt.Errorf("describes itself as %s, not an injector plugin", plugin.KindPhrase(s.info.Kind))
	}
	if !slices.Contains(s.info.Ops, abi.OpPlan) {
		return fmt.Errorf("its description does not list op 100 (PLAN)")
	}
	if slices.Contains(s.info.Ops, abi.OpRender) && s.info.Minor < abi.MinorRender {
		return fmt.Errorf("lists op 101 (RENDER) but declares ABI minor %d; RENDER came in %d", s.info.Minor, abi.MinorRender)
	}
	if s.info.Minor > abi.Minor {
		return fmt.Errorf("declares ABI minor %d, newer than this host's %d", s.info.Minor, abi.Minor)
	}
	if len(s.info.Capabilities) > 0 {
		return fmt.Errorf("asks for capabilities (%s); injectors get none", sanitize.Text(strings.Join(s.info.Capabilities, ", ")))
	}
	return nil
}

// planRequest is the PLAN request the host sends for secrets, all routed
// to the injector under test (inject.Plan builds the same).
func planRequest(secrets []inject.Secret) (*abi.PlanRequest, []int) {
	req := &abi.PlanRequest{Task: task}
	routed := make([]int, len(secrets))
	for i, sc := range secrets {
		routed[i] = i
		req.Secrets = append(req.Secrets, abi.SecretRequest{Ref: uint32(i + 1), Key: sc.Key, Group: sc.Group, Kind: sc.Kind,
			AsEnvVar: sc.AsEnvVar, Mount: sc.Mount, Scope: sc.Scope, Size: uint32(len(sc.Value))})
	}
	return req, routed
}

// sent describes secrets as a request sends them: "api_token as
// $API_TOKEN, tls_cert as /etc/flyte/secrets/tls_cert".
func sent(secrets []inject.Secret) string {
	if len(secrets) == 0 {
		return "no secrets"
	}
	var parts []string
	for _, sc := range secrets {
		key := sc.Key
		if sc.Group != "" {
			key = sc.Group + "/" + sc.Key
		}
		if sc.AsEnvVar != "" {
			parts = append(parts, key+" as $"+sc.AsEnvVar)
		} else {
			parts = append(parts, key+" as "+sc.Mount+"/"+sc.Key)
		}
	}
	return strings.Join(parts, ", ")
}

// wantClean is what the suite expects of a request an injector does not
// handle.
const wantClean = "want a plan, or a clean status (invalid argument, unimplemented) for a request it does not handle"

// planOnce sends one PLAN and returns its raw answer and "", the reason
// of a clean refusal, or what is wrong.
func (s *injectorSuite) planOnce(ctx context.Context, secrets []inject.Secret) ([]byte, string, error) {
	req, routed := planRequest(secrets)
	what := "PLAN of " + sent(secrets)
	out, err := s.p.Call(ctx, abi.OpPlan, abi.Marshal(req))
	if err != nil {
		st, ok := status(err)
		switch {
		case !ok:
			return nil, "", fmt.Errorf("%s: %s; %s", what, short(err), wantClean)
		case st == abi.Internal:
			return nil, "", fmt.Errorf("%s answered %s; %s", what, answered(err), wantClean)
		}
		return nil, "refused cleanly: " + answered(err), nil
	}
	var plan abi.Plan
	if err := abi.Unmarshal(out, &plan); err != nil {
		return nil, "", fmt.Errorf("%s answered bytes that do not decode as a Plan; %s", what, wantClean)
	}
	if _, err := inject.Validate(injectorName, secrets, routed, &plan); err != nil {
		return nil, "", fmt.Errorf("%s answered a plan the host refuses: %s; want a plan that keeps abi/SPEC.md section 7", what, strings.TrimPrefix(err.Error(), "injector "+injectorName+": bad plan: "))
	}
	return out, "", nil
}

func (s *injectorSuite) plan(ctx context.Context, set requestSet) error {
	_, refused, err := s.planOnce(ctx, set.secrets)
	if err != nil {
		return err
	}
	if refused != "" {
		return skip(refused)
	}
	s.planned[set.name] = true
	return nil
}

func (s *injectorSuite) planEmpty(ctx context.Context) error {
	_, refused, err := s.planOnce(ctx, nil)
	if err != nil {
		return err
	}
	if refused != "" {
		return fmt.Errorf("PLAN of no secrets was %s; want an empty plan", strings.Replace(refused, "refused cleanly: ", "refused: ", 1))
	}
	return nil
}

func (s *injectorSuite) plansSome(context.Context) error {
	if len(s.planned) == 0 {
		return fmt.Errorf("PLAN of each of the %d request sets was refused; want a plan for at least one (an injector delivers variables, files or both)", len(requestSets))
	}
	return nil
}

func (s *injectorSuite) deterministic(ctx context.Context) error {
	for _, set := range requestSets {
		a, refA, errA := s.planOnce(ctx, set.secrets)
		b, refB, errB := s.planOnce(ctx, set.secrets)
		if errA != nil || errB != nil {
			continue // reported by the set's own check
		}
		if refA != refB || !bytes.Equal(a, b) {
			return fmt.Errorf("PLAN of %s, sent twice, answered differently; want the same answer", sent(set.secrets))
		}
	}
	return nil
}

func (s *injectorSuite) malformed(ctx context.Context) error {
	ops := []abi.Op{abi.OpPlan}
	if slices.Contains(s.info.Ops, abi.OpRender) {
		ops = append(ops, abi.OpRender)
	}
	return malformedCheck(ctx, s.p, ops...)
}

func (s *injectorSuite) unknownOp(ctx context.Context) error {
	ops := []abi.Op{0, abi.OpCreate, abi.OpGet, abi.OpList, 99, 102, 1 << 20}
	if !slices.Contains(s.info.Ops, abi.OpRender) {
		ops = append(ops, abi.OpRender)
	}
	for _, op := range ops {
		if err := want(OpName(op)+" (an op no injector has) with no request", callRaw(ctx, s.p, op, nil, nil), abi.Unimplemented); err != nil {
			return err
		}
	}
	return nil
}

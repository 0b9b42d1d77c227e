package inject

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/flytesecrets/flyte/abi"
)

// builtinPlanner plans like the built-in injectors, and counts the PLAN
// calls per injector.
func builtinPlanner(calls map[string]int) func(name string) (Injector, error) {
	return func(name string) (Injector, error) {
		calls[name+" load"]++
		return fakeInjector(func(req *abi.PlanRequest) *abi.Plan {
			calls[name]++
			p := &abi.Plan{}
			for _, r := range req.Secrets {
				if r.Mount != "" {
					p.Files = append(p.Files, abi.FileEntry{Path: r.Mount + "/" + r.Key, Mode: 0o400, Ref: r.Ref})
				} else {
					p.Env = append(p.Env, abi.EnvEntry{Name: r.AsEnvVar, Ref: r.Ref})
				}
			}
			return p
		}), nil
	}
}

func allBuiltin(string) bool { return true }

// The second plan of the same request by a built-in injector comes from
// the cache: the injector is neither loaded nor asked, and the result is
// the same.
func TestPlanCacheSkipsBuiltins(t *testing.T) {
	for _, c := range []struct {
		name  string
		cache func(t *testing.T) PlanCache
	}{
		{"memory", func(*testing.T) PlanCache { return NewMemoryCache(8) }},
		{"state", func(t *testing.T) PlanCache { return NewStateCache(filepath.Join(t.TempDir(), "state")) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := NewPlanner(c.cache(t), allBuiltin)
			calls := map[string]int{}
			task := abi.Task{Environment: "e", Org: "o"}
			first, err := p.Plan(context.Background(), task, secretsFixture(), builtinPlanner(calls))
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Uncached(task, secretsFixture()); len(got) != 0 {
				t.Fatalf("uncached after a plan: %v", got)
			}
			second, err := p.Plan(context.Background(), task, secretsFixture(), builtinPlanner(calls))
			if err != nil {
				t.Fatal(err)
			}
			if calls["envinject"] != 1 || calls["fileinject"] != 1 || calls["envinject load"] != 1 {
				t.Fatalf("calls: %v", calls)
			}
			if len(second.Env) != 1 || string(second.Env[0].Value) != "value-one" || second.Env[0].Name != "MY_SECRET_ENV_VAR" ||
				len(second.Files) != 1 || second.Files[0].Name != "my_file" || second.Files[0].Mode != 0o400 ||
				!bytes.Equal(second.Files[0].Value, first.Files[0].Value) {
				t.Fatalf("cached plan applied as %+v, fresh as %+v", second, first)
			}
		})
	}
}

// Any change to the request misses: a value of another size, another
// scope, another task, another destination.
func TestPlanCacheKeyIsTheWholeRequest(t *testing.T) {
	p := NewPlanner(NewMemoryCache(64), allBuiltin)
	calls := map[string]int{}
	task := abi.Task{Environment: "e", Org: "o", Project: "p", Domain: "d"}
	plan := func(task abi.Task, s []Secret) {
		t.Helper()
		if _, err := p.Plan(context.Background(), task, s, builtinPlanner(calls)); err != nil {
			t.Fatal(err)
		}
	}
	plan(task, secretsFixture())
	want := 1
	for _, change := range []func(task *abi.Task, s []Secret){
		func(_ *abi.Task, s []Secret) { s[0].Value = []byte("a value of another size") },
		func(_ *abi.Task, s []Secret) { s[0].Scope = abi.Scope{Org: "o", Project: "p"} },
		func(_ *abi.Task, s []Secret) { s[0].Group = "g" },
		func(_ *abi.Task, s []Secret) { s[0].AsEnvVar = "OTHER" },
		func(_ *abi.Task, s []Secret) { s[0].Key = "renamed" },
		func(task *abi.Task, _ []Secret) { task.Domain = "other" },
		func(task *abi.Task, _ []Secret) { task.Environment = "f" },
	} {
		s, tk := secretsFixture(), task
		change(&tk, s)
		plan(tk, s)
		if want++; calls["envinject"] != want {
			t.Fatalf("change %d: %d calls, want %d", want-1, calls["envinject"], want)
		}
	}
	// The same value again: a hit.
	plan(task, secretsFixture())
	if calls["envinject"] != want {
		t.Fatalf("the first request again: asked again")
	}
}

// Only the built-ins are cached: a third-party injector, or a built-in
// name the configuration points at another module, is asked every time.
func TestPlanCacheOnlyBuiltins(t *testing.T) {
	s := secretsFixture()
	s[0].Injector = "custom"
	for _, builtin := range []func(string) bool{
		allBuiltin, // "custom" is no built-in of flyte's
		func(name string) bool { return name != "fileinject" },
	} {
		p := NewPlanner(NewMemoryCache(64), builtin)
		calls := map[string]int{}
		for range 2 {
			if _, err := p.Plan(context.Background(), abi.Task{}, s, builtinPlanner(calls)); err != nil {
				t.Fatal(err)
			}
		}
		if calls["custom"] != 2 {
			t.Fatalf("third-party injector asked %d times", calls["custom"])
		}
		want := 1
		if !builtin("fileinject") {
			want = 2
		}
		if calls["fileinject"] != want {
			t.Fatalf("fileinject asked %d times, want %d", calls["fileinject"], want)
		}
		if got := p.Uncached(abi.Task{}, s); !slices.Equal(got, map[int][]string{1: {"custom"}, 2: {"custom", "fileinject"}}[want]) {
			t.Fatalf("uncached: %v", got)
		}
	}
}

// A cached plan is validated like a fresh one: an entry that would set
// LD_PRELOAD, or does not decode, is ignored and the injector asked.
func TestPlanCacheEntryIsValidated(t *testing.T) {
	cache := NewMemoryCache(8)
	p := NewPlanner(cache, allBuiltin)
	s := secretsFixture()[:1]
	task := abi.Task{Environment: "e"}
	r := route(task, s)[0]
	key, ok := p.cacheKey(r.name, r.req)
	if !ok {
		t.Fatal("envinject is not cacheable")
	}
	for _, bad := range [][]byte{
		abi.Marshal(&abi.Plan{Env: []abi.EnvEntry{{Name: "LD_PRELOAD", Ref: 1}}}),
		abi.Marshal(&abi.Plan{Env: []abi.EnvEntry{{Name: "MY_SECRET_ENV_VAR", Value: []byte("attacker")}}}),
		{0xff, 0xff, 0xff},
	} {
		cache.Put(key, bad)
		calls := map[string]int{}
		a, err := p.Plan(context.Background(), task, s, builtinPlanner(calls))
		if err != nil || calls["envinject"] != 1 || a.Env[0].Name != "MY_SECRET_ENV_VAR" {
			t.Fatalf("bad entry %x: %v, %v, %+v", bad, err, calls, a)
		}
	}
}

// A refused plan is not kept: the injector is asked again.
func TestPlanCacheKeepsOnlyValidPlans(t *testing.T) {
	p := NewPlanner(NewMemoryCache(8), allBuiltin)
	calls := 0
	load := func(string) (Injector, error) {
		return fakeInjector(func(*abi.PlanRequest) *abi.Plan {
			calls++
			return &abi.Plan{Env: []abi.EnvEntry{{Name: "PATH", Ref: 1}}}
		}), nil
	}
	for range 2 {
		var pe *PlanError
		if _, err := p.Plan(context.Background(), abi.Task{}, secretsFixture()[:1], load); !errors.As(err, &pe) {
			t.Fatalf("got %v", err)
		}
	}
	if calls != 2 {
		t.Fatalf("asked %d times", calls)
	}
}

// The state file holds plans and hashed keys: no value, no key name in
// the clear beyond what the plan names (a variable, a file path).
func TestStateCacheFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	p := NewPlanner(NewStateCache(dir), allBuiltin)
	s := secretsFixture()
	s[0].Value = []byte("value-one-that-must-not-be-kept")
	if _, err := p.Plan(context.Background(), abi.Task{Environment: "e"}, s, builtinPlanner(map[string]int{})); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, PlanFile))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, s[0].Value) || bytes.Contains(b, s[1].Value) {
		t.Fatal("a value in the plan file")
	}
	fi, err := os.Stat(filepath.Join(dir, PlanFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("plan file: %v %v", fi.Mode(), err)
	}
	entries, err := ParsePlans(b)
	if err != nil || len(entries) != 2 {
		t.Fatalf("entries: %d %v", len(entries), err)
	}
	// Another process reads it: no injector asked.
	calls := map[string]int{}
	p2 := NewPlanner(NewStateCache(dir), allBuiltin)
	if got := p2.Uncached(abi.Task{Environment: "e"}, s); len(got) != 0 {
		t.Fatalf("uncached: %v", got)
	}
	if _, err := p2.Plan(context.Background(), abi.Task{Environment: "e"}, s, builtinPlanner(calls)); err != nil || len(calls) != 0 {
		t.Fatalf("second process: %v %v", calls, err)
	}
}

// The state file keeps the MaxCachedPlans most recent plans.
func TestStateCacheBound(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	c := NewStateCache(dir)
	for i := range MaxCachedPlans + 5 {
		c.Put(PlanKey{byte(i)}, []byte{byte(i)})
	}
	b, err := os.ReadFile(filepath.Join(dir, PlanFile))
	if err != nil {
		t.Fatal(err)
	}
	entries, err := ParsePlans(b)
	if err != nil || len(entries) != MaxCachedPlans || entries[0].Key != (PlanKey{byte(MaxCachedPlans + 4)}) {
		t.Fatalf("%d entries, %v", len(entries), err)
	}
	// An unusable state directory caches nothing, and fails nothing.
	bad := NewStateCache(filepath.Join(dir, PlanFile, "sub"))
	bad.Put(PlanKey{1}, []byte{1})
	if bad.Get(PlanKey{1}) != nil {
		t.Fatal("kept a plan without a state directory")
	}
	if NewStateCache("").Get(PlanKey{}) != nil {
		t.Fatal("no state directory")
	}
}

// Plans of the largest size fill the file only up to MaxPlanFile, so that
// the state directory can always read it back (and rewrite it).
func TestStateCacheBytesBound(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	c := NewStateCache(dir)
	plan := make([]byte, MaxCachedPlan)
	for i := range MaxCachedPlans {
		c.Put(PlanKey{byte(i)}, plan)
	}
	b, err := os.ReadFile(filepath.Join(dir, PlanFile))
	if err != nil {
		t.Fatal(err)
	}
	entries, err := ParsePlans(b)
	if err != nil || len(b) > MaxPlanFile || len(entries) != (MaxPlanFile-len(planMagic))/planEntrySize(plan) ||
		entries[0].Key != (PlanKey{byte(MaxCachedPlans - 1)}) {
		t.Fatalf("%d bytes, %d entries, %v", len(b), len(entries), err)
	}
	c.Put(PlanKey{200}, []byte{1})
	if b, _ := os.ReadFile(filepath.Join(dir, PlanFile)); !bytes.Contains(b, []byte{200}) {
		t.Fatal("the full file was not rewritten")
	}
}

func TestMemoryCacheBound(t *testing.T) {
	c := NewMemoryCache(2)
	c.Put(PlanKey{1}, []byte{1})
	c.Put(PlanKey{2}, []byte{2})
	c.Get(PlanKey{1})
	c.Put(PlanKey{3}, []byte{3})
	if c.Get(PlanKey{2}) != nil || c.Get(PlanKey{1}) == nil || c.Get(PlanKey{3}) == nil {
		t.Fatal("not the least recently used dropped")
	}
}

func FuzzParsePlans(f *testing.F) {
	f.Add([]byte(nil))
	f.Add([]byte(planMagic))
	f.Add(FormatPlans([]PlanEntry{{Key: PlanKey{1}, Plan: []byte("x")}, {Key: PlanKey{2}}}))
	f.Add(append(FormatPlans([]PlanEntry{{Key: PlanKey{1}, Plan: []byte("x")}}), 1, 2, 3))
	f.Add([]byte(planMagic + strings.Repeat("\xff", 40)))
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, err := ParsePlans(b)
		if len(entries) > MaxCachedPlans {
			t.Fatalf("%d entries", len(entries))
		}
		for _, e := range entries {
			if len(e.Plan) > MaxCachedPlan {
				t.Fatal("entry too large")
			}
		}
		// What parses formats back to the same bytes.
		if err == nil && len(b) > 0 && !bytes.Equal(FormatPlans(entries), b) {
			t.Fatal("round trip differs")
		}
	})
}

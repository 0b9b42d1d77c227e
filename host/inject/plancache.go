package inject

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"slices"
	"sync"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/builtin"
	"github.com/flytesecrets/flyte/host/state"
)

// # The plan cache
//
// The built-in injectors, envinject and fileinject, are pure functions of
// their PLAN request: no capability, no clock, no state. Their plans may
// therefore be kept and reused, so that a task whose injectors' plans are
// known starts without loading them (each load costs the instantiation of
// a Go guest and its memory). A plan request holds no value (each secret
// is named by key, with its kind, scope and size), and a plan that passed
// validation holds none either (a literal value is refused), so a cached
// plan is no secret: it may be kept in the state directory.
//
// The key is a hash of the plugin's identity (flyte's build ID, which
// changes with the modules built into it, or the SHA-256 of the module: see
// buildid.go) and of the whole marshalled request: any change to a secret's key,
// group, kind, scope, size or destination, to the task's names, or to the
// plugin's code, misses. A plan read from a cache goes through the same
// validation as one an injector just sent; one that fails it, or does not
// decode, is ignored and the injector is asked.
//
// Third-party injectors are never cached, nor a built-in name that
// flyte.toml points at another module ([plugins.NAME]): the caller says
// which names are built in (NewPlanner).

// PlanKey identifies a cached plan: see PlanKeyOf.
type PlanKey [sha256.Size]byte

// PlanCache keeps validated plans of pure injectors, marshalled. It must be
// safe for concurrent use. A cache never fails a task: Get of an unknown
// key returns nil, and Put forgets what it cannot keep.
type PlanCache interface {
	Get(key PlanKey) []byte
	Put(key PlanKey, plan []byte)
}

// pure lists the injectors whose plans may be cached, when they are the
// built-in modules.
var pure = []string{"envinject", "fileinject"}

// builtinIDs are the identities of the pure built-ins, computed once.
var builtinIDs sync.Map // name -> func() ([]byte, bool)

// builtinID returns the identity of the named built-in injector if it is
// pure: flyte's Go build ID with the name (see buildid.go), else the
// SHA-256 of its module as built into flyte.
func builtinID(name string) ([]byte, bool) {
	if !slices.Contains(pure, name) {
		return nil, false
	}
	f, _ := builtinIDs.LoadOrStore(name, sync.OnceValues(func() ([]byte, bool) {
		if id, ok := selfBuildID(); ok && id != "" {
			return []byte("go build id " + id + "\x00" + name), true
		}
		b, err := builtin.Module(name)
		if err != nil {
			return nil, false
		}
		sum := sha256.Sum256(b)
		return append([]byte("sha256 "), sum[:]...), true
	}))
	return f.(func() ([]byte, bool))()
}

// PlanKeyOf is the cache key of the plan of request req by the injector of
// identity id.
func PlanKeyOf(id []byte, req []byte) PlanKey {
	h := sha256.New()
	var n [8]byte
	h.Write([]byte("flyte plan cache v1\x00"))
	binary.BigEndian.PutUint64(n[:], uint64(len(id)))
	h.Write(n[:])
	h.Write(id)
	h.Write(req)
	var k PlanKey
	h.Sum(k[:0])
	return k
}

// Planner plans a task's secrets like Plan, taking the plans of pure
// injectors from a cache when it has them.
type Planner struct {
	cache   PlanCache
	builtin func(name string) bool
}

// NewPlanner returns a Planner over cache (nil caches nothing). builtin
// says whether the named injector is flyte's built-in module (false when
// the configuration names a plugin of that name): only envinject and
// fileinject as built in are cached.
func NewPlanner(cache PlanCache, builtin func(name string) bool) *Planner {
	return &Planner{cache: cache, builtin: builtin}
}

// cacheKey returns the key of the named injector's plan of req, if the
// injector is cached.
func (p *Planner) cacheKey(name string, req []byte) (PlanKey, bool) {
	if p == nil || p.cache == nil || p.builtin == nil || !p.builtin(name) {
		return PlanKey{}, false
	}
	id, ok := builtinID(name)
	if !ok {
		return PlanKey{}, false
	}
	return PlanKeyOf(id, req), true
}

// cached returns the cached plan of req by the named injector, if the
// cache holds one that decodes and passes validation on its own.
func (p *Planner) cached(name string, key PlanKey, secrets []Secret, routed []int) (*abi.Plan, bool) {
	b := p.cache.Get(key)
	if b == nil {
		return nil, false
	}
	var plan abi.Plan
	if err := abi.Unmarshal(bytes.Clone(b), &plan); err != nil {
		return nil, false
	}
	if _, err := Validate(name, secrets, routed, &plan); err != nil {
		return nil, false
	}
	return &plan, true
}

// Uncached returns the injectors Plan would have to load for the secrets:
// those that get secrets and whose plan the cache does not hold, in name
// order. A caller that loads injectors ahead of Plan (in parallel with
// other work) loads these.
func (p *Planner) Uncached(task abi.Task, secrets []Secret) []string {
	var out []string
	for _, r := range route(task, secrets) {
		if key, ok := p.cacheKey(r.name, r.req); ok {
			if _, ok := p.cached(r.name, key, secrets, r.routed); ok {
				continue
			}
		}
		out = append(out, r.name)
	}
	return out
}

// routeReq is the PLAN request to one injector.
type routeReq struct {
	name   string
	routed []int  // indexes into the secrets
	req    []byte // marshalled abi.PlanRequest
}

// route routes secrets to their injectors (see Plan), in name order.
func route(task abi.Task, secrets []Secret) []routeReq {
	routes := map[string][]int{}
	for i, s := range secrets {
		if s.AsEnvVar != "" || s.Mount != "" { // else it goes only into render outputs
			routes[s.Injector] = append(routes[s.Injector], i)
		}
	}
	out := make([]routeReq, 0, len(routes))
	for name, routed := range routes {
		req := abi.PlanRequest{Task: task}
		for _, i := range routed {
			s := secrets[i]
			req.Secrets = append(req.Secrets, abi.SecretRequest{
				Ref: uint32(i + 1), Key: s.Key, Group: s.Group, Kind: s.Kind, AsEnvVar: s.AsEnvVar,
				Mount: s.Mount, Scope: s.Scope, Size: uint32(len(s.Value)),
			})
		}
		out = append(out, routeReq{name: name, routed: routed, req: abi.Marshal(&req)})
	}
	slices.SortFunc(out, func(a, b routeReq) int {
		switch {
		case a.name < b.name:
			return -1
		case a.name > b.name:
			return 1
		}
		return 0
	})
	return out
}

// MemoryCache is a PlanCache in memory, holding at most a fixed number of
// plans (the least recently used goes first): for a process that serves
// many tasks.
type MemoryCache struct {
	mu    sync.Mutex
	max   int
	order []PlanKey // most recently used last
	plans map[PlanKey][]byte
}

// NewMemoryCache returns a MemoryCache of at most max plans.
func NewMemoryCache(max int) *MemoryCache {
	return &MemoryCache{max: max, plans: map[PlanKey][]byte{}}
}

// Get implements PlanCache.
func (c *MemoryCache) Get(key PlanKey) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.plans[key]
	if ok {
		c.touch(key)
	}
	return b
}

// Put implements PlanCache.
func (c *MemoryCache) Put(key PlanKey, plan []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.max <= 0 || len(plan) > MaxCachedPlan {
		return
	}
	if _, ok := c.plans[key]; !ok && len(c.plans) >= c.max {
		delete(c.plans, c.order[0])
		c.order = c.order[1:]
	}
	c.plans[key] = bytes.Clone(plan)
	c.touch(key)
}

func (c *MemoryCache) touch(key PlanKey) {
	if i := slices.Index(c.order, key); i >= 0 {
		c.order = slices.Delete(c.order, i, i+1)
	}
	c.order = append(c.order, key)
}

// Bounds of the state directory's plan cache.
const (
	// MaxCachedPlans is how many plans the state file keeps (the most
	// recently added).
	MaxCachedPlans = 64
	// MaxCachedPlan bounds one cached plan: a plan of MaxEnv variables
	// and MaxFiles files with names of a few hundred bytes.
	MaxCachedPlan = 256 << 10
	// MaxPlanFile bounds the whole file, well under state.MaxFile (which
	// MaxCachedPlans plans of MaxCachedPlan bytes would pass, and a file
	// the state directory refuses to read could never be rewritten).
	MaxPlanFile = 4 << 20
)

// PlanFile is the state file of the plan cache.
const PlanFile = "plans"

// planMagic starts the plan file; a file without it is ignored (and
// replaced on the next Put).
const planMagic = "flyte plans 1\n"

// StateCache is a PlanCache in flyte's state directory (PlanFile), shared
// by every flyte process of the user. The file is read once, on the first
// Get; Put rewrites it under the state directory's lock. A state directory
// that cannot be used makes the cache empty, never an error.
type StateCache struct {
	path string

	once  sync.Once
	dir   *state.Dir
	mu    sync.Mutex
	plans map[PlanKey][]byte
}

// NewStateCache returns the plan cache in the state directory at path
// (state.Path); "" caches nothing.
func NewStateCache(path string) *StateCache {
	return &StateCache{path: path}
}

func (c *StateCache) load() {
	c.once.Do(func() {
		c.plans = map[PlanKey][]byte{}
		if c.path == "" {
			return
		}
		d, err := state.Open(c.path)
		if err != nil {
			return
		}
		c.dir = d
		b, err := d.Read(PlanFile)
		if err != nil {
			return
		}
		entries, _ := ParsePlans(b)
		for _, e := range entries {
			c.plans[e.Key] = e.Plan
		}
	})
}

// Get implements PlanCache.
func (c *StateCache) Get(key PlanKey) []byte {
	c.load()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.plans[key]
}

// Put implements PlanCache: the plan is added in front of the file's,
// which keeps the MaxCachedPlans most recent.
func (c *StateCache) Put(key PlanKey, plan []byte) {
	c.load()
	if c.dir == nil || len(plan) > MaxCachedPlan {
		return
	}
	c.mu.Lock()
	c.plans[key] = bytes.Clone(plan)
	c.mu.Unlock()
	_ = c.dir.Update(PlanFile, func(old []byte) ([]byte, error) {
		entries, _ := ParsePlans(old)
		out := []PlanEntry{{Key: key, Plan: plan}}
		size := len(planMagic) + planEntrySize(plan)
		for _, e := range entries {
			if e.Key == key {
				continue
			}
			if len(out) == MaxCachedPlans || size+planEntrySize(e.Plan) > MaxPlanFile {
				break
			}
			out = append(out, e)
			size += planEntrySize(e.Plan)
		}
		return FormatPlans(out), nil
	})
}

// planEntrySize is the size of a plan's entry in the plan file.
func planEntrySize(plan []byte) int { return len(PlanKey{}) + 4 + len(plan) }

// PlanEntry is one plan of the plan file.
type PlanEntry struct {
	Key  PlanKey
	Plan []byte
}

var errPlanFile = errors.New("malformed plan cache")

// ParsePlans reads a plan file: planMagic, then entries of a key, a
// 4-byte big-endian length and that many bytes of marshalled plan. It
// returns the entries it read before anything malformed (at most
// MaxCachedPlans, none larger than MaxCachedPlan), with an error when it
// stopped early. The plans are not decoded here.
func ParsePlans(b []byte) ([]PlanEntry, error) {
	if len(b) == 0 {
		return nil, nil
	}
	rest, ok := bytes.CutPrefix(b, []byte(planMagic))
	if !ok {
		return nil, errPlanFile
	}
	var out []PlanEntry
	for len(rest) > 0 {
		if len(out) == MaxCachedPlans || len(rest) < len(PlanKey{})+4 {
			return out, errPlanFile
		}
		var e PlanEntry
		copy(e.Key[:], rest)
		rest = rest[len(e.Key):]
		n := binary.BigEndian.Uint32(rest)
		rest = rest[4:]
		if n > MaxCachedPlan || uint64(n) > uint64(len(rest)) {
			return out, errPlanFile
		}
		e.Plan = bytes.Clone(rest[:n])
		rest = rest[n:]
		out = append(out, e)
	}
	return out, nil
}

// FormatPlans writes a plan file of entries (see ParsePlans).
func FormatPlans(entries []PlanEntry) []byte {
	b := []byte(planMagic)
	for _, e := range entries {
		b = append(b, e.Key[:]...)
		b = binary.BigEndian.AppendUint32(b, uint32(len(e.Plan)))
		b = append(b, e.Plan...)
	}
	return b
}

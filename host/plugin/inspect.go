package plugin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/flytesecrets/flyte/abi"
)

// Inspection is what can be read of a module without running it.
type Inspection struct {
	SHA256 string
	Size   int
	// Major is the ABI major version its marker export names.
	Major int
	// Describe is the payload of its flyte.describe section, or nil when it
	// has none: the plugin's own description, as its build step recorded
	// it.
	Describe *abi.Describe
	// Capabilities are the names of the capabilities it imports, sorted,
	// including ones this flyte does not have.
	Capabilities []string
	// Imports ("module.name") and Exports, sorted and sanitised.
	Imports, Exports []string
}

// InspectBuiltin is Inspect of a built-in module (Spec.Builtin): compiled
// as Load compiles it, into the built-ins' own cache (watchdog.go), so
// that inspecting and then loading it compiles it once.
func (h *Host) InspectBuiltin(ctx context.Context, name string, wasm []byte) (*Inspection, error) {
	if uncheckedBuiltins && !h.unchecked {
		b, err := h.builtinHost()
		if err != nil {
			return nil, err
		}
		return b.Inspect(ctx, name, wasm)
	}
	return h.Inspect(ctx, name, wasm)
}

// Inspect compiles a module (through the cache, with the progress line of
// a cold compile) and reads what it needs and declares. It never
// instantiates the module: nothing of it runs. A module that is not a
// flyte ABI v1 plugin, or whose flyte.describe section is malformed, is an
// error; imports are only listed (Load judges them against grants).
func (h *Host) Inspect(ctx context.Context, name string, wasm []byte) (in *Inspection, err error) {
	sum := sha256.Sum256(wasm)
	in = &Inspection{SHA256: hex.EncodeToString(sum[:]), Size: len(wasm)}
	var c *compiled
	defer func() {
		if r := recover(); r != nil {
			in, err = nil, &Error{Plugin: name, Msg: "failed to load: the WebAssembly runtime failed on it (" + cause(fmt.Sprint(r)) + ")"}
		}
		if c != nil {
			c.close(ctx)
		}
	}()
	desc, walked, err := describeSection(wasm)
	if err != nil {
		return nil, &Error{Plugin: name, Msg: err.Error()}
	}
	// Nothing of it runs: its stub, if it has one, describes it as well.
	c, err = h.compile(ctx, name, wasm, in.SHA256, 0, true)
	compiled := c.mod
	if err != nil {
		return nil, &Error{Plugin: name, Msg: compileError(name, err), Err: err}
	}
	if !walked {
		return nil, &Error{Plugin: name, Msg: sectionsMalformed}
	}
	if err := checkExports(compiled); err != nil {
		return nil, &Error{Plugin: name, Msg: err.Error()}
	}
	in.Major = abi.Version
	in.Describe = desc
	if desc != nil && desc.Kind == abi.KindInjector {
		if imp := capabilityImport(compiled); imp != "" {
			err := &InjectorError{Plugin: name, Import: imp}
			return nil, &Error{Plugin: name, Msg: err.Error(), Err: err}
		}
	}
	caps := map[string]bool{}
	for _, f := range compiled.ImportedFunctions() {
		mod, n, _ := f.Import()
		in.Imports = append(in.Imports, Sanitize(mod)+"."+Sanitize(n))
		for _, c := range abi.Capabilities {
			if c.Module == mod {
				caps[c.Name] = true
			}
		}
	}
	for _, m := range compiled.ImportedMemories() {
		mod, n, _ := m.Import()
		in.Imports = append(in.Imports, Sanitize(mod)+"."+Sanitize(n))
	}
	for n := range caps {
		in.Capabilities = append(in.Capabilities, n)
	}
	for n := range compiled.ExportedFunctions() {
		in.Exports = append(in.Exports, Sanitize(n))
	}
	for n := range compiled.ExportedMemories() {
		in.Exports = append(in.Exports, Sanitize(n))
	}
	slices.Sort(in.Capabilities)
	slices.Sort(in.Imports)
	in.Imports = slices.Compact(in.Imports)
	slices.Sort(in.Exports)
	return in, nil
}

// describeSection finds and decodes the module's flyte.describe section
// (findDescribe); nil when it has none. Its text is sanitised as a live
// description's is. It runs before the module is compiled; ok is false
// when the section headers are malformed, which the compiler refuses (see
// sectionsMalformed for the module it would not).
func describeSection(wasm []byte) (d *abi.Describe, ok bool, err error) {
	payload, ok, err := findDescribe(wasm)
	if err != nil || payload == nil {
		return nil, ok, err
	}
	d = new(abi.Describe)
	if err := abi.Unmarshal(payload, d); err != nil {
		return nil, true, fmt.Errorf("has a malformed %s section (%s)", abi.DescribeSection, cause(err.Error()))
	}
	d.Name, d.Version, d.Summary = Sanitize(d.Name), Sanitize(d.Version), Sanitize(d.Summary)
	return d, true, nil
}

// sectionsMalformed refuses a module that compiled although its section
// headers could not be walked (which the runtime does not allow).
const sectionsMalformed = "not a valid WebAssembly module: its section headers are malformed"

// describeDiff says how a plugin's section differs from its live
// description in what the host relies on (kind, minor, ops,
// capabilities); "" when it does not.
func describeDiff(sec, live *abi.Describe) string {
	if sec.Kind != live.Kind {
		return "kind: the section says " + sec.Kind.String() + ", the plugin " + live.Kind.String()
	}
	if sec.Minor != live.Minor {
		return fmt.Sprintf("ABI minor: the section says %d, the plugin %d", sec.Minor, live.Minor)
	}
	ops := func(d *abi.Describe) string {
		o := slices.Clone(d.Ops)
		slices.Sort(o)
		s := make([]string, 0, len(o))
		for _, op := range slices.Compact(o) {
			s = append(s, strconv.FormatUint(uint64(op), 10))
		}
		return strings.Join(s, " ")
	}
	if a, b := ops(sec), ops(live); a != b {
		return "ops: the section says [" + a + "], the plugin [" + b + "]"
	}
	caps := func(d *abi.Describe) string {
		s := make([]string, len(d.Capabilities))
		for i, c := range d.Capabilities {
			s[i] = Sanitize(c)
		}
		slices.Sort(s)
		return strings.Join(slices.Compact(s), " ")
	}
	if a, b := caps(sec), caps(live); a != b {
		return "capabilities: the section says [" + a + "], the plugin [" + b + "]"
	}
	return ""
}

package task

import (
	"io"
	"strings"

	"github.com/flytesecrets/flyte/host/identity"
	"github.com/flytesecrets/flyte/host/inject"
	"github.com/flytesecrets/flyte/host/mask"
)

// Prepared is a task ready to start, as the core prepares it
// (core.PrepareTask): where its secrets go and what its output must not
// show. It holds the secrets' values; the CLI hands it to Start without
// reading it, and wipes it when the task is over. Its fields are plain
// values, so that a resident process that resolved the secrets can send
// it to the client that starts the task, which thus stays the client's
// child.
type Prepared struct {
	// Env are the variables the injectors set; each replaces the parent's
	// variable of the same name.
	Env []inject.EnvVar
	// Files go to /etc/flyte/secrets; with none, no namespace is made.
	Files []inject.File
	// Secrets are the values of the secrets the task asked for, delivered
	// or only rendered.
	Secrets [][]byte
	// From names the scope each of Secrets came from ("organization",
	// "project P, domain D"...), for the user.
	From []string
	// Mask is what else the output must not show, nor any line of: the
	// rendered forms made of secrets alone, the credentials inside
	// image_pull secrets, and the identity as it is written and in lower
	// case. Empty when the output is not masked.
	Mask [][]byte
	// MaskWhole are the rendered forms that join literal text with
	// secrets, which the output must not show whole (a line of one may be
	// the template's text alone).
	MaskWhole [][]byte
	// Masked says that the output passes through the masker: each of
	// Secrets and Mask with every encoding of it and of its lines
	// (mask.Forms), each of MaskWhole with its encodings (mask.WholeForms).
	Masked bool
}

// Command is how the client runs a prepared task: the program, the
// client's own environment and streams.
type Command struct {
	// Path is the program's absolute path (LookPath); Args its arguments,
	// Args[0] included.
	Path string
	Args []string
	// Environ is the client's environment (os.Environ()); the identity
	// variables are left out of the task's.
	Environ []string
	Stdin   io.Reader
	Stdout  io.Writer
	Stderr  io.Writer
	// Self is flyte's own executable, for the helper.
	Self string
}

// Spec assembles what Run runs: the client's environment without the
// identity variables, with the task's variables set over it, the task's
// files, and every form of what the output must not show.
func (p *Prepared) Spec(c Command) Spec {
	spec := Spec{
		Path: c.Path, Args: c.Args, Env: Environment(identity.Strip(c.Environ), p.Env), Files: p.Files,
		Stdin: c.Stdin, Stdout: c.Stdout, Stderr: c.Stderr, Self: c.Self,
	}
	if p.Masked {
		spec.Mask = [][]byte{}
		for _, v := range p.Secrets {
			spec.Mask = append(spec.Mask, mask.Forms(v)...)
		}
		for _, v := range p.Mask {
			spec.Mask = append(spec.Mask, mask.Forms(v)...)
		}
		for _, v := range p.MaskWhole {
			spec.Mask = append(spec.Mask, mask.WholeForms(v)...)
		}
	}
	return spec
}

// Start runs the prepared task as c says and returns its exit status
// (see Run).
func (p *Prepared) Start(c Command) (int, error) { return Run(p.Spec(c)) }

// Wipe clears every value the task holds from memory.
func (p *Prepared) Wipe() {
	if p == nil {
		return
	}
	for _, e := range p.Env {
		clear(e.Value)
	}
	for _, f := range p.Files {
		clear(f.Value)
	}
	for _, set := range [][][]byte{p.Secrets, p.Mask, p.MaskWhole} {
		for _, v := range set {
			clear(v)
		}
	}
}

// Environment is parent with the injected variables set, each replacing
// any of the same name.
func Environment(parent []string, injected []inject.EnvVar) []string {
	set := map[string]bool{}
	for _, v := range injected {
		set[v.Name] = true
	}
	out := make([]string, 0, len(parent)+len(injected))
	for _, kv := range parent {
		if name, _, _ := strings.Cut(kv, "="); !set[name] {
			out = append(out, kv)
		}
	}
	for _, v := range injected {
		out = append(out, v.Name+"="+string(v.Value))
	}
	return out
}

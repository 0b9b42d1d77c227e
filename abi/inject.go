package abi

// Messages of the injector op (OpPlan). An injector decides where each
// secret routed to it goes (which variable, which file, which mode); it
// never sees values: a plan refers to secrets by Ref, and the host puts the
// values in when it applies the plan.

// Task is the task a plan is for.
type Task struct {
	Environment string
	Org         string
	Project     string
	Domain      string
}

// MarshalTo implements Message.
func (m *Task) MarshalTo(e *Encoder) {
	e.String(1, m.Environment)
	e.String(2, m.Org)
	e.String(3, m.Project)
	e.String(4, m.Domain)
}

// UnmarshalFrom implements Message.
func (m *Task) UnmarshalFrom(d *Decoder) {
	for d.Next() {
		switch d.Field() {
		case 1:
			m.Environment = d.String()
		case 2:
			m.Org = d.String()
		case 3:
			m.Project = d.String()
		case 4:
			m.Domain = d.String()
		}
	}
}

// SecretRequest is one secret the task asked for, as routed to an
// injector. Exactly one of AsEnvVar and Mount is set.
type SecretRequest struct {
	Ref      uint32 // what plan entries use to name this secret; never 0
	Key      string
	Group    string
	Kind     SecretKind
	AsEnvVar string
	Mount    string // the directory ("/etc/flyte/secrets")
	Scope    Scope  // where the secret was resolved from
	Size     uint32 // length of the value in bytes
}

// MarshalTo implements Message.
func (m *SecretRequest) MarshalTo(e *Encoder) {
	e.Uint(1, uint64(m.Ref))
	e.String(2, m.Key)
	e.String(3, m.Group)
	e.Uint(4, uint64(m.Kind.Delivery())) // 1 or 2 on the wire (SPEC.md, section 7)
	e.String(5, m.AsEnvVar)
	e.String(6, m.Mount)
	e.Message(7, &m.Scope)
	e.Uint(8, uint64(m.Size))
}

// UnmarshalFrom implements Message.
func (m *SecretRequest) UnmarshalFrom(d *Decoder) {
	for d.Next() {
		switch d.Field() {
		case 1:
			m.Ref = d.Uint32()
		case 2:
			m.Key = d.String()
		case 3:
			m.Group = d.String()
		case 4:
			m.Kind = SecretKind(d.Uint32())
		case 5:
			m.AsEnvVar = d.String()
		case 6:
			m.Mount = d.String()
		case 7:
			d.Message(&m.Scope)
		case 8:
			m.Size = d.Uint32()
		}
	}
}

// PlanRequest is the input of OpPlan.
type PlanRequest struct {
	Task    Task
	Secrets []SecretRequest
}

// MarshalTo implements Message.
func (m *PlanRequest) MarshalTo(e *Encoder) {
	e.Message(1, &m.Task)
	for i := range m.Secrets {
		e.Message(2, &m.Secrets[i])
	}
}

// UnmarshalFrom implements Message.
func (m *PlanRequest) UnmarshalFrom(d *Decoder) {
	for d.Next() {
		switch d.Field() {
		case 1:
			d.Message(&m.Task)
		case 2:
			m.Secrets = append(m.Secrets, SecretRequest{})
			d.Message(&m.Secrets[len(m.Secrets)-1])
		}
	}
}

// EnvEntry sets one environment variable of the task to a secret's value.
// Value is reserved: the host refuses a plan that sets literal values.
type EnvEntry struct {
	Name  string
	Ref   uint32
	Value []byte
}

// MarshalTo implements Message.
func (m *EnvEntry) MarshalTo(e *Encoder) {
	e.String(1, m.Name)
	e.Uint(2, uint64(m.Ref))
	e.Blob(3, m.Value)
}

// UnmarshalFrom implements Message.
func (m *EnvEntry) UnmarshalFrom(d *Decoder) {
	for d.Next() {
		switch d.Field() {
		case 1:
			m.Name = d.String()
		case 2:
			m.Ref = d.Uint32()
		case 3:
			m.Value = d.Blob()
		}
	}
}

// FileEntry writes one file holding a secret's value. Mode 0 means the
// host's default (0400). Value is reserved, as in EnvEntry.
type FileEntry struct {
	Path  string
	Mode  uint32
	Ref   uint32
	Value []byte
}

// MarshalTo implements Message.
func (m *FileEntry) MarshalTo(e *Encoder) {
	e.String(1, m.Path)
	e.Uint(2, uint64(m.Mode))
	e.Uint(3, uint64(m.Ref))
	e.Blob(4, m.Value)
}

// UnmarshalFrom implements Message.
func (m *FileEntry) UnmarshalFrom(d *Decoder) {
	for d.Next() {
		switch d.Field() {
		case 1:
			m.Path = d.String()
		case 2:
			m.Mode = d.Uint32()
		case 3:
			m.Ref = d.Uint32()
		case 4:
			m.Value = d.Blob()
		}
	}
}

// Plan is the output of OpPlan.
type Plan struct {
	Env   []EnvEntry
	Files []FileEntry
}

// MarshalTo implements Message.
func (m *Plan) MarshalTo(e *Encoder) {
	for i := range m.Env {
		e.Message(1, &m.Env[i])
	}
	for i := range m.Files {
		e.Message(2, &m.Files[i])
	}
}

// UnmarshalFrom implements Message.
func (m *Plan) UnmarshalFrom(d *Decoder) {
	for d.Next() {
		switch d.Field() {
		case 1:
			m.Env = append(m.Env, EnvEntry{})
			d.Message(&m.Env[len(m.Env)-1])
		case 2:
			m.Files = append(m.Files, FileEntry{})
			d.Message(&m.Files[len(m.Files)-1])
		}
	}
}

// SecretsDir is the only directory file secrets may be placed in.
const SecretsDir = "/etc/flyte/secrets"

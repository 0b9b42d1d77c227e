package core

import "github.com/flytesecrets/flyte/host/secrets"

// What the core answers and the errors it returns are those of the secrets
// service, named here so that the CLI speaks to the core alone. Each is a
// plain value (the errors are structs of strings, scopes and numbers), so
// that a resident process can send them back to the client.
type (
	Secret     = secrets.Secret
	Damaged    = secrets.Damaged
	ListResult = secrets.ListResult
	Names      = secrets.Names
	Team       = secrets.Team
	Rekeyed    = secrets.Rekeyed
	SecretRef  = secrets.SecretRef
	Store      = secrets.Store

	ExistsError          = secrets.ExistsError
	NotFoundError        = secrets.NotFoundError
	MissingError         = secrets.MissingError
	LockedError          = secrets.LockedError
	ConflictError        = secrets.ConflictError
	KindChangeError      = secrets.KindChangeError
	KindUnsupportedError = secrets.KindUnsupportedError
	NotRecipientError    = secrets.NotRecipientError
	FenceError           = secrets.FenceError
)

// The largest value a secret may have, and the errors of values that do
// not fit.
const MaxValue = secrets.MaxValue

var (
	ErrEmpty      = secrets.ErrEmpty
	ErrTooLarge   = secrets.ErrTooLarge
	ErrUnfinished = secrets.ErrUnfinished
)

package fsgrant

// entryKind is what a directory listing tells of an entry.
type entryKind uint8

const (
	kindOther entryKind = iota // a symlink, a FIFO, a device: never listed
	kindDir
	kindFile
	kindUnknown // the filesystem did not say
)

// rawEntry is one name of a directory as the kernel listed it.
type rawEntry struct {
	name string
	kind entryKind
}

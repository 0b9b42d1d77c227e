package fsgrant

// entryKind is what a directory listing tells of an entry.
type entryKind uint8

const (
	kindOther entryKind = iota // a symlink, a FIFO, a device: never listed
	kindDir
	kindFile
	kindUnknown // the filesystem did not say
)

// listed reports whether a listing shows an entry of kind k: directories
// and regular files only.
func (k entryKind) listed() bool { return k == kindDir || k == kindFile }

// rawEntry is one name of a directory as the kernel listed it.
type rawEntry struct {
	name string
	kind entryKind
}

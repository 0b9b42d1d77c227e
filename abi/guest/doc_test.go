package guest

import (
	"go/ast"
	"go/build"
	"go/doc"
	"go/parser"
	"go/token"
	"path/filepath"
	"testing"
)

// `go doc` on an ordinary machine must show the whole kit: the entry points
// are declared in files built for every platform, not only for wasip1.
func TestDocShowsKit(t *testing.T) {
	ctx := build.Default
	ctx.GOOS, ctx.GOARCH = "linux", "amd64"
	pkg, err := ctx.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, name := range pkg.GoFiles {
		f, err := parser.ParseFile(fset, filepath.Join(pkg.Dir, name), nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	p, err := doc.NewFromFiles(fset, files, "github.com/flytesecrets/flyte/abi/guest")
	if err != nil {
		t.Fatal(err)
	}
	shown := map[string]string{}
	for _, f := range p.Funcs {
		shown[f.Name] = f.Doc
	}
	for _, ty := range p.Types {
		shown[ty.Name] = ty.Doc
		for _, f := range ty.Funcs {
			shown[f.Name] = f.Doc
		}
	}
	for _, name := range []string{"Serve", "ServeStore", "ServeInjector", "HostFS", "HostHTTP", "TimeLeft", "Config", "Log",
		"Dispatch", "StoreHandler", "InjectorHandler", "Store", "Injector", "Renderer", "FS", "HTTP", "Info", "Handler"} {
		d, ok := shown[name]
		if !ok {
			t.Errorf("go doc (linux/amd64) does not show %s", name)
		} else if d == "" {
			t.Errorf("%s has no doc comment", name)
		}
	}
}

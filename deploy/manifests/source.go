package manifests

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"golang.org/x/mod/modfile"
)

// modulePath reads the module path of the repository's go.mod.
func modulePath(fsys fs.FS) (string, error) {
	data, err := fs.ReadFile(fsys, "go.mod")
	if err != nil {
		return "", err
	}
	module := modfile.ModulePath(data)
	if module == "" {
		return "", errors.New("go.mod has no module line")
	}
	return module, nil
}

// functionNames lists the functions: the directories of functions/ that
// hold Go code.
func functionNames(fsys fs.FS) ([]string, error) {
	entries, err := fs.ReadDir(fsys, "functions")
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		files, err := fs.Glob(fsys, path.Join("functions", e.Name(), "*.go"))
		if err != nil {
			return nil, err
		}
		if len(files) > 0 {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// The declarations of internal/events whose use the rules look for: the
// one place that reads K_SINK, the sink a SinkBinding or a ContainerSource
// provides, and the one that reads the event signing keys.
const (
	publisherFromEnv = "internal/events.PublisherFromEnv"
	keysFromEnv      = "internal/events.KeysFromEnv"
)

// reaching returns the functions whose code reaches root, a declaration of
// the module named by its path from the module's root and its name, as far
// as reading their source tells. A declaration reaches root if it refers to
// it or to another declaration that reaches it, and a function reaches it
// if a declaration of its package does. A method counts as part of its
// type, so a constructor that returns a type whose Start method builds the
// publisher publishes too. This is syntax, not type checking: a call
// through an interface or a value held elsewhere goes unseen.
func reaching(decls []decl, module, root string) map[string]bool {
	reach := map[string]bool{module + "/" + root: true}
	for changed := true; changed; {
		changed = false
		for _, d := range decls {
			if !reach[d.key] && refersTo(d.refs, reach) {
				reach[d.key], changed = true, true
			}
		}
	}
	functions := map[string]bool{}
	for _, d := range decls {
		if name, ok := strings.CutPrefix(d.pkg, module+"/functions/"); ok && reach[d.key] {
			functions[name] = true
		}
	}
	return functions
}

func refersTo(refs []string, set map[string]bool) bool {
	for _, r := range refs {
		if set[r] {
			return true
		}
	}
	return false
}

// A decl is one top-level declaration: key is its package path and name
// (a method's is its type's), refs the names it refers to, in the same
// form.
type decl struct {
	pkg, key string
	refs     []string
	value    string  // a constant's or variable's value, when it is a literal
	env      funcEnv // what a function declaration reads of the environment
}

// parseDecls reads the declarations of every Go file under roots but tests
// and testdata.
func parseDecls(fsys fs.FS, module string, roots ...string) ([]decl, error) {
	var decls []decl
	fset := token.NewFileSet()
	for _, root := range roots {
		err := fs.WalkDir(fsys, root, func(name string, d fs.DirEntry, err error) error {
			switch {
			case err != nil:
				return err
			case d.IsDir() && d.Name() == "testdata":
				return fs.SkipDir
			case d.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go"):
				return nil
			}
			src, err := fs.ReadFile(fsys, name)
			if err != nil {
				return err
			}
			f, err := parser.ParseFile(fset, name, src, parser.SkipObjectResolution)
			if err != nil {
				return fmt.Errorf("parse %s: %w", name, err)
			}
			decls = append(decls, fileDecls(f, module+"/"+path.Dir(name), module)...)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return decls, nil
}

func fileDecls(f *ast.File, pkg, module string) []decl {
	imports := map[string]string{} // the name a file uses for a package of the module, and its path
	std := map[string]string{}     // and for any other package
	for _, spec := range f.Imports {
		p, _ := strconv.Unquote(spec.Path.Value)
		name := path.Base(p)
		if spec.Name != nil {
			name = spec.Name.Name
		}
		if !strings.HasPrefix(p, module+"/") {
			std[name] = p
			continue
		}
		imports[name] = p
	}
	refs := func(n ast.Node) []string {
		var refs []string
		ast.Inspect(n, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.SelectorExpr:
				if x, ok := n.X.(*ast.Ident); ok && imports[x.Name] != "" {
					refs = append(refs, imports[x.Name]+"."+n.Sel.Name)
					return false
				}
			case *ast.Ident:
				refs = append(refs, pkg+"."+n.Name)
			}
			return true
		})
		return refs
	}
	var decls []decl
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			decls = append(decls, decl{pkg: pkg, key: pkg + "." + funcName(d), refs: refs(d), env: envOf(d, pkg, imports, std, module)})
		case *ast.GenDecl:
			for _, spec := range d.Specs {
				for i, name := range specNames(spec) {
					decls = append(decls, decl{pkg: pkg, key: pkg + "." + name, refs: refs(spec), value: literal(spec, i)})
				}
			}
		}
	}
	return decls
}

// funcName is a function's name, or for a method its receiver's type name.
func funcName(d *ast.FuncDecl) string {
	if d.Recv == nil || len(d.Recv.List) == 0 {
		return d.Name.Name
	}
	t := d.Recv.List[0].Type
	for {
		switch x := t.(type) {
		case *ast.StarExpr:
			t = x.X
		case *ast.IndexExpr:
			t = x.X
		case *ast.IndexListExpr:
			t = x.X
		case *ast.Ident:
			return x.Name
		default:
			return d.Name.Name
		}
	}
}

func specNames(spec ast.Spec) []string {
	switch s := spec.(type) {
	case *ast.TypeSpec:
		return []string{s.Name.Name}
	case *ast.ValueSpec:
		var names []string
		for _, n := range s.Names {
			names = append(names, n.Name)
		}
		return names
	}
	return nil
}

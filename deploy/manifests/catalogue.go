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
)

// catalogueDir holds the event catalogue: the map Catalogue, keyed by the
// event types Triggers may filter on.
const catalogueDir = "internal/events"

// eventTypes reads the keys of the catalogue from its source. Reading it,
// rather than importing package events, keeps this module free of the
// functions' module: with it, every dependency the functions add would
// have to agree with the versions ko and Knative's modules need.
func eventTypes(fsys fs.FS) (map[string]bool, error) {
	files, err := fs.Glob(fsys, path.Join(catalogueDir, "*.go"))
	if err != nil {
		return nil, err
	}
	consts := map[string]string{} // the package's string constants
	var catalogue *ast.CompositeLit
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		f, err := parser.ParseFile(fset, name, src, parser.SkipObjectResolution)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", name, err)
		}
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok {
				continue
			}
			for _, spec := range g.Specs {
				v, ok := spec.(*ast.ValueSpec)
				if !ok || len(v.Names) != len(v.Values) {
					continue
				}
				for i, n := range v.Names {
					if s, ok := stringLit(v.Values[i]); ok && g.Tok == token.CONST {
						consts[n.Name] = s
					}
					if lit, ok := v.Values[i].(*ast.CompositeLit); ok && n.Name == "Catalogue" && g.Tok == token.VAR {
						catalogue = lit
					}
				}
			}
		}
	}
	if catalogue == nil {
		return nil, errors.New("found no var Catalogue = map[string]...{...} to read the event types from")
	}
	types := map[string]bool{}
	for _, elt := range catalogue.Elts {
		kv, ok := elt.(*ast.KeyValueExpr)
		if !ok {
			continue
		}
		typ, ok := stringLit(kv.Key)
		if id, isIdent := kv.Key.(*ast.Ident); isIdent {
			typ, ok = consts[id.Name]
		}
		if !ok {
			return nil, fmt.Errorf("a key of Catalogue is neither a string nor a string constant of the package: %T", kv.Key)
		}
		types[typ] = true
	}
	return types, nil
}

func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

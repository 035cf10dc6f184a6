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
// event types Triggers may filter on, and the map Emitters, which names
// the functions that emit each type.
const catalogueDir = "internal/events"

// catalogue is what the rules know of the event catalogue.
type catalogue struct {
	types    map[string]bool
	emitters map[string][]string // by type, the functions whose source events of it have
}

// readCatalogue reads the keys of Catalogue and the map Emitters from the
// source of the catalogue. Reading it, rather than importing package
// events, keeps this module free of the functions' module: with it, every
// dependency the functions add would have to agree with the versions ko
// and Knative's modules need.
func readCatalogue(fsys fs.FS) (catalogue, error) {
	files, err := fs.Glob(fsys, path.Join(catalogueDir, "*.go"))
	if err != nil {
		return catalogue{}, err
	}
	consts := map[string]string{} // the package's string constants
	var types, emitters *ast.CompositeLit
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := fs.ReadFile(fsys, name)
		if err != nil {
			return catalogue{}, err
		}
		f, err := parser.ParseFile(fset, name, src, parser.SkipObjectResolution)
		if err != nil {
			return catalogue{}, fmt.Errorf("parse %s: %w", name, err)
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
					lit, ok := v.Values[i].(*ast.CompositeLit)
					switch {
					case !ok || g.Tok != token.VAR:
					case n.Name == "Catalogue":
						types = lit
					case n.Name == "Emitters":
						emitters = lit
					}
				}
			}
		}
	}
	if types == nil {
		return catalogue{}, errors.New("found no var Catalogue = map[string]...{...} to read the event types from")
	}
	if emitters == nil {
		return catalogue{}, errors.New("found no var Emitters = map[string][]string{...} to read who emits each type from")
	}
	key := func(e ast.Expr) (string, error) {
		if id, ok := e.(*ast.Ident); ok {
			if s, ok := consts[id.Name]; ok {
				return s, nil
			}
		}
		if s, ok := stringLit(e); ok {
			return s, nil
		}
		return "", fmt.Errorf("a key is neither a string nor a string constant of the package: %T", e)
	}
	c := catalogue{types: map[string]bool{}, emitters: map[string][]string{}}
	for _, elt := range types.Elts {
		kv, ok := elt.(*ast.KeyValueExpr)
		if !ok {
			continue
		}
		typ, err := key(kv.Key)
		if err != nil {
			return catalogue{}, fmt.Errorf("in var Catalogue: %w", err)
		}
		c.types[typ] = true
	}
	for _, elt := range emitters.Elts {
		kv, ok := elt.(*ast.KeyValueExpr)
		if !ok {
			continue
		}
		typ, err := key(kv.Key)
		if err != nil {
			return catalogue{}, fmt.Errorf("in var Emitters: %w", err)
		}
		list, ok := kv.Value.(*ast.CompositeLit)
		if !ok {
			return catalogue{}, fmt.Errorf("the Emitters of %s are not a list of function names", typ)
		}
		for _, e := range list.Elts {
			fn, ok := stringLit(e)
			if !ok {
				return catalogue{}, fmt.Errorf("an emitter of %s is a %T, not a function's name", typ, e)
			}
			c.emitters[typ] = append(c.emitters[typ], fn)
		}
	}
	return c, nil
}

func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

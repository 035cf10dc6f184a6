package manifests

import (
	"fmt"
	"go/ast"
	"go/token"
	"go/types"
	"io/fs"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// What a function reads of its environment. Functions read their
// configuration through internal/config, in Start: the getters of a
// *config.Env take the variable's name and, but for Require, its default;
// a helper such as ratelimit.RuleFromEnv may take the name and default as
// parameters and pass them on. So reading the source tells, per function,
// which variables the code it reaches reads, which it requires and what
// each defaults to, as far as syntax goes: a name built at run time, or a
// getter called through something other than a parameter of type
// *config.Env, goes unseen.

// configPackage is the package of the getters, from the module's root.
const configPackage = "internal/config"

// envGetters are the getters of a *config.Env, with their arity.
var envGetters = map[string]int{"Require": 1, "String": 2, "Duration": 2, "Int": 2, "Bool": 2}

// An arg is what the source tells of an argument.
type arg struct {
	value string // its value, when known
	known bool
	ref   string // the package-level declaration it names, to resolve
	param int    // 1 + the index of the parameter of the enclosing function it is, or 0
	text  string // its source
}

// shown is how docs and messages spell an argument.
func (a arg) shown() string {
	if a.known {
		return a.value
	}
	return a.text
}

// An envRead is one call of a getter.
type envRead struct {
	getter    string
	name, def arg // def is zero for Require
}

// An envCall is one call of a package-level function of the module, which
// may read variables its arguments name.
type envCall struct {
	callee string
	args   []arg
}

// funcEnv is what one function declaration reads and calls.
type funcEnv struct {
	method bool
	reads  []envRead
	calls  []envCall
}

// envOf reads the getters' calls and the module's function calls of d.
func envOf(d *ast.FuncDecl, pkg string, imports, std map[string]string, module string) funcEnv {
	fe := funcEnv{method: d.Recv != nil}
	params := map[string]int{}
	envs := map[string]bool{} // the parameters that are a *config.Env
	i := 0
	for _, field := range d.Type.Params.List {
		if len(field.Names) == 0 {
			i++
		}
		for _, n := range field.Names {
			i++
			params[n.Name] = i
			envs[n.Name] = isConfigEnv(field.Type, imports, module)
		}
	}
	if d.Body == nil {
		return fe
	}
	ast.Inspect(d.Body, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		args := make([]arg, len(call.Args))
		for i, a := range call.Args {
			args[i] = argOf(a, pkg, params, imports, std)
		}
		switch fun := call.Fun.(type) {
		case *ast.SelectorExpr:
			x, ok := fun.X.(*ast.Ident)
			if !ok {
				return true
			}
			arity, getter := envGetters[fun.Sel.Name]
			switch {
			case getter && envs[x.Name] && len(args) == arity:
				r := envRead{getter: fun.Sel.Name, name: args[0]}
				if arity == 2 {
					r.def = args[1]
				}
				fe.reads = append(fe.reads, r)
			case imports[x.Name] != "":
				fe.calls = append(fe.calls, envCall{imports[x.Name] + "." + fun.Sel.Name, args})
			}
		case *ast.Ident:
			fe.calls = append(fe.calls, envCall{pkg + "." + fun.Name, args})
		}
		return true
	})
	return fe
}

func isConfigEnv(t ast.Expr, imports map[string]string, module string) bool {
	star, ok := t.(*ast.StarExpr)
	if !ok {
		return false
	}
	sel, ok := star.X.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	x, ok := sel.X.(*ast.Ident)
	return ok && sel.Sel.Name == "Env" && imports[x.Name] == module+"/"+configPackage
}

var timeUnits = map[string]time.Duration{
	"Nanosecond": time.Nanosecond, "Microsecond": time.Microsecond, "Millisecond": time.Millisecond,
	"Second": time.Second, "Minute": time.Minute, "Hour": time.Hour,
}

func argOf(e ast.Expr, pkg string, params map[string]int, imports, std map[string]string) arg {
	a := arg{text: types.ExprString(e)}
	switch e := e.(type) {
	case *ast.BasicLit:
		switch e.Kind {
		case token.STRING:
			v, err := strconv.Unquote(e.Value)
			a.value, a.known = v, err == nil
		case token.INT, token.FLOAT:
			a.value, a.known = e.Value, true
		}
	case *ast.Ident:
		switch {
		case params[e.Name] > 0:
			a.param = params[e.Name]
		case e.Name == "true" || e.Name == "false":
			a.value, a.known = e.Name, true
		default:
			a.ref = pkg + "." + e.Name
		}
	case *ast.SelectorExpr:
		if x, ok := e.X.(*ast.Ident); ok {
			if p := imports[x.Name]; p != "" {
				a.ref = p + "." + e.Sel.Name
			} else if d, ok := timeUnits[e.Sel.Name]; ok && std[x.Name] == "time" {
				a.value, a.known = formatDuration(d), true
			}
		}
	case *ast.BinaryExpr:
		if d, ok := durationOf(e, std); ok {
			a.value, a.known = formatDuration(d), true
		}
	}
	return a
}

// durationOf reads n*time.Unit.
func durationOf(e *ast.BinaryExpr, std map[string]string) (time.Duration, bool) {
	if e.Op != token.MUL {
		return 0, false
	}
	for _, pair := range [][2]ast.Expr{{e.X, e.Y}, {e.Y, e.X}} {
		lit, ok := pair[0].(*ast.BasicLit)
		sel, ok2 := pair[1].(*ast.SelectorExpr)
		if !ok || !ok2 || lit.Kind != token.INT {
			continue
		}
		x, ok := sel.X.(*ast.Ident)
		unit, ok2 := timeUnits[sel.Sel.Name]
		n, err := strconv.Atoi(lit.Value)
		if ok && ok2 && err == nil && std[x.Name] == "time" {
			return time.Duration(n) * unit, true
		}
	}
	return 0, false
}

// formatDuration spells d as a user would write it: 15m, not 15m0s.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// literal is the value of the i-th name of a const or var spec, when it is
// a string or number literal.
func literal(spec ast.Spec, i int) string {
	s, ok := spec.(*ast.ValueSpec)
	if !ok || i >= len(s.Values) {
		return ""
	}
	lit, ok := s.Values[i].(*ast.BasicLit)
	if !ok {
		return ""
	}
	if lit.Kind == token.STRING {
		v, _ := strconv.Unquote(lit.Value)
		return v
	}
	return lit.Value
}

// A use is how one function reads one variable.
type use struct {
	required bool
	defaults []string // as the source has them, each once
	where    string   // a package that reads it, from the module's root
}

// functionEnv returns, per function, the variables its code reaches a read
// of.
func functionEnv(decls []decl, module string) map[string]map[string]use {
	consts := map[string]string{}
	byKey := map[string][]int{}
	for i, d := range decls {
		if d.value != "" {
			consts[d.key] = d.value
		}
		byKey[d.key] = append(byKey[d.key], i)
	}
	resolve := func(a arg) arg {
		if v, ok := consts[a.ref]; ok && !a.known {
			a.value, a.known = v, true
		}
		return a
	}
	// The reads of each declaration, known once its callers pass a name
	// or a default, and those it passes its own parameters to.
	concrete := make([]map[string]envRead, len(decls))
	passed := map[string]map[string]envRead{} // by function key
	add := func(i int, r envRead) bool {
		id := fmt.Sprintf("%+v", r)
		if r.name.param == 0 && r.def.param == 0 {
			if !r.name.known {
				return false // a name built at run time
			}
			if concrete[i] == nil {
				concrete[i] = map[string]envRead{}
			}
			_, seen := concrete[i][id]
			concrete[i][id] = r
			return !seen
		}
		if decls[i].env.method {
			return false // its callers cannot be told from syntax
		}
		key := decls[i].key
		if passed[key] == nil {
			passed[key] = map[string]envRead{}
		}
		_, seen := passed[key][id]
		passed[key][id] = r
		return !seen
	}
	for i, d := range decls {
		for _, r := range d.env.reads {
			add(i, envRead{r.getter, resolve(r.name), resolve(r.def)})
		}
	}
	for changed := true; changed; {
		changed = false
		for i, d := range decls {
			for _, c := range d.env.calls {
				for _, r := range passed[c.callee] {
					inst := envRead{r.getter, substitute(r.name, c.args, resolve), substitute(r.def, c.args, resolve)}
					if add(i, inst) {
						changed = true
					}
				}
			}
		}
	}
	env := map[string]map[string]use{}
	for i, d := range decls {
		fn, ok := strings.CutPrefix(d.pkg, module+"/functions/")
		if !ok || env[fn] != nil {
			continue
		}
		uses := map[string]use{}
		for j := range reachedFrom(decls, byKey, i) {
			for _, r := range concrete[j] {
				u := uses[r.name.value]
				u.required = u.required || r.getter == "Require"
				if r.getter != "Require" && !slices.Contains(u.defaults, r.def.shown()) {
					u.defaults = append(u.defaults, r.def.shown())
				}
				if u.where == "" || decls[j].pkg < u.where {
					u.where = strings.TrimPrefix(decls[j].pkg, module+"/")
				}
				uses[r.name.value] = u
			}
		}
		env[fn] = uses
	}
	return env
}

func substitute(a arg, args []arg, resolve func(arg) arg) arg {
	if a.param == 0 {
		return a
	}
	if a.param > len(args) {
		return arg{text: "?"}
	}
	return resolve(args[a.param-1])
}

// reachedFrom returns the declarations that those of the package of
// decls[from] refer to, directly or not, themselves included.
func reachedFrom(decls []decl, byKey map[string][]int, from int) map[int]bool {
	reached := map[int]bool{}
	var queue []int
	for i, d := range decls {
		if d.pkg == decls[from].pkg {
			reached[i] = true
			queue = append(queue, i)
		}
	}
	for len(queue) > 0 {
		i := queue[0]
		queue = queue[1:]
		for _, r := range decls[i].refs {
			for _, j := range byKey[r] {
				if !reached[j] {
					reached[j] = true
					queue = append(queue, j)
				}
			}
		}
	}
	return reached
}

// platformVariable says whether Knative sets the variable: PORT and K_*,
// K_SINK through a SinkBinding or a ContainerSource (the sink bindings rule
// checks that one).
func platformVariable(name string) bool {
	return name == "PORT" || strings.HasPrefix(name, "K_")
}

// secretVariables are the variables that hold secrets, and the key of
// Secret ticketing each must come from.
var secretVariables = map[string]string{
	"JWT_KEY":           "jwt-key",
	"MONGODB_URI":       "mongodb-uri",
	"REDIS_URL":         "redis-url",
	"STRIPE_KEY":        "stripe-key",
	signingKeysVariable: signingKeysKey,
}

// tracingPrefix begins the variables of OpenTelemetry's SDK, which reads
// them itself rather than through internal/config.
const tracingPrefix = "OTEL_"

// environment: a function's manifest sets every variable its code
// requires, sets none that it never reads (but OpenTelemetry's), and takes
// every secret from its key of Secret ticketing. EVENT_SIGNING_KEYS has its
// own rule, signing keys.
func (c *checker) environment() {
	for _, w := range c.set.workloads() {
		if len(w.containers) == 0 {
			continue
		}
		ctr := w.containers[0]
		fn, ok := c.function(ctr.Image)
		if !ok {
			continue
		}
		reads := c.env[fn]
		for _, name := range slices.Sorted(maps.Keys(reads)) {
			if u := reads[name]; u.required && !platformVariable(name) && name != signingKeysVariable {
				if _, set := envVar(ctr, name); !set {
					c.report(w.file, w.String(), "environment", "%s requires %s (%s reads it), which the manifest does not set: the function would refuse to start; add %s",
						fn, name, u.where, envEntry(name))
				}
			}
		}
		for _, env := range ctr.Env {
			if env.Name == signingKeysVariable {
				continue
			}
			if _, read := reads[env.Name]; !read && !strings.HasPrefix(env.Name, tracingPrefix) {
				c.report(w.file, w.String(), "environment", "sets env %s, which %s never reads: drop it, or read it through internal/config", env.Name, fn)
			}
			// Another Secret, or a key it lacks, is the secrets rule's.
			key, secret := secretVariables[env.Name]
			ref := env.ValueFrom
			if secret && (ref == nil || ref.SecretKeyRef == nil || ref.SecretKeyRef.Name == secretName && ref.SecretKeyRef.Key != key) {
				c.report(w.file, w.String(), "environment", "env %s is a secret: it must come from key %s of Secret %s, not from the manifest or another key; write %s",
					env.Name, key, secretName, envEntry(env.Name))
			}
		}
	}
}

// envEntry is the env entry that sets a variable, as the manifests write it.
func envEntry(name string) string {
	if key, ok := secretVariables[name]; ok {
		return fmt.Sprintf("{name: %s, valueFrom: {secretKeyRef: {name: %s, key: %s}}}", name, secretName, key)
	}
	return fmt.Sprintf("{name: %s, value: ...}", name)
}

// Variables reads the functions of the repository rooted at fsys and
// returns the table of docs/deploy.md that lists every variable they read:
// its default, which functions read it, and where a manifest gets it.
func Variables(fsys fs.FS) (string, error) {
	module, err := modulePath(fsys)
	if err != nil {
		return "", err
	}
	functions, err := functionNames(fsys)
	if err != nil {
		return "", err
	}
	decls, err := parseDecls(fsys, module, "internal", "functions")
	if err != nil {
		return "", err
	}
	env := functionEnv(decls, module)
	readers := map[string][]string{}
	for _, fn := range functions {
		for name := range env[fn] {
			readers[name] = append(readers[name], fn)
		}
	}
	var b strings.Builder
	b.WriteString("| variable | default | read by | set by |\n|---|---|---|---|\n")
	for _, name := range slices.Sorted(maps.Keys(readers)) {
		fns := readers[name]
		defaults := map[string][]string{} // default -> functions
		required := false
		for _, fn := range fns {
			u := env[fn][name]
			required = required || u.required
			for _, d := range u.defaults {
				defaults[d] = append(defaults[d], fn)
			}
		}
		var def string
		switch {
		case required:
			def = "required"
		case len(defaults) == 1 || platformVariable(name):
			var ds []string
			for _, d := range slices.Sorted(maps.Keys(defaults)) {
				ds = append(ds, code(d))
			}
			def = strings.Join(ds, " or ")
		default:
			var parts []string
			for _, d := range slices.Sorted(maps.Keys(defaults)) {
				parts = append(parts, code(d)+" in "+strings.Join(defaults[d], ", "))
			}
			def = strings.Join(parts, "; ")
		}
		by := strings.Join(fns, ", ")
		if len(fns) == len(functions) {
			by = "every function"
		}
		set := "the manifest, where the default does not do"
		switch key, secret := secretVariables[name]; {
		case name == "K_SINK":
			set = "the SinkBinding, or the ContainerSource's sink"
		case platformVariable(name):
			set = "Knative"
		case secret:
			set = fmt.Sprintf("key `%s` of Secret %s", key, secretName)
		case required:
			set = "the manifest"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", name, def, by, set)
	}
	return b.String(), nil
}

func code(s string) string {
	if s == "" {
		return "empty"
	}
	return "`" + s + "`"
}

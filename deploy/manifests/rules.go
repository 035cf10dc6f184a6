package manifests

import (
	"fmt"
	"io/fs"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	duckv1 "knative.dev/pkg/apis/duck/v1"
)

// The facts of the project that the rules hold the manifests to.
const (
	namespace   = "ticketing"      // where docs/deploy.md applies everything; the routes' hostnames carry it
	secretName  = "ticketing"      // the one Secret docs/deploy.md has operators create
	brokerClass = "RabbitMQBroker" // eventing-rabbitmq's Broker class
	minScaleKey = "autoscaling.knative.dev/min-scale"
	koPrefix    = "ko://"
)

// secretKeys are the keys of Secret ticketing, as docs/deploy.md creates it.
var secretKeys = []string{"jwt-key", "mongodb-uri", "redis-url", "stripe-key", signingKeysKey}

// The event signing keys: the variable events.KeysFromEnv reads, and the
// key of Secret ticketing it must come from.
const (
	signingKeysVariable = "EVENT_SIGNING_KEYS"
	signingKeysKey      = "event-signing-keys"
)

// alwaysOn are the functions that run as a ContainerSource, which never
// scales to zero, instead of as a Service, and why.
var alwaysOn = map[string]string{
	"expiry-source": "it holds a Redis subscription to expired-key notifications, and nothing would wake it to receive them",
}

// checker collects the problems of one run of the rules.
type checker struct {
	set        *Set
	module     string
	functions  []string                  // the directories of functions/
	publishers map[string]bool           // the functions whose code publishes events
	keyHolders map[string]bool           // the functions whose code signs or verifies events
	env        map[string]map[string]use // the variables each function's code reads
	catalogue  catalogue
	problems   []Problem
}

func (c *checker) report(file, object, rule, format string, args ...any) {
	c.problems = append(c.problems, Problem{File: file, Object: object, Rule: rule, Detail: fmt.Sprintf(format, args...)})
}

// checkRules holds the manifests to the project's rules, reading from the
// repository the functions, their source and the routes of API.md.
func checkRules(fsys fs.FS, set *Set) []Problem {
	c := &checker{set: set}
	var err error
	if c.module, err = modulePath(fsys); err != nil {
		c.report("go.mod", "", "layout", "%v", err)
		return c.problems
	}
	if c.functions, err = functionNames(fsys); err != nil {
		c.report("functions/", "", "layout", "%v", err)
		return c.problems
	}
	decls, err := parseDecls(fsys, c.module, "internal", "functions")
	if err != nil {
		c.report("functions/", "", "layout", "reading the functions' source: %v", err)
		return c.problems
	}
	c.publishers = reaching(decls, c.module, publisherFromEnv)
	c.keyHolders = reaching(decls, c.module, keysFromEnv)
	c.env = functionEnv(decls, c.module)
	if c.catalogue, err = readCatalogue(fsys); err != nil {
		c.report(catalogueDir+"/", "", "event catalogue", "%v", err)
		return c.problems
	}
	c.emitters()
	c.uniqueNames()
	c.namespaces()
	c.workloads()
	c.shutdown()
	c.secrets()
	c.environment()
	c.brokers()
	c.triggers()
	c.sources()
	c.sinkBindings()
	c.signingKeys()
	c.networkPolicies()
	if md, err := fs.ReadFile(fsys, APIFile); err != nil {
		c.report(APIFile, "", "routes of API.md", "%v", err)
	} else if routes, err := apiRoutes(md); err != nil {
		c.report(APIFile, "", "routes of API.md", "%v", err)
	} else {
		c.routes(routes)
	}
	c.referenceGrants()
	return c.problems
}

// meta is any object of the set, for the rules that apply to all of them.
type meta struct {
	file, kind string
	obj        metav1.Object
}

func (m meta) String() string { return m.kind + " " + m.obj.GetName() }

func metas[T metav1.Object](list []meta, objs []Object[T]) []meta {
	for _, o := range objs {
		list = append(list, meta{o.File, o.Kind, o.Value})
	}
	return list
}

func (set *Set) all() []meta {
	var list []meta
	list = metas(list, set.Services)
	list = metas(list, set.Brokers)
	list = metas(list, set.BrokerConfigs)
	list = metas(list, set.Triggers)
	list = metas(list, set.SinkBindings)
	list = metas(list, set.PingSources)
	list = metas(list, set.ContainerSources)
	list = metas(list, set.NetworkPolicies)
	return metas(list, set.HTTPRoutes)
}

// uniqueNames: two objects of one kind and name are one object to
// `kubectl apply`, which would apply the second over the first.
func (c *checker) uniqueNames() {
	seen := map[string]string{}
	for _, m := range c.set.all() {
		if first, ok := seen[m.String()]; ok {
			c.report(m.file, m.String(), "unique names", "the same kind and name as in %s: kubectl apply would make them one object", first)
			continue
		}
		seen[m.String()] = m.file
	}
}

// namespaces: everything is applied to one namespace, which the HTTPRoute's
// hostname rewrites name; a manifest names none, or that one.
func (c *checker) namespaces() {
	for _, m := range c.set.all() {
		if ns := m.obj.GetNamespace(); ns != "" && ns != namespace {
			c.report(m.file, m.String(), "namespace", "is in namespace %s; everything goes to namespace %s (leave it out and apply with -n %s)", ns, namespace, namespace)
		}
	}
}

// function returns the function a ko:// image builds, if it is one.
func (c *checker) function(image string) (string, bool) {
	name, ok := strings.CutPrefix(image, koPrefix+c.module+"/functions/")
	if !ok || strings.Contains(name, "/") || !slices.Contains(c.functions, name) {
		return "", false
	}
	return name, true
}

// exists says whether the set has an object of kind and name.
func (set *Set) exists(kind, name string) bool {
	for _, m := range set.all() {
		if m.kind == kind && m.obj.GetName() == name {
			return true
		}
	}
	return false
}

// kinds of destination, with the apiVersion a reference to them must carry.
var apiVersions = map[string]string{
	"Service": "serving.knative.dev/v1",
	"Broker":  "eventing.knative.dev/v1",
}

// destination checks that d, at field of object, refers to an object of
// the manifests of one of kinds (a URI would bypass the checks, and a
// reference to nothing leaves the object never Ready).
func (c *checker) destination(file, object, field string, d *duckv1.Destination, kinds ...string) {
	switch {
	case d == nil || (d.Ref == nil && d.URI == nil):
		c.report(file, object, "references", "%s is missing", field)
	case d.Ref == nil:
		c.report(file, object, "references", "%s is the URI %s; refer to a %s of the manifests instead", field, d.URI, strings.Join(kinds, " or "))
	case !slices.Contains(kinds, d.Ref.Kind) || d.Ref.APIVersion != apiVersions[d.Ref.Kind]:
		c.report(file, object, "references", "%s refers to a %s of %s; it must be a %s", field, d.Ref.Kind, d.Ref.APIVersion, strings.Join(kinds, " or "))
	case !c.set.exists(d.Ref.Kind, d.Ref.Name):
		c.report(file, object, "references", "%s refers to %s %s, which is in none of the manifests", field, d.Ref.Kind, d.Ref.Name)
	}
}

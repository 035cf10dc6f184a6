package manifests

import (
	"fmt"
	"regexp"
	"strings"

	"knative.dev/pkg/apis"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Gateway API has no Go validation for an HTTPRoute: the API server checks
// it against the OpenAPI schema and CEL rules of its CRD
// (config/crd/standard/gateway.networking.k8s.io_httproutes.yaml of
// sigs.k8s.io/gateway-api v1.6.3). validateHTTPRoute holds a route to the
// rules of that schema that a route to functions can break; the one most
// likely to bite is the limit of 16 rules per HTTPRoute.
func validateHTTPRoute(r *gatewayv1.HTTPRoute) *apis.FieldError {
	var errs *apis.FieldError
	rules := r.Spec.Rules
	if len(rules) == 0 {
		errs = errs.Also(apis.ErrMissingField("spec.rules"))
	}
	if len(rules) > 16 {
		errs = errs.Also(apis.ErrGeneric(fmt.Sprintf("%d rules, the CRD allows at most 16: split the routes over two HTTPRoutes", len(rules)), "spec.rules"))
	}
	matches := 0
	for i, rule := range rules {
		matches += len(rule.Matches)
		errs = errs.Also(validateRule(rule).ViaFieldIndex("spec.rules", i))
	}
	if matches > 128 {
		errs = errs.Also(apis.ErrGeneric(fmt.Sprintf("%d matches in all, the CRD allows at most 128", matches), "spec.rules"))
	}
	return errs
}

var (
	// validPath is the CRD's pattern for Exact and PathPrefix values.
	validPath = regexp.MustCompile(`^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$`)
	// preciseHostname is the CRD's pattern for a URLRewrite hostname.
	preciseHostname = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
)

func validateRule(rule gatewayv1.HTTPRouteRule) *apis.FieldError {
	var errs *apis.FieldError
	if len(rule.Matches) > 64 {
		errs = errs.Also(apis.ErrGeneric("more than 64 matches", "matches"))
	}
	for i, m := range rule.Matches {
		errs = errs.Also(validateMatch(m).ViaFieldIndex("matches", i))
	}
	if len(rule.Filters) > 16 {
		errs = errs.Also(apis.ErrGeneric("more than 16 filters", "filters"))
	}
	for i, f := range rule.Filters {
		if f.Type == gatewayv1.HTTPRouteFilterURLRewrite && f.URLRewrite == nil {
			errs = errs.Also(apis.ErrMissingField("urlRewrite").ViaFieldIndex("filters", i))
		}
		if f.URLRewrite != nil && f.Type != gatewayv1.HTTPRouteFilterURLRewrite {
			errs = errs.Also(apis.ErrDisallowedFields("urlRewrite").ViaFieldIndex("filters", i))
		}
		if f.URLRewrite != nil && f.URLRewrite.Hostname != nil && !preciseHostname.MatchString(string(*f.URLRewrite.Hostname)) {
			errs = errs.Also(apis.ErrInvalidValue(*f.URLRewrite.Hostname, "urlRewrite.hostname").ViaFieldIndex("filters", i))
		}
	}
	if len(rule.BackendRefs) > 16 {
		errs = errs.Also(apis.ErrGeneric("more than 16 backendRefs", "backendRefs"))
	}
	for i, b := range rule.BackendRefs {
		if isCoreService(b.BackendObjectReference) && b.Port == nil {
			errs = errs.Also(apis.ErrMissingField("port").ViaFieldIndex("backendRefs", i))
		}
	}
	return errs
}

func validateMatch(m gatewayv1.HTTPRouteMatch) *apis.FieldError {
	var errs *apis.FieldError
	if m.Method != nil {
		switch *m.Method {
		case gatewayv1.HTTPMethodGet, gatewayv1.HTTPMethodHead, gatewayv1.HTTPMethodPost,
			gatewayv1.HTTPMethodPut, gatewayv1.HTTPMethodDelete, gatewayv1.HTTPMethodConnect,
			gatewayv1.HTTPMethodOptions, gatewayv1.HTTPMethodTrace, gatewayv1.HTTPMethodPatch:
		default:
			errs = errs.Also(apis.ErrInvalidValue(*m.Method, "method"))
		}
	}
	if m.Path == nil || m.Path.Value == nil {
		return errs
	}
	value := *m.Path.Value
	switch pathType(m.Path) {
	case gatewayv1.PathMatchExact, gatewayv1.PathMatchPathPrefix:
		if !strings.HasPrefix(value, "/") || strings.Contains(value, "//") || !validPath.MatchString(value) {
			errs = errs.Also(apis.ErrInvalidValue(value, "path.value", "an absolute path of valid characters, without //"))
		}
	case gatewayv1.PathMatchRegularExpression:
	default:
		errs = errs.Also(apis.ErrInvalidValue(*m.Path.Type, "path.type", "Exact, PathPrefix or RegularExpression"))
	}
	return errs
}

// pathType is a path match's type, PathPrefix when it is not given, as the
// CRD defaults it.
func pathType(p *gatewayv1.HTTPPathMatch) gatewayv1.PathMatchType {
	if p.Type == nil {
		return gatewayv1.PathMatchPathPrefix
	}
	return *p.Type
}

// isCoreService says whether a backend is a Kubernetes Service, the kind a
// backendRef names when it gives none.
func isCoreService(ref gatewayv1.BackendObjectReference) bool {
	return (ref.Group == nil || *ref.Group == "") && (ref.Kind == nil || *ref.Kind == "Service")
}

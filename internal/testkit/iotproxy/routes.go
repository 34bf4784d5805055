package iotproxy

import (
	"net/http"
	"strings"
)

// Other is the operation name of requests the proxy does not recognise.
const Other = "Other"

// route is one restJson1 operation of the IoT control plane, as the AWS
// SDK for Go v2 serializes it (service/iot serializers.go).
type route struct {
	method string
	path   string // with {label} segments
	op     string
}

var routes = []route{
	{"POST", "/certificate/register-no-ca", "RegisterCertificateWithoutCA"},
	{"POST", "/certificate/register", "RegisterCertificate"},
	{"GET", "/certificates", "ListCertificates"},
	{"GET", "/certificates/{certificateId}", "DescribeCertificate"},
	{"PUT", "/certificates/{certificateId}", "UpdateCertificate"},
	{"DELETE", "/certificates/{certificateId}", "DeleteCertificate"},
	{"GET", "/things", "ListThings"},
	{"POST", "/things/{thingName}", "CreateThing"},
	{"GET", "/things/{thingName}", "DescribeThing"},
	{"PATCH", "/things/{thingName}", "UpdateThing"},
	{"DELETE", "/things/{thingName}", "DeleteThing"},
	{"PUT", "/things/{thingName}/principals", "AttachThingPrincipal"},
	{"GET", "/things/{thingName}/principals", "ListThingPrincipals"},
	{"DELETE", "/things/{thingName}/principals", "DetachThingPrincipal"},
	{"GET", "/things/{thingName}/principals-v2", "ListThingPrincipalsV2"},
	{"GET", "/things/{thingName}/thing-groups", "ListThingGroupsForThing"},
	{"GET", "/principals/things", "ListPrincipalThings"},
	{"PUT", "/target-policies/{policyName}", "AttachPolicy"},
	{"POST", "/target-policies/{policyName}", "DetachPolicy"},
	{"POST", "/attached-policies/{target}", "ListAttachedPolicies"},
	{"POST", "/policy-targets/{policyName}", "ListTargetsForPolicy"},
	{"GET", "/policies", "ListPolicies"},
	{"GET", "/policies/{policyName}", "GetPolicy"},
	{"POST", "/policies/{policyName}", "CreatePolicy"},
	{"DELETE", "/policies/{policyName}", "DeletePolicy"},
	{"PUT", "/principal-policies/{policyName}", "AttachPrincipalPolicy"},
	{"GET", "/principal-policies", "ListPrincipalPolicies"},
	{"PUT", "/thing-groups/addThingToThingGroup", "AddThingToThingGroup"},
	{"PUT", "/thing-groups/removeThingFromThingGroup", "RemoveThingFromThingGroup"},
	{"GET", "/thing-groups", "ListThingGroups"},
	{"GET", "/thing-groups/{thingGroupName}", "DescribeThingGroup"},
	{"POST", "/thing-groups/{thingGroupName}", "CreateThingGroup"},
	{"PATCH", "/thing-groups/{thingGroupName}", "UpdateThingGroup"},
	{"DELETE", "/thing-groups/{thingGroupName}", "DeleteThingGroup"},
	{"GET", "/thing-groups/{thingGroupName}/things", "ListThingsInThingGroup"},
	{"GET", "/thing-types", "ListThingTypes"},
	{"GET", "/thing-types/{thingTypeName}", "DescribeThingType"},
	{"POST", "/thing-types/{thingTypeName}", "CreateThingType"},
	{"DELETE", "/thing-types/{thingTypeName}", "DeleteThingType"},
	{"GET", "/endpoint", "DescribeEndpoint"},
}

type compiledRoute struct {
	method   string
	segs     []string // "" stands for a {label}
	literals int
	op       string
}

var compiled = func() []compiledRoute {
	out := make([]compiledRoute, 0, len(routes))
	for _, r := range routes {
		c := compiledRoute{method: r.method, op: r.op}
		for _, s := range strings.Split(strings.TrimPrefix(r.path, "/"), "/") {
			if strings.HasPrefix(s, "{") {
				s = ""
			} else {
				c.literals++
			}
			c.segs = append(c.segs, s)
		}
		out = append(out, c)
	}
	return out
}()

// Operations lists the operation names the proxy recognises.
func Operations() []string {
	out := make([]string, len(routes))
	for i, r := range routes {
		out[i] = r.op
	}
	return out
}

// Operation names the IoT operation of r, or Other. A request signed for
// another service (the SigV4 credential scope names it) is Other even if
// its path looks like IoT's.
func Operation(r *http.Request) string {
	if svc := signingService(r.Header.Get("Authorization")); svc != "" && svc != "iot" {
		return Other
	}
	return operation(r.Method, r.URL.EscapedPath())
}

func operation(method, escapedPath string) string {
	// Split the escaped path, so that an ARN label (…%2F…) stays one segment.
	p := strings.TrimSuffix(strings.TrimPrefix(escapedPath, "/"), "/")
	segs := strings.Split(p, "/")
	best, bestLiterals := Other, -1
	for _, c := range compiled {
		if c.method != method || len(c.segs) != len(segs) || c.literals <= bestLiterals {
			continue
		}
		ok := true
		for i, s := range c.segs {
			if s == "" && segs[i] == "" || s != "" && s != segs[i] {
				ok = false
				break
			}
		}
		if ok {
			best, bestLiterals = c.op, c.literals
		}
	}
	return best
}

// signingService returns the service of a SigV4 Authorization header
// ("AWS4-HMAC-SHA256 Credential=AKID/date/region/service/aws4_request,
// ..."), or "" if there is none.
func signingService(auth string) string {
	_, after, ok := strings.Cut(auth, "Credential=")
	if !ok {
		return ""
	}
	scope, _, _ := strings.Cut(after, ",")
	parts := strings.Split(strings.TrimSpace(scope), "/")
	if len(parts) != 5 {
		return ""
	}
	return parts[3]
}

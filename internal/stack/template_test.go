package stack

// These tests read template.yaml (the SAM template at the root of the
// repository) and check that it wires what the functions read: the
// environment variables of contract.go, the bucket name and its event
// filters, the import queue's event source, the queues' redrive and
// visibility, the parameters of the documented deploy command, the least
// privilege of the roles; and they run cfn-lint on it. Nothing here needs an
// AWS account.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// documentedCommand is the deploy command of the issue and of
// docs/deployment.md, which must work as written.
const documentedCommand = "sam deploy --stack-name thingpress-infineon --parameter-overrides PolicyName=<policy> ThingGroupName=<group> ThingTypeName=<type> S3BucketName=<deployment-bucket> Region=<region> RoleArn=<role-arn> CertificateType=<E0E0|E0E1|E0E2>"

// emfMetrics are the embedded-metric-format metrics the functions emit and
// the dashboard shows.
var emfMetrics = []string{
	"DevicesValid", "DevicesInvalid", "MessagesSent",
	"DevicesImported", "DevicesExisting", "DevicesFailed", "ThrottledRetries",
	MetricResultValid, MetricResultEnded, MetricResultFailed,
}

// Environment variables each function must be given.
var (
	providerEnv = []string{
		EnvImportQueueURL, EnvPolicyNames, EnvThingType, EnvThingGroups,
		EnvCertificateType, EnvDevicesPerMessage, EnvSummaryPrefix,
		EnvMaxManifestBytes, EnvMetricsNamespace,
		EnvInfineonBucket, EnvMicrochipBucket, EnvEspressifBucket, EnvGeneratedBucket, EnvNoVerifyChain, EnvResultsTable, EnvResultsTopicARN,
	}
	importerEnv = []string{
		EnvImportQueueURL, EnvPolicyNames, EnvThingType, EnvThingGroups,
		EnvQuotaRegister, EnvQuotaAttachPolicy, EnvImporterConcurrency,
		EnvMetricsNamespace, EnvSummaryPrefix, EnvResultsTable, EnvResultsTopicARN,
	}
)

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// tmpl is template.yaml decoded into maps, slices and scalars, with the
// short-form tags expanded to their long form (!Ref x -> {"Ref": x},
// !GetAtt a.b -> {"Fn::GetAtt": [a, b]}, !Sub s -> {"Fn::Sub": s}, ...).
type tmpl map[string]any

func loadTemplate(t *testing.T) tmpl {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("template.yaml: %v", err)
	}
	v, err := fromNode(&doc)
	if err != nil {
		t.Fatalf("template.yaml: %v", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("template.yaml is not a mapping")
	}
	return m
}

// fromNode converts a YAML node, expanding CloudFormation's short-form tags.
func fromNode(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return nil, fmt.Errorf("line %d: want one document", n.Line)
		}
		return fromNode(n.Content[0])
	case yaml.AliasNode:
		return fromNode(n.Alias)
	}
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		name := n.Tag[1:]
		plain := *n
		plain.Tag = ""
		if n.Kind == yaml.ScalarNode {
			plain.Tag = "!!str"
		}
		inner, err := fromNode(&plain)
		if err != nil {
			return nil, err
		}
		switch name {
		case "Ref", "Condition":
			return map[string]any{name: inner}, nil
		case "GetAtt":
			if s, ok := inner.(string); ok {
				res, attr, found := strings.Cut(s, ".")
				if !found {
					return nil, fmt.Errorf("line %d: !GetAtt %q has no attribute", n.Line, s)
				}
				inner = []any{res, attr}
			}
			return map[string]any{"Fn::GetAtt": inner}, nil
		default:
			return map[string]any{"Fn::" + name: inner}, nil
		}
	}
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if _, dup := m[k]; dup {
				return nil, fmt.Errorf("line %d: duplicate key %q", n.Content[i].Line, k)
			}
			v, err := fromNode(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[k] = v
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := fromNode(c)
			if err != nil {
				return nil, err
			}
			s = append(s, v)
		}
		return s, nil
	case yaml.ScalarNode:
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		return v, nil
	}
	return nil, fmt.Errorf("line %d: unexpected node kind %v", n.Line, n.Kind)
}

func mapAt(t *testing.T, v any, path ...string) map[string]any {
	t.Helper()
	got := at(v, path...)
	m, ok := got.(map[string]any)
	if !ok {
		t.Fatalf("%s: want a mapping, have %#v", strings.Join(path, "."), got)
	}
	return m
}

func at(v any, path ...string) any {
	if tm, ok := v.(tmpl); ok {
		v = map[string]any(tm)
	}
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func (tp tmpl) resource(t *testing.T, id, typ string) map[string]any {
	t.Helper()
	r := mapAt(t, tp, "Resources", id)
	if r["Type"] != typ {
		t.Fatalf("resource %s: Type %v, want %s", id, r["Type"], typ)
	}
	return r
}

// prop is a property of a resource, falling back to Globals for functions.
func (tp tmpl) prop(id string, path ...string) any {
	r := at(tp, "Resources", id)
	if v := at(r, append([]string{"Properties"}, path...)...); v != nil {
		return v
	}
	if at(r, "Type") == "AWS::Serverless::Function" {
		return at(tp, append([]string{"Globals", "Function"}, path...)...)
	}
	return nil
}

// number is a literal number, or a Ref to a parameter's default.
func (tp tmpl) number(t *testing.T, v any) int {
	t.Helper()
	if r, ok := at(v, "Ref").(string); ok {
		v = at(tp, "Parameters", r, "Default")
	}
	switch x := v.(type) {
	case int:
		return x
	case string:
		n, err := strconv.Atoi(x)
		if err == nil {
			return n
		}
	}
	t.Fatalf("want a number, have %#v", v)
	return 0
}

// resolve evaluates what can be known before deployment: literals,
// Fn::FindInMap with literal keys, and Fn::Sub whose variables are given in
// its own map (other ${...} are left as they are).
func (tp tmpl) resolve(t *testing.T, v any) any {
	t.Helper()
	if args, ok := at(v, "Fn::FindInMap").([]any); ok && len(args) == 3 {
		keys := make([]string, 3)
		for i, a := range args {
			s, ok := tp.resolve(t, a).(string)
			if !ok {
				t.Fatalf("Fn::FindInMap key %#v is not literal", a)
			}
			keys[i] = s
		}
		return at(tp, "Mappings", keys[0], keys[1], keys[2])
	}
	if sub := at(v, "Fn::Sub"); sub != nil {
		if s, ok := sub.(string); ok {
			return s
		}
		args, ok := sub.([]any)
		if !ok || len(args) != 2 {
			t.Fatalf("Fn::Sub: %#v", sub)
		}
		s, _ := args[0].(string)
		vars, _ := args[1].(map[string]any)
		for name, val := range vars {
			r, ok := tp.resolve(t, val).(string)
			if !ok {
				continue
			}
			s = strings.ReplaceAll(s, "${"+name+"}", r)
		}
		return s
	}
	return v
}

// envConstants are the Env* constants of this package (all files), by value.
func envConstants(t *testing.T) map[string]string {
	t.Helper()
	fset := token.NewFileSet()
	paths, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	consts := map[string]string{}
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, s := range g.Specs {
				vs := s.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if !strings.HasPrefix(name.Name, "Env") || i >= len(vs.Values) {
						continue
					}
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						continue
					}
					val, err := strconv.Unquote(lit.Value)
					if err != nil {
						t.Fatal(err)
					}
					consts[val] = name.Name
				}
			}
		}
	}
	if len(consts) == 0 {
		t.Fatal("no Env* constants found in package stack")
	}
	return consts
}

func TestTemplateEnvironmentIsTheContract(t *testing.T) {
	tp := loadTemplate(t)
	known := envConstants(t)
	if g := at(tp, "Globals", "Function", "Environment"); g != nil {
		t.Errorf("Globals.Function.Environment is set; give each function its variables instead")
	}
	for id, need := range map[string][]string{"ProviderFunction": providerEnv, "ImporterFunction": importerEnv} {
		tp.resource(t, id, "AWS::Serverless::Function")
		vars := mapAt(t, tp, "Resources", id, "Properties", "Environment", "Variables")
		for name := range vars {
			if _, ok := known[name]; !ok {
				t.Errorf("%s: environment variable %s is not one of the Env* constants of internal/stack", id, name)
			}
		}
		for _, name := range need {
			if _, ok := vars[name]; !ok {
				t.Errorf("%s: environment variable %s (%s) is missing", id, name, known[name])
			}
		}
	}

	// Where each variable's value comes from.
	refs := map[string]string{
		EnvImportQueueURL:      "ImportQueue",
		EnvPolicyNames:         "PolicyName",
		EnvThingType:           "ThingTypeName",
		EnvThingGroups:         "ThingGroupName",
		EnvCertificateType:     "CertificateType",
		EnvQuotaRegister:       "QuotaRegisterTps",
		EnvQuotaAttachPolicy:   "QuotaAttachPolicyTps",
		EnvImporterConcurrency: "ImporterMaxConcurrency",
		EnvDevicesPerMessage:   "DevicesPerMessage",
		EnvResultsTable:        LogicalResultsTable,
		EnvResultsTopicARN:     ParamResultsTopicARN, // thingpress retry reads it too
	}
	literals := map[string]string{
		EnvSummaryPrefix:    DefaultSummaryPrefix,
		EnvMetricsNamespace: DefaultMetricsNamespace,
		EnvMaxManifestBytes: strconv.Itoa(DefaultMaxManifestBytes),
	}
	for _, id := range []string{"ProviderFunction", "ImporterFunction"} {
		vars := mapAt(t, tp, "Resources", id, "Properties", "Environment", "Variables")
		for name, v := range vars {
			if want, ok := refs[name]; ok {
				if !reflect.DeepEqual(v, map[string]any{"Ref": want}) {
					t.Errorf("%s: %s = %#v, want !Ref %s", id, name, v, want)
				}
			}
			if want, ok := literals[name]; ok {
				if got := fmt.Sprint(tp.resolve(t, v)); got != want {
					t.Errorf("%s: %s = %q, want %q", id, name, got, want)
				}
			}
		}
	}

	// The provider keeps the whole manifest in its ephemeral storage.
	mb := tp.number(t, tp.prop("ProviderFunction", "EphemeralStorage", "Size"))
	if limit := DefaultMaxManifestBytes; limit > mb<<20 {
		t.Errorf("MAX_MANIFEST_BYTES %d does not fit the provider's ephemeral storage (%d MB)", limit, mb)
	}

	// Defaults the functions assume when a variable is unset.
	for param, want := range map[string]int{
		"DevicesPerMessage":      DefaultDevicesPerMessage,
		"QuotaRegisterTps":       10,
		"QuotaAttachPolicyTps":   15,
		"ImporterMaxConcurrency": 2,
	} {
		if got := at(tp, "Parameters", param, "Default"); got != want {
			t.Errorf("parameter %s: Default %v, want %d", param, got, want)
		}
	}
	if got := at(tp, "Parameters", "ImporterMaxConcurrency", "MinValue"); got != 2 {
		t.Errorf("ImporterMaxConcurrency MinValue %v, want 2 (Lambda's minimum for MaximumConcurrency)", got)
	}
}

func TestTemplateParametersOfTheDocumentedCommand(t *testing.T) {
	tp := loadTemplate(t)
	params := mapAt(t, tp, "Parameters")

	var named []string
	for _, f := range strings.Fields(documentedCommand) {
		if k, _, ok := strings.Cut(f, "="); ok && !strings.HasPrefix(f, "-") {
			named = append(named, k)
		}
	}
	if want := []string{"PolicyName", "ThingGroupName", "ThingTypeName", "S3BucketName", "Region", "RoleArn", "CertificateType"}; !slices.Equal(named, want) {
		t.Fatalf("documented command names %v, want %v", named, want)
	}
	for _, k := range named {
		if _, ok := params[k]; !ok {
			t.Errorf("parameter %s of the documented command is not in the template", k)
		}
	}
	// Every parameter the command does not name has a default.
	for k, p := range params {
		if !slices.Contains(named, k) && at(p, "Default") == nil {
			t.Errorf("parameter %s is not in the documented command and has no Default", k)
		}
	}

	// The guide shows the command as it is.
	doc, err := os.ReadFile(filepath.Join(repoRoot(t), "docs", "deployment.md"))
	if err != nil {
		t.Fatal(err)
	}
	flat := strings.Join(strings.Fields(strings.ReplaceAll(string(doc), "\\\n", " ")), " ")
	if !strings.Contains(flat, documentedCommand) {
		t.Errorf("docs/deployment.md does not show the documented command:\n%s", documentedCommand)
	}

	required := map[string]bool{"PolicyName": true, "S3BucketName": true, "Region": true}
	for k := range required {
		if d, ok := params[k].(map[string]any)["Default"]; ok {
			t.Errorf("parameter %s is required but has Default %#v", k, d)
		}
	}
	for _, k := range []string{"ThingGroupName", "ThingTypeName", "RoleArn"} {
		if d := at(params, k, "Default"); d != "" {
			t.Errorf("parameter %s: Default %#v, want \"\" (none)", k, d)
		}
	}
	if got := at(params, "CertificateType", "AllowedValues"); !reflect.DeepEqual(got, []any{"E0E0", "E0E1", "E0E2"}) {
		t.Errorf("CertificateType AllowedValues %v, want [E0E0 E0E1 E0E2]", got)
	}
	if got := at(params, "CertificateType", "Default"); got != "E0E0" {
		t.Errorf("CertificateType Default %v, want E0E0", got)
	}

	// The patterns accept what they must and refuse what they must.
	for _, c := range []struct {
		param string
		ok    []string
		bad   []string
	}{
		{"PolicyName", []string{"ThingpressDevices", "fleet.policy@v2", "a_b-c+d=e,f"}, []string{"", "bad policy", "a/b", "x*"}},
		{"ThingGroupName", []string{"", "reel-2026:lot_7"}, []string{"a group", "g/1"}},
		{"ThingTypeName", []string{"", "OptigaTrustM"}, []string{"type one", "t.1"}},
		{"RoleArn", []string{"", "arn:aws:iam::123456789012:role/thingpress", "arn:aws-cn:iam::123456789012:role/path/r"}, []string{"thingpress", "arn:aws:iam::123:role/x", "arn:aws:iam::123456789012:user/x"}},
		{"Region", []string{"eu-central-1", "us-east-1", "us-gov-west-1", "ap-southeast-5"}, []string{"", "EU-CENTRAL-1", "eu-central"}},
		{"S3BucketName", []string{"my-artifacts", "acme.deploy.eu"}, []string{"", "My_Bucket", "-x-"}},
	} {
		pat, _ := at(params, c.param, "AllowedPattern").(string)
		if pat == "" {
			t.Errorf("parameter %s has no AllowedPattern", c.param)
			continue
		}
		// CloudFormation matches the whole value.
		re, err := regexp.Compile("^(?:" + pat + ")$")
		if err != nil {
			t.Errorf("parameter %s: AllowedPattern %q: %v", c.param, pat, err)
			continue
		}
		for _, s := range c.ok {
			if !re.MatchString(s) {
				t.Errorf("parameter %s: AllowedPattern %q refuses %q", c.param, pat, s)
			}
		}
		for _, s := range c.bad {
			if re.MatchString(s) {
				t.Errorf("parameter %s: AllowedPattern %q accepts %q", c.param, pat, s)
			}
		}
	}
}

func TestTemplateRegionRule(t *testing.T) {
	tp := loadTemplate(t)
	rules := mapAt(t, tp, "Rules")
	want := []any{map[string]any{"Ref": "Region"}, map[string]any{"Ref": "AWS::Region"}}
	found := false
	for _, r := range rules {
		as, _ := at(r, "Assertions").([]any)
		for _, a := range as {
			eq, _ := at(a, "Assert", "Fn::Equals").([]any)
			if len(eq) == 2 && (reflect.DeepEqual(eq, want) || reflect.DeepEqual(eq, []any{want[1], want[0]})) {
				found = true
				if at(a, "AssertDescription") == nil {
					t.Errorf("the Region assertion has no AssertDescription")
				}
			}
		}
	}
	if !found {
		t.Errorf("no rule asserts Region = AWS::Region")
	}
}

func TestTemplateUploadBucket(t *testing.T) {
	tp := loadTemplate(t)
	var buckets, want []string
	for id, r := range mapAt(t, tp, "Resources") {
		if at(r, "Type") == "AWS::S3::Bucket" {
			buckets = append(buckets, id)
		}
	}
	for _, b := range Buckets {
		want = append(want, b.Logical)
	}
	sort.Strings(buckets)
	sort.Strings(want)
	if !slices.Equal(buckets, want) {
		t.Fatalf("S3 buckets %v, want exactly %v", buckets, want)
	}
	if Buckets[0].Logical != "UploadBucket" || Buckets[0].Suffix != BucketSuffix {
		t.Errorf("the Infineon bucket is %+v, want UploadBucket named <stack>%s", Buckets[0], BucketSuffix)
	}
	perms := map[string]string{} // invoke permission by the bucket ARN it names
	for id, r := range mapAt(t, tp, "Resources") {
		if at(r, "Type") == "AWS::Lambda::Permission" && at(r, "Properties", "Principal") == "s3.amazonaws.com" {
			perms[fmt.Sprint(tp.resolve(t, at(r, "Properties", "SourceArn")))] = id
		}
	}
	if len(perms) != len(Buckets) {
		t.Errorf("S3 invoke permissions for %v, want one per bucket", perms)
	}
	for _, bk := range Buckets {
		t.Run(string(bk.Vendor), func(t *testing.T) {
			checkBucket(t, tp, bk, perms)
		})
	}
	if props := at(tp, "Resources", "ProviderFunction", "Properties", "Events"); props != nil {
		for name, e := range props.(map[string]any) {
			if at(e, "Type") == "S3" {
				t.Errorf("ProviderFunction event %s: the buckets' NotificationConfiguration already triggers the provider", name)
			}
		}
	}

	// The provider is told each bucket's name, built as the bucket's.
	vars := mapAt(t, tp, "Resources", "ProviderFunction", "Properties", "Environment", "Variables")
	for _, bk := range Buckets {
		if got := vars[bk.Env]; !reflect.DeepEqual(got, map[string]any{"Fn::Sub": "${AWS::StackName}" + bk.Suffix}) {
			t.Errorf("ProviderFunction %s = %#v, want !Sub ${AWS::StackName}%s", bk.Env, got, bk.Suffix)
		}
	}
	if got := vars[EnvNoVerifyChain]; !reflect.DeepEqual(got, map[string]any{"Ref": "NoVerifyChain"}) {
		t.Errorf("ProviderFunction %s = %#v, want !Ref NoVerifyChain", EnvNoVerifyChain, got)
	}
	if got := at(tp, "Parameters", "NoVerifyChain"); at(got, "Default") != "false" || !reflect.DeepEqual(at(got, "AllowedValues"), []any{"false", "true"}) {
		t.Errorf("parameter NoVerifyChain %#v, want false or true, default false", got)
	}

	// No circle: what a bucket depends on names it by its known name,
	// never by !Ref or !GetAtt.
	for _, id := range []string{"ProviderFunction", "ProviderRole", "ImporterFunction", "ImporterRole"} {
		for _, bk := range Buckets {
			if refersTo(at(tp, "Resources", id), bk.Logical) {
				t.Errorf("%s refers to %s with !Ref/!GetAtt/${}: circular dependency with the bucket's notification", id, bk.Logical)
			}
		}
	}
	for _, perm := range perms {
		for _, bk := range Buckets {
			if refersTo(at(tp, "Resources", perm), bk.Logical) {
				t.Errorf("%s refers to %s: circular dependency with the bucket's notification", perm, bk.Logical)
			}
		}
	}
}

// checkBucket checks one vendor's bucket: its name, encryption, public
// access block, ownership, versioning, lifecycle, TLS-only policy, and the
// notifications that start the provider for its manifests and nothing
// else.
func checkBucket(t *testing.T, tp tmpl, bk Bucket, perms map[string]string) {
	b := tp.resource(t, bk.Logical, "AWS::S3::Bucket")
	if got := at(b, "Properties", "BucketName"); !reflect.DeepEqual(got, map[string]any{"Fn::Sub": "${AWS::StackName}" + bk.Suffix}) {
		t.Errorf("BucketName %#v, want !Sub ${AWS::StackName}%s", got, bk.Suffix)
	}
	sse, _ := at(b, "Properties", "BucketEncryption", "ServerSideEncryptionConfiguration").([]any)
	if len(sse) == 0 || !slices.Contains([]any{"AES256", "aws:kms", "aws:kms:dsse"}, at(sse[0], "ServerSideEncryptionByDefault", "SSEAlgorithm")) {
		t.Errorf("bucket encryption %#v", sse)
	}
	for _, k := range []string{"BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"} {
		if at(b, "Properties", "PublicAccessBlockConfiguration", k) != true {
			t.Errorf("PublicAccessBlockConfiguration.%s is not true", k)
		}
	}
	if got := at(b, "Properties", "OwnershipControls"); !reflect.DeepEqual(got, map[string]any{"Rules": []any{map[string]any{"ObjectOwnership": "BucketOwnerEnforced"}}}) {
		t.Errorf("OwnershipControls %#v, want BucketOwnerEnforced", got)
	}
	if at(b, "Properties", "VersioningConfiguration", "Status") != "Enabled" {
		t.Errorf("bucket versioning is not enabled")
	}
	if b["DeletionPolicy"] != "Retain" {
		t.Errorf("DeletionPolicy %v, want Retain", b["DeletionPolicy"])
	}
	// The same lifecycle as the Infineon bucket's.
	if got, infineon := at(b, "Properties", "LifecycleConfiguration"), at(tp, "Resources", "UploadBucket", "Properties", "LifecycleConfiguration"); got == nil || !reflect.DeepEqual(got, infineon) {
		t.Errorf("LifecycleConfiguration %#v, want the Infineon bucket's %#v", got, infineon)
	}

	// TLS only.
	tlsOnly := false
	for _, r := range mapAt(t, tp, "Resources") {
		if at(r, "Type") != "AWS::S3::BucketPolicy" || !reflect.DeepEqual(at(r, "Properties", "Bucket"), map[string]any{"Ref": bk.Logical}) {
			continue
		}
		st, _ := at(r, "Properties", "PolicyDocument", "Statement").([]any)
		for _, s := range st {
			if at(s, "Effect") == "Deny" && fmt.Sprint(at(s, "Condition", "Bool", "aws:SecureTransport")) == "false" {
				tlsOnly = true
			}
		}
	}
	if !tlsOnly {
		t.Errorf("no bucket policy denies requests without TLS (aws:SecureTransport false)")
	}

	// A new manifest of the vendor, and nothing else, starts the provider.
	cfgs, _ := at(b, "Properties", "NotificationConfiguration", "LambdaConfigurations").([]any)
	var suffixes []string
	for _, c := range cfgs {
		if at(c, "Event") != "s3:ObjectCreated:*" {
			t.Errorf("notification event %v, want s3:ObjectCreated:*", at(c, "Event"))
		}
		if fn := at(c, "Function"); !reflect.DeepEqual(fn, map[string]any{"Fn::GetAtt": []any{"ProviderFunction", "Arn"}}) {
			t.Errorf("notification target %#v, want the provider", fn)
		}
		rules, _ := at(c, "Filter", "S3Key", "Rules").([]any)
		if len(rules) != 1 || at(rules[0], "Name") != "suffix" {
			t.Errorf("notification filter %#v, want one suffix rule", rules)
			continue
		}
		suffixes = append(suffixes, fmt.Sprint(at(rules[0], "Value")))
	}
	sort.Strings(suffixes)
	if want := slices.Sorted(slices.Values(bk.KeySuffixes)); !slices.Equal(suffixes, want) {
		t.Errorf("notification suffixes %v, want %v", suffixes, want)
	}
	for _, s := range suffixes {
		// The trust anchors must not start an import.
		if strings.HasSuffix(TrustAnchorsKey, s) {
			t.Errorf("%s would match the suffix %s", TrustAnchorsKey, s)
		}
		// Nor the provider's own summaries, except in the Microchip
		// bucket, whose manifests end in .json like them: there the
		// provider ignores the summary prefix.
		if strings.HasSuffix(DefaultSummaryPrefix+"reel"+s+".json", s) && bk.Vendor != VendorMicrochip {
			t.Errorf("a summary key would match the suffix %s", s)
		}
	}

	// S3 may invoke the provider for this bucket, and the bucket waits for
	// that permission.
	arn := "arn:${AWS::Partition}:s3:::${AWS::StackName}" + bk.Suffix
	perm, ok := perms[arn]
	if !ok {
		t.Fatalf("no invoke permission for %s", arn)
	}
	if dep := at(b, "DependsOn"); dep != perm && !slices.Contains(toSlice(dep), any(perm)) {
		t.Errorf("%s does not depend on %s (S3 checks the permission when the notification is set)", bk.Logical, perm)
	}
	p := tp.resource(t, perm, "AWS::Lambda::Permission")
	if !reflect.DeepEqual(at(p, "Properties", "SourceAccount"), map[string]any{"Ref": "AWS::AccountId"}) {
		t.Errorf("%s SourceAccount %#v, want the stack's account", perm, at(p, "Properties", "SourceAccount"))
	}
	if out := at(tp, "Outputs"); !refersToAny(out, bk.Logical) {
		t.Errorf("no output names %s", bk.Logical)
	}
}

// refersToAny reports whether any value of the mapping v refers to id.
func refersToAny(v any, id string) bool {
	m, _ := v.(map[string]any)
	for _, e := range m {
		if refersTo(e, id) {
			return true
		}
	}
	return false
}

func toSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// refersTo reports whether v contains a Ref, GetAtt or ${...} of id.
func refersTo(v any, id string) bool {
	switch x := v.(type) {
	case map[string]any:
		if x["Ref"] == id {
			return true
		}
		if ga, ok := x["Fn::GetAtt"].([]any); ok && len(ga) > 0 && ga[0] == id {
			return true
		}
		for k, e := range x {
			if k == "DependsOn" {
				continue
			}
			if refersTo(e, id) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if refersTo(e, id) {
				return true
			}
		}
	case string:
		return strings.Contains(x, "${"+id+"}") || strings.Contains(x, "${"+id+".")
	}
	return false
}

func TestTemplateImporterEventSource(t *testing.T) {
	tp := loadTemplate(t)
	tp.resource(t, "ImporterFunction", "AWS::Serverless::Function")
	events := mapAt(t, tp, "Resources", "ImporterFunction", "Properties", "Events")
	var sqs []map[string]any
	for _, e := range events {
		if at(e, "Type") == "SQS" {
			sqs = append(sqs, at(e, "Properties").(map[string]any))
		}
	}
	if len(sqs) != 1 {
		t.Fatalf("ImporterFunction has %d SQS events, want 1", len(sqs))
	}
	p := sqs[0]
	if !reflect.DeepEqual(p["Queue"], map[string]any{"Fn::GetAtt": []any{"ImportQueue", "Arn"}}) {
		t.Errorf("SQS event queue %#v, want ImportQueue", p["Queue"])
	}
	if !slices.Contains(toSlice(p["FunctionResponseTypes"]), any("ReportBatchItemFailures")) {
		t.Errorf("SQS event FunctionResponseTypes %v lacks ReportBatchItemFailures", p["FunctionResponseTypes"])
	}
	want := map[string]any{"Ref": "ImporterMaxConcurrency"}
	if got := at(p, "ScalingConfig", "MaximumConcurrency"); !reflect.DeepEqual(got, want) {
		t.Errorf("ScalingConfig.MaximumConcurrency %#v, want !Ref ImporterMaxConcurrency", got)
	}
	batch := 10 // Lambda's default for SQS
	if p["BatchSize"] != nil {
		batch = tp.number(t, p["BatchSize"])
	}
	if batch < 1 || batch > 10000 {
		t.Errorf("BatchSize %d out of 1..10000", batch)
	}
	if batch > 10 {
		if w := p["MaximumBatchingWindowInSeconds"]; w == nil || tp.number(t, w) < 1 {
			t.Errorf("BatchSize %d > 10 needs MaximumBatchingWindowInSeconds >= 1, have %v", batch, w)
		}
	}
	if ev := at(tp, "Resources", "ProviderFunction", "Properties", "Events"); ev != nil {
		for name, e := range ev.(map[string]any) {
			if at(e, "Type") == "SQS" {
				t.Errorf("ProviderFunction has SQS event %s", name)
			}
		}
	}
}

func TestTemplateQueues(t *testing.T) {
	tp := loadTemplate(t)
	for _, id := range []string{"ImportQueue", "ImportDeadLetterQueue", "ProviderDeadLetterQueue"} {
		q := tp.resource(t, id, "AWS::SQS::Queue")
		if at(q, "Properties", "SqsManagedSseEnabled") != true && at(q, "Properties", "KmsMasterKeyId") == nil {
			t.Errorf("%s is not encrypted", id)
		}
	}
	rp := mapAt(t, tp, "Resources", "ImportQueue", "Properties", "RedrivePolicy")
	if !reflect.DeepEqual(rp["deadLetterTargetArn"], map[string]any{"Fn::GetAtt": []any{"ImportDeadLetterQueue", "Arn"}}) {
		t.Errorf("ImportQueue dead-letter target %#v, want ImportDeadLetterQueue", rp["deadLetterTargetArn"])
	}
	if n := tp.number(t, rp["maxReceiveCount"]); n < 5 {
		t.Errorf("ImportQueue maxReceiveCount %d, want at least 5", n)
	}
	vis := tp.number(t, tp.prop("ImportQueue", "VisibilityTimeout"))
	timeout := tp.number(t, tp.prop("ImporterFunction", "Timeout"))
	if vis < 6*timeout {
		t.Errorf("ImportQueue VisibilityTimeout %d < 6 x importer Timeout %d", vis, timeout)
	}
	// A dead letter keeps its first enqueue time: the DLQ must keep messages
	// at least as long as the queue.
	ret := func(id string) int {
		if v := tp.prop(id, "MessageRetentionPeriod"); v != nil {
			return tp.number(t, v)
		}
		return 345600
	}
	if ret("ImportDeadLetterQueue") < ret("ImportQueue") {
		t.Errorf("ImportDeadLetterQueue keeps messages less long than ImportQueue")
	}
	// The provider's failed S3 events go to its DLQ.
	dlq := tp.prop("ProviderFunction", "DeadLetterQueue")
	dest := tp.prop("ProviderFunction", "EventInvokeConfig", "DestinationConfig", "OnFailure", "Destination")
	wantArn := map[string]any{"Fn::GetAtt": []any{"ProviderDeadLetterQueue", "Arn"}}
	viaDLQ := at(dlq, "Type") == "SQS" && reflect.DeepEqual(at(dlq, "TargetArn"), wantArn)
	if !viaDLQ && !reflect.DeepEqual(dest, wantArn) {
		t.Errorf("the provider's failed invocations do not go to ProviderDeadLetterQueue")
	}
}

func TestTemplateFunctions(t *testing.T) {
	tp := loadTemplate(t)
	makefile, err := os.ReadFile(filepath.Join(repoRoot(t), "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	for id, dir := range map[string]string{"ProviderFunction": "provider", "ImporterFunction": "importer"} {
		tp.resource(t, id, "AWS::Serverless::Function")
		if got := tp.prop(id, "Runtime"); got != "provided.al2023" {
			t.Errorf("%s Runtime %v, want provided.al2023", id, got)
		}
		if got := tp.prop(id, "Architectures"); !reflect.DeepEqual(got, []any{"arm64"}) {
			t.Errorf("%s Architectures %v, want [arm64]", id, got)
		}
		if got := tp.prop(id, "Handler"); got != "bootstrap" {
			t.Errorf("%s Handler %v, want bootstrap", id, got)
		}
		if got, want := tp.prop(id, "CodeUri"), "bin/lambda/"+dir+"/"; got != want {
			t.Errorf("%s CodeUri %v, want %s (where make lambda puts the binary)", id, got, want)
		}
		if _, err := os.Stat(filepath.Join(repoRoot(t), "cmd", dir)); err != nil {
			t.Logf("%s: cmd/%s is not there yet", id, dir)
		}
		// Both roles exist only when RoleArn is empty; otherwise RoleArn.
		role := tp.prop(id, "Role")
		roleID := strings.TrimSuffix(id, "Function") + "Role"
		if !refersTo(role, roleID) || !refersTo(role, "RoleArn") || !strings.Contains(fmt.Sprint(role), "CreateRoles") {
			t.Errorf("%s Role %#v: want !If [CreateRoles, %s, RoleArn]", id, role, roleID)
		}
		r := tp.resource(t, roleID, "AWS::IAM::Role")
		if r["Condition"] != "CreateRoles" {
			t.Errorf("%s is created without Condition CreateRoles", roleID)
		}
	}
	if got := at(tp, "Conditions", "CreateRoles"); !reflect.DeepEqual(got, map[string]any{"Fn::Equals": []any{map[string]any{"Ref": "RoleArn"}, ""}}) {
		t.Errorf("Condition CreateRoles %#v, want RoleArn = \"\"", got)
	}
	for _, s := range []string{"lambda:", "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0", "lambda.norpc", "bin/lambda/$$f/bootstrap", "provider importer"} {
		if !bytes.Contains(makefile, []byte(s)) {
			t.Errorf("Makefile's lambda target lacks %q", s)
		}
	}
	if got := tp.number(t, tp.prop("ProviderFunction", "Timeout")); got != 900 {
		t.Errorf("ProviderFunction Timeout %d, want 900", got)
	}
}

// statements are the IAM policy statements of a role, with the branches of
// Fn::If (conditional statements) flattened.
func statements(t *testing.T, role map[string]any) []map[string]any {
	t.Helper()
	var out []map[string]any
	var add func(v any)
	add = func(v any) {
		if args, ok := at(v, "Fn::If").([]any); ok && len(args) == 3 {
			add(args[1])
			add(args[2])
			return
		}
		if at(v, "Ref") == "AWS::NoValue" {
			return
		}
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("statement %#v", v)
		}
		out = append(out, m)
	}
	pols, _ := at(role, "Properties", "Policies").([]any)
	for _, p := range pols {
		for _, s := range toSlice(at(p, "PolicyDocument", "Statement")) {
			add(s)
		}
	}
	return out
}

func strs(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var s []string
		for _, e := range x {
			s = append(s, fmt.Sprint(e))
		}
		return s
	}
	return nil
}

func TestTemplateLeastPrivilege(t *testing.T) {
	tp := loadTemplate(t)

	// Nowhere AWSIoTFullAccess, nowhere an allowed wildcard action.
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			if x["Effect"] == "Allow" {
				for _, a := range strs(x["Action"]) {
					if strings.Contains(a, "*") {
						t.Errorf("%s allows the wildcard action %q", path, a)
					}
				}
				if x["NotAction"] != nil {
					t.Errorf("%s allows NotAction", path)
				}
			}
			for k, e := range x {
				walk(path+"."+k, e)
			}
		case []any:
			for i, e := range x {
				walk(fmt.Sprintf("%s[%d]", path, i), e)
			}
		case string:
			if strings.Contains(x, "AWSIoTFullAccess") {
				t.Errorf("%s names AWSIoTFullAccess", path)
			}
		}
	}
	walk("template", map[string]any(tp))

	basic := map[string]any{"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"}
	iotARN := func(kind, name string) string {
		return "arn:${AWS::Partition}:iot:${AWS::Region}:${AWS::AccountId}:" + kind + "/" + name
	}
	var reads, summaries, lists []string
	for _, b := range Buckets {
		arn := "arn:${AWS::Partition}:s3:::${AWS::StackName}" + b.Suffix
		reads = append(reads, arn+"/*")
		summaries = append(summaries, arn+"/"+DefaultSummaryPrefix+"*")
		if b.NeedsTrust || b.TakesSigners {
			// A missing trust/ca.pem or signers.pem is NoSuchKey, not AccessDenied.
			lists = append(lists, arn)
		}
	}
	grants := map[string]map[string][]string{
		"ProviderRole": {
			"s3:GetObject":           reads,
			"s3:PutObject":           summaries,
			"s3:ListBucket":          lists,
			"sqs:SendMessage":        {"ImportQueue.Arn", "ProviderDeadLetterQueue.Arn"},
			"iot:GetPolicy":          {iotARN("policy", "${PolicyName}")},
			"iot:DescribeThingType":  {iotARN("thingtype", "${ThingTypeName}")},
			"iot:DescribeThingGroup": {iotARN("thinggroup", "${ThingGroupName}")},
			"dynamodb:GetItem":       {"ResultsTable.Arn"},
			"dynamodb:UpdateItem":    {"ResultsTable.Arn"},
			"sns:Publish":            {"map[Ref:ResultsTopicArn]"},
		},
		"ImporterRole": {
			// No resource type in IAM: "*" is the only resource it takes.
			"iot:RegisterCertificateWithoutCA": {"*"},
			"iot:CreateThing":                  {iotARN("thing", "*")},
			// IAM authorizes these on the certificate (the target), not on
			// the thing or the policy.
			"iot:AttachThingPrincipal":    {iotARN("cert", "*")},
			"iot:AttachPolicy":            {iotARN("cert", "*")},
			"iot:AddThingToThingGroup":    {iotARN("thing", "*"), iotARN("thinggroup", "${ThingGroupName}")},
			"sqs:ReceiveMessage":          {"ImportQueue.Arn"},
			"sqs:DeleteMessage":           {"ImportQueue.Arn"},
			"sqs:GetQueueAttributes":      {"ImportQueue.Arn"},
			"sqs:ChangeMessageVisibility": {"ImportQueue.Arn"},
			"sqs:SendMessage":             {"ImportQueue.Arn"},
			"dynamodb:GetItem":            {"ResultsTable.Arn"},
			"dynamodb:PutItem":            {"ResultsTable.Arn"},
			"dynamodb:UpdateItem":         {"ResultsTable.Arn"},
			"s3:PutObject":                summaries,
			"sns:Publish":                 {"map[Ref:ResultsTopicArn]"},
		},
	}
	for id, want := range grants {
		role := tp.resource(t, id, "AWS::IAM::Role")
		if got := at(role, "Properties", "ManagedPolicyArns"); !reflect.DeepEqual(got, []any{basic}) {
			t.Errorf("%s ManagedPolicyArns %#v, want only AWSLambdaBasicExecutionRole", id, got)
		}
		have := map[string][]string{}
		for _, s := range statements(t, role) {
			if s["Effect"] != "Allow" {
				continue
			}
			var res []string
			for _, r := range toSlice(s["Resource"]) {
				res = append(res, resourceString(t, tp, r))
			}
			if r, ok := s["Resource"].(map[string]any); ok {
				res = append(res, resourceString(t, tp, r))
			}
			if r, ok := s["Resource"].(string); ok {
				res = append(res, r)
			}
			for _, a := range strs(s["Action"]) {
				have[a] = append(have[a], res...)
			}
		}
		for a := range have {
			sort.Strings(have[a])
		}
		for a := range want {
			sort.Strings(want[a])
		}
		if !reflect.DeepEqual(have, want) {
			t.Errorf("%s grants\n%s\nwant\n%s", id, dump(have), dump(want))
		}
	}
}

// TestTemplateResultsTable: on-demand, encrypted, point-in-time recovery
// on, the key internal/results writes, and a provider limited to the
// manifests' items.
func TestTemplateResultsTable(t *testing.T) {
	tp := loadTemplate(t)
	tb := tp.resource(t, LogicalResultsTable, "AWS::DynamoDB::Table")
	for path, want := range map[string]any{
		"BillingMode":                 "PAY_PER_REQUEST",
		"SSESpecification.SSEEnabled": true,
		"PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled": true,
	} {
		if got := tp.prop(LogicalResultsTable, strings.Split(path, ".")...); got != want {
			t.Errorf("ResultsTable %s = %v, want %v", path, got, want)
		}
	}
	keys := toSlice(at(tb, "Properties", "KeySchema"))
	if len(keys) != 2 || at(keys[0], "AttributeName") != "pk" || at(keys[0], "KeyType") != "HASH" ||
		at(keys[1], "AttributeName") != "sk" || at(keys[1], "KeyType") != "RANGE" {
		t.Errorf("ResultsTable KeySchema %v, want pk HASH, sk RANGE", keys)
	}
	if at(tb, "DeletionPolicy") != "Retain" {
		t.Errorf("ResultsTable DeletionPolicy %v, want Retain", at(tb, "DeletionPolicy"))
	}
	found := false
	for _, s := range statements(t, tp.resource(t, "ProviderRole", "AWS::IAM::Role")) {
		if !slices.Contains(strs(s["Action"]), "dynamodb:UpdateItem") {
			continue
		}
		found = true
		lead := strs(at(s, "Condition", "ForAllValues:StringLike", "dynamodb:LeadingKeys"))
		if !reflect.DeepEqual(lead, []string{"M#*"}) {
			t.Errorf("the provider's table statement is limited to %v, want the manifests' keys [M#*]", lead)
		}
	}
	if !found {
		t.Error("the provider may not update the results table")
	}
	if at(tp, "Outputs", "ResultsTableName", "Value") == nil {
		t.Error("output ResultsTableName is missing")
	}
}

// resourceString writes an IAM resource as a comparable string: Fn::Sub
// resolved as far as the template allows, GetAtt as "Res.Attr".
func resourceString(t *testing.T, tp tmpl, r any) string {
	if ga, ok := at(r, "Fn::GetAtt").([]any); ok && len(ga) == 2 {
		return fmt.Sprintf("%v.%v", ga[0], ga[1])
	}
	return fmt.Sprint(tp.resolve(t, r))
}

func dump(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

func TestTemplateMonitoring(t *testing.T) {
	tp := loadTemplate(t)
	type alarm struct{ queue, metric string }
	have := map[alarm]map[string]any{}
	for _, r := range mapAt(t, tp, "Resources") {
		if at(r, "Type") != "AWS::CloudWatch::Alarm" || at(r, "Properties", "Namespace") != "AWS/SQS" {
			continue
		}
		p := at(r, "Properties").(map[string]any)
		for _, d := range toSlice(p["Dimensions"]) {
			if ga, ok := at(d, "Value", "Fn::GetAtt").([]any); ok && at(d, "Name") == "QueueName" {
				have[alarm{fmt.Sprint(ga[0]), fmt.Sprint(p["MetricName"])}] = p
			}
		}
	}
	for _, q := range []string{"ImportDeadLetterQueue", "ProviderDeadLetterQueue"} {
		p := have[alarm{q, "ApproximateNumberOfMessagesVisible"}]
		if p == nil {
			t.Errorf("no alarm on the messages in %s", q)
			continue
		}
		if p["ComparisonOperator"] != "GreaterThanThreshold" || tp.number(t, p["Threshold"]) != 0 {
			t.Errorf("%s alarm: %v %v, want GreaterThanThreshold 0", q, p["ComparisonOperator"], p["Threshold"])
		}
	}
	if p := have[alarm{"ImportQueue", "ApproximateAgeOfOldestMessage"}]; p == nil {
		t.Errorf("no alarm on the age of the oldest message in ImportQueue")
	} else if p["ComparisonOperator"] != "GreaterThanThreshold" || tp.number(t, p["Threshold"]) <= 0 {
		t.Errorf("ImportQueue age alarm: %v %v", p["ComparisonOperator"], p["Threshold"])
	}

	// The dashboard: valid JSON once substituted, and it shows the queues,
	// the functions and every metric the functions emit.
	d := tp.resource(t, "Dashboard", "AWS::CloudWatch::Dashboard")
	sub := at(d, "Properties", "DashboardBody", "Fn::Sub")
	var body string
	switch x := sub.(type) {
	case string:
		body = x
	case []any:
		body = fmt.Sprint(tp.resolve(t, map[string]any{"Fn::Sub": x}))
	}
	for _, s := range []string{
		"${ImportQueue.QueueName}", "${ImportDeadLetterQueue.QueueName}", "${ProviderDeadLetterQueue.QueueName}",
		"${ProviderFunction}", "${ImporterFunction}", `Namespace=\"` + DefaultMetricsNamespace + `\"`,
		"Errors", "Throttles", "Duration", "ApproximateNumberOfMessagesVisible",
	} {
		if !strings.Contains(body, s) {
			t.Errorf("dashboard does not show %s", s)
		}
	}
	for _, m := range emfMetrics {
		if !strings.Contains(body, `MetricName=\"`+m+`\"`) {
			t.Errorf("dashboard does not show the metric %s", m)
		}
	}
	var parsed map[string]any
	if err := json.Unmarshal([]byte(regexp.MustCompile(`\$\{[^}]+\}`).ReplaceAllString(body, "x")), &parsed); err != nil {
		t.Errorf("dashboard body is not JSON: %v", err)
	}

	for _, o := range []string{"UploadBucketName", "ImportQueueUrl", "ImportDeadLetterQueueUrl", "ProviderDeadLetterQueueUrl", "DashboardUrl"} {
		if at(tp, "Outputs", o, "Value") == nil {
			t.Errorf("output %s is missing", o)
		}
	}
}

// TestTemplateCfnLint runs cfn-lint on the template as deployed with the
// defaults and with every optional parameter set: no error and no warning.
// Without cfn-lint the test is skipped, except in CI, where it fails.
func TestTemplateCfnLint(t *testing.T) {
	lint, err := exec.LookPath("cfn-lint")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("cfn-lint is not on PATH")
		}
		t.Skip("cfn-lint is not on PATH")
	}
	for _, args := range [][]string{
		{"template.yaml"},
		{"template.yaml", "--parameters",
			"PolicyName=ThingpressDevices", "ThingGroupName=reel-2026", "ThingTypeName=OptigaTrustM",
			"S3BucketName=acme-deploy", "Region=eu-central-1",
			"RoleArn=arn:aws:iam::123456789012:role/thingpress", "CertificateType=E0E1",
			"ProviderReservedConcurrency=0", "AlarmTopicArn=arn:aws:sns:eu-central-1:123456789012:ops", "NoVerifyChain=true",
			"ResultsTopicArn=arn:aws:sns:eu-central-1:123456789012:imports"},
	} {
		cmd := exec.Command(lint, args...)
		cmd.Dir = repoRoot(t)
		out, err := cmd.CombinedOutput()
		if err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("cfn-lint %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

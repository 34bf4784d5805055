package stacktest

import (
	"bufio"
	"encoding/json"
	"io"
	"maps"
	"os"
	"os/exec"
	"slices"
	"sync"
	"testing"

	"github.com/thingpress/thingpress/internal/testkit/iottest"
	"github.com/thingpress/thingpress/internal/testkit/motoserver"
)

// botoScript answers one request per line of stdin, a JSON [endpoint,
// group, region], with one line of JSON on stdout: what moto holds (every
// Thing with its type, attributes, principals and their policies, the
// group's members and the certificates' statuses), or {"Error": ...}.
// One process serves the whole test binary, so boto3's start (half a
// second) is paid once, not at every check.
const botoScript = `
import json, sys, traceback, boto3
def state(endpoint, group, region):
    iot = boto3.client("iot", endpoint_url=endpoint, region_name=region,
        aws_access_key_id="testing", aws_secret_access_key="testing")
    out = {"Things": {}, "Group": [], "Certificates": {}}
    for page in iot.get_paginator("list_things").paginate():
        for th in page["things"]:
            name = th["thingName"]
            principals = iot.list_thing_principals(thingName=name)["principals"]
            policies = []
            for p in principals:
                policies += [x["policyName"] for x in iot.list_attached_policies(target=p)["policies"]]
            out["Things"][name] = {"Type": th.get("thingTypeName", ""), "Attributes": th.get("attributes", {}),
                "Principals": principals, "Policies": policies}
    for page in iot.get_paginator("list_things_in_thing_group").paginate(thingGroupName=group):
        out["Group"] += page["things"]
    for page in iot.get_paginator("list_certificates").paginate():
        for c in page["certificates"]:
            out["Certificates"][c["certificateArn"]] = c["status"]
    return out
for line in sys.stdin:
    try:
        out = state(*json.loads(line))
    except Exception:
        out = {"Error": traceback.format_exc()}
    print(json.dumps(out), flush=True)
`

// boto is the boto3 process AssertThings talks to, started at the first
// check; it ends when the test binary closes its stdin by exiting.
var boto struct {
	mu  sync.Mutex
	in  io.WriteCloser
	out *bufio.Reader
}

// askBoto sends botoScript one request and returns its answer.
func askBoto(t testing.TB, endpoint, group, region string) botoState {
	t.Helper()
	boto.mu.Lock()
	defer boto.mu.Unlock()
	if boto.in == nil {
		cmd := exec.Command("python3", "-c", botoScript)
		cmd.Env = append(os.Environ(), "AWS_PAGER=")
		cmd.Stderr = os.Stderr
		in, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatalf("boto3: %v", err)
		}
		boto.in, boto.out = in, bufio.NewReaderSize(out, 1<<20)
	}
	req, _ := json.Marshal([]string{endpoint, group, region})
	var line []byte
	_, err := boto.in.Write(append(req, '\n'))
	if err == nil {
		line, err = boto.out.ReadBytes('\n')
	}
	if err != nil {
		boto.in.Close()
		boto.in = nil
		t.Fatalf("boto3: %v", err)
	}
	var st struct {
		botoState
		Error string
	}
	if err := json.Unmarshal(line, &st); err != nil {
		t.Fatalf("boto3 output: %v\n%s", err, line)
	}
	if st.Error != "" {
		t.Fatalf("boto3: %s", st.Error)
	}
	return st.botoState
}

// botoState is botoScript's answer.
type botoState struct {
	Things map[string]struct {
		Type       string
		Attributes map[string]string
		Principals []string
		Policies   []string
	}
	Group        []string
	Certificates map[string]string
}

// AssertThings checks with boto3, in one request, that moto holds exactly
// things, each a complete Thing: iottest's thing type, the attributes
// given (a value of "" stands for any), one ACTIVE certificate with
// iottest's policy, a member of iottest's group. Without python3 and
// boto3 the test is skipped, except under CI=true, where it fails.
func (s *Stack) AssertThings(t testing.TB, things []Thing) {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("python3 is required under CI=true: %v", err)
		}
		t.Skipf("python3 not on PATH: cannot check moto with boto3")
	}
	st := askBoto(t, s.Moto.URL, iottest.Group, motoserver.Region)
	if len(st.Things) != len(things) || len(st.Certificates) != len(things) || len(st.Group) != len(things) {
		t.Errorf("moto has %d things (%d in %s) and %d certificates, want %d",
			len(st.Things), len(st.Group), iottest.Group, len(st.Certificates), len(things))
	}
	for arn, status := range st.Certificates {
		if status != "ACTIVE" {
			t.Errorf("certificate %s is %s, want ACTIVE", arn, status)
		}
	}
	for _, want := range things {
		th, ok := st.Things[want.Name]
		switch {
		case !ok:
			t.Errorf("no thing %s", want.Name)
			continue
		case th.Type != iottest.ThingType || len(th.Principals) != 1 || !slices.Equal(th.Policies, []string{iottest.Policy}):
			t.Errorf("thing %s: type %q, principals %v, policies %v", want.Name, th.Type, th.Principals, th.Policies)
		case !slices.Contains(st.Group, want.Name):
			t.Errorf("thing %s is not in %s", want.Name, iottest.Group)
		}
		if !slices.Equal(slices.Sorted(maps.Keys(th.Attributes)), slices.Sorted(maps.Keys(want.Attributes))) {
			t.Errorf("thing %s: attributes %v, want %v", want.Name, th.Attributes, want.Attributes)
			continue
		}
		for k, v := range want.Attributes {
			if v != "" && th.Attributes[k] != v {
				t.Errorf("thing %s: attribute %s = %q, want %q", want.Name, k, th.Attributes[k], v)
			}
		}
	}
}

// Package jobfile reads credbroker job files: a list of tasks that run in
// order, each naming its credentials, region, variables, environment and
// command. Values may hold ${...} variable references; they are kept as
// written and substituted when the task runs, because runtime variables
// come from the tasks before it.
//
// The schema, with every field:
//
//	version: 1                   # required
//	name: deploy                 # optional, for messages
//	plan: OPS-DEPLOY             # plan key; role session names and audit use it
//	build: "42"                  # build number (usually --build or $bamboo_buildNumber)
//	job: OPS-DEPLOY-JOB1         # job key
//	ci: auto                     # whose environment gives plan, build and job when the above
//	                             # do not: auto (default), none, bamboo, github, gitlab,
//	                             # jenkins, buildkite (package cienv; --ci wins)
//	variables:                   # plan variables: NAME: value, or NAME: {value: v, secret: true}
//	  region: us-east-1
//	tasks:
//	  - name: upload             # required, unique: [A-Za-z0-9_.-]
//	    credentials:             # optional; without it the task gets no AWS credentials
//	      source: static         # instance | static | connector | web-identity
//	      region: ${bamboo.region}
//	      access_key_id: ${bamboo.awsAccessKeyId}            # static
//	      secret_access_key: ${bamboo.awsSecretKeyPassword}  # static
//	      session_token: ${bamboo.awsSessionTokenPassword}   # static, optional
//	      imds_endpoint: http://127.0.0.1:1338/              # instance, optional
//	      imds_v1: false                                     # instance: allow IMDSv1 fallback
//	      connector: ${bamboo.deployConnector}               # connector
//	      broker: https://broker.example.com:8443            # connector (or $CREDBROKER_BROKER)
//	      token_file: /etc/credbroker/agent.token            # connector (or $CREDBROKER_TOKEN)
//	      ca_file: /etc/credbroker/ca.pem                    # connector, optional
//	      sts_endpoint: https://sts.example.internal         # optional
//	      retries: 7                                         # optional, STS/IMDS attempts
//	      max_backoff: 20s                                   # optional
//	      tags: {team: ops}                                  # connector: session tags asked of the broker
//	      duration: 30m                                      # connector: narrowing asked of the broker
//	      policy_file: policies/read-only.json               # connector: (or policy:) a narrower session policy
//	      policy_arns: [arn:aws:iam::aws:policy/ReadOnlyAccess]   # connector: fewer managed policies
//	      oidc: github                                       # connector: present the CI's ID token (github, gitlab,
//	                                                         # buildkite, env:VAR, file:PATH) instead of an agent token;
//	                                                         # web-identity: the token to assume the role with
//	      audience: credbroker                               # the audience the CI's token is asked for
//	      web_identity_token_file: /var/run/secrets/token    # web-identity (default $AWS_WEB_IDENTITY_TOKEN_FILE)
//	      allowed_account_ids: [123456789012]                # the account guard: credentials of
//	                                                         # another account stop the task
//	      role:                                              # optional: assume a role with the above
//	                                                         # (web-identity: the role, default $AWS_ROLE_ARN)
//	        arn: arn:aws:iam::123456789012:role/deploy
//	        external_id: ${bamboo.externalId}
//	        session_name: deploy-42
//	        duration: 1h
//	        policy_file: policies/read-only.json   # relative to the job file
//	        policy: '{"Version":"2012-10-17",...}' # or inline
//	        policy_arns: [arn:aws:iam::aws:policy/ReadOnlyAccess]
//	        tags: {team: ops}                      # after credbroker:plan, :build, :job
//	        transitive_tag_keys: [team]
//	        session_tags: false                    # send no session tags (no sts:TagSession)
//	    delivery: env            # env | endpoint | profile (default env)
//	    env:                     # extra environment, values substituted
//	      BUCKET: my-bucket
//	    command: [aws, s3, ls]   # argv, run directly; or
//	    run: aws s3 ls           # a script run with /bin/sh -c (exactly one of the two)
//	    dir: build/              # working directory, relative to the job file
//	    timeout: 10m
//	    set_variables:           # instead of command/run: resolve the credentials and set
//	      namespace: aws         # runtime variables aws.accessKeyId, aws.secretAccessKey, ...
//	  - name: copy               # several credentials in one task, as named AWS profiles
//	    profiles:                # instead of credentials: NAME: a credentials block, each
//	      source-account: {source: instance, region: eu-west-1, role: {arn: ...}}
//	      target-account: {connector: deploy}
//	    default_profile: target-account  # the [default] profile; default: the profile
//	                                     # named default, else the first
//	    run: aws s3 cp s3://a/x - --profile source-account | aws s3 cp - s3://b/x
//
// A task's profiles reach it as one AWS config file (AWS_CONFIG_FILE) whose
// profiles each refresh on their own; such a task has no delivery:.
package jobfile

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/cienv"
	"github.com/credbroker/credbroker/vars"
)

// MaxSize is the largest job file accepted.
const MaxSize = 1 << 20

// Job is a parsed job file.
type Job struct {
	Version   int
	Name      string
	Plan      string
	Build     string
	JobKey    string
	Variables []Variable
	Tasks     []Task
	// CI is the job file's ci: (cienv.Auto when not given): whose
	// environment gives the build's identity and variables.
	CI cienv.Kind
	// Path is the file the job came from; Dir is its directory, against
	// which policy files and working directories resolve.
	Path string
	Dir  string
}

// Identity returns the build identity of a run of the job: each part
// from flags (the command line) when given, else from the job file's
// plan:, build: and job:, else from env (the CI's environment).
func (j *Job) Identity(flags, env credbroker.Build) credbroker.Build {
	return flags.Or(credbroker.Build{Plan: j.Plan, Number: j.Build, Job: j.JobKey}).Or(env)
}

// Variable is a plan variable defined in the job file, as package vars
// loads it (vars.Sources.Job).
type Variable = vars.Var

// Task is one step of a job.
type Task struct {
	Name         string
	Credentials  *Credentials
	Delivery     string
	Env          []EnvVar
	Command      []string
	Run          string
	Dir          string
	Timeout      time.Duration
	SetVariables *SetVariables
	// Line is where the task starts in the file.
	Line int
	// Profiles are the task's named credentials, delivered together as
	// one AWS config file (a task has Credentials or Profiles, not both).
	Profiles []Profile
	// DefaultProfile names the profile that is the config file's
	// [default]: default_profile: as written, else the profile named
	// default, else the first.
	DefaultProfile string
}

// EnvVar is one entry of a task's env map, in file order.
type EnvVar struct {
	Name, Value string
}

// SetVariables makes a task resolve credentials and set runtime variables
// for the tasks after it, instead of running a command.
type SetVariables struct {
	Namespace string
}

// Credentials is a task's credentials block, values as written.
type Credentials struct {
	Source          string
	Region          string
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	IMDSEndpoint    string
	IMDSv1          bool
	Connector       string
	Broker          string
	TokenFile       string
	CAFile          string
	STSEndpoint     string
	Retries         int
	MaxBackoff      time.Duration
	// Tags are session tags a connector source asks the broker to add.
	Tags []Tag
	// WebIdentityTokenFile, OIDC and Audience give the ID token of a
	// web-identity source; OIDC and Audience also the CI token a
	// connector source presents to the broker instead of an agent token.
	WebIdentityTokenFile string
	OIDC                 string
	Audience             string
	// Duration, Policy, PolicyFile and PolicyARNs narrow a connector
	// source's session: the vend request asks for them, and the broker
	// refuses what would widen the connector's.
	Duration   string
	Policy     string
	PolicyFile string
	PolicyARNs []string
	// AllowedAccountIDs is the account guard: the accounts the
	// credentials must belong to, each an account ID or a ${...}
	// reference (a value may list several, separated by commas or
	// spaces).
	AllowedAccountIDs []string
	Role              *Role
	Line              int
}

// Role is the role block of a task's credentials.
type Role struct {
	ARN               string
	ExternalID        string
	SessionName       string
	Duration          string // a duration ("1h", "900s", "3600"), possibly a ${...} reference
	Policy            string
	PolicyFile        string
	PolicyARNs        []string
	Tags              []Tag
	TransitiveTagKeys []string
	// NoSessionTags is `session_tags: false`: no session tags at all, for
	// roles whose trust policy lacks sts:TagSession.
	NoSessionTags bool
	Line          int
}

// Tag is a session tag from the job file.
type Tag struct{ Key, Value string }

// Errors is every problem found in a job file, in file order. Each is a
// *credbroker.Error with CodeInvalid, the path of the value at fault as
// its Field (tasks[1].credentials.role.arn), the job file as its File and
// the line as its Line, so that every caller prints it as any other
// credbroker error: "job.yaml:12: tasks[1].comand: unknown field; did you
// mean "command"?". No error repeats a variable's value.
type Errors []*credbroker.Error

// Error lists the problems, one per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the problems, so that errors.As finds each
// *credbroker.Error and a caller can walk them as it walks errors.Join.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// fileError is a problem with the job file as a whole.
func fileError(file string, line int, msg, fix string) *credbroker.Error {
	return &credbroker.Error{Code: credbroker.CodeInvalid, File: file, Line: line, Message: msg, Fix: fix}
}

// Load reads and parses the job file at path.
func Load(path string) (*Job, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, Errors{fileError(path, 0, "cannot read the job file: "+pathErr(err), "check the path")}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, Errors{fileError(path, 0, "cannot read the job file: "+pathErr(err), "")}
	}
	return Parse(path, data)
}

func pathErr(err error) string {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err.Error()
	}
	return err.Error()
}

// Parse parses a job file's bytes; name is used in messages and to resolve
// relative paths. It returns Errors listing every problem found.
func Parse(name string, data []byte) (*Job, error) {
	p := &parser{file: name}
	if len(data) > MaxSize {
		return nil, Errors{fileError(name, 0, fmt.Sprintf("the job file is larger than %d bytes", MaxSize), "")}
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if err == io.EOF {
			return nil, Errors{fileError(name, 0, "the job file is empty", "start with `version: 1` and a `tasks:` list")}
		}
		return nil, Errors{p.yamlError(err)}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err != io.EOF {
		return nil, Errors{fileError(name, extra.Line, "the job file holds more than one YAML document", "remove the `---` separator and what follows")}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	job := &Job{Path: name, Dir: filepath.Dir(name)}
	p.job(root, job)
	if len(p.errs) > 0 {
		return nil, p.errs
	}
	return job, nil
}

type parser struct {
	file string
	errs Errors
}

// yamlLineRE finds the line in a YAML error, compiled on first use.
var yamlLineRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`line (\d+)`) })

func (p *parser) yamlError(err error) *credbroker.Error {
	msg := err.Error()
	line := 0
	if m := yamlLineRE().FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	msg = yamlLineRE().ReplaceAllString(msg, "")
	msg = strings.TrimLeft(msg, ": ")
	return fileError(p.file, line, "not valid YAML: "+msg, "")
}

func (p *parser) errorf(n *yaml.Node, path, fix, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	e := fileError(p.file, line, fmt.Sprintf(format, args...), fix)
	e.Field = path
	p.errs = append(p.errs, e)
}

// mapping walks a YAML mapping, recording which keys were read so that
// unknown ones can be reported with a suggestion.
type mapping struct {
	p    *parser
	path string
	node *yaml.Node
	vals map[string]*yaml.Node
	keys map[string]*yaml.Node
	seen map[string]bool
}

func (p *parser) mapping(n *yaml.Node, path string) *mapping {
	m := &mapping{p: p, path: path, node: n, vals: map[string]*yaml.Node{}, keys: map[string]*yaml.Node{}, seen: map[string]bool{}}
	if n == nil {
		return m
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, path, "", "expected a mapping of fields, found %s", kindName(n))
		return m
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if _, dup := m.vals[k.Value]; dup {
			p.errorf(k, join(path, k.Value), "keep one of them", "field given twice")
			continue
		}
		m.vals[k.Value] = v
		m.keys[k.Value] = k
	}
	return m
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return "a single value"
	case yaml.AliasNode:
		return "an alias"
	}
	return "something else"
}

func (m *mapping) get(key string) *yaml.Node {
	m.seen[key] = true
	v := m.vals[key]
	if v != nil && v.Kind == yaml.AliasNode {
		m.p.errorf(v, join(m.path, key), "write the value out", "YAML aliases are not supported")
		return nil
	}
	return v
}

func (m *mapping) has(key string) bool { return m.vals[key] != nil }

func (m *mapping) str(key string, dst *string) {
	v := m.get(key)
	if v == nil {
		return
	}
	if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
		m.p.errorf(v, join(m.path, key), "", "expected a single value, found %s", kindName(v))
		return
	}
	*dst = v.Value
}

func (m *mapping) boolean(key string, dst *bool) {
	v := m.get(key)
	if v == nil {
		return
	}
	switch strings.ToLower(v.Value) {
	case "true", "yes", "on":
		*dst = true
	case "false", "no", "off":
		*dst = false
	default:
		m.p.errorf(v, join(m.path, key), "write true or false", "expected true or false, found %q", v.Value)
	}
}

func (m *mapping) integer(key string, dst *int, lo, hi int) {
	v := m.get(key)
	if v == nil {
		return
	}
	n, err := strconv.Atoi(v.Value)
	if v.Kind != yaml.ScalarNode || err != nil || n < lo || n > hi {
		m.p.errorf(v, join(m.path, key), "", "expected a whole number from %d to %d, found %q", lo, hi, v.Value)
		return
	}
	*dst = n
}

func (m *mapping) duration(key string, dst *time.Duration) {
	v := m.get(key)
	if v == nil {
		return
	}
	d, err := ParseDuration(v.Value)
	if v.Kind != yaml.ScalarNode || err != nil || d <= 0 {
		m.p.errorf(v, join(m.path, key), "write a duration such as 90s, 15m or 1h", "expected a positive duration, found %q", v.Value)
		return
	}
	*dst = d
}

func (m *mapping) list(key string, dst *[]string) {
	v := m.get(key)
	if v == nil {
		return
	}
	switch v.Kind {
	case yaml.ScalarNode:
		if v.Tag != "!!null" {
			*dst = []string{v.Value}
		}
	case yaml.SequenceNode:
		for i, it := range v.Content {
			if it.Kind != yaml.ScalarNode {
				m.p.errorf(it, fmt.Sprintf("%s[%d]", join(m.path, key), i), "", "expected a single value, found %s", kindName(it))
				continue
			}
			*dst = append(*dst, it.Value)
		}
	default:
		m.p.errorf(v, join(m.path, key), "", "expected a list, found %s", kindName(v))
	}
}

// finish reports keys that were never read.
func (m *mapping) finish(known ...string) {
	var unknown []string
	for k := range m.vals {
		if !m.seen[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		fix := "remove it"
		if s := suggest(k, known); s != "" {
			fix = fmt.Sprintf("did you mean %q?", s)
		}
		m.p.errorf(m.keys[k], join(m.path, k), fix, "unknown field")
	}
}

// suggest returns the known key closest to k, if it is close enough.
func suggest(k string, known []string) string {
	best, bestD := "", 3
	for _, c := range known {
		if d := distance(strings.ToLower(k), c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

var jobKeys = []string{"version", "name", "plan", "build", "job", "ci", "variables", "tasks"}

func (p *parser) job(n *yaml.Node, job *Job) {
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "", "start with `version: 1` and a `tasks:` list", "a job file is a mapping of fields, found %s", kindName(n))
		return
	}
	m := p.mapping(n, "")
	if v := m.get("version"); v == nil {
		p.errorf(n, "version", "add `version: 1` at the top", "missing")
	} else if v.Value != "1" {
		p.errorf(v, "version", "this credbroker reads version 1", "unsupported version %q", v.Value)
	} else {
		job.Version = 1
	}
	m.str("name", &job.Name)
	m.str("plan", &job.Plan)
	m.str("build", &job.Build)
	m.str("job", &job.JobKey)
	ci := ""
	m.str("ci", &ci)
	kind, err := cienv.ParseKind("ci", ci)
	if err != nil {
		e := credbroker.AsError(err)
		p.errorf(m.vals["ci"], "ci", e.Fix, "%s", e.Message)
	}
	job.CI = kind
	if v := m.get("variables"); v != nil {
		job.Variables = p.variables(v)
	}
	tasks := m.get("tasks")
	switch {
	case tasks == nil:
		p.errorf(n, "tasks", "add a `tasks:` list with at least one task", "missing")
	case tasks.Kind != yaml.SequenceNode || len(tasks.Content) == 0:
		p.errorf(tasks, "tasks", "write a list of tasks, each starting with `- name:`", "expected a non-empty list, found %s", kindName(tasks))
	default:
		names := map[string]int{}
		for i, tn := range tasks.Content {
			t := p.task(tn, fmt.Sprintf("tasks[%d]", i), job.Dir)
			if t.Name != "" {
				if prev, ok := names[t.Name]; ok {
					p.errorf(tn, fmt.Sprintf("tasks[%d].name", i), "give each task its own name", "%q is also the name of tasks[%d]", t.Name, prev)
				}
				names[t.Name] = i
			}
			job.Tasks = append(job.Tasks, t)
		}
	}
	m.finish(jobKeys...)
}

func (p *parser) variables(n *yaml.Node) []Variable {
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "variables", "write NAME: value pairs", "expected a mapping, found %s", kindName(n))
		return nil
	}
	var out []Variable
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		path := "variables." + k.Value
		name := strings.TrimPrefix(k.Value, "bamboo.")
		if !validVarName(name) {
			p.errorf(k, path, "use letters, digits, '_', '.' and '-', starting with a letter or '_'", "invalid variable name")
			continue
		}
		vr := Variable{Name: name}
		switch v.Kind {
		case yaml.ScalarNode:
			vr.Value = v.Value
		case yaml.MappingNode:
			vm := p.mapping(v, path)
			vm.str("value", &vr.Value)
			vm.boolean("secret", &vr.Secret)
			if !vm.has("value") {
				p.errorf(v, path+".value", "", "missing")
			}
			vm.finish("value", "secret")
		default:
			p.errorf(v, path, "write a value, or {value: ..., secret: true}", "expected a value, found %s", kindName(v))
			continue
		}
		out = append(out, vr)
	}
	return out
}

var taskKeys = []string{"name", "credentials", "profiles", "default_profile", "delivery", "env", "command", "run", "dir", "timeout", "set_variables"}

func (p *parser) task(n *yaml.Node, path, dir string) Task {
	t := Task{Line: n.Line}
	m := p.mapping(n, path)
	if n.Kind != yaml.MappingNode {
		return t
	}
	m.str("name", &t.Name)
	switch {
	case !m.has("name"):
		p.errorf(n, path+".name", "give the task a name", "missing")
	case !validTaskName(t.Name):
		p.errorf(m.vals["name"], path+".name", "use 1 to 64 letters, digits, '_', '.' or '-'", "invalid task name %q", t.Name)
	}
	if v := m.get("credentials"); v != nil {
		t.Credentials = p.credentials(v, path+".credentials")
	}
	p.taskProfiles(m, &t, path)
	t.Delivery = "env"
	m.str("delivery", &t.Delivery)
	switch t.Delivery {
	case "env", "endpoint", "profile":
	default:
		p.errorf(m.vals["delivery"], path+".delivery", "use env, endpoint or profile", "unknown delivery %q", t.Delivery)
	}
	if v := m.get("env"); v != nil {
		if v.Kind != yaml.MappingNode {
			p.errorf(v, path+".env", "write NAME: value pairs", "expected a mapping, found %s", kindName(v))
		} else {
			for i := 0; i+1 < len(v.Content); i += 2 {
				k, val := v.Content[i], v.Content[i+1]
				if !validEnvName(k.Value) {
					p.errorf(k, path+".env."+k.Value, "use letters, digits and '_'", "invalid environment variable name")
					continue
				}
				if strings.HasPrefix(k.Value, "CREDBROKER_") {
					p.errorf(k, path+".env."+k.Value, "choose another name", "CREDBROKER_ variables are set by credbroker itself")
					continue
				}
				if val.Kind != yaml.ScalarNode {
					p.errorf(val, path+".env."+k.Value, "", "expected a single value, found %s", kindName(val))
					continue
				}
				t.Env = append(t.Env, EnvVar{k.Value, val.Value})
			}
		}
	}
	if v := m.get("command"); v != nil {
		if v.Kind == yaml.ScalarNode {
			p.errorf(v, path+".command", "write a list like [aws, s3, ls], or use `run:` for a shell script", "expected a list of arguments")
		} else {
			m.list("command", &t.Command)
			if len(t.Command) == 0 {
				p.errorf(v, path+".command", "", "the command is empty")
			}
		}
	}
	m.str("run", &t.Run)
	m.str("dir", &t.Dir)
	m.duration("timeout", &t.Timeout)
	if v := m.get("set_variables"); v != nil {
		t.SetVariables = &SetVariables{Namespace: "aws"}
		if !(v.Kind == yaml.ScalarNode && v.Tag == "!!null") {
			sm := p.mapping(v, path+".set_variables")
			sm.str("namespace", &t.SetVariables.Namespace)
			sm.finish("namespace")
		}
		if !validVarName(t.SetVariables.Namespace) {
			p.errorf(v, path+".set_variables.namespace", "use letters, digits, '_', '.' and '-'", "invalid namespace %q", t.SetVariables.Namespace)
		}
		if t.Credentials == nil {
			p.errorf(v, path+".set_variables", "add a credentials block", "a task that sets credential variables needs credentials")
		}
	}
	actions := 0
	for _, set := range []bool{m.has("command"), m.has("run"), t.SetVariables != nil} {
		if set {
			actions++
		}
	}
	switch {
	case actions == 0:
		p.errorf(n, path, "add `command: [...]`, `run: ...` or `set_variables:`", "the task does nothing")
	case actions > 1:
		p.errorf(n, path, "keep exactly one of them", "the task has more than one of command, run and set_variables")
	}
	if t.SetVariables != nil && (m.has("delivery") || m.has("env") || m.has("dir") || m.has("timeout")) {
		p.errorf(n, path, "remove delivery, env, dir and timeout from it", "a set_variables task runs no command")
	}
	if t.Dir != "" && !filepath.IsAbs(t.Dir) && !strings.Contains(t.Dir, "${") {
		t.Dir = filepath.Join(dir, t.Dir)
	}
	m.finish(taskKeys...)
	return t
}

var credKeys = []string{"source", "region", "access_key_id", "secret_access_key", "session_token", "imds_endpoint", "imds_v1",
	"connector", "broker", "token_file", "ca_file", "sts_endpoint", "retries", "max_backoff", "tags", "allowed_account_ids", "role",
	"web_identity_token_file", "oidc", "audience", "duration", "policy", "policy_file", "policy_arns"}

func (p *parser) credentials(n *yaml.Node, path string) *Credentials {
	c := &Credentials{Line: n.Line}
	m := p.mapping(n, path)
	if n.Kind != yaml.MappingNode {
		return c
	}
	m.str("source", &c.Source)
	m.str("region", &c.Region)
	m.str("access_key_id", &c.AccessKeyID)
	m.str("secret_access_key", &c.SecretAccessKey)
	m.str("session_token", &c.SessionToken)
	m.str("imds_endpoint", &c.IMDSEndpoint)
	m.boolean("imds_v1", &c.IMDSv1)
	m.str("connector", &c.Connector)
	m.str("broker", &c.Broker)
	m.str("token_file", &c.TokenFile)
	m.str("ca_file", &c.CAFile)
	m.str("sts_endpoint", &c.STSEndpoint)
	m.integer("retries", &c.Retries, 1, 20)
	m.duration("max_backoff", &c.MaxBackoff)
	if v := m.get("tags"); v != nil {
		c.Tags = p.tags(v, path+".tags")
	}
	m.str("web_identity_token_file", &c.WebIdentityTokenFile)
	m.str("oidc", &c.OIDC)
	m.str("audience", &c.Audience)
	m.str("duration", &c.Duration)
	m.str("policy", &c.Policy)
	m.str("policy_file", &c.PolicyFile)
	m.list("policy_arns", &c.PolicyARNs)
	var roleNode *yaml.Node
	if v := m.get("role"); v != nil {
		roleNode = v
		c.Role = p.role(v, path+".role")
	}
	m.list("allowed_account_ids", &c.AllowedAccountIDs)
	p.accountIDs(m, path+".allowed_account_ids", c.AllowedAccountIDs)
	m.finish(credKeys...)

	if c.Source == "" {
		switch {
		case c.Connector != "":
			c.Source = "connector"
		case c.AccessKeyID != "" || c.SecretAccessKey != "":
			c.Source = "static"
		case c.OIDC != "" || c.WebIdentityTokenFile != "":
			c.Source = "web-identity"
		default:
			p.errorf(n, path+".source", "add `source: instance`, `source: static`, `source: web-identity` or `source: connector`", "missing")
			return c
		}
	}
	if c.Role != nil && c.Role.ARN == "" && c.Source != "web-identity" {
		p.errorf(roleNode, path+".role.arn", "name the role to assume: arn:aws:iam::ACCOUNT:role/NAME", "missing")
	}
	narrowing := []string{"duration", "policy", "policy_file", "policy_arns"}
	if c.Source != "connector" {
		for _, k := range narrowing {
			if m.has(k) {
				p.errorf(m.keys[k], path+"."+k, "put it under role: as role."+k, "not used by source %s", c.Source)
			}
		}
	} else {
		if c.Policy != "" && c.PolicyFile != "" {
			p.errorf(n, path, "keep one of them", "both policy and policy_file are set")
		}
		if c.Duration != "" && !strings.Contains(c.Duration, "${") {
			if d, err := ParseDuration(c.Duration); err != nil || d <= 0 {
				p.errorf(m.vals["duration"], path+".duration", "write a duration such as 900s, 30m or 1h", "invalid duration %q", c.Duration)
			}
		}
		if c.PolicyFile != "" && !filepath.IsAbs(c.PolicyFile) && !strings.Contains(c.PolicyFile, "${") {
			c.PolicyFile = filepath.Join(filepath.Dir(p.file), c.PolicyFile)
		}
	}
	switch c.Source {
	case "instance":
		p.forbid(m, path, "instance", "access_key_id", "secret_access_key", "session_token", "connector", "broker", "token_file", "ca_file",
			"oidc", "audience", "web_identity_token_file")
		p.roleTagsInstead(m, path, "instance")
	case "web-identity":
		p.forbid(m, path, "web-identity", "access_key_id", "secret_access_key", "session_token", "imds_endpoint", "imds_v1",
			"connector", "broker", "token_file", "ca_file")
		p.roleTagsInstead(m, path, "web-identity")
		if c.OIDC != "" && c.WebIdentityTokenFile != "" {
			p.errorf(m.keys["oidc"], path+".oidc", "keep one of oidc and web_identity_token_file", "both a CI token source and a token file are set")
		}
		if r := c.Role; r != nil && (len(r.Tags) > 0 || len(r.TransitiveTagKeys) > 0) {
			p.errorf(roleNode, path+".role.tags", "remove them: STS takes a web identity session's tags from the token's claims",
				"AssumeRoleWithWebIdentity takes no session tags")
		}
		if r := c.Role; r != nil && r.ExternalID != "" {
			p.errorf(roleNode, path+".role.external_id", "remove it: the role's trust policy checks the token instead", "AssumeRoleWithWebIdentity takes no external ID")
		}
	case "static":
		p.forbid(m, path, "static", "imds_endpoint", "imds_v1", "connector", "broker", "token_file", "ca_file",
			"oidc", "audience", "web_identity_token_file")
		p.roleTagsInstead(m, path, "static")
		if c.AccessKeyID == "" {
			p.errorf(n, path+".access_key_id", "set it, usually to a variable such as ${bamboo.awsAccessKeyId}", "missing for source static")
		}
		if c.SecretAccessKey == "" {
			p.errorf(n, path+".secret_access_key", "set it to a secret variable such as ${bamboo.awsSecretKeyPassword}", "missing for source static")
		}
		if looksLikeLiteralSecret(c.SecretAccessKey) {
			p.errorf(m.vals["secret_access_key"], path+".secret_access_key", "put the key in a secret variable and write ${bamboo.NAME} here", "a literal secret key in a job file")
		}
	case "connector":
		p.forbid(m, path, "connector", "access_key_id", "secret_access_key", "session_token", "imds_endpoint", "imds_v1", "role", "sts_endpoint",
			"web_identity_token_file")
		if c.Connector == "" {
			p.errorf(n, path+".connector", "name the connector, or a variable that holds its name: ${bamboo.deployConnector}", "missing for source connector")
		}
		if c.OIDC != "" && c.TokenFile != "" {
			p.errorf(m.keys["oidc"], path+".oidc", "keep one of oidc (the CI's ID token) and token_file (an agent token)", "both an ID token source and an agent token file are set")
		}
	default:
		p.errorf(m.vals["source"], path+".source", "use instance, static, web-identity or connector", "unknown source %q", c.Source)
	}
	return c
}

// looksLikeLiteralSecret reports a 40-character AWS secret key written
// into the job file instead of a variable reference.
func looksLikeLiteralSecret(s string) bool {
	if len(s) != 40 || strings.Contains(s, "${") {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '+' || r == '/') {
			return false
		}
	}
	return true
}

// accountIDs checks the written account IDs of an account guard; those
// with a ${...} reference are checked once substituted.
func (p *parser) accountIDs(m *mapping, path string, ids []string) {
	n := m.vals["allowed_account_ids"]
	for i, id := range ids {
		if strings.Contains(id, "${") {
			continue
		}
		if err := credbroker.CheckAccountIDs(path, credbroker.SplitAccountIDs(id)); err != nil {
			at := n
			if n.Kind == yaml.SequenceNode && i < len(n.Content) {
				at = n.Content[i]
			}
			e := credbroker.AsError(err)
			p.errorf(at, fmt.Sprintf("%s[%d]", path, i), e.Fix, "%s", e.Message)
		}
	}
	if len(ids) > credbroker.MaxAllowedAccounts {
		p.errorf(n, path, "list the accounts the credentials may belong to, no more", "%d accounts; at most %d are allowed", len(ids), credbroker.MaxAllowedAccounts)
	}
}

// roleTagsInstead refuses credentials.tags outside connector sources:
// their session tags belong to the role they assume.
func (p *parser) roleTagsInstead(m *mapping, path, source string) {
	if m.has("tags") {
		p.errorf(m.keys["tags"], path+".tags", "put session tags under role: as role.tags", "not used by source %s", source)
	}
}

// tags reads a mapping of session tags, in file order.
func (p *parser) tags(v *yaml.Node, path string) []Tag {
	if v.Kind != yaml.MappingNode {
		p.errorf(v, path, "write key: value pairs", "expected a mapping, found %s", kindName(v))
		return nil
	}
	var out []Tag
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], v.Content[i+1]
		if val.Kind != yaml.ScalarNode {
			p.errorf(val, path+"."+k.Value, "", "expected a single value, found %s", kindName(val))
			continue
		}
		out = append(out, Tag{k.Value, val.Value})
	}
	return out
}

func (p *parser) forbid(m *mapping, path, source string, keys ...string) {
	for _, k := range keys {
		if m.has(k) {
			p.errorf(m.keys[k], path+"."+k, "remove it, or change the source", "not used by source %s", source)
		}
	}
}

var roleKeys = []string{"arn", "external_id", "session_name", "duration", "policy", "policy_file", "policy_arns", "tags", "transitive_tag_keys", "session_tags"}

func (p *parser) role(n *yaml.Node, path string) *Role {
	r := &Role{Line: n.Line}
	m := p.mapping(n, path)
	if n.Kind != yaml.MappingNode {
		return r
	}
	m.str("arn", &r.ARN)
	m.str("external_id", &r.ExternalID)
	m.str("session_name", &r.SessionName)
	m.str("duration", &r.Duration)
	m.str("policy", &r.Policy)
	m.str("policy_file", &r.PolicyFile)
	m.list("policy_arns", &r.PolicyARNs)
	m.list("transitive_tag_keys", &r.TransitiveTagKeys)
	if v := m.get("tags"); v != nil {
		r.Tags = p.tags(v, path+".tags")
	}
	sessionTags := true
	m.boolean("session_tags", &sessionTags)
	r.NoSessionTags = !sessionTags
	if r.NoSessionTags && (len(r.Tags) > 0 || len(r.TransitiveTagKeys) > 0) {
		p.errorf(m.keys["session_tags"], path+".session_tags", "remove tags and transitive_tag_keys, or session_tags: false",
			"session tags are turned off, but tags are given")
	}
	m.finish(roleKeys...)
	if r.Policy != "" && r.PolicyFile != "" {
		p.errorf(n, path, "keep one of them", "both policy and policy_file are set")
	}
	if r.Duration != "" && !strings.Contains(r.Duration, "${") {
		if d, err := ParseDuration(r.Duration); err != nil || d <= 0 {
			p.errorf(m.vals["duration"], path+".duration", "write a duration such as 900s, 30m or 1h", "invalid duration %q", r.Duration)
		}
	}
	if r.PolicyFile != "" && !filepath.IsAbs(r.PolicyFile) && !strings.Contains(r.PolicyFile, "${") {
		r.PolicyFile = filepath.Join(filepath.Dir(p.file), r.PolicyFile)
	}
	return r
}

// ParseDuration parses "90s", "15m", "1h30m" or a bare number of seconds.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.Atoi(s); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	return time.ParseDuration(s)
}

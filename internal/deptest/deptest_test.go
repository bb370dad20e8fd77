package deptest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/credbroker/credbroker"

// rule says where the packages of some modules may be imported from.
type rule struct {
	// what the dependency is, for messages.
	name string
	// modules are the import path prefixes the rule covers (a prefix
	// matches itself and the paths below it).
	modules []string
	// owners are the module's packages (relative to the module, "." for
	// the root) that may import it in their code and their tests.
	owners []string
	// testers may import it in their tests only; "*" is every package.
	testers []string
	// anywhere: a small dependency any package may import.
	anywhere bool
}

// rules are the module's dependencies and where each may be imported.
// A new dependency needs a rule here (and a reason in its commit message).
var rules = []rule{
	{name: "the AWS SDK", modules: []string{"github.com/aws/aws-sdk-go-v2", "github.com/aws/smithy-go"},
		owners: []string{"awscreds", "awscreds/hostchain", "internal/testpeers"}},
	{name: "pgx", modules: []string{"github.com/jackc/pgx", "github.com/jackc/pgconn", "github.com/jackc/pgtype"},
		owners: []string{"postgres"}, testers: []string{"e2e"}},
	{name: "the SQLite driver", modules: []string{"modernc.org/sqlite", "github.com/mattn/go-sqlite3"},
		owners: []string{"sqlite"}, testers: []string{"e2e"}},
	{name: "cobra", modules: []string{"github.com/spf13/cobra", "github.com/spf13/pflag"},
		owners: []string{"cli"}},
	{name: "the YAML parser", modules: []string{"go.yaml.in/yaml", "gopkg.in/yaml.v3", "gopkg.in/yaml.v2"},
		owners: []string{"jobfile"}, testers: []string{"deploy"}},
	{name: "go-oidc and go-jose", modules: []string{"github.com/coreos/go-oidc", "github.com/go-jose/go-jose"},
		owners: []string{"oidc", "internal/testpeers"}},
	{name: "prometheus", modules: []string{"github.com/prometheus"},
		owners: []string{"metrics"}},
	{name: "chromedp", modules: []string{"github.com/chromedp"},
		testers: []string{"*"}},
	{name: "the benchmark suite's load generator", modules: []string{"github.com/tsenart/vegeta"}},
	{name: "golang.org/x/time and golang.org/x/sync", modules: []string{"golang.org/x/time", "golang.org/x/sync"},
		anywhere: true},
}

// inner are the domain's inner packages: nothing they build on, directly
// or not, may be a heavy dependency (only the standard library, this
// module and the dependencies allowed anywhere).
var inner = []string{".", "credcache", "policy", "vars", "mask", "seal", "broker", "httpapi", "endpoint", "storetest", "identity"}

// pkg is what `go list -json` says of a package.
type pkg struct {
	ImportPath   string
	Standard     bool
	Imports      []string
	TestImports  []string
	XTestImports []string
	Deps         []string
	Error        *struct{ Err string }
}

func (r *rule) covers(path string) bool {
	for _, m := range r.modules {
		if path == m || strings.HasPrefix(path, m+"/") || strings.HasPrefix(path, m+".") {
			return true
		}
	}
	return false
}

// ruleFor returns the rule that covers an import path outside the
// standard library and this module, or nil.
func ruleFor(path string) *rule {
	for i := range rules {
		if rules[i].covers(path) {
			return &rules[i]
		}
	}
	return nil
}

// rel returns a package of this module relative to it ("." for the root),
// and false for a package of another module.
func rel(path string) (string, bool) {
	if path == module {
		return ".", true
	}
	r, ok := strings.CutPrefix(path, module+"/")
	return r, ok
}

// list runs `go list` in the module's root for goos and returns every
// package of the module and every package they build on, by import path.
func list(t *testing.T, root, goos string) map[string]*pkg {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("find the go command: %v", err)
	}
	cmd := exec.Command(goBin, "list", "-e", "-deps", "-json=ImportPath,Standard,Imports,TestImports,XTestImports,Deps,Error", "./...")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS="+goos, "GOFLAGS=-mod=readonly")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("GOOS=%s go list: %v\n%s", goos, err, stderr.Bytes())
	}
	pkgs := map[string]*pkg{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		p := new(pkg)
		if err := dec.Decode(p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("GOOS=%s go list: decode: %v", goos, err)
		}
		if p.Error != nil {
			t.Errorf("GOOS=%s go list: %s: %s", goos, p.ImportPath, p.Error.Err)
		}
		pkgs[p.ImportPath] = p
	}
	return pkgs
}

// repoRoot returns the directory of this module's go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		t.Fatal("go env GOMOD: not in a module")
	}
	return filepath.Dir(gomod)
}

// check returns the violations of the rules in pkgs.
func check(pkgs map[string]*pkg) []string {
	var bad []string
	isStd := func(path string) bool {
		p, ok := pkgs[path]
		return ok && p.Standard || !strings.Contains(strings.SplitN(path, "/", 2)[0], ".")
	}
	var names []string
	for path := range pkgs {
		if _, ok := rel(path); ok {
			names = append(names, path)
		}
	}
	sort.Strings(names)
	for _, path := range names {
		p := pkgs[path]
		me, _ := rel(path)
		edges := []struct {
			imports []string
			test    bool
		}{{p.Imports, false}, {p.TestImports, true}, {p.XTestImports, true}}
		for _, e := range edges {
			for _, imp := range e.imports {
				if isStd(imp) {
					continue
				}
				if _, ours := rel(imp); ours {
					if me == "." && !e.test {
						bad = append(bad, fmt.Sprintf("the root package imports %s: it may import only the standard library", imp))
					}
					continue
				}
				where := "imports"
				if e.test {
					where = "imports in its tests"
				}
				if me == "." && !e.test {
					bad = append(bad, fmt.Sprintf("the root package imports %s: it may import only the standard library", imp))
					continue
				}
				r := ruleFor(imp)
				switch {
				case r == nil:
					bad = append(bad, fmt.Sprintf("%s %s %s, which no rule of internal/deptest names: add a rule saying which one package may import it", me, where, imp))
				case r.anywhere || slices.Contains(r.owners, me):
				case e.test && (slices.Contains(r.testers, me) || slices.Contains(r.testers, "*")):
				default:
					bad = append(bad, fmt.Sprintf("%s %s %s: %s belongs to %s", me, where, imp, r.name, owners(r)))
				}
			}
		}
	}
	for _, in := range inner {
		path := module
		if in != "." {
			path += "/" + in
		}
		p, ok := pkgs[path]
		if !ok {
			bad = append(bad, fmt.Sprintf("inner package %s is not in the module: update internal/deptest", in))
			continue
		}
		for _, d := range p.Deps {
			if _, ours := rel(d); ours || isStd(d) {
				continue
			}
			if r := ruleFor(d); r != nil && r.anywhere {
				continue
			}
			// Name only where the chain leaves this module, not every
			// package of the dependency behind it.
			chain := importChain(pkgs, path, d)
			if len(chain) < 2 {
				continue
			}
			if _, fromOurs := rel(chain[len(chain)-2]); !fromOurs {
				continue
			}
			shown := make([]string, len(chain))
			for i, c := range chain {
				shown[i] = c
				if r, ok := rel(c); ok {
					shown[i] = r
				}
			}
			bad = append(bad, fmt.Sprintf("%s builds on %s (through %s): the domain's inner packages build on the standard library, this module and golang.org/x/{time,sync} only",
				in, d, strings.Join(shown, " → ")))
		}
	}
	return bad
}

// owners describes where a rule lets its modules be imported.
func owners(r *rule) string {
	var parts []string
	if len(r.owners) > 0 {
		parts = append(parts, "package "+strings.Join(r.owners, " and "))
	}
	for _, t := range r.testers {
		if t == "*" {
			parts = append(parts, "tests")
		} else {
			parts = append(parts, "the tests of "+t)
		}
	}
	if len(parts) == 0 {
		return "no package of this module"
	}
	return strings.Join(parts, " and ") + " alone"
}

// importChain returns a shortest chain of imports from one package to
// another, both in pkgs, as import paths from the first to the last.
func importChain(pkgs map[string]*pkg, from, to string) []string {
	prev := map[string]string{from: ""}
	queue := []string{from}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		if cur == to {
			var chain []string
			for p := to; p != ""; p = prev[p] {
				chain = append([]string{p}, chain...)
			}
			return chain
		}
		if p, ok := pkgs[cur]; ok {
			for _, imp := range p.Imports {
				if _, seen := prev[imp]; !seen {
					prev[imp] = cur
					queue = append(queue, imp)
				}
			}
		}
	}
	return nil
}

func TestImportGraph(t *testing.T) {
	root := repoRoot(t)
	seen := map[string][]string{}
	var order []string
	for _, goos := range []string{"linux", "darwin", "windows"} {
		pkgs := list(t, root, goos)
		if _, ok := pkgs[module]; !ok {
			t.Fatalf("GOOS=%s go list: no root package %s", goos, module)
		}
		for _, v := range check(pkgs) {
			if seen[v] == nil {
				order = append(order, v)
			}
			seen[v] = append(seen[v], goos)
		}
	}
	for _, v := range order {
		t.Errorf("%s (GOOS %s)", v, strings.Join(seen[v], ", "))
	}
}

// TestRulesCatchViolations feeds the checker a made-up graph with one
// violation of each kind, so that the import graph test can fail.
func TestRulesCatchViolations(t *testing.T) {
	m := func(p string) string { return module + "/" + p }
	pkgs := map[string]*pkg{
		module:                             {ImportPath: module, Imports: []string{"fmt", m("seal")}},
		m("seal"):                          {ImportPath: m("seal"), Imports: []string{"crypto/aes"}},
		m("broker"):                        {ImportPath: m("broker"), Imports: []string{m("awscreds")}, Deps: []string{m("awscreds"), "github.com/aws/aws-sdk-go-v2/aws"}},
		m("awscreds"):                      {ImportPath: m("awscreds"), Imports: []string{"github.com/aws/aws-sdk-go-v2/aws"}},
		m("cli"):                           {ImportPath: m("cli"), Imports: []string{"github.com/jackc/pgx/v5", "github.com/spf13/cobra", "example.com/new/dep"}},
		m("e2e"):                           {ImportPath: m("e2e"), TestImports: []string{"modernc.org/sqlite", "github.com/chromedp/chromedp", "github.com/spf13/cobra"}},
		m("httpapi"):                       {ImportPath: m("httpapi"), Imports: []string{"golang.org/x/time/rate", "github.com/chromedp/chromedp"}},
		m("credcache"):                     {ImportPath: m("credcache")},
		m("policy"):                        {ImportPath: m("policy")},
		m("vars"):                          {ImportPath: m("vars")},
		m("mask"):                          {ImportPath: m("mask")},
		m("endpoint"):                      {ImportPath: m("endpoint")},
		m("storetest"):                     {ImportPath: m("storetest")},
		"fmt":                              {ImportPath: "fmt", Standard: true},
		"crypto/aes":                       {ImportPath: "crypto/aes", Standard: true},
		"github.com/aws/aws-sdk-go-v2/aws": {ImportPath: "github.com/aws/aws-sdk-go-v2/aws"},
	}
	got := strings.Join(check(pkgs), "\n")
	for _, want := range []string{
		"the root package imports " + m("seal"),
		"cli imports github.com/jackc/pgx/v5: pgx belongs to package postgres and the tests of e2e alone",
		"cli imports example.com/new/dep, which no rule of internal/deptest names",
		"e2e imports in its tests github.com/spf13/cobra: cobra belongs to package cli alone",
		"httpapi imports github.com/chromedp/chromedp: chromedp belongs to tests alone",
		"broker builds on github.com/aws/aws-sdk-go-v2/aws (through broker → awscreds → github.com/aws/aws-sdk-go-v2/aws)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("no violation %q in:\n%s", want, got)
		}
	}
	for _, allowed := range []string{"awscreds imports", "e2e imports in its tests modernc.org/sqlite", "e2e imports in its tests github.com/chromedp", "cli imports github.com/spf13/cobra", "golang.org/x/time"} {
		if strings.Contains(got, allowed) {
			t.Errorf("an allowed import reported (%q) in:\n%s", allowed, got)
		}
	}
}

// agentForbidden are what the agent build (cmd/credbroker with the build
// tag agentonly) must not link: the broker's side, whose package
// initialisation every start of `credbroker exec` would otherwise pay.
var agentForbidden = []string{
	module + "/broker", module + "/sqlite", module + "/postgres", module + "/metrics", module + "/console",
	module + "/internal/sqlstore", module + "/seal", module + "/awscreds/hostchain",
	"github.com/prometheus", "modernc.org", "github.com/jackc",
	"github.com/aws/aws-sdk-go-v2/config", "github.com/aws/aws-sdk-go-v2/service/sso",
	"github.com/aws/aws-sdk-go-v2/service/ssooidc", "github.com/aws/aws-sdk-go-v2/service/signin",
}

// agentLinks reports which of deps the agent build may not link.
func agentLinks(deps []string) []string {
	var bad []string
	for _, d := range deps {
		for _, f := range agentForbidden {
			if d == f || strings.HasPrefix(d, f+"/") {
				bad = append(bad, d)
				break
			}
		}
	}
	return bad
}

func TestAgentBuildLinksNoServerSide(t *testing.T) {
	root := repoRoot(t)
	cmd := exec.Command("go", "list", "-deps", "-tags", "agentonly", "./cmd/credbroker")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=readonly")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -tags agentonly: %v", err)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, module+"/cli") || !slices.Contains(deps, module+"/taskrun") {
		t.Fatalf("the agent build links neither cli nor taskrun: %v", deps)
	}
	for _, d := range agentLinks(deps) {
		t.Errorf("the agent build links %s; keep the broker's side out of the agent's commands", d)
	}
	// The check itself: the full build links what the agent build may not.
	cmd = exec.Command("go", "list", "-deps", "./cmd/credbroker")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=readonly")
	if out, err = cmd.Output(); err != nil {
		t.Fatalf("go list: %v", err)
	}
	full := agentLinks(strings.Fields(string(out)))
	for _, f := range agentForbidden {
		if !slices.ContainsFunc(full, func(d string) bool { return d == f || strings.HasPrefix(d, f+"/") }) {
			t.Errorf("the full build does not link %s: drop it from agentForbidden", f)
		}
	}
}

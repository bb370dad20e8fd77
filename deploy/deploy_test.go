package deploy_test

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/credbroker/credbroker/internal/testpeers"
)

// instruction is one instruction of a Dockerfile.
type instruction struct {
	line int
	cmd  string // upper case
	args string
}

// parseDockerfile reads the instructions of a Dockerfile: comments and
// blank lines dropped, continued lines (a trailing backslash) joined.
func parseDockerfile(t *testing.T, path string) []instruction {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []instruction
	var cur strings.Builder
	start := 0
	for i, l := range strings.Split(string(raw), "\n") {
		trimmed := strings.TrimSpace(l)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if s, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{line: start, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)})
		cur.Reset()
	}
	if cur.Len() > 0 {
		t.Fatalf("%s: a continued line at the end", path)
	}
	return out
}

// stage is the instructions of one FROM of a Dockerfile.
type stage struct {
	base, name string
	ins        []instruction
}

func stages(t *testing.T, ins []instruction) []stage {
	t.Helper()
	var out []stage
	for _, in := range ins {
		if in.cmd == "FROM" {
			f := strings.Fields(in.args)
			s := stage{base: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				s.name = f[2]
			}
			out = append(out, s)
			continue
		}
		if len(out) == 0 {
			if in.cmd != "ARG" {
				t.Fatalf("Dockerfile line %d: %s before the first FROM", in.line, in.cmd)
			}
			continue
		}
		out[len(out)-1].ins = append(out[len(out)-1].ins, in)
	}
	return out
}

func find(s stage, cmd string) []instruction {
	var out []instruction
	for _, in := range s.ins {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// TestDockerfile: a multi-stage build whose last stage is an empty image
// with only the binary and the CA roots, run as a non-root user with an
// exec-form entrypoint; the build stage's Go is the module's; and the
// build command it runs, run here, makes a static binary.
func TestDockerfile(t *testing.T) {
	known := []string{"FROM", "ARG", "WORKDIR", "COPY", "RUN", "USER", "ENV", "EXPOSE", "VOLUME", "ENTRYPOINT", "CMD", "LABEL"}
	ins := parseDockerfile(t, "Dockerfile")
	for _, in := range ins {
		if !slices.Contains(known, in.cmd) {
			t.Errorf("Dockerfile line %d: unknown instruction %s", in.line, in.cmd)
		}
	}
	st := stages(t, ins)
	if len(st) != 2 {
		t.Fatalf("want a build stage and a run stage, got %d stages", len(st))
	}
	build, run := st[0], st[1]

	// The build stage: the module's Go version, a static build.
	goMod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(goMod)
	if goVersion == nil || build.base != "golang:"+string(goVersion[1]) {
		t.Errorf("the build stage is FROM %s, want golang:%s (go.mod)", build.base, goVersion[1])
	}
	var buildCmd string
	for _, in := range find(build, "RUN") {
		if strings.Contains(in.args, "go build") {
			buildCmd = in.args
		}
	}
	if !strings.Contains(buildCmd, "CGO_ENABLED=0") || !strings.Contains(buildCmd, "./cmd/credbroker") {
		t.Fatalf("no static build of ./cmd/credbroker (CGO_ENABLED=0 go build) in the build stage: %q", buildCmd)
	}
	for _, in := range find(build, "COPY") {
		for _, src := range strings.Fields(in.args)[:len(strings.Fields(in.args))-1] {
			if strings.HasPrefix(src, "--") {
				continue
			}
			if _, err := os.Stat(filepath.Join("..", src)); err != nil {
				t.Errorf("Dockerfile line %d copies %s, which the repository does not have", in.line, src)
			}
		}
	}

	// The run stage: nothing but what is copied in.
	if run.base != "scratch" {
		t.Errorf("the run stage is FROM %s, want scratch", run.base)
	}
	users := find(run, "USER")
	if len(users) != 1 {
		t.Fatalf("the run stage sets USER %d times, want once", len(users))
	}
	uid, gid, _ := strings.Cut(users[0].args, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		t.Errorf("USER %s: want a numeric non-root uid (scratch has no /etc/passwd)", users[0].args)
	}
	if n, err := strconv.Atoi(gid); gid != "" && (err != nil || n == 0) {
		t.Errorf("USER %s: want a numeric non-root gid", users[0].args)
	}
	entry := find(run, "ENTRYPOINT")
	if len(entry) != 1 {
		t.Fatal("the run stage has no single ENTRYPOINT")
	}
	var argv []string
	if err := json.Unmarshal([]byte(entry[0].args), &argv); err != nil || len(argv) == 0 {
		t.Fatalf("ENTRYPOINT %s: want the exec form, a JSON list (signals reach the broker, not a shell): %v", entry[0].args, err)
	}
	var copied []string
	for _, in := range find(run, "COPY") {
		f := strings.Fields(in.args)
		if !slices.Contains(f, "--from="+build.name) {
			t.Errorf("Dockerfile line %d: the run stage copies from outside the build stage: %s", in.line, in.args)
		}
		copied = append(copied, f[len(f)-1])
	}
	if !slices.Contains(copied, argv[0]) {
		t.Errorf("ENTRYPOINT %s is not a file the run stage copies in (%v)", argv[0], copied)
	}
	if !slices.Contains(copied, "/etc/ssl/certs/ca-certificates.crt") {
		t.Error("the run stage has no CA roots: STS over HTTPS would fail")
	}
	var cmd []string
	if c := find(run, "CMD"); len(c) == 1 {
		if err := json.Unmarshal([]byte(c[0].args), &cmd); err != nil {
			t.Fatalf("CMD %s: want the exec form: %v", c[0].args, err)
		}
	}
	if len(cmd) == 0 || cmd[0] != "serve" {
		t.Errorf("CMD %v: want serve", cmd)
	}

	bin := dockerBuild(t)
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("the binary is dynamically linked (program header %s)", p.Type)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary needs shared libraries: %v", libs)
	}
	if err := exec.Command(bin, "serve", "--help").Run(); err != nil {
		t.Errorf("the static binary does not run: %v", err)
	}
}

// binDir holds the binary the Dockerfile's build command makes, once for
// every test of the package.
var (
	binDir    string
	buildOnce sync.Once
	built     string
	buildErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "credbroker-deploy-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// dockerBuild runs the build command of the Dockerfile's build stage, as
// the stage would, with the output into a directory of ours, and returns
// the binary.
func dockerBuild(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() { built, buildErr = runDockerBuild(t) })
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return built
}

func runDockerBuild(t *testing.T) (string, error) {
	var buildCmd string
	for _, in := range stages(t, parseDockerfile(t, "Dockerfile"))[0].ins {
		if in.cmd == "RUN" && strings.Contains(in.args, "go build") {
			buildCmd = in.args
		}
	}
	out := filepath.Join(binDir, "credbroker")
	fields := strings.Fields(buildCmd)
	env := os.Environ()
	for len(fields) > 0 && strings.Contains(fields[0], "=") {
		env = append(env, fields[0])
		fields = fields[1:]
	}
	if len(fields) < 2 || fields[0] != "go" || fields[1] != "build" {
		return "", fmt.Errorf("the Dockerfile's build command is not VAR=value... go build ...: %q", buildCmd)
	}
	for i, f := range fields {
		if f == "-o" && i+1 < len(fields) {
			fields[i+1] = out
		}
	}
	c := exec.Command("go", fields[1:]...)
	c.Dir, c.Env = "..", env
	if b, err := c.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%s: %w\n%s", buildCmd, err, b)
	}
	return out, nil
}

// TestSystemdUnit: systemd-analyze verifies the unit without a warning,
// and its offline security analysis rates it 2.0 or better ("OK" is below
// 3); the settings this project relies on are there.
func TestSystemdUnit(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatalf("systemd-analyze is missing (Debian package systemd): %v", err)
	}
	raw, err := os.ReadFile("systemd/credbroker.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := string(raw)
	settings := map[string][]string{}
	sc := bufio.NewScanner(strings.NewReader(unit))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(l, "="); ok && !strings.HasPrefix(l, "#") {
			settings[k] = append(settings[k], v)
		}
	}
	for k, want := range map[string]string{
		"User": "credbroker", "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
		"PrivateTmp": "yes", "PrivateDevices": "yes", "CapabilityBoundingSet": "", "KillSignal": "SIGTERM",
		"StateDirectory": "credbroker", "UMask": "0077", "MemoryDenyWriteExecute": "yes",
	} {
		if got := settings[k]; len(got) != 1 || got[0] != want {
			t.Errorf("%s=%v, want %q", k, got, want)
		}
	}
	exe := strings.Fields(settings["ExecStart"][0])
	if len(exe) < 4 || exe[1] != "serve" || exe[2] != "--config" {
		t.Errorf("ExecStart=%v: want credbroker serve --config FILE", exe)
	}
	stop, err := time.ParseDuration(settings["TimeoutStopSec"][0])
	if err != nil || stop <= 25*time.Second {
		t.Errorf("TimeoutStopSec=%v: want more than serve's drain timeout (25s)", settings["TimeoutStopSec"])
	}

	// verify checks ExecStart's program exists: point it at a binary of
	// ours, the rest unchanged.
	dir := t.TempDir()
	bin := dockerBuild(t)
	path := filepath.Join(dir, "credbroker.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(unit, exe[0], bin)), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", "--man=no", path).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err = exec.Command(analyze, "security", "--offline=yes", "--threshold=20", "--no-pager", path).CombinedOutput()
	if err != nil {
		t.Errorf("systemd-analyze security rates the unit above 2.0: %v\n%s", err, out)
	}
	t.Logf("%s", lastLine(string(out)))

	// The check can fail: a misspelt setting is reported.
	bad := filepath.Join(dir, "bad.service")
	if err := os.WriteFile(bad, []byte(strings.Replace(unit, "ProtectSystem=", "ProtectSystm=", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, _ := exec.Command(analyze, "verify", "--man=no", bad).CombinedOutput(); !strings.Contains(string(out), "ProtectSystm") {
		t.Errorf("systemd-analyze verify did not report a misspelt key: %s", out)
	}
}

func lastLine(s string) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	return l[len(l)-1]
}

// object is a decoded YAML mapping.
type object = map[string]any

// at walks a decoded YAML document: keys of mappings, indexes of lists.
func at(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(object)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

// TestKubernetesExample: the manifests parse; the Deployment takes the
// PostgreSQL URL and the master key from a Secret (never a literal), is
// ready on /readyz and live on /livez of the API port, runs as non-root
// with a read-only root file system, and gives the drain time within its
// grace period; the settings of its ConfigMap start a real broker that
// answers those probes and exits 0 at SIGTERM.
func TestKubernetesExample(t *testing.T) {
	raw, err := os.ReadFile("kubernetes/credbroker.yaml")
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string]object{}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	for {
		var d object
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("kubernetes/credbroker.yaml: %v", err)
		}
		kind, _ := d["kind"].(string)
		if _, dup := docs[kind]; dup || kind == "" || d["apiVersion"] == nil {
			t.Fatalf("a document without kind or apiVersion, or two of kind %q", kind)
		}
		docs[kind] = d
	}
	dep, cm, svc := docs["Deployment"], docs["ConfigMap"], docs["Service"]
	if dep == nil || cm == nil || svc == nil {
		t.Fatalf("want a Deployment, a ConfigMap and a Service, got %v", slices.Collect(maps.Keys(docs)))
	}
	if at(dep, "apiVersion") != "apps/v1" {
		t.Errorf("Deployment apiVersion %v", at(dep, "apiVersion"))
	}
	pod := at(dep, "spec", "template", "spec")
	labels, _ := at(dep, "spec", "template", "metadata", "labels").(object)
	sel, _ := at(dep, "spec", "selector", "matchLabels").(object)
	svcSel, _ := at(svc, "spec", "selector").(object)
	for k, v := range sel {
		if labels[k] != v || svcSel[k] != v {
			t.Errorf("selector %s=%v does not match the pod's labels or the Service's selector", k, v)
		}
	}
	if at(pod, "securityContext", "runAsNonRoot") != true {
		t.Error("the pod does not run as non-root")
	}
	c := at(pod, "containers", 0)
	if at(c, "securityContext", "readOnlyRootFilesystem") != true || at(c, "securityContext", "allowPrivilegeEscalation") != false {
		t.Error("the container's root file system is writable or it may escalate privileges")
	}

	fromSecret := map[string]bool{}
	envs, _ := at(c, "env").([]any)
	for _, e := range envs {
		name, _ := at(e, "name").(string)
		if at(e, "value") != nil && (strings.Contains(name, "KEY") || strings.Contains(name, "DATABASE_URL")) {
			t.Errorf("env %s is a literal value, want a secretKeyRef", name)
		}
		if at(e, "valueFrom", "secretKeyRef", "name") != nil && at(e, "valueFrom", "secretKeyRef", "key") != nil {
			fromSecret[name] = true
		}
	}
	for _, want := range []string{"CREDBROKER_DATABASE_URL", "CREDBROKER_MASTER_KEY"} {
		if !fromSecret[want] {
			t.Errorf("%s does not come from a Secret", want)
		}
	}

	ports := map[string]int{}
	for _, p := range at(c, "ports").([]any) {
		ports[at(p, "name").(string)] = at(p, "containerPort").(int)
	}
	for probe, path := range map[string]string{"readinessProbe": "/readyz", "livenessProbe": "/livez"} {
		if got := at(c, probe, "httpGet", "path"); got != path {
			t.Errorf("%s path %v, want %s", probe, got, path)
		}
		if at(c, probe, "httpGet", "port") != "api" {
			t.Errorf("%s is not on the api port", probe)
		}
	}

	// The settings file the container reads is the ConfigMap's.
	args := []string{}
	for _, a := range at(c, "args").([]any) {
		args = append(args, a.(string))
	}
	i := slices.Index(args, "--config")
	if len(args) == 0 || args[0] != "serve" || i < 0 || i+1 >= len(args) {
		t.Fatalf("args %v: want serve --config FILE", args)
	}
	var mountedAt string
	for _, m := range at(c, "volumeMounts").([]any) {
		for _, v := range at(pod, "volumes").([]any) {
			if at(v, "name") == at(m, "name") && at(v, "configMap", "name") == at(cm, "metadata", "name") {
				mountedAt = at(m, "mountPath").(string)
			}
		}
	}
	dir, key := filepath.Split(args[i+1])
	settings, ok := at(cm, "data", key).(string)
	if filepath.Clean(dir) != mountedAt || !ok {
		t.Fatalf("--config %s is not a key of the ConfigMap mounted at %s", args[i+1], mountedAt)
	}
	var conf object
	if err := yaml.Unmarshal([]byte(settings), &conf); err != nil {
		t.Fatal(err)
	}
	for flag, port := range map[string]string{"listen": "api", "metrics-listen": "metrics"} {
		addr, _ := conf[flag].(string)
		if !strings.HasSuffix(addr, fmt.Sprintf(":%d", ports[port])) {
			t.Errorf("%s %q is not on the %s container port %d", flag, addr, port, ports[port])
		}
	}
	drain, err := time.ParseDuration(fmt.Sprint(conf["drain-timeout"]))
	grace, _ := at(pod, "terminationGracePeriodSeconds").(int)
	if err != nil || time.Duration(grace)*time.Second <= drain {
		t.Errorf("terminationGracePeriodSeconds %d does not cover drain-timeout %v", grace, conf["drain-timeout"])
	}

	// Start a broker with those settings (the embedded store, local
	// addresses over the listen flags), ask the probes, SIGTERM it.
	work := t.TempDir()
	confFile := filepath.Join(work, key)
	if err := os.WriteFile(confFile, []byte(settings), 0o600); err != nil {
		t.Fatal(err)
	}
	api, met := testpeers.FreePort(t), testpeers.FreePort(t)
	var log bytes.Buffer
	cmd := exec.Command(dockerBuild(t), append(args[:i:i], "--config", confFile,
		"--listen", fmt.Sprintf("127.0.0.1:%d", api), "--metrics-listen", fmt.Sprintf("127.0.0.1:%d", met),
		"--data-dir", filepath.Join(work, "data"))...)
	cmd.Args = append(cmd.Args, args[i+2:]...)
	cmd.Env = []string{"HOME=" + work, "PATH=" + os.Getenv("PATH")}
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
	})
	get := func(u string) int {
		resp, err := http.Get(u)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	deadline := time.Now().Add(time.Minute) // a hang guard, not a measure
	for get(fmt.Sprintf("http://127.0.0.1:%d/readyz", api)) != 200 {
		if time.Now().After(deadline) {
			t.Fatalf("the broker with the ConfigMap's settings is not ready:\n%s", log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st := get(fmt.Sprintf("http://127.0.0.1:%d/livez", api)); st != 200 {
		t.Errorf("/livez: %d", st)
	}
	if st := get(fmt.Sprintf("http://127.0.0.1:%d/metrics", met)); st != 200 {
		t.Errorf("/metrics on the metrics port: %d", st)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("the broker exited with %v at SIGTERM, want 0\n%s", err, log.String())
		}
	case <-time.After(time.Minute): // a hang guard, not a measure
		t.Fatalf("the broker did not exit at SIGTERM\n%s", log.String())
	}
}

package endpoint

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/credcache"
	"github.com/credbroker/credbroker/internal/testpeers"
)

// fixed serves the same hour-long credentials for ever.
func fixed(id string) credbroker.Provider {
	cr := credbroker.Credentials{AccessKeyID: id, SecretAccessKey: "secret-of-" + id, SessionToken: "token-of-" + id, Expires: time.Now().Add(time.Hour)}
	return credbroker.ProviderFunc(func(context.Context) (credbroker.Credentials, error) { return cr, nil })
}

func startChannel(t *testing.T, opts ChannelOptions) *Channel {
	t.Helper()
	if opts.Dir == "" {
		// A private directory, as package taskrun's run directories are
		// (t.TempDir's subdirectories are not).
		opts.Dir = filepath.Join(t.TempDir(), "channel")
		if err := os.Mkdir(opts.Dir, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if opts.Command == nil {
		opts.Command = []string{"/usr/local/bin/credbroker", "credential-process"}
	}
	c, err := StartChannel(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// processJSON is the credential_process answer.
type processJSON struct {
	Version                                   int
	AccessKeyID                               string `json:"AccessKeyId"`
	SecretAccessKey, SessionToken, Expiration string
}

func fetch(t *testing.T, c *Channel, profile string) processJSON {
	t.Helper()
	b, err := FetchProfile(context.Background(), c.Dir(), profile)
	if err != nil {
		t.Fatalf("fetch %s: %v", profile, err)
	}
	var p processJSON
	if err := json.Unmarshal(b, &p); err != nil || p.Version != 1 {
		t.Fatalf("fetch %s: not credential_process JSON: %q", profile, b)
	}
	return p
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode()
}

func TestChannelServesEachProfileAndWritesItsConfig(t *testing.T) {
	c := startChannel(t, ChannelOptions{
		Profiles: []ChannelProfile{
			{Name: "reader", Region: "eu-west-1", Provider: fixed("ASIAREADER")},
			{Name: "writer", Region: "us-east-1", Provider: fixed("ASIAWRITER")},
		},
		Default: "writer",
		Command: []string{"/opt/cred broker/credbroker", "credential-process"},
	})
	for _, p := range []string{"reader", "writer"} {
		got := fetch(t, c, p)
		want := "ASIA" + strings.ToUpper(p)
		if got.AccessKeyID != want || got.SecretAccessKey != "secret-of-"+want || got.SessionToken != "token-of-"+want || got.Expiration == "" {
			t.Errorf("profile %s answered %+v", p, got)
		}
	}

	conf, err := os.ReadFile(c.ConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	line := "credential_process = '/opt/cred broker/credbroker' credential-process --channel " + c.Dir() + " --profile "
	want := "# credbroker: the profiles of this task. Removed when the task ends.\n\n" +
		"[default]\nregion = us-east-1\n" + line + "writer\n\n" +
		"[profile reader]\nregion = eu-west-1\n" + line + "reader\n\n" +
		"[profile writer]\nregion = us-east-1\n" + line + "writer\n"
	if string(conf) != want {
		t.Errorf("config file:\n%s\nwant:\n%s", conf, want)
	}
	if cr, _ := os.ReadFile(c.CredentialsFile); len(cr) != 0 {
		t.Errorf("the shared-credentials file is not empty: %q", cr)
	}
	if m := mode(t, c.Dir()); m != os.ModeDir|0o700 {
		t.Errorf("private directory has mode %v", m)
	}
	for _, f := range []string{channelConfig, channelCredentials, channelToken, channelSocket} {
		if m := mode(t, filepath.Join(c.Dir(), f)).Perm(); m != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, m)
		}
	}
	env := strings.Join(c.Env(), "\n")
	for _, e := range []string{"AWS_CONFIG_FILE=" + c.ConfigFile, "AWS_SHARED_CREDENTIALS_FILE=" + c.CredentialsFile, "AWS_SDK_LOAD_CONFIG=1"} {
		if !strings.Contains(env, e) {
			t.Errorf("Env lacks %s: %s", e, env)
		}
	}
	if strings.Contains(env+string(conf), c.Token()) {
		t.Error("the token is in the environment or the config file")
	}

	dir := c.Dir()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 0 {
		t.Fatalf("Close left %v", left)
	}
	_, err = FetchProfile(context.Background(), dir, "reader")
	if e := credbroker.AsError(err); e == nil || e.Code != credbroker.CodeUnavailable || !strings.Contains(e.Error(), "within its credbroker exec or run") {
		t.Fatalf("fetch after Close: %v", err)
	}
}

// A profile named default is the [default] section, and written once.
func TestChannelProfileNamedDefault(t *testing.T) {
	c := startChannel(t, ChannelOptions{Profiles: []ChannelProfile{
		{Name: "other", Provider: fixed("ASIAOTHER")}, {Name: "default", Provider: fixed("ASIADEFAULT")},
	}})
	conf, _ := os.ReadFile(c.ConfigFile)
	if strings.Count(string(conf), "[default]") != 1 || strings.Contains(string(conf), "[profile default]") ||
		!strings.Contains(string(conf), "[profile other]") || !strings.Contains(string(conf), "--profile default\n") {
		t.Fatalf("config file:\n%s", conf)
	}
	if got := fetch(t, c, "default"); got.AccessKeyID != "ASIADEFAULT" {
		t.Fatalf("default: %+v", got)
	}
}

// Without a directory of the caller's, the channel makes one, and Close
// removes it.
func TestChannelOwnDirectory(t *testing.T) {
	c, err := StartChannel(ChannelOptions{Command: []string{"credbroker"}, Profiles: []ChannelProfile{{Name: "ci", Provider: fixed("ASIAOWNDIR")}}})
	if err != nil {
		t.Fatal(err)
	}
	if m := mode(t, c.Dir()); m != os.ModeDir|0o700 {
		t.Errorf("the channel's own directory has mode %v", m)
	}
	if got := fetch(t, c, "ci"); got.AccessKeyID != "ASIAOWNDIR" {
		t.Fatalf("ci: %+v", got)
	}
	c.Close()
	if _, err := os.Stat(c.Dir()); !os.IsNotExist(err) {
		t.Fatalf("Close left its own directory: %v", err)
	}
}

// Each profile refreshes on its own, when its own credentials near their
// expiry by the injected clock.
func TestChannelProfilesRefreshOnTheirOwn(t *testing.T) {
	clk := &clock{t: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	var callsA, callsB atomic.Int64
	a := credcache.New(sessions(clk, &callsA), credcache.Options{Now: clk.Now})
	b := credcache.New(sessions(clk, &callsB), credcache.Options{Now: clk.Now})
	c := startChannel(t, ChannelOptions{Profiles: []ChannelProfile{{Name: "a", Provider: a}, {Name: "b", Provider: b}}})

	a1, b1 := fetch(t, c, "a"), fetch(t, c, "b")
	if again := fetch(t, c, "a"); again.AccessKeyID != a1.AccessKeyID || callsA.Load() != 1 || callsB.Load() != 1 {
		t.Fatalf("cached credentials were not reused: %d and %d calls", callsA.Load(), callsB.Load())
	}
	// 15-minute sessions: past 14 minutes both are in their refresh window.
	clk.Add(14*time.Minute + 30*time.Second)
	a2 := fetch(t, c, "a")
	if a2.AccessKeyID == a1.AccessKeyID || callsA.Load() != 2 || callsB.Load() != 1 {
		t.Fatalf("refreshing profile a: key %s (was %s), calls a=%d b=%d", a2.AccessKeyID, a1.AccessKeyID, callsA.Load(), callsB.Load())
	}
	b2 := fetch(t, c, "b")
	if b2.AccessKeyID == b1.AccessKeyID || callsB.Load() != 2 || callsA.Load() != 2 {
		t.Fatalf("refreshing profile b: key %s (was %s), calls a=%d b=%d", b2.AccessKeyID, b1.AccessKeyID, callsA.Load(), callsB.Load())
	}
	if exp, err := time.Parse(time.RFC3339, b2.Expiration); err != nil || !exp.Equal(clk.Now().Add(15*time.Minute)) {
		t.Fatalf("refreshed expiration %q, want %s", b2.Expiration, clk.Now().Add(15*time.Minute))
	}
}

// request sends one request to the channel's socket and returns the status
// and the error body.
func request(t *testing.T, c *Channel, method, path, auth string) (int, errorBody) {
	t.Helper()
	socket := filepath.Join(c.Dir(), channelSocket)
	cmd := exec.Command(testpeers.Python(t), "-c", rawHTTP, socket, method, path, auth)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python3 request: %v: %s", err, out)
	}
	status, body, _ := strings.Cut(string(out), "\n")
	var code int
	fmt.Sscan(status, &code)
	var e errorBody
	if code != http.StatusOK {
		if err := json.Unmarshal([]byte(body), &e); err != nil || e.Code == "" || e.Message == "" {
			t.Fatalf("refusal %d is not JSON {code, message}: %q", code, body)
		}
	}
	return code, e
}

// rawHTTP sends one HTTP/1.0 request over a unix socket and prints the
// status and the body, or the errno when it cannot connect.
const rawHTTP = `
import socket, sys
path, method, target, auth = sys.argv[1:5]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect(path)
except OSError as e:
    print("connect", e.errno)
    sys.exit(0)
req = method + " " + target + " HTTP/1.0\r\nHost: channel\r\n"
if auth:
    req += "Authorization: " + auth + "\r\n"
s.sendall((req + "\r\n").encode())
data = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    data += b
head, _, body = data.partition(b"\r\n\r\n")
print(head.split(b" ")[1].decode())
print(body.decode())
`

func TestChannelRefusesBeforeAskingForCredentials(t *testing.T) {
	var calls atomic.Int64
	prov := credbroker.ProviderFunc(func(context.Context) (credbroker.Credentials, error) {
		calls.Add(1)
		return credbroker.Credentials{AccessKeyID: "ASIAREFUSALS", SecretAccessKey: "refusal-secret", Expires: time.Now().Add(time.Hour)}, nil
	})
	c := startChannel(t, ChannelOptions{Profiles: []ChannelProfile{{Name: "ci", Provider: prov}, {Name: "prod", Provider: prov}}})
	tok := c.Token()
	for _, tc := range []struct {
		method, path, auth string
		status             int
		code, says         string
	}{
		{"GET", "/profiles/ci", "", 401, "unauthorized", "token"},
		{"GET", "/profiles/ci", "Bearer " + tok, 401, "unauthorized", "token"},
		{"GET", "/profiles/ci", tok[:63], 401, "unauthorized", "token"},
		{"GET", "/profiles/ci", strings.ToUpper(tok), 401, "unauthorized", "token"},
		{"GET", "/profiles/staging", tok, 404, "not_found", "its profiles are ci, prod"},
		{"GET", "/profiles/", tok, 404, "not_found", "no profile"},
		{"GET", "/credentials", tok, 404, "not_found", "/profiles/NAME"},
		{"POST", "/profiles/ci", tok, 405, "invalid", "GET"},
	} {
		status, e := request(t, c, tc.method, tc.path, tc.auth)
		if status != tc.status || e.Code != tc.code || !strings.Contains(e.Message, tc.says) {
			t.Errorf("%s %s (auth %d chars): %d %+v, want %d %s saying %q", tc.method, tc.path, len(tc.auth), status, e, tc.status, tc.code, tc.says)
		}
		if strings.Contains(e.Message, tok) {
			t.Errorf("a refusal shows the token")
		}
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("refused requests asked for credentials %d times", n)
	}
	if status, _ := request(t, c, "GET", "/profiles/prod", tok); status != http.StatusOK || calls.Load() != 1 {
		t.Fatalf("the right request: %d, %d calls", status, calls.Load())
	}
}

// A provider's failure reaches credential_process as its code and public
// message.
func TestChannelPassesProviderErrorsOn(t *testing.T) {
	prov := credbroker.ProviderFunc(func(context.Context) (credbroker.Credentials, error) {
		return credbroker.Credentials{}, credbroker.Errorf(credbroker.CodeThrottled, "connector", "STS throttled the vend").WithCause(fmt.Errorf("raw upstream text"))
	})
	c := startChannel(t, ChannelOptions{Profiles: []ChannelProfile{{Name: "ci", Provider: prov}}})
	_, err := FetchProfile(context.Background(), c.Dir(), "ci")
	e := credbroker.AsError(err)
	if e == nil || e.Code != credbroker.CodeThrottled || e.Field != "profile ci" || !strings.Contains(e.Message, "STS throttled the vend") || strings.Contains(err.Error(), "raw upstream") {
		t.Fatalf("fetch: %v", err)
	}
}

// Another user on the host cannot reach the channel: its directory keeps
// them out, and were it opened up, the kernel's word on the peer (on
// Linux) does. Run as root, as the test command and CI do, to act as
// another user.
func TestChannelRefusesOtherUsers(t *testing.T) {
	if os.Getuid() != 0 {
		t.Fatal("this test runs as root (as the test command and CI do) to connect as another user")
	}
	var calls atomic.Int64
	prov := credbroker.ProviderFunc(func(context.Context) (credbroker.Credentials, error) {
		calls.Add(1)
		return credbroker.Credentials{AccessKeyID: "ASIAOTHERUSER", SecretAccessKey: "other-user-secret"}, nil
	})
	// The test's own temporary directories let others through, as /tmp
	// does, so that only the channel's directory stands in the way.
	tmp := t.TempDir()
	for _, d := range []string{filepath.Dir(tmp), tmp} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(tmp, "channel")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	c := startChannel(t, ChannelOptions{Dir: dir, Profiles: []ChannelProfile{{Name: "ci", Provider: prov}}})
	py := testpeers.Python(t)
	asNobody := func() string {
		cmd := exec.Command(py, "-c", rawHTTP, filepath.Join(c.Dir(), channelSocket), "GET", "/profiles/ci", c.Token())
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("python3 as nobody: %v: %s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	// Even with the token, the directory's mode stops the connection.
	if got := asNobody(); got != fmt.Sprintf("connect %d", syscall.EACCES) {
		t.Fatalf("nobody reached the socket in the private directory: %q", got)
	}
	// A directory opened up by mistake: the peer's user is still checked.
	if err := os.Chmod(c.Dir(), 0o711); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(c.Dir(), channelSocket), 0o666); err != nil {
		t.Fatal(err)
	}
	got := asNobody()
	status, body, _ := strings.Cut(got, "\n")
	if status != "403" || !strings.Contains(body, "processes of user 0 only") {
		t.Fatalf("nobody, through an opened-up directory: %q", got)
	}
	if calls.Load() != 0 {
		t.Fatal("another user's request asked for credentials")
	}
}

func TestChannelOptionsRefused(t *testing.T) {
	p := fixed("ASIAOPTIONS")
	for _, tc := range []struct {
		name string
		opts ChannelOptions
		says string
	}{
		{"no profiles", ChannelOptions{}, "no profiles"},
		{"bad name", ChannelOptions{Profiles: []ChannelProfile{{Name: "a b", Provider: p}}}, "invalid profile name"},
		{"bracket", ChannelOptions{Profiles: []ChannelProfile{{Name: "a]", Provider: p}}}, "invalid profile name"},
		{"twice", ChannelOptions{Profiles: []ChannelProfile{{Name: "a", Provider: p}, {Name: "a", Provider: p}}}, "named twice"},
		{"region injection", ChannelOptions{Profiles: []ChannelProfile{{Name: "a", Region: "us-east-1\ncredential_process = /bin/evil", Provider: p}}}, "cannot stand in an AWS config file"},
		{"unknown default", ChannelOptions{Profiles: []ChannelProfile{{Name: "a", Provider: p}}, Default: "b"}, `no profile "b"`},
		{"default named otherwise", ChannelOptions{Profiles: []ChannelProfile{{Name: "a", Provider: p}, {Name: "default", Provider: p}}, Default: "a"}, "another profile is called default"},
		{"comment in a path", ChannelOptions{Profiles: []ChannelProfile{{Name: "a", Provider: p}}, Command: []string{"/opt/x#y/credbroker"}}, "cannot carry"},
		{"newline in a path", ChannelOptions{Profiles: []ChannelProfile{{Name: "a", Provider: p}}, Command: []string{"/opt/x\n[profile a]/credbroker"}}, "cannot carry"},
	} {
		tmp := t.TempDir()
		if tc.opts.Command == nil {
			tc.opts.Command = []string{"/usr/local/bin/credbroker"}
		}
		tc.opts.Dir = tmp
		c, err := StartChannel(tc.opts)
		if err == nil {
			c.Close()
			t.Errorf("%s: started", tc.name)
			continue
		}
		if !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: %v, want it to say %q", tc.name, err, tc.says)
		}
		if left, _ := filepath.Glob(filepath.Join(tmp, "*")); len(left) != 0 {
			t.Errorf("%s: left %v", tc.name, left)
		}
	}
	long := filepath.Join(t.TempDir(), strings.Repeat("d", 100))
	if err := os.Mkdir(long, 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := StartChannel(ChannelOptions{Dir: long, Command: []string{"x"}, Profiles: []ChannelProfile{{Name: "a", Provider: p}}})
	if err == nil || !strings.Contains(err.Error(), "TMPDIR") || !strings.Contains(err.Error(), "shorter") {
		t.Fatalf("a temporary directory too long for a socket: %v", err)
	}
}

// configWord's output, read back by a POSIX shell (the Go SDK runs
// credential_process with sh -c) and by Python's shlex (the AWS CLI and
// boto3 split it so), is the word itself.
func TestConfigWordReadBackByShellAndShlex(t *testing.T) {
	words := []string{"/usr/local/bin/credbroker", "/opt/my tools/credbroker", "it's", `a"b`, `$(id)`, "`id`", `back\slash`, "*", "~", "é/日本", "", "a'b'c"}
	var quoted []string
	for _, w := range words {
		q, err := configWord(w)
		if err != nil {
			t.Fatalf("%q: %v", w, err)
		}
		quoted = append(quoted, q)
	}
	line := strings.Join(quoted, " ")
	out, err := exec.Command("/bin/sh", "-c", `for a in `+line+`; do printf '%s\0' "$a"; done`).Output()
	if err != nil {
		t.Fatalf("sh: %v", err)
	}
	if got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00"); strings.Join(got, "|") != strings.Join(words, "|") {
		t.Errorf("sh read back %q, want %q", got, words)
	}
	py := exec.Command(testpeers.Python(t), "-c", "import shlex, sys; sys.stdout.write('\\0'.join(shlex.split(sys.stdin.read())))")
	py.Stdin = strings.NewReader(line)
	out, err = py.Output()
	if err != nil {
		t.Fatalf("shlex: %v", err)
	}
	if got := strings.Split(string(out), "\x00"); strings.Join(got, "|") != strings.Join(words, "|") {
		t.Errorf("shlex read back %q, want %q", got, words)
	}
	for _, w := range []string{"/opt/a#b", "/opt/a;b", "a\tb", "a\nb", "a\rb", "a\x00b", "a\x7fb"} {
		if q, err := configWord(w); err == nil {
			t.Errorf("%q was accepted as %q", w, q)
		}
	}
}

// tokenHere in a fuzzed header value stands for the channel's token.
const tokenHere = "@TOKEN@"

// FuzzChannelRequest sends random requests to the channel's handler:
// credentials come out only for GET /profiles/NAME of an existing profile
// with the exact token from this user; every other request is refused
// with JSON {code, message} before credentials are asked for, and no
// answer shows the token.
func FuzzChannelRequest(f *testing.F) {
	for _, s := range []struct {
		method, target, auth string
		uid                  int
	}{
		{"GET", "/profiles/ci", tokenHere, 0},
		{"GET", "/profiles/prod", tokenHere, 0},
		{"GET", "/profiles/ci", tokenHere, 1},
		{"GET", "/profiles/ci", "", 0},
		{"GET", "/profiles/ci", "Bearer " + tokenHere, 0},
		{"GET", "/profiles/ci/../prod", tokenHere, 0},
		{"GET", "/profiles/%63i", tokenHere, 0},
		{"GET", "/profiles/ci?x=1", tokenHere, 0},
		{"HEAD", "/profiles/ci", tokenHere, 0},
		{"GET", "//profiles/ci", tokenHere, 0},
		{"GET", "http://x/profiles/ci", tokenHere, 0},
	} {
		f.Add(s.method, s.target, s.auth, s.uid)
	}
	var calls atomic.Int64
	prov := credbroker.ProviderFunc(func(context.Context) (credbroker.Credentials, error) {
		calls.Add(1)
		return credbroker.Credentials{AccessKeyID: "ASIACHANNELFUZZ", SecretAccessKey: "channel-fuzz-secret", Expires: time.Now().Add(time.Hour)}, nil
	})
	c, err := StartChannel(ChannelOptions{Dir: f.TempDir(), Command: []string{"credbroker"},
		Profiles: []ChannelProfile{{Name: "ci", Provider: prov}, {Name: "prod", Provider: prov}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { c.Close() })
	token := c.Token()
	me := os.Getuid()
	f.Fuzz(func(t *testing.T, method, target, auth string, uid int) {
		auth = strings.ReplaceAll(auth, tokenHere, token)
		raw := method + " " + target + " HTTP/1.1\r\nHost: channel\r\n"
		if auth != "" {
			raw += "Authorization: " + auth + "\r\n"
		}
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw + "\r\n")))
		if err != nil {
			return // net/http refuses it before the handler
		}
		peerUID := me + uid%3
		r = r.WithContext(context.WithValue(r.Context(), peerKey{}, peer{uid: peerUID, known: true}))
		before := calls.Load()
		w := httptest.NewRecorder()
		c.ServeHTTP(w, r)
		asked := calls.Load() != before
		if strings.Contains(w.Body.String(), token) {
			t.Fatalf("the answer shows the token: %q", w.Body.String())
		}
		name, isProfile := strings.CutPrefix(r.URL.Path, ProfilePath)
		allowed := peerUID == me && isProfile && (name == "ci" || name == "prod") && r.Method == http.MethodGet && r.Header.Get("Authorization") == token
		if w.Code == http.StatusOK {
			var p processJSON
			if !allowed || json.Unmarshal(w.Body.Bytes(), &p) != nil || p.Version != 1 || p.AccessKeyID == "" {
				t.Fatalf("200 for %s %s (allowed %v): %q", method, target, allowed, w.Body.String())
			}
			return
		}
		if allowed {
			t.Fatalf("a request that meets every check was refused: %d %s", w.Code, w.Body.String())
		}
		if asked {
			t.Fatalf("a refused request (%d) asked for credentials", w.Code)
		}
		var e errorBody
		if json.Unmarshal(w.Body.Bytes(), &e) != nil || e.Code == "" || e.Message == "" || w.Code < 400 || w.Code >= 500 {
			t.Fatalf("refusal %d is not JSON {code, message}: %q", w.Code, w.Body.String())
		}
	})
}

package endpoint

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/internal/wire"
)

// The files of a channel's private directory.
const (
	channelConfig      = "config"
	channelCredentials = "credentials"
	channelToken       = "token"
	channelSocket      = "sock"
)

// ProfilePath is the URL path under which a channel serves profile NAME:
// ProfilePath + NAME.
const ProfilePath = "/profiles/"

// maxSocketPath is the longest path of a unix socket (sun_path, less its
// terminating NUL).
const maxSocketPath = 107

// ChannelProfile is one named set of credentials that a Channel serves.
type ChannelProfile struct {
	// Name is the profile's name in the AWS config file: 1 to 64 letters,
	// digits, '_', '.' or '-'. "default" is the config file's [default].
	Name string
	// Region is the profile's region; empty for none.
	Region string
	// Provider yields the profile's credentials; it should cache and
	// refresh (credcache.Cache).
	Provider credbroker.Provider
}

// ChannelOptions configure a Channel.
type ChannelOptions struct {
	// Profiles are the named credentials, at least one.
	Profiles []ChannelProfile
	// Default names the profile that the config file's [default] is: the
	// one tools use when no profile is named. When empty, the profile
	// named "default", else the first.
	Default string
	// Command is the program and arguments that each profile's
	// credential_process runs, followed by --channel DIR --profile NAME:
	// credbroker's own binary and its credential-process command.
	Command []string
	// Dir is the private directory (mode 0700, of this user) the channel
	// keeps its files in; Close removes them, the caller the directory.
	// When empty, a new private temporary directory, which Close removes.
	Dir string
	// Logger receives debug lines per request and a warning per failed
	// retrieval; nothing secret.
	Logger *slog.Logger
}

// Channel delivers several named credentials to one task: an AWS config
// file whose profiles each name a credential_process, which calls back
// into the running credbroker over a unix socket for that profile's
// current credentials. Each profile refreshes on its own, when its
// provider does.
//
// The config file, an empty shared-credentials file (so that the user's
// own ~/.aws/credentials cannot shadow a profile), the token and the
// socket are in a private directory of mode 0700 (package taskrun's run
// directory, which the next run removes when this one is killed); Close
// removes them. Nothing secret is on
// a command line: credential_process names the directory and the profile,
// and reads the token from its file. The server refuses, before asking for
// credentials, a peer of another user (SO_PEERCRED, on Linux; elsewhere
// the directory's mode alone keeps other users out), and a request
// without the token, compared in constant time.
type Channel struct {
	// ConfigFile is the value for AWS_CONFIG_FILE.
	ConfigFile string
	// CredentialsFile is the value for AWS_SHARED_CREDENTIALS_FILE: empty.
	CredentialsFile string

	opts     ChannelOptions
	dir      string
	ownDir   bool // dir was made by StartChannel
	token    []byte
	uid      int
	profiles map[string]*channelProfile
	names    string // the profiles' names, for messages
	srv      *http.Server
	done     chan struct{}
	closeMu  sync.Once
}

type channelProfile struct {
	p    credbroker.Provider
	body *wire.Cache
}

// ValidProfileName reports whether name can name a profile: 1 to 64
// letters, digits, '_', '.' or '-'.
func ValidProfileName(name string) bool {
	if len(name) == 0 || len(name) > 64 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// validRegion reports whether r can stand in a config file as it is:
// lower-case letters, digits and '-' (every AWS region), or empty.
func validRegion(r string) bool {
	for i := 0; i < len(r); i++ {
		c := r[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// StartChannel writes the private directory and serves the profiles until
// Close.
func StartChannel(opts ChannelOptions) (*Channel, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := checkChannelOptions(&opts); err != nil {
		return nil, err
	}
	c := &Channel{opts: opts, uid: os.Getuid(), profiles: map[string]*channelProfile{}, done: make(chan struct{})}
	var names []string
	for _, p := range opts.Profiles {
		c.profiles[p.Name] = &channelProfile{p: p.Provider, body: wire.NewCache(wire.AppendProcess)}
		names = append(names, p.Name)
	}
	c.names = strings.Join(names, ", ")

	var err error
	if c.token, err = newToken(); err != nil {
		return nil, fmt.Errorf("channel token: %w", err)
	}
	c.dir = opts.Dir
	if c.dir == "" {
		if c.dir, err = os.MkdirTemp("", "credbroker-channel-"); err != nil {
			return nil, fmt.Errorf("channel directory: %w", err)
		}
		c.ownDir = true
	}
	fail := func(err error) (*Channel, error) {
		c.cleanup()
		return nil, err
	}
	socket := filepath.Join(c.dir, channelSocket)
	if len(socket) > maxSocketPath {
		return fail(credbroker.Errorf(credbroker.CodeInvalid, "TMPDIR", "the channel's socket path %s is longer than the %d bytes a unix socket allows", socket, maxSocketPath).
			WithFix("set TMPDIR (or XDG_RUNTIME_DIR) to a shorter directory, such as /tmp"))
	}
	config, err := c.config()
	if err != nil {
		return fail(err)
	}
	c.ConfigFile = filepath.Join(c.dir, channelConfig)
	c.CredentialsFile = filepath.Join(c.dir, channelCredentials)
	for _, f := range []struct {
		path string
		data []byte
	}{{filepath.Join(c.dir, channelToken), c.token}, {c.CredentialsFile, nil}, {c.ConfigFile, config}} {
		if err := writePrivate(f.path, f.data); err != nil {
			return fail(fmt.Errorf("channel file: %w", err))
		}
	}
	ln, err := net.Listen("unix", socket)
	if err != nil {
		return fail(fmt.Errorf("channel listen: %w", err))
	}
	if err := os.Chmod(socket, 0o600); err != nil {
		ln.Close()
		return fail(fmt.Errorf("channel socket: %w", err))
	}
	c.srv = &http.Server{
		Handler:           c,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ConnContext:       withPeer,
		ErrorLog:          slog.NewLogLogger(opts.Logger.Handler(), slog.LevelDebug),
	}
	go func() {
		defer close(c.done)
		c.srv.Serve(ln)
	}()
	return c, nil
}

// checkChannelOptions refuses options that would make a config file
// other than the one meant, and sets the default profile.
func checkChannelOptions(o *ChannelOptions) error {
	bad := func(field, fix, format string, args ...any) error {
		return credbroker.Errorf(credbroker.CodeInvalid, field, format, args...).WithFix(fix)
	}
	if len(o.Profiles) == 0 {
		return bad("profiles", "name at least one profile", "no profiles")
	}
	if len(o.Command) == 0 {
		return errors.New("channel: no credential_process command")
	}
	seen := map[string]bool{}
	for _, p := range o.Profiles {
		field := "profile " + p.Name
		switch {
		case !ValidProfileName(p.Name):
			return bad("profile", "use 1 to 64 letters, digits, '_', '.' or '-'", "invalid profile name %q", p.Name)
		case seen[p.Name]:
			return bad(field, "give each profile its own name", "profile %s is named twice", p.Name)
		case !validRegion(p.Region):
			return bad(field+": region", "use an AWS region such as eu-west-1", "region %q cannot stand in an AWS config file", p.Region)
		case p.Provider == nil:
			return fmt.Errorf("channel: profile %s has no provider", p.Name)
		}
		seen[p.Name] = true
	}
	if o.Default == "" {
		o.Default = o.Profiles[0].Name
		if seen["default"] {
			o.Default = "default"
		}
	}
	if !seen[o.Default] {
		var names []string
		for _, p := range o.Profiles {
			names = append(names, p.Name)
		}
		return bad("default profile", "name one of "+strings.Join(names, ", "), "no profile %q", o.Default)
	}
	if seen["default"] && o.Default != "default" {
		return bad("default profile", "rename the profile called default, or make it the default",
			"profile %q is to be the default, but another profile is called default", o.Default)
	}
	return nil
}

// config is the AWS config file: [default] first (the default profile),
// then one [profile NAME] for each other profile.
func (c *Channel) config() ([]byte, error) {
	var cmd []string
	words := append(append([]string(nil), c.opts.Command...), "--channel", c.dir)
	for _, a := range words {
		q, err := configWord(a)
		if err != nil {
			return nil, err
		}
		cmd = append(cmd, q)
	}
	line := strings.Join(cmd, " ")
	var b strings.Builder
	b.WriteString("# credbroker: the profiles of this task. Removed when the task ends.\n")
	section := func(header string, p ChannelProfile) {
		fmt.Fprintf(&b, "\n[%s]\n", header)
		if p.Region != "" {
			fmt.Fprintf(&b, "region = %s\n", p.Region)
		}
		fmt.Fprintf(&b, "credential_process = %s --profile %s\n", line, p.Name)
	}
	for _, p := range c.opts.Profiles {
		if p.Name == c.opts.Default {
			section("default", p)
		}
	}
	for _, p := range c.opts.Profiles {
		if p.Name != "default" {
			section("profile "+p.Name, p)
		}
	}
	return []byte(b.String()), nil
}

// configWord returns s as one word of a credential_process line, which
// the AWS CLI and boto3 split as a POSIX shell does and the Go SDK hands
// to sh -c: as it is when it is plain, else in single quotes. A character
// that an AWS config file cannot carry safely (a control character, or a
// comment's # or ;) is refused.
func configWord(s string) (string, error) {
	plain := s != ""
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c < 0x20 || c == 0x7f || c == '#' || c == ';':
			return "", credbroker.Errorf(credbroker.CodeInvalid, "TMPDIR", "the path %q holds a character an AWS config file cannot carry", s).
				WithFix("use paths of letters, digits, spaces and /._-: set TMPDIR to such a directory, and install credbroker in one")
		case !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_./:=@%+,-", c) >= 0):
			plain = false
		}
	}
	if plain {
		return s, nil
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'", nil
}

// Env returns the environment entries that point an AWS SDK at the
// channel's config file. AWS_SDK_LOAD_CONFIG makes tools built on the Go
// SDK v1 read it too.
func (c *Channel) Env() []string {
	return []string{
		"AWS_CONFIG_FILE=" + c.ConfigFile,
		"AWS_SHARED_CREDENTIALS_FILE=" + c.CredentialsFile,
		"AWS_SDK_LOAD_CONFIG=1",
	}
}

// Dir returns the channel's private directory.
func (c *Channel) Dir() string { return c.dir }

// Token returns the channel's token, so that callers can mask it.
func (c *Channel) Token() string { return string(c.token) }

// Close stops serving and removes the private directory.
func (c *Channel) Close() error {
	var err error
	c.closeMu.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err = c.srv.Shutdown(ctx)
		<-c.done
		c.cleanup()
	})
	return err
}

// cleanup removes the channel's files, and its directory when it made it.
func (c *Channel) cleanup() {
	if c.ownDir {
		os.RemoveAll(c.dir)
		return
	}
	for _, f := range []string{channelSocket, channelToken, channelCredentials, channelConfig} {
		os.Remove(filepath.Join(c.dir, f))
	}
}

// peer is what the kernel says about a connection's other end.
type peer struct {
	uid   int
	known bool
}

type peerKey struct{}

// withPeer is the server's ConnContext: it notes the peer's user.
func withPeer(ctx context.Context, conn net.Conn) context.Context {
	uid, ok := peerUID(conn)
	return context.WithValue(ctx, peerKey{}, peer{uid, ok})
}

// ServeHTTP answers GET ProfilePath+NAME with the credential_process JSON
// of profile NAME, after the checks.
func (c *Channel) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	log := c.opts.Logger
	if p, _ := r.Context().Value(peerKey{}).(peer); p.known && p.uid != c.uid {
		writeError(log, w, r, http.StatusForbidden, "forbidden", fmt.Sprintf("this channel serves processes of user %d only", c.uid))
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, ProfilePath)
	if !ok {
		writeError(log, w, r, http.StatusNotFound, "not_found", "no such path; the channel serves "+ProfilePath+"NAME")
		return
	}
	if r.Method != http.MethodGet {
		w.Header()["Allow"] = getOnly
		writeError(log, w, r, http.StatusMethodNotAllowed, "invalid", "use GET")
		return
	}
	if !tokenMatches(r.Header.Get("Authorization"), c.token) {
		writeError(log, w, r, http.StatusUnauthorized, "unauthorized", "missing or wrong token; send the one in the channel's token file")
		return
	}
	p := c.profiles[name]
	if p == nil {
		writeError(log, w, r, http.StatusNotFound, "not_found", fmt.Sprintf("this task has no profile %q; its profiles are %s", name, c.names))
		return
	}
	cr, err := p.p.Retrieve(r.Context())
	if err != nil {
		writeProviderError(log, w, r, err)
		return
	}
	body, length := p.body.Answer(cr)
	writeJSON(w, body, length)
	if log.Enabled(r.Context(), slog.LevelDebug) {
		log.Debug("channel served credentials", "profile", name, "credentials", cr)
	}
}

// maxAnswer bounds what FetchProfile reads from a channel.
const maxAnswer = 64 << 10

// FetchProfile asks the channel whose private directory is dir for the
// credentials of profile, and returns the credential_process JSON it
// answers: the other end of a profile's credential_process line. The
// token is read from the directory, never taken from a command line.
func FetchProfile(ctx context.Context, dir, profile string) ([]byte, error) {
	field := "profile " + profile
	if !ValidProfileName(profile) {
		return nil, credbroker.Errorf(credbroker.CodeInvalid, "--profile", "invalid profile name %q", profile).
			WithFix("use the name of one of the task's profiles")
	}
	token, err := readToken(filepath.Join(dir, channelToken))
	if err != nil {
		return nil, gone(field, dir, err)
	}
	socket := filepath.Join(dir, channelSocket)
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		DisableKeepAlives: true,
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://channel"+ProfilePath+profile, nil)
	if err != nil {
		return nil, fmt.Errorf("channel request: %w", err)
	}
	req.Header.Set("Authorization", token)
	resp, err := client.Do(req)
	if err != nil {
		return nil, gone(field, dir, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return nil, credbroker.Errorf(credbroker.CodeUnavailable, field, "reading the channel's answer: %s", err)
	}
	if len(body) > maxAnswer {
		return nil, credbroker.Errorf(credbroker.CodeUpstream, field, "the channel's answer is larger than %d bytes", maxAnswer)
	}
	if resp.StatusCode != http.StatusOK {
		var e errorBody
		if json.Unmarshal(body, &e) != nil || e.Code == "" {
			return nil, credbroker.Errorf(credbroker.CodeUpstream, field, "the channel answered %d", resp.StatusCode)
		}
		return nil, &credbroker.Error{Code: credbroker.Code(e.Code), Field: field, Message: e.Message}
	}
	var v struct{ Version int }
	if err := json.Unmarshal(body, &v); err != nil || v.Version != 1 {
		return nil, credbroker.Errorf(credbroker.CodeUpstream, field, "the channel's answer is not credential_process JSON of version 1")
	}
	return body, nil
}

// readToken reads a channel's token file.
func readToken(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 1024))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// gone is the error of a channel that cannot be reached: most often, a
// command that outlived its credbroker, or runs outside it.
func gone(field, dir string, err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return credbroker.Errorf(credbroker.CodeUnavailable, field, "cannot reach the credbroker that serves %s: %s", dir, err).
		WithFix("run the command within its credbroker exec or run, which serves its profiles while it lasts")
}

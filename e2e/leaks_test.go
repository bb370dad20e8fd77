package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// The leak harness. Every test's world registers the secret values of its
// run (MinIO's root key, tokens, vended and STS-issued keys, secret
// variables) and records every byte its processes wrote: command output,
// the broker's log, each API answer other than the ones that hand a secret
// out on purpose, the audit rows, the broker's database, and the files
// left in the test's directory (the processes' TMPDIR among them). Each
// test searches its own outputs for its own secrets when it ends; TestMain
// then searches every output of every test for every secret of every test,
// raw, base64 (standard and URL-safe, padded or not) and URL-encoded.

func TestMain(m *testing.M) {
	if os.Getenv(probeEnv) != "" {
		os.Exit(runProbe())
	}
	dir, err := os.MkdirTemp("", "credbroker-e2e-leaks-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "leak harness: %v\n", err)
		os.Exit(2)
	}
	suite.dir = dir
	code := m.Run()
	if n := suite.check(os.Stderr); n > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: the suite-wide leak check found %d leak(s)\n", n)
		if code == 0 {
			code = 1
		}
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// suite is the whole run's record: each test's outputs in a file of its
// own, and every secret with the test that registered it.
var suite suiteLog

type suiteLog struct {
	mu      sync.Mutex
	dir     string
	secrets map[string]string // value -> test
	files   []*suiteFile
}

// suiteFile holds the outputs of one test, one section after another.
type suiteFile struct {
	test     string
	path     string
	f        *os.File
	size     int64
	sections []section
}

type section struct {
	off  int64
	what string
}

// fileFor returns the suite file of test t, made on first use; nil when
// the harness is not set up (TestMain did not run).
func (s *suiteLog) fileFor(t *testing.T) *suiteFile {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dir == "" {
		return nil
	}
	for _, f := range s.files {
		if f.test == t.Name() {
			return f
		}
	}
	sf := &suiteFile{test: t.Name(), path: filepath.Join(s.dir, fmt.Sprintf("%04d.out", len(s.files)))}
	f, err := os.Create(sf.path)
	if err != nil {
		t.Fatalf("leak harness: %v", err)
	}
	sf.f = f
	s.files = append(s.files, sf)
	return sf
}

// add appends one output to f.
func (s *suiteLog) add(f *suiteFile, what string, data []byte) {
	if f == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f.sections = append(f.sections, section{f.size, what})
	n, _ := f.f.Write(data)
	f.size += int64(n)
	// A separator, so that no match spans two outputs.
	m, _ := f.f.Write([]byte("\n\x00\x00\x00\x00\x00\x00\x00\x00\n"))
	f.size += int64(m)
}

// secret registers a secret of test.
func (s *suiteLog) secret(test, v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.secrets == nil {
		s.secrets = map[string]string{}
	}
	if _, ok := s.secrets[v]; !ok {
		s.secrets[v] = test
	}
}

// check searches every test's outputs for every test's secrets, writes one
// line per leak to w, and returns how many it found.
func (s *suiteLog) check(w io.Writer) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var secrets, owners []string
	for v, test := range s.secrets {
		secrets = append(secrets, v)
		owners = append(owners, test)
	}
	idx := newLeakIndex(secrets)
	leaks := 0
	for _, f := range s.files {
		f.f.Close()
		seen := map[string]bool{}
		err := idx.scanFile(f.path, func(secret int, off int64) {
			what := f.sectionAt(off)
			key := fmt.Sprint(secret, what)
			if seen[key] {
				return
			}
			seen[key] = true
			leaks++
			if leaks <= 50 {
				fmt.Fprintf(w, "leak: a secret of %s (%d characters) appears in %s: %s\n",
					owners[secret], len(secrets[secret]), f.test, what)
			}
		})
		if err != nil {
			fmt.Fprintf(w, "leak harness: %v\n", err)
			leaks++
		}
	}
	return leaks
}

func (f *suiteFile) sectionAt(off int64) string {
	i := sort.Search(len(f.sections), func(i int) bool { return f.sections[i].off > off }) - 1
	if i < 0 {
		return "?"
	}
	return f.sections[i].what
}

// leakIndex finds every form of a set of secrets in text, fast enough for
// thousands of secrets and a suite's worth of output: forms are indexed by
// their first eight bytes.
type leakIndex struct {
	forms  [][]byte
	owner  []int // index of the secret a form belongs to
	first  map[uint64][]int32
	maxLen int
}

// minForm is the shortest form searched for: shorter ones match by chance.
const minForm = 8

func newLeakIndex(secrets []string) *leakIndex {
	x := &leakIndex{first: map[uint64][]int32{}}
	for i, s := range secrets {
		for _, f := range forms(s) {
			if len(f) < minForm {
				continue
			}
			k := binary.LittleEndian.Uint64([]byte(f[:8]))
			x.first[k] = append(x.first[k], int32(len(x.forms)))
			x.forms = append(x.forms, []byte(f))
			x.owner = append(x.owner, i)
			x.maxLen = max(x.maxLen, len(f))
		}
	}
	return x
}

// scan calls hit with the secret index and offset of every form found in
// data.
func (x *leakIndex) scan(data []byte, base int64, hit func(secret int, off int64)) {
	if len(x.first) == 0 {
		return
	}
	for i := 0; i+minForm <= len(data); i++ {
		cands, ok := x.first[binary.LittleEndian.Uint64(data[i:])]
		if !ok {
			continue
		}
		for _, c := range cands {
			if bytes.HasPrefix(data[i:], x.forms[c]) {
				hit(x.owner[c], base+int64(i))
			}
		}
	}
}

// scanFile scans a file in chunks that overlap by the longest form.
func (x *leakIndex) scanFile(path string, hit func(secret int, off int64)) error {
	if len(x.forms) == 0 {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	const chunk = 8 << 20
	buf := make([]byte, 0, chunk+x.maxLen)
	var base int64 // file offset of buf[0]
	for {
		n, err := io.ReadFull(f, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		last := err != nil
		// Matches starting before limit are complete in buf; the rest is
		// carried into the next round.
		limit := len(buf)
		if !last {
			limit = len(buf) - (x.maxLen - 1)
		}
		x.scan(buf, base, func(s int, off int64) {
			if off-base < int64(limit) {
				hit(s, off)
			}
		})
		if last {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return nil
			}
			return err
		}
		keep := len(buf) - limit
		copy(buf, buf[limit:])
		buf = buf[:keep]
		base += int64(limit)
	}
}

// stsSecretRE finds the secrets of an STS answer (AssumeRole and its kin).
var stsSecretRE = regexp.MustCompile(`<(SecretAccessKey|SessionToken)>([^<]+)</(?:SecretAccessKey|SessionToken)>`)

// harvestProxy forwards to target (MinIO's S3 and STS endpoint) and
// registers the secret key and session token of every STS answer that
// passes, so that the leak check covers credentials that only credbroker
// and the task ever saw. The Host header is passed on as the client sent
// it: the client signed its request for this proxy's address.
func harvestProxy(t *testing.T, w *world, target string) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := hostKeepingProxy(u)
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 256, ResponseHeaderTimeout: 2 * time.Minute}
	rp.ModifyResponse = func(resp *http.Response) error {
		if !strings.Contains(resp.Header.Get("Content-Type"), "xml") || resp.ContentLength > 1<<20 {
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		for _, m := range stsSecretRE.FindAllSubmatch(body, -1) {
			w.secret(string(m[2]))
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		return nil
	}
	rp.ErrorHandler = func(http.ResponseWriter, *http.Request, error) { panic(http.ErrAbortHandler) }
	return serveProxy(t, rp)
}

// recordingProxy forwards to a broker and records every answer for the
// leak check, except those that hand a secret out by design: a granted
// vend or console sign-in, the agent's variables, a new token (in the API
// or on the web console's page). When the
// broker cannot be reached the client's connection is dropped, as if it
// had reached the broker's closed port.
func recordingProxy(t *testing.T, w *world, target string) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 0}
	rp.ModifyResponse = func(resp *http.Response) error {
		r := resp.Request
		shown := resp.StatusCode < 300 && (r.Method == http.MethodPost && (r.URL.Path == "/v1/credentials" || r.URL.Path == "/v1/console" || r.URL.Path == "/v1/tokens" ||
			consoleShowsSecret(r.URL.Path)) || strings.HasPrefix(r.URL.Path, "/v1/agent/variables"))
		if shown {
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		w.record(fmt.Sprintf("API answer %s %s (%d)", r.Method, r.URL.Path, resp.StatusCode), body)
		resp.Body = io.NopCloser(bytes.NewReader(body))
		return nil
	}
	rp.ErrorHandler = func(http.ResponseWriter, *http.Request, error) { panic(http.ErrAbortHandler) }
	return serveProxy(t, rp)
}

// consoleShowsSecret reports whether a granted POST to path is a web
// console page that shows a secret by design: a new token, shown once, or
// an AWS console sign-in link.
func consoleShowsSecret(path string) bool {
	return path == "/console/tokens" || strings.HasPrefix(path, "/console/connectors/") && strings.HasSuffix(path, "/signin")
}

// serveProxy serves h on a loopback port until the test ends.
func serveProxy(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ErrorLog: discardLog}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// discardLog silences the proxies' own error log (aborted requests).
var discardLog = log.New(io.Discard, "", 0)

// recordStore records the broker's database for the leak check: the
// SQLite files of its data directory, or every row of every table of its
// PostgreSQL database. Secrets are sealed there, never in the clear.
func (b *brokerProc) recordStore() {
	if dsn := b.flag("--database-url"); dsn != "" {
		b.w.record("database "+dsn, dumpPostgres(dsn))
		return
	}
	dir := b.flag("--data-dir")
	if dir == "" {
		dir = b.dataDir
	}
	for _, name := range []string{"credbroker.db", "credbroker.db-wal", "credbroker.db-journal"} {
		if data, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
			b.w.record("database file "+name, data)
		}
	}
}

// flag returns the last value of a serve flag.
func (b *brokerProc) flag(name string) string {
	v := ""
	for i := 0; i+1 < len(b.args); i++ {
		if b.args[i] == name {
			v = b.args[i+1]
		}
	}
	return v
}

// dumpPostgres returns every value of every table of the database, raw
// (byte strings as they are, not hex).
func dumpPostgres(dsn string) []byte {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return []byte("dump failed: " + err.Error())
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`)
	if err != nil {
		return []byte("dump failed: " + err.Error())
	}
	var tables []string
	for rows.Next() {
		var n string
		if rows.Scan(&n) == nil {
			tables = append(tables, n)
		}
	}
	rows.Close()
	var out bytes.Buffer
	for _, tbl := range tables {
		rows, err := conn.Query(ctx, `SELECT * FROM `+pgx.Identifier{tbl}.Sanitize())
		if err != nil {
			fmt.Fprintf(&out, "table %s: %v\n", tbl, err)
			continue
		}
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				continue
			}
			for _, v := range vals {
				switch v := v.(type) {
				case []byte:
					out.Write(v)
				case string:
					out.WriteString(v)
				default:
					fmt.Fprint(&out, v)
				}
				out.WriteByte('\t')
			}
			out.WriteByte('\n')
		}
		rows.Close()
	}
	return out.Bytes()
}

// recordAudit records the broker's audit rows as an administrator reads
// them (credbroker audit --output json), with the first admin token of the
// world that the broker accepts.
func (b *brokerProc) recordAudit() {
	b.w.mu.Lock()
	admins := append([]string(nil), b.w.admins...)
	b.w.mu.Unlock()
	for _, tok := range admins {
		env := []string{"CREDBROKER_BROKER=" + b.URL, "CREDBROKER_TOKEN=" + tok}
		if b.caFile != "" {
			env = append(env, "CREDBROKER_CA_FILE="+b.caFile)
		}
		if r := b.w.run(b.w.env(env...), "", b.w.cb, "audit", "--output", "json", "--limit", "1000000"); r.code == 0 {
			return
		}
	}
}

// TestLeakIndex: the harness finds every form of a secret, in a file
// larger than one chunk and across a chunk boundary, and nothing else.
func TestLeakIndex(t *testing.T) {
	secrets := []string{"s3cr3t-value/with+chars", "another-secret-0123456789"}
	idx := newLeakIndex(secrets)
	var data []byte
	data = append(data, bytes.Repeat([]byte("x"), 8<<20-5)...) // the first form straddles the first chunk's end
	for _, f := range forms(secrets[0]) {
		data = append(data, f...)
		data = append(data, ' ')
	}
	data = append(data, "another-secret-012345678"...) // one byte short
	path := filepath.Join(t.TempDir(), "out")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	found := map[int]int{}
	if err := idx.scanFile(path, func(s int, off int64) { found[s]++ }); err != nil {
		t.Fatal(err)
	}
	// Five distinct forms (base64 padded and unpadded coincide here, and
	// so do QueryEscape and PathEscape for this value).
	distinct := map[string]bool{}
	for _, f := range forms(secrets[0]) {
		distinct[f] = true
	}
	if found[0] < len(distinct) || found[1] != 0 {
		t.Fatalf("found %v, want at least %d hits of secret 0 and none of secret 1", found, len(distinct))
	}
}

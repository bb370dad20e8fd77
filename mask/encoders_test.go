package mask_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"strings"
	"testing"

	"github.com/credbroker/credbroker/internal/testpeers"
	"github.com/credbroker/credbroker/mask"
)

// encoderSecrets are shaped like what tasks print: an AWS secret key, a
// session token (long enough that base64 wraps it), and a password with
// the characters URL encoders disagree on.
var encoderSecrets = []string{
	"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
	"IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD+session/token+value=" + strings.Repeat("Zm9vYmFy/+", 30) + "==",
	"p@ss w0rd&x=y!*'()~é/%41",
}

// encodings returns the secret as real encoders write it: Python's
// urllib.parse (quote, which keeps "/"; quote with nothing kept;
// quote_plus), its json.dumps, every byte escaped (upper and lower case),
// lower-case hex, Node.js's encodeURIComponent, curl --data-urlencode, GNU
// base64 (wrapped at 76 columns) and JSON with "/" escaped as "\/".
func encodings(t *testing.T, secret string) map[string]string {
	t.Helper()
	out := map[string]string{}
	py := testpeers.Python(t)
	script := `import sys, urllib.parse, json, re
s = sys.argv[1]
q = urllib.parse.quote(s)
parts = [q, urllib.parse.quote(s, safe=''), urllib.parse.quote_plus(s), json.dumps(s)[1:-1],
  ''.join('%%%02X' % b for b in s.encode()), ''.join('%%%02x' % b for b in s.encode()),
  re.sub(r'%[0-9A-F]{2}', lambda m: m.group(0).lower(), q)]
sys.stdout.write('\0'.join(parts))`
	b, err := exec.Command(py, "-c", script, secret).Output()
	if err != nil {
		t.Fatalf("python: %v", err)
	}
	parts := strings.Split(string(b), "\x00")
	for i, name := range []string{"python quote", "python quote safe=''", "python quote_plus", "python json.dumps", "all bytes", "all bytes lower", "python quote, lower-case hex"} {
		out[name] = parts[i]
	}
	node := testpeers.Binary(t, "node")
	b, err = exec.Command(node, "-e", `process.stdout.write(encodeURIComponent(process.argv[1]))`, secret).Output()
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	out["encodeURIComponent"] = string(b)
	out["curl --data-urlencode"] = curlEncode(t, secret)
	cmd := exec.Command("base64")
	cmd.Stdin = strings.NewReader(secret)
	if b, err = cmd.Output(); err != nil {
		t.Fatalf("base64: %v", err)
	}
	out["GNU base64"] = strings.TrimSuffix(string(b), "\n")
	j, _ := json.Marshal(secret)
	out["JSON with \\/"] = strings.ReplaceAll(string(j[1:len(j)-1]), "/", `\/`)
	return out
}

// curlEncode returns what curl --data-urlencode sends for secret, as a
// local server receives it.
func curlEncode(t *testing.T, secret string) string {
	t.Helper()
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- string(b)
	}))
	defer srv.Close()
	curl := testpeers.Binary(t, "curl")
	if out, err := exec.Command(curl, "-s", "-o", "/dev/null", "--data-urlencode", "v="+secret, srv.URL).CombinedOutput(); err != nil {
		t.Fatalf("curl: %v: %s", err, out)
	}
	body := <-got
	v, ok := strings.CutPrefix(body, "v=")
	if !ok {
		t.Fatalf("curl sent %q", body)
	}
	return v
}

// TestRealEncodersMasked (issue 11, defect 8): what common encoders make of
// a secret is masked in task output, whole and one byte per write.
func TestRealEncodersMasked(t *testing.T) {
	for _, secret := range encoderSecrets {
		for name, enc := range encodings(t, secret) {
			if enc == secret {
				continue
			}
			for _, text := range []string{"before " + enc + " after\n", "%" + enc + "%", "%4" + enc, "%2" + enc + "%4"} {
				for _, split := range []int{0, 1} {
					var out bytes.Buffer
					w := mask.New(&out, mask.Options{Secrets: encoderSecrets})
					if split == 0 {
						w.Write([]byte(text))
					} else {
						for i := range len(text) {
							w.Write([]byte{text[i]})
						}
					}
					w.Close()
					if strings.Contains(out.String(), enc) || !strings.Contains(out.String(), mask.DefaultReplacement) {
						t.Errorf("%s of secret %.12q… in %.40q (split %d) is not masked: %.80q", name, secret, text, split, out.String())
					}
				}
			}
		}
	}
}

// TestEncodersWereNotMasked documents what this change adds: of the real
// encodings, those that are none of the exact forms the masker knew before
// (raw, base64, Go's query and path escapes).
func TestEncodersWereNotMasked(t *testing.T) {
	n := 0
	for _, secret := range encoderSecrets {
		old := map[string]bool{}
		b := []byte(secret)
		for _, f := range []string{secret, base64.StdEncoding.EncodeToString(b), base64.RawStdEncoding.EncodeToString(b),
			base64.URLEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b), url.QueryEscape(secret), url.PathEscape(secret)} {
			old[f] = true
		}
		for _, enc := range encodings(t, secret) {
			if !old[enc] {
				n++
			}
		}
	}
	if n == 0 {
		t.Fatal("every real encoding was an exact form already: the encoder test proves nothing")
	}
	t.Logf("%d encodings of %d secrets were not masked before", n, len(encoderSecrets))
}

package httpapi

import (
	"strings"
	"testing"

	"github.com/credbroker/credbroker"
)

func TestCheckBrokerURL(t *testing.T) {
	for _, ok := range []string{"https://broker.example.com:8420", "http://127.0.0.1:8420", "http://localhost:1/prefix/", "http://[::1]:8420"} {
		if w, err := CheckBrokerURL(ok); err != nil || w != nil {
			t.Errorf("%s: warning %v, error %v", ok, w, err)
		}
	}
	w, err := CheckBrokerURL("http://broker.example.com:8420")
	if err != nil || w == nil || !strings.Contains(w.Message, "plain http to another host") || !strings.Contains(w.Fix, "--tls-cert") {
		t.Fatalf("plain http: %v %v", w, err)
	}
	for in, want := range map[string]string{
		"ftp://x": "not an http or https URL", "http://": "names no host", "https://u:pw@b.example": "user or password",
		"https://b.example/?a=1": "query or fragment", "://": "is not a URL",
	} {
		_, err := CheckBrokerURL(in)
		if e := credbroker.AsError(err); e == nil || e.Field != "broker" || e.Code != credbroker.CodeInvalid || !strings.Contains(e.Message, want) {
			t.Errorf("%s: %v, want %q", in, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "pw") {
			t.Errorf("%s: the password is in the error", in)
		}
		if _, cerr := NewClient(in, ClientOptions{}); cerr == nil || cerr.Error() != err.Error() {
			t.Errorf("%s: NewClient says %v, CheckBrokerURL %v", in, cerr, err)
		}
	}
}

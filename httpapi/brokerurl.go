package httpapi

import (
	"net/url"

	"github.com/credbroker/credbroker"
)

// URLWarning is something to know about a broker URL that works.
type URLWarning struct {
	Message string
	Fix     string
}

// String renders the warning on one line: "message; fix".
func (w *URLWarning) String() string { return w.Message + "; " + w.Fix }

// CheckBrokerURL checks a broker URL the way NewClient takes it: an http
// or https URL with a host, no user or password, no query or fragment.
// Errors are CodeInvalid with Field "broker". A plain http URL to a host
// other than this one (localhost, 127.0.0.1, ::1) works, but sends the
// token and the credentials unencrypted: the warning says so.
func CheckBrokerURL(raw string) (*URLWarning, error) {
	_, w, err := parseBrokerURL(raw)
	return w, err
}

func parseBrokerURL(raw string) (*url.URL, *URLWarning, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, nil, credbroker.Errorf(credbroker.CodeInvalid, "broker", "%q is not a URL", raw).
			WithFix("use a URL like https://broker.example.com:8443")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, nil, credbroker.Errorf(credbroker.CodeInvalid, "broker", "%q is not an http or https URL", raw).
			WithFix("use a URL like https://broker.example.com:8443")
	}
	if u.Host == "" {
		return nil, nil, credbroker.Errorf(credbroker.CodeInvalid, "broker", "%q names no host", raw).
			WithFix("use a URL like https://broker.example.com:8443")
	}
	if u.User != nil {
		return nil, nil, credbroker.Errorf(credbroker.CodeInvalid, "broker", "the broker URL must not hold a user or password").
			WithFix("pass the token with --token-file instead")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, nil, credbroker.Errorf(credbroker.CodeInvalid, "broker", "the broker URL must not have a query or fragment")
	}
	if u.Scheme == "http" && !loopbackHost(u.Hostname()) {
		return u, &URLWarning{
			Message: "the broker URL " + u.Redacted() + " is plain http to another host: credentials cross the network unencrypted",
			Fix:     "serve the broker with --tls-cert and use https",
		}, nil
	}
	return u, nil, nil
}

func loopbackHost(h string) bool {
	switch h {
	case "localhost", "127.0.0.1", "::1":
		return true
	}
	return false
}

package identity

import (
	"errors"
	"net"
	"net/url"
	"strings"
)

// parsedURL is what checkURL looks at in a URL.
type parsedURL struct {
	scheme             string
	loopback           bool
	userinfo, fragment bool
}

// parseURL parses an absolute URL with a host.
func parseURL(raw string) (parsedURL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return parsedURL{}, err
	}
	if !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return parsedURL{}, errors.New("not an absolute URL with a host")
	}
	p := parsedURL{scheme: strings.ToLower(u.Scheme), userinfo: u.User != nil, fragment: u.Fragment != "" || strings.Contains(raw, "#")}
	host := u.Hostname()
	if ip := net.ParseIP(host); ip != nil {
		p.loopback = ip.IsLoopback()
	} else {
		p.loopback = strings.EqualFold(host, "localhost")
	}
	return p, nil
}

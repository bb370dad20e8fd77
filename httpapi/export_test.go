package httpapi

import (
	"io"
	"net/http"

	"github.com/credbroker/credbroker"
)

// DecodeVendRequest exposes the vend body decoder to the fuzz target.
func DecodeVendRequest(body io.Reader) error {
	_, err := decodeVendRequest(body)
	return err
}

// LimiterEntries returns how many client addresses s's failed-auth limiter
// tracks.
func LimiterEntries(s *Server) int { return s.limiter.len() }

// ParseAuditQuery exposes the audit query parser to the fuzz target.
func ParseAuditQuery(rawQuery string) (credbroker.AuditFilter, error) {
	r, err := http.NewRequest(http.MethodGet, "/v1/audit", nil)
	if err != nil {
		panic(err)
	}
	r.URL.RawQuery = rawQuery
	return auditFilter(r)
}

package credbroker

import (
	"strings"
	"time"
)

// FormatDuration renders d for messages the way people write durations:
// 2h, 1h30m, 15m, 90s, rather than time.Duration's 2h0m0s.
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

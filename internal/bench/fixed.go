package bench

import (
	"io"
	"net/http"
	"strconv"
)

// FixedJSON is the baseline of the vend scenarios: a bare net/http handler
// that reads the request body and answers every request with the same
// JSON bytes, with no authentication, decoding, store or encoding. Given
// the body of a real vend response, it answers with as many bytes as
// credbroker does, so the difference between the two is what credbroker's
// own work costs.
func FixedJSON(body []byte) http.Handler {
	length := strconv.Itoa(len(body))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		h := w.Header()
		h["Content-Type"] = []string{"application/json"}
		h["Content-Length"] = []string{length}
		h["Cache-Control"] = []string{"no-store"}
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	})
}

package bench

import (
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
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

// DurableJSON is the durability limit of a cached vend: FixedJSON that,
// before it answers, appends record to the file f and waits for it to be
// on disk (fdatasync), as a vend waits for its audit record. No vend that
// keeps a durable record can be faster on the same disk; the vend
// scenarios report credbroker's throughput as a share of this one's.
func DurableJSON(body, record []byte, f *os.File) http.Handler {
	length := strconv.Itoa(len(body))
	var mu sync.Mutex
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		_, err := f.Write(record)
		if err == nil {
			err = fdatasync(f)
		}
		mu.Unlock()
		if err != nil {
			http.Error(w, "append: "+err.Error(), http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h["Content-Type"] = []string{"application/json"}
		h["Content-Length"] = []string{length}
		h["Cache-Control"] = []string{"no-store"}
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	})
}

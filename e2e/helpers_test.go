package e2e

import (
	"encoding/json"
	"net"
	"net/http"
)

// serveRefusingIMDS is a metadata service that refuses IMDSv2 tokens and
// would hand out credentials over IMDSv1, to prove there is no silent
// fallback.
func serveRefusingIMDS(ln net.Listener) {
	http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		switch r.URL.Path {
		case "/latest/meta-data/iam/security-credentials/":
			w.Write([]byte("v1role"))
		default:
			w.Write([]byte(`{"Code":"Success","AccessKeyId":"AKIAV1FALLBACKLEAK","SecretAccessKey":"v1-secret-should-not-be-used","Token":"t","Expiration":"2099-01-01T00:00:00Z"}`))
		}
	}))
}

func jsonNewDecoder(resp *http.Response) *json.Decoder { return json.NewDecoder(resp.Body) }

package httpapi

import (
	"io"

	"github.com/credbroker/credbroker"
)

// BodyKinds names the request bodies DecodeBody can decode, in a fixed
// order, so that a fuzz input can pick one by index.
var BodyKinds = []string{"connector", "token", "variable", "console", "vend"}

// DecodeBody exposes the body decoder to the fuzz targets: it decodes body
// as the request body of kind (one of BodyKinds) and returns the decoded
// value.
func DecodeBody(kind string, body io.Reader) (any, error) {
	var v any
	switch kind {
	case "connector":
		v = new(credbroker.ConnectorSpec)
	case "token":
		v = new(credbroker.TokenSpec)
	case "variable":
		v = new(variableBody)
	case "console":
		v = new(credbroker.ConsoleRequest)
	default:
		v = new(credbroker.VendRequest)
	}
	err := decodeBody(body, v)
	return v, err
}

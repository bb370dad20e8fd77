package httpapi

import "github.com/credbroker/credbroker"

// The bodies the API exchanges besides the credbroker types themselves.
// Lists are wrapped in an object so that fields can be added later.

// errorBody is every error response: {"code": "...", "message": "..."}.
type errorBody struct {
	Code    credbroker.Code `json:"code"`
	Message string          `json:"message"`
}

type connectorList struct {
	Connectors []credbroker.ConnectorInfo `json:"connectors"`
}

type tokenList struct {
	Tokens []*credbroker.Token `json:"tokens"`
}

type variableList struct {
	Variables []credbroker.Variable `json:"variables"`
}

type auditList struct {
	Records []credbroker.AuditRecord `json:"records"`
}

// variableBody is the body of PUT /v1/variables/{name}.
type variableBody struct {
	Value  string `json:"value"`
	Secret bool   `json:"secret"`
}

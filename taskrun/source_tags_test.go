package taskrun

import (
	"slices"
	"strings"
	"testing"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/jobfile"
	"github.com/credbroker/credbroker/vars"
)

func TestExpandCredentialsCarriesTags(t *testing.T) {
	vs := vars.New()
	vs.Set(vars.Plan, "ticket", "OPS-1234", false)
	env := func(k string) (string, bool) {
		switch k {
		case "CREDBROKER_BROKER":
			return "http://127.0.0.1:8420", true
		case "CREDBROKER_TOKEN":
			return "tok_x.y", true
		}
		return "", false
	}
	c := &jobfile.Credentials{Source: "connector", Connector: "deploy", Tags: []jobfile.Tag{{Key: "ticket", Value: "${bamboo.ticket}"}, {Key: "team", Value: "ops"}}}
	src, err := ExpandCredentials(c, vs, "credentials", env)
	if err != nil {
		t.Fatal(err)
	}
	if want := []credbroker.Tag{{Key: "ticket", Value: "OPS-1234"}, {Key: "team", Value: "ops"}}; !slices.Equal(src.Tags, want) {
		t.Fatalf("tags %v, want %v", src.Tags, want)
	}

	c.Tags = []jobfile.Tag{{Key: "ticket", Value: "${bamboo.missing}"}}
	_, err = ExpandCredentials(c, vs, "credentials", env)
	if err == nil || !strings.Contains(err.Error(), "credentials.tags.ticket: undefined variable \"missing\"") {
		t.Fatalf("undefined tag variable: %v", err)
	}

	inst := &jobfile.Credentials{Source: "instance", Role: &jobfile.Role{ARN: "arn:aws:iam::123456789012:role/r", NoSessionTags: true}}
	src, err = ExpandCredentials(inst, vs, "credentials", env)
	if err != nil {
		t.Fatal(err)
	}
	if !src.Role.NoSessionTags || len(src.Tags) != 0 {
		t.Fatalf("role %+v tags %v", src.Role, src.Tags)
	}
}

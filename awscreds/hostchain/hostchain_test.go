package hostchain

import (
	"context"
	"strings"
	"testing"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/awscreds"
)

const (
	keyID  = "AKIAFAKEBASEKEY00001"
	secret = "base-secret-DO-NOT-LEAK"
)

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", dir+"/config")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", dir+"/credentials")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "")
	t.Setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "")
	t.Setenv("AWS_WEB_IDENTITY_TOKEN_FILE", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_ACCESS_KEY_ID", keyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	t.Setenv("AWS_SESSION_TOKEN", "")
	is := &awscreds.Issuer{}
	p, err := Load(context.Background(), is)
	if err != nil {
		t.Fatal(err)
	}
	c, err := p.Retrieve(context.Background())
	if err != nil || c.AccessKeyID != keyID || c.SecretAccessKey != secret || c.Source != "default" {
		t.Fatalf("got %+v, %v", c, err)
	}

	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	p, err = Load(context.Background(), is)
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Retrieve(context.Background())
	e := credbroker.AsError(err)
	if e == nil || e.Code != credbroker.CodeUnprocessable || e.Field != "base" ||
		!strings.Contains(e.Error(), "default AWS credential chain gave no credentials") {
		t.Fatalf("got %v, want an unprocessable error on field base about the default chain", err)
	}
	if strings.Contains(e.Error(), secret) || (e.Err != nil && strings.Contains(e.Err.Error(), secret)) {
		t.Fatalf("error leaks the secret: %v", err)
	}
}

func TestLoadRefusesABrokenConfig(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", dir+"/config")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", dir+"/credentials")
	t.Setenv("AWS_PROFILE", "no-such-profile")
	_, err := Load(context.Background(), &awscreds.Issuer{})
	e := credbroker.AsError(err)
	if e == nil || e.Code != credbroker.CodeUnprocessable || e.Field != "base" || !strings.Contains(e.Fix, "AWS_PROFILE") {
		t.Fatalf("got %v, want an unprocessable error on field base naming AWS_PROFILE in its fix", err)
	}
}

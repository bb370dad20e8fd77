package awscreds

import (
	"strings"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
)

func TestCheckDuration(t *testing.T) {
	role, fed, sess, prov := credbroker.PrincipalAssumedRole, credbroker.PrincipalFederatedUser,
		credbroker.PrincipalSession, credbroker.PrincipalProvided
	tests := []struct {
		p   credbroker.PrincipalType
		d   time.Duration
		ok  bool
		msg string
	}{
		{role, 0, true, ""},
		{role, 15 * time.Minute, true, ""},
		{role, 12 * time.Hour, true, ""},
		{role, 15*time.Minute - time.Second, false, "AssumeRole allows 15m0s to 12h"},
		{role, 12*time.Hour + time.Second, false, "AssumeRole allows 15m0s to 12h"},
		{fed, 36 * time.Hour, true, ""},
		{fed, 36*time.Hour + time.Minute, false, "GetFederationToken allows 15m0s to 36h"},
		{sess, 14 * time.Minute, false, "GetSessionToken allows 15m0s to 36h"},
		{sess, 20 * time.Hour, true, ""},
		{prov, 100 * time.Hour, true, ""},
		{role, -time.Hour, false, "out of range"},
	}
	for _, tt := range tests {
		err := CheckDuration("duration", tt.p, tt.d)
		if tt.ok {
			if err != nil {
				t.Errorf("%s %s: %v", tt.p, tt.d, err)
			}
			continue
		}
		wantError(t, err, credbroker.CodeInvalid, "duration", tt.msg)
	}
}

func TestRoleDuration(t *testing.T) {
	tests := []struct {
		d        time.Duration
		chaining bool
		want     time.Duration
		warns    bool
	}{
		{0, false, time.Hour, false},
		{0, true, time.Hour, false},
		{8 * time.Hour, false, 8 * time.Hour, false},
		{8 * time.Hour, true, time.Hour, true},
		{30 * time.Minute, true, 30 * time.Minute, false},
	}
	for _, tt := range tests {
		got, warning := roleDuration(tt.d, tt.chaining)
		if got != tt.want || (warning != "") != tt.warns {
			t.Errorf("roleDuration(%s, %v) = %s, %q", tt.d, tt.chaining, got, warning)
		}
		if tt.warns && !strings.Contains(warning, "role chaining") {
			t.Errorf("warning %q does not say why", warning)
		}
	}
}

func TestCheckTags(t *testing.T) {
	tag := func(k, v string) credbroker.Tag { return credbroker.Tag{Key: k, Value: v} }
	if err := checkTags("tags", []credbroker.Tag{tag("Project", "ops"), tag("team name", "blå_1:/=+-@."), tag("empty", "")}, []string{"Project"}); err != nil {
		t.Fatal(err)
	}
	many := make([]credbroker.Tag, 51)
	for i := range many {
		many[i] = tag(strings.Repeat("k", i+1), "v")
	}
	wantError(t, checkTags("tags", many, nil), credbroker.CodeInvalid, "tags", "at most 50")
	wantError(t, checkTags("tags", []credbroker.Tag{tag("", "v")}, nil), credbroker.CodeInvalid, "tags[0].key", "1 to 128")
	wantError(t, checkTags("tags", []credbroker.Tag{tag(strings.Repeat("k", 129), "v")}, nil), credbroker.CodeInvalid, "tags[0].key", "1 to 128")
	wantError(t, checkTags("tags", []credbroker.Tag{tag("k", strings.Repeat("v", 257))}, nil), credbroker.CodeInvalid, "tags[0].value", "at most 256")
	wantError(t, checkTags("tags", []credbroker.Tag{tag("a", "1"), tag("k$", "v")}, nil), credbroker.CodeInvalid, "tags[1].key", "characters STS does not accept")
	wantError(t, checkTags("tags", []credbroker.Tag{tag("k", "v;")}, nil), credbroker.CodeInvalid, "tags[0].value", "characters STS does not accept")
	wantError(t, checkTags("tags", []credbroker.Tag{tag("Team", "a"), tag("team", "b")}, nil), credbroker.CodeInvalid, "tags[1].key", "given twice")
	wantError(t, checkTags("tags", nil, []string{"ok", "bad*"}), credbroker.CodeInvalid, "transitive_tag_keys[1]", "not a valid tag key")
}

func TestNamesAndExternalID(t *testing.T) {
	if err := checkSessionName("session_name", "PROJ-PLAN-JOB1-42"); err != nil {
		t.Fatal(err)
	}
	wantError(t, checkSessionName("session_name", "a"), credbroker.CodeInvalid, "session_name", "2 to 64")
	wantError(t, checkSessionName("session_name", "has space"), credbroker.CodeInvalid, "session_name", "2 to 64")
	wantError(t, checkSessionName("session_name", strings.Repeat("n", 65)), credbroker.CodeInvalid, "session_name", "2 to 64")

	for _, id := range []string{"", "ab", "Ext-ID_1+=,.@:/", strings.Repeat("x", 1224)} {
		if err := checkExternalID("external_id", id); err != nil {
			t.Errorf("%q: %v", id, err)
		}
	}
	wantError(t, checkExternalID("external_id", "x"), credbroker.CodeInvalid, "external_id", "2 to 1224")
	wantError(t, checkExternalID("external_id", strings.Repeat("x", 1225)), credbroker.CodeInvalid, "external_id", "2 to 1224")
	e := wantError(t, checkExternalID("external_id", "sec ret"), credbroker.CodeInvalid, "external_id", "position 4")
	if strings.Contains(e.Error(), "sec ret") {
		t.Error("external ID repeated in the error")
	}
}

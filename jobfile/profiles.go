package jobfile

import (
	"strings"

	"go.yaml.in/yaml/v3"
)

// Profile is one of a task's named credentials.
type Profile struct {
	Name        string
	Credentials *Credentials
	Line        int
}

// taskProfiles reads a task's profiles: and default_profile:, and checks
// them against the rest of the task.
func (p *parser) taskProfiles(m *mapping, t *Task, path string) {
	v := m.get("profiles")
	m.str("default_profile", &t.DefaultProfile)
	if v == nil {
		if m.has("default_profile") {
			p.errorf(m.keys["default_profile"], path+".default_profile", "add a profiles: mapping, or remove default_profile", "there are no profiles")
		}
		return
	}
	ppath := path + ".profiles"
	if v.Kind != yaml.MappingNode || len(v.Content) == 0 {
		p.errorf(v, ppath, "write NAME: followed by a credentials block, for each profile", "expected a mapping of profiles, found %s", kindName(v))
		return
	}
	names := map[string]bool{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, cv := v.Content[i], v.Content[i+1]
		if !validTaskName(k.Value) {
			p.errorf(k, ppath+"."+k.Value, "use 1 to 64 letters, digits, '_', '.' or '-'", "invalid profile name")
			continue
		}
		if names[k.Value] {
			p.errorf(k, ppath+"."+k.Value, "keep one of them", "profile given twice")
			continue
		}
		names[k.Value] = true
		t.Profiles = append(t.Profiles, Profile{Name: k.Value, Credentials: p.credentials(cv, ppath+"."+k.Value), Line: k.Line})
	}
	if m.has("credentials") {
		p.errorf(m.keys["profiles"], ppath, "keep one of them: credentials for one set, profiles for several", "a task has credentials or profiles, not both")
	}
	if m.has("delivery") {
		p.errorf(m.keys["delivery"], path+".delivery", "remove delivery: the profiles are one AWS config file, each refreshing on its own",
			"a task with profiles gets them as an AWS config file")
	}
	if m.has("set_variables") {
		p.errorf(m.keys["profiles"], ppath, "give the set_variables task one credentials block", "a set_variables task sets the variables of one set of credentials")
	}
	if len(t.Profiles) == 0 {
		return
	}
	var list []string
	for _, pr := range t.Profiles {
		list = append(list, pr.Name)
	}
	switch def := t.DefaultProfile; {
	case def != "" && !names[def]:
		p.errorf(m.vals["default_profile"], path+".default_profile", "name one of "+strings.Join(list, ", "), "no profile %q", def)
	case def != "" && names["default"] && def != "default":
		p.errorf(m.vals["default_profile"], path+".default_profile", "rename the profile called default, or drop default_profile",
			"the profile called default is the default, but default_profile names %q", def)
	case def == "" && names["default"]:
		t.DefaultProfile = "default"
	case def == "":
		t.DefaultProfile = t.Profiles[0].Name
	}
}

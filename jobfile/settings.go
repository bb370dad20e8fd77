package jobfile

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"go.yaml.in/yaml/v3"
)

// Setting is one key of a settings file, with its value and where it is.
type Setting struct {
	Key string
	// Value is the scalar's text; Values the items of a list.
	Value  string
	Values []string
	List   bool
	Line   int
}

// MaxSettingsSize bounds a settings file.
const MaxSettingsSize = 1 << 20

// LoadSettings reads the settings file at path: a flat YAML mapping of
// known keys (the flags of `credbroker serve --config`) to scalars, or to
// lists of scalars for keys that take several values. Every problem is
// reported at once, with the file, the line, the key and a fix; an unknown
// key gets the closest known one as a suggestion. Values never appear in
// an error: a value may be a secret (a database URL's password).
func LoadSettings(path string, known []string) ([]Setting, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, Errors{fileError(path, 0, "cannot read the settings file: "+pathErr(err), "check the --config path")}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSettingsSize+1))
	if err != nil {
		return nil, Errors{fileError(path, 0, "cannot read the settings file: "+pathErr(err), "")}
	}
	return ParseSettings(path, data, known)
}

// ParseSettings parses a settings file's contents; name is used in errors.
// With problems in the mapping it returns them (as Errors) along with the
// settings that were well formed.
func ParseSettings(name string, data []byte, known []string) ([]Setting, error) {
	p := &parser{file: name}
	if len(data) > MaxSettingsSize {
		return nil, Errors{fileError(name, 0, fmt.Sprintf("the settings file is larger than %d bytes", MaxSettingsSize), "")}
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if err == io.EOF {
			return nil, nil
		}
		return nil, Errors{p.yamlError(err)}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err != io.EOF {
		return nil, Errors{fileError(name, extra.Line, "the settings file holds more than one YAML document", "remove the `---` separator and what follows")}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil, nil
	}
	if root.Kind != yaml.MappingNode {
		p.errorf(root, "", "write one `key: value` per line, keys being serve's flags without the dashes (listen: 127.0.0.1:8420)",
			"a settings file is a mapping of settings, found %s", kindName(root))
		return nil, p.errs
	}
	isKnown := make(map[string]bool, len(known))
	for _, k := range known {
		isKnown[k] = true
	}
	var out []Setting
	seen := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		key := k.Value
		if k.Kind != yaml.ScalarNode {
			p.errorf(k, "", "use a flag's name as the key", "a key must be a name, found %s", kindName(k))
			continue
		}
		if !isKnown[key] {
			fix := "remove it; the keys are serve's flags without the leading dashes (credbroker serve --help)"
			if s := suggest(key, known); s != "" {
				fix = fmt.Sprintf("did you mean %q?", s)
			}
			p.errorf(k, key, fix, "unknown setting")
			continue
		}
		if first, dup := seen[key]; dup {
			p.errorf(k, key, "keep one of them", "set twice (first on line %d)", first)
			continue
		}
		seen[key] = k.Line
		s := Setting{Key: key, Line: k.Line}
		switch {
		case v.Kind == yaml.ScalarNode && v.Tag == "!!null":
			p.errorf(v, key, "give a value, or remove the line to take the default", "no value")
			continue
		case v.Kind == yaml.ScalarNode:
			s.Value = v.Value
		case v.Kind == yaml.SequenceNode:
			s.List = true
			bad := false
			for _, item := range v.Content {
				if item.Kind != yaml.ScalarNode || item.Tag == "!!null" {
					p.errorf(item, key, "give each item as a plain value", "a list item must be a value, found %s", kindName(item))
					bad = true
					continue
				}
				s.Values = append(s.Values, item.Value)
			}
			if bad {
				continue
			}
		default:
			p.errorf(v, key, "give a plain value (or a list of values)", "the value is %s", kindName(v))
			continue
		}
		out = append(out, s)
	}
	if len(p.errs) > 0 {
		// The good settings too, so that a caller checking their values
		// can report every problem of the file at once.
		return out, p.errs
	}
	return out, nil
}

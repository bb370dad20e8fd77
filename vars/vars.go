package vars

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/credbroker/credbroker"
)

// Layer is where a variable is defined. A higher layer wins over a lower one.
type Layer int

// The layers, lowest precedence first.
const (
	// Global variables apply to every plan.
	Global Layer = iota
	// Plan variables apply to one plan and win over global ones.
	Plan
	// Runtime variables are written by an earlier task of the job and win
	// over plan and global ones.
	Runtime

	numLayers
)

// String returns "global", "plan" or "runtime".
func (l Layer) String() string {
	switch l {
	case Global:
		return "global"
	case Plan:
		return "plan"
	case Runtime:
		return "runtime"
	}
	return fmt.Sprintf("Layer(%d)", int(l))
}

// Valid reports whether l is one of Global, Plan and Runtime.
func (l Layer) Valid() bool { return l >= Global && l < numLayers }

// Var is one variable.
type Var struct {
	Name   string
	Value  string
	Secret bool
}

// bambooPrefix is stripped from names where they are defined or referenced.
const bambooPrefix = "bamboo."

// MaxNameLen is the longest variable name accepted, in bytes.
const MaxNameLen = 255

// Canonical returns name without a leading "bamboo." prefix: the name under
// which the variable is stored and looked up.
func Canonical(name string) string {
	return strings.TrimPrefix(name, bambooPrefix)
}

// secretWords are the name fragments that make a variable secret, lower case.
var secretWords = []string{"password", "secret", "passphrase", "sshkey", "token"}

// IsSecretName reports whether a variable called name is secret by its name
// alone: whether the name contains "password", "secret", "passphrase",
// "sshKey" or "token", in any case.
func IsSecretName(name string) bool {
	for _, w := range secretWords {
		if containsFold(name, w) {
			return true
		}
	}
	return false
}

// containsFold reports whether s contains the lower-case ASCII word w,
// ignoring ASCII case, without allocating.
func containsFold(s, w string) bool {
	for i := 0; i+len(w) <= len(s); i++ {
		j := 0
		for j < len(w) && lower(s[i+j]) == w[j] {
			j++
		}
		if j == len(w) {
			return true
		}
	}
	return false
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// nameChar reports whether c may appear in a variable name.
func nameChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return c == '_' || c == '.' || c == '-'
}

// Problems a name can have. The texts hold no part of the name.
const (
	problemEmpty   = "empty variable name"
	problemChar    = "invalid character in variable name"
	problemTooLong = "variable name longer than 255 characters"
	problemPrefix  = "variable name repeats the \"bamboo.\" prefix"
)

// nameFix says what a valid name looks like.
const nameFix = "a variable name holds letters, digits, '_', '.' and '-', at most 255 of them"

// checkName returns what is wrong with the canonical name, and the byte
// offset in name where the problem is; "" when the name is valid.
func checkName(name string) (problem string, at int) {
	if name == "" {
		return problemEmpty, 0
	}
	if len(name) > MaxNameLen {
		return problemTooLong, MaxNameLen
	}
	// Only one "bamboo." is stripped, so a name that still starts with it
	// would name another variable once written back out and read again.
	if strings.HasPrefix(name, bambooPrefix) {
		return problemPrefix, 0
	}
	for i := 0; i < len(name); i++ {
		if !nameChar(name[i]) {
			return problemChar, i
		}
	}
	return "", 0
}

// CheckName returns nil when name, after stripping a "bamboo." prefix, is
// a valid variable name, and otherwise a *credbroker.Error with
// CodeInvalid naming field. The error does not repeat the name.
func CheckName(field, name string) error {
	problem, at := checkName(Canonical(name))
	if problem == "" {
		return nil
	}
	msg := problem
	if problem == problemChar {
		msg = fmt.Sprintf("%s (character %d of the name)", problem, at+1+len(name)-len(Canonical(name)))
	}
	return &credbroker.Error{Code: credbroker.CodeInvalid, Field: field, Message: msg, Fix: nameFix}
}

// Set is a set of variables in layers. The zero value is an empty set ready
// to use. A Set is safe for concurrent use.
type Set struct {
	mu     sync.RWMutex
	layers [numLayers]map[string]Var

	// ci is the CI variable layer, below Global: a lookup of the
	// variables a CI hands the task in its environment (nil for none),
	// asked only for names no layer defines. ciMu guards ciRead, the
	// variables it gave, which count as defined from then on.
	ci     func(name string) (string, bool)
	ciMu   sync.Mutex
	ciRead map[string]Var
}

// SetCI sets the CI variable layer, below Global: lookup is asked for a
// name that no layer defines, when Lookup or Expand need it, and what it
// gives is a variable of that name from then on, secret by its name
// (IsSecretName). Only names asked for are read; Secrets and All include
// them once read. nil removes the layer.
func (s *Set) SetCI(lookup func(name string) (string, bool)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ci = lookup
}

// New returns an empty set.
func New() *Set { return new(Set) }

// Set defines the variable name in layer, replacing any earlier definition
// in that layer. A "bamboo." prefix of name is stripped. The variable is
// secret when secret is true or when IsSecretName says so.
//
// Set does not validate name: a name that CheckName refuses can be stored
// but never referenced by Expand. Callers taking names from users validate
// them first (ParseFile and ParseAssignment do). Set panics if layer is
// not one of Global, Plan and Runtime, which is a programming error.
func (s *Set) Set(layer Layer, name, value string, secret bool) {
	if !layer.Valid() {
		panic(fmt.Sprintf("vars: Set with invalid layer %d", int(layer)))
	}
	name = Canonical(name)
	v := Var{Name: name, Value: value, Secret: secret || IsSecretName(name)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.layers[layer] == nil {
		s.layers[layer] = make(map[string]Var)
	}
	s.layers[layer][name] = v
}

// Load defines every variable of vs in layer, in order, as Set does.
func (s *Set) Load(layer Layer, vs []Var) {
	for _, v := range vs {
		s.Set(layer, v.Name, v.Value, v.Secret)
	}
}

// Lookup returns the variable name (a "bamboo." prefix stripped) as the
// layers' precedence makes it: its runtime definition, else its plan
// definition, else its global one.
func (s *Set) Lookup(name string) (Var, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.lookup(Canonical(name))
}

// lookup finds the canonical name, in the CI layer last; the caller
// holds s.mu.
func (s *Set) lookup(name string) (Var, bool) {
	for l := numLayers - 1; l >= Global; l-- {
		if v, ok := s.layers[l][name]; ok {
			return v, true
		}
	}
	if s.ci == nil {
		return Var{}, false
	}
	s.ciMu.Lock()
	defer s.ciMu.Unlock()
	if v, ok := s.ciRead[name]; ok {
		return v, true
	}
	value, ok := s.ci(name)
	if !ok {
		return Var{}, false
	}
	v := Var{Name: name, Value: value, Secret: IsSecretName(name)}
	if s.ciRead == nil {
		s.ciRead = make(map[string]Var)
	}
	s.ciRead[name] = v
	return v, true
}

// fromCI returns the variables the CI layer gave so far; the caller holds
// s.mu.
func (s *Set) fromCI() []Var {
	s.ciMu.Lock()
	defer s.ciMu.Unlock()
	out := make([]Var, 0, len(s.ciRead))
	for _, v := range s.ciRead {
		out = append(out, v)
	}
	return out
}

// Secrets returns the non-empty values of every secret variable in every
// layer, including definitions that a higher layer shadows and the CI
// layer's variables read so far, without duplicates and sorted. These are
// the values to mask in task output.
func (s *Set) Secrets() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	seen := make(map[string]struct{})
	var out []string
	all := append([]map[string]Var{ciMap(s.fromCI())}, s.layers[:]...)
	for l := range all {
		for _, v := range all[l] {
			if !v.Secret || v.Value == "" {
				continue
			}
			if _, dup := seen[v.Value]; dup {
				continue
			}
			seen[v.Value] = struct{}{}
			out = append(out, v.Value)
		}
	}
	slices.Sort(out)
	return out
}

// All returns the effective variables, each name once with the definition
// that precedence selects, sorted by name; of the CI layer, those read so
// far.
func (s *Set) All() []Var {
	s.mu.RLock()
	defer s.mu.RUnlock()
	eff := ciMap(s.fromCI())
	for l := range s.layers { // lowest first, so higher layers overwrite
		for name, v := range s.layers[l] {
			eff[name] = v
		}
	}
	out := make([]Var, 0, len(eff))
	for _, v := range eff {
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b Var) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Clone returns an independent copy of s, with the same CI layer.
func (s *Set) Clone() *Set {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c := new(Set)
	for l := range s.layers {
		c.layers[l] = maps.Clone(s.layers[l])
	}
	c.ci = s.ci
	c.ciRead = ciMap(s.fromCI())
	return c
}

// ciMap indexes vs by name.
func ciMap(vs []Var) map[string]Var {
	m := make(map[string]Var, len(vs))
	for _, v := range vs {
		m[v.Name] = v
	}
	return m
}

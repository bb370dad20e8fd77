package vars

import (
	"errors"
	"io/fs"
	"os"

	"github.com/credbroker/credbroker"
)

// EnvRuntimeFile names the runtime-variables file of the running task:
// credbroker run sets it for each task's command, and the task appends
// NAME=value lines to it.
const EnvRuntimeFile = "CREDBROKER_VARIABLES"

// Sources are every place the variables of a build come from. Sources.Load
// is the one function that layers them, for credbroker run, check and
// exec alike; a new source of variables is one more field here and one
// more step in Load.
type Sources struct {
	// BrokerGlobal and BrokerPlan are the broker's global variables and
	// its variables of the build's plan, fetched by the caller (nil when
	// no broker is configured).
	BrokerGlobal, BrokerPlan []Var
	// GlobalFiles are the --global-vars files, in order.
	GlobalFiles []string
	// Job holds the job file's variables:.
	Job []Var
	// PlanFiles are the --vars files, in order.
	PlanFiles []string
	// Assignments are the --var NAME=VALUE flags, in order.
	Assignments []string
	// RuntimeFile is the file named by $CREDBROKER_VARIABLES, where the
	// task that runs this credbroker writes runtime variables; "" for
	// none. A file that does not exist yet holds none.
	RuntimeFile string
	// CI is the CI variable layer, below Global (Set.SetCI): the lookup
	// of the variables the CI hands the task in its environment, such as
	// Bamboo's bamboo_NAME (cienv.Variables); nil for none.
	CI func(name string) (string, bool)
}

// Load reads every source into a new Set. Precedence, highest first:
//
//   - Runtime: the RuntimeFile's variables;
//   - Plan: the Assignments, then the PlanFiles (a later file wins over an
//     earlier one), then the Job's variables, then BrokerPlan;
//   - Global: the GlobalFiles, then BrokerGlobal;
//   - the CI's variables, read one name at a time, only for the names a
//     reference needs and no layer above defines.
//
// An unreadable or malformed file is a *credbroker.Error naming the flag
// (--vars, --global-vars) or $CREDBROKER_VARIABLES and the file; it never
// holds a value.
func (s Sources) Load() (*Set, error) {
	vs := New()
	vs.SetCI(s.CI)
	vs.Load(Global, s.BrokerGlobal)
	if err := loadFiles(vs, Global, "--global-vars", s.GlobalFiles); err != nil {
		return nil, err
	}
	vs.Load(Plan, s.BrokerPlan)
	vs.Load(Plan, s.Job)
	if err := loadFiles(vs, Plan, "--vars", s.PlanFiles); err != nil {
		return nil, err
	}
	for _, as := range s.Assignments {
		v, err := ParseAssignment(as)
		if err != nil {
			return nil, err
		}
		vs.Set(Plan, v.Name, v.Value, v.Secret)
	}
	if s.RuntimeFile != "" {
		err := loadFiles(vs, Runtime, "$"+EnvRuntimeFile, []string{s.RuntimeFile})
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	return vs, nil
}

// loadFiles reads each variables file into layer; field names the flag or
// variable that named the files, in errors.
func loadFiles(vs *Set, layer Layer, field string, paths []string) error {
	for _, path := range paths {
		f, err := os.Open(path)
		if err != nil {
			reason := err
			var pe *fs.PathError
			if errors.As(err, &pe) {
				reason = pe.Err
			}
			return credbroker.Errorf(credbroker.CodeInvalid, field, "cannot read variables file %s: %s", path, reason).
				WithFix("check the path").WithCause(err)
		}
		set, err := ParseFile(f, path)
		f.Close()
		if err != nil {
			return err
		}
		vs.Load(layer, set)
	}
	return nil
}

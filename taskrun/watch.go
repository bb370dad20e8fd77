package taskrun

import (
	"bytes"
	"context"
	"os"
	"time"

	"github.com/credbroker/credbroker/mask"
	"github.com/credbroker/credbroker/vars"
)

// watchInterval is how often the runtime-variables file is read while a
// task runs.
const watchInterval = 20 * time.Millisecond

// watchVariables masks secret runtime variables as soon as the running
// task writes them, not only in later tasks: it reads the task's
// $CREDBROKER_VARIABLES file whenever it grows and adds the values of
// secret variables on complete lines to the masks. A value the task prints
// before it writes the variable, or within the same few milliseconds,
// cannot be masked; everything printed after is.
func watchVariables(ctx context.Context, path string, masks []*mask.Writer) {
	var size int64 = -1
	seen := map[string]bool{}
	t := time.NewTicker(watchInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fi, err := os.Stat(path)
		if err != nil || fi.Size() == size {
			continue
		}
		size = fi.Size()
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		// Only complete lines: a value may still be being written.
		if i := bytes.LastIndexByte(data, '\n'); i >= 0 {
			data = data[:i+1]
		} else {
			continue
		}
		// The valid lines count even when others are not: a malformed line
		// must not unmask a secret written before it.
		vs, _ := vars.ParseFile(bytes.NewReader(data), "runtime variables")
		var fresh []string
		for _, v := range vs {
			if v.Secret && v.Value != "" && !seen[v.Value] {
				seen[v.Value] = true
				fresh = append(fresh, v.Value)
			}
		}
		if len(fresh) > 0 {
			for _, m := range masks {
				m.AddSecrets(fresh)
			}
		}
	}
}

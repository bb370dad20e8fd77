package taskrun

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	"github.com/credbroker/credbroker"
)

// ReadTokenFile reads a broker token from the file at path: --token-file,
// a task's token_file, $CREDBROKER_TOKEN_FILE. As ssh does with a private
// key, it refuses a file that group or others may read or write (on
// systems with Unix permissions): the token is a credential, and any other
// user of the host could take it. field names the setting in the error,
// which says how to fix it and never holds the file's content.
func ReadTokenFile(field, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return "", credbroker.Errorf(credbroker.CodeInvalid, field, "cannot read token file %s: %s", path, err).
			WithFix("check the path and its permissions")
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", credbroker.Errorf(credbroker.CodeInvalid, field, "cannot read token file %s", path).WithCause(err)
	}
	if perm := fi.Mode().Perm(); runtime.GOOS != "windows" && perm&0o077 != 0 {
		return "", credbroker.Errorf(credbroker.CodeInvalid, field,
			"token file %s may be read or written by group or others (mode %04o): refusing to use it, as ssh refuses such a key", path, perm).
			WithFix(fmt.Sprintf("chmod 600 %s (for a Kubernetes secret, mount it with defaultMode: 0400)", path))
	}
	b, err := io.ReadAll(io.LimitReader(f, maxFile+1))
	if err != nil {
		return "", credbroker.Errorf(credbroker.CodeInvalid, field, "cannot read token file %s", path).WithCause(err)
	}
	if len(b) > maxFile {
		return "", credbroker.Errorf(credbroker.CodeInvalid, field, "token file %s is larger than %d bytes: it holds more than a token", path, maxFile)
	}
	return strings.TrimSpace(string(b)), nil
}

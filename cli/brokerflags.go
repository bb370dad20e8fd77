package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/httpapi"
	"github.com/credbroker/credbroker/taskrun"
)

// DefaultBroker is the broker URL when none is given.
const DefaultBroker = "http://127.0.0.1:8420"

// brokerFlags reach a running broker with a token. They are registered
// once, on the parent command (connector, token, variable, audit) for all
// of its subcommands.
type brokerFlags struct {
	url       string
	tokenFile string
	caFile    string
}

// register adds --broker, --token-file and --ca-file to cmd and all its
// subcommands.
func (f *brokerFlags) register(cmd *cobra.Command) {
	fl := cmd.PersistentFlags()
	fl.StringVar(&f.url, "broker", "", "broker URL (default $CREDBROKER_BROKER, else "+DefaultBroker+")")
	fl.StringVar(&f.tokenFile, "token-file", "", "file holding the token (default $CREDBROKER_TOKEN_FILE, or the token in $CREDBROKER_TOKEN)")
	fl.StringVar(&f.caFile, "ca-file", "", "PEM file of the CA that signed the broker's TLS certificate (default $CREDBROKER_CA_FILE)")
}

// addTableOutput registers --output table|json on a command that lists or
// shows what the broker keeps.
func addTableOutput(cmd *cobra.Command) *outputFlag {
	return addOutput(cmd, []string{"table", "json"}, nil, "output format: table or json")
}

func (f *brokerFlags) client(a *app) (*httpapi.Client, error) {
	u := firstNonEmpty(f.url, a.env("CREDBROKER_BROKER"), DefaultBroker)
	tok, err := f.token(a)
	if err != nil {
		return nil, err
	}
	return a.brokerClient(u, tok, firstNonEmpty(f.caFile, a.env("CREDBROKER_CA_FILE")))
}

// token finds the token: --token-file, then $CREDBROKER_TOKEN, then
// $CREDBROKER_TOKEN_FILE.
func (f *brokerFlags) token(a *app) (string, error) {
	path := f.tokenFile
	if path == "" && a.env("CREDBROKER_TOKEN") == "" {
		path = a.env("CREDBROKER_TOKEN_FILE")
	}
	if path != "" {
		return taskrun.ReadTokenFile("--token-file", path)
	}
	if t := a.env("CREDBROKER_TOKEN"); t != "" {
		return strings.TrimSpace(t), nil
	}
	return "", credbroker.Errorf(credbroker.CodeUnauthorized, "token", "no token").
		WithFix("set CREDBROKER_TOKEN or --token-file; on a new broker make the first admin token with `credbroker token create --local --role admin --name me`")
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table writes aligned columns.
func table(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		// A value may hold newlines, tabs or escape sequences (records
		// written before the broker refused them, names from elsewhere):
		// escaped, it cannot start a row, shift a column or drive the
		// terminal.
		cells := make([]string, len(r))
		for i, c := range r {
			cells[i] = credbroker.EscapeText(c)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

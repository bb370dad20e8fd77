package bench

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"
)

// Verdict says whether a scenario met its goal. Goals are reported, not
// asserted: a miss is a finding for the optimisation work, not a failure.
type Verdict string

// Verdicts.
const (
	Pass Verdict = "PASS"
	Miss Verdict = "MISS"
	// Info marks a row that has no goal of its own.
	Info Verdict = "info"
)

// Judge returns Pass when ok, else Miss.
func Judge(ok bool) Verdict {
	if ok {
		return Pass
	}
	return Miss
}

// Row is one line of the summary table.
type Row struct {
	Scenario   string
	Credbroker string // credbroker's median figures
	Baseline   string // the baseline's, measured in the same run
	Ratio      string
	Goal       string
	Verdict    Verdict
}

// Section is a titled block of Markdown after the summary table.
type Section struct {
	Title string
	Body  string
}

// Report is what one run of the suite found.
type Report struct {
	Machine  Machine
	Started  time.Time
	Elapsed  time.Duration
	Settings string // how the load was run, one line
	// Conditions describes how busy the machine was around the run.
	Conditions string
	// Code names the code measured: a commit, and whether the working
	// tree had changes.
	Code     string
	Rows     []Row
	Sections []Section
}

// The generated part of BENCHMARKS.md lies between these markers; the
// text around them is written by hand and kept.
const (
	BeginMarker = "<!-- scripts/bench: generated results begin; edits between these markers are overwritten -->"
	EndMarker   = "<!-- scripts/bench: generated results end -->"
)

// Markdown renders the generated block, markers included.
func (r *Report) Markdown() string {
	var b strings.Builder
	b.WriteString(BeginMarker + "\n\n")
	fmt.Fprintf(&b, "## Results\n\nMeasured by `scripts/bench` on %s (%s).\n\n",
		r.Started.UTC().Format("2006-01-02 15:04 MST"), "the measurements took "+roundDuration(r.Elapsed))
	b.WriteString("| machine | |\n|---|---|\n")
	fmt.Fprintf(&b, "| CPU | %s |\n", mdEscape(r.Machine.CPU))
	fmt.Fprintf(&b, "| cores | %d (GOMAXPROCS %d) |\n", r.Machine.Cores, r.Machine.GOMAXPROCS)
	fmt.Fprintf(&b, "| memory | %.1f GiB |\n", r.Machine.MemoryGiB)
	fmt.Fprintf(&b, "| kernel | %s |\n", mdEscape(r.Machine.Kernel))
	fmt.Fprintf(&b, "| OS | %s |\n", mdEscape(r.Machine.OS))
	fmt.Fprintf(&b, "| Go | %s |\n", mdEscape(r.Machine.Go))
	if r.Code != "" {
		fmt.Fprintf(&b, "| code | %s |\n", mdEscape(r.Code))
	}
	if r.Conditions != "" {
		fmt.Fprintf(&b, "| conditions | %s |\n", mdEscape(r.Conditions))
	}
	b.WriteString("\n")
	if r.Settings != "" {
		b.WriteString(r.Settings + "\n\n")
	}
	b.WriteString("| scenario | credbroker | baseline (same run) | ratio | goal | verdict |\n|---|---|---|---|---|---|\n")
	for _, row := range r.Rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", mdEscape(row.Scenario), mdEscape(row.Credbroker),
			mdEscape(row.Baseline), mdEscape(row.Ratio), mdEscape(row.Goal), verdictMD(row.Verdict))
	}
	b.WriteString("\n")
	for _, s := range r.Sections {
		fmt.Fprintf(&b, "### %s\n\n%s\n\n", s.Title, strings.TrimSpace(s.Body))
	}
	b.WriteString(EndMarker + "\n")
	return b.String()
}

func verdictMD(v Verdict) string {
	if v == Pass || v == Miss {
		return "**" + string(v) + "**"
	}
	return string(v)
}

// mdEscape keeps a cell's text from breaking the table.
func mdEscape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ")
}

func roundDuration(d time.Duration) string {
	if d >= time.Minute {
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return d.Round(100 * time.Millisecond).String()
}

// Text renders the summary table for a terminal.
func (r *Report) Text() string {
	header := []string{"scenario", "credbroker", "baseline", "ratio", "goal", "verdict"}
	rows := [][]string{header}
	for _, row := range r.Rows {
		rows = append(rows, []string{row.Scenario, row.Credbroker, row.Baseline, row.Ratio, row.Goal, string(row.Verdict)})
	}
	widths := make([]int, len(header))
	for _, cells := range rows {
		for i, c := range cells {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", r.Machine)
	for n, cells := range rows {
		for i, c := range cells {
			if i > 0 {
				b.WriteString("  ")
			}
			b.WriteString(c)
			if i < len(cells)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)))
			}
		}
		b.WriteString("\n")
		if n == 0 {
			total := len(widths)*2 - 2
			for _, w := range widths {
				total += w
			}
			b.WriteString(strings.Repeat("-", total) + "\n")
		}
	}
	return b.String()
}

// Merge puts the generated block into the text of an existing
// BENCHMARKS.md, replacing the block between the markers and keeping the
// rest. Text without the markers gets the block appended.
func Merge(existing, generated string) string {
	begin := strings.Index(existing, BeginMarker)
	end := strings.Index(existing, EndMarker)
	if begin < 0 || end < begin {
		if existing != "" && !strings.HasSuffix(existing, "\n") {
			existing += "\n"
		}
		if existing != "" {
			existing += "\n"
		}
		return existing + generated
	}
	rest := existing[end+len(EndMarker):]
	rest = strings.TrimPrefix(rest, "\n")
	return existing[:begin] + generated + rest
}

// skeleton is BENCHMARKS.md when there is none yet.
const skeleton = `# Benchmarks

` + "`scripts/bench`" + ` measures credbroker against a baseline for each scenario in the same
run and writes the results below. The text outside the generated block is written by hand.

`

// WriteFile merges the generated block into the file at path (created from
// a skeleton when missing), writing a temporary file and renaming it.
func WriteFile(path, generated string) error {
	old, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		old, err = []byte(skeleton), nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".bench-*.md")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, err = tmp.WriteString(Merge(string(old), generated))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

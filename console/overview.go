package console

import (
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/credbroker/credbroker"
)

// chart is a bar chart drawn as inline SVG on the server: no script, no
// style attribute, the bars' colours from the stylesheet.
type chart struct {
	Title            string
	Width, Height    int
	Bars             []chartBar
	Max              int
	Granted, Refused int
	Labels           []chartLabel
}

type chartBar struct {
	X, W   int
	YG, HG int // granted: top and height
	YR, HR int // refused, stacked on granted
	Title  string
}

type chartLabel struct {
	X    int
	Text string
}

const chartPlot = 120 // pixels of the plot area's height

// newChart lays out bars, labelling every labelEvery-th with format.
func newChart(title string, bars []Bar, labelEvery int, format string) chart {
	c := chart{Title: title, Height: chartPlot + 20}
	const gap = 2
	bw := 24
	if len(bars) > 12 {
		bw = 14
	}
	c.Width = len(bars) * (bw + gap)
	for _, b := range bars {
		c.Max = max(c.Max, b.Granted+b.Refused)
		c.Granted += b.Granted
		c.Refused += b.Refused
	}
	scale := func(n int) int {
		if c.Max == 0 {
			return 0
		}
		return (n*chartPlot + c.Max - 1) / c.Max
	}
	for i, b := range bars {
		x := i * (bw + gap)
		hg, hr := scale(b.Granted), scale(b.Refused)
		cb := chartBar{X: x, W: bw, HG: hg, YG: chartPlot - hg, HR: hr, YR: chartPlot - hg - hr,
			Title: fmt.Sprintf("%s: %d granted, %d refused", b.Start.UTC().Format("Jan 2 15:04 UTC"), b.Granted, b.Refused)}
		c.Bars = append(c.Bars, cb)
		if i%labelEvery == 0 {
			c.Labels = append(c.Labels, chartLabel{X: x, Text: b.Start.UTC().Format(format)})
		}
	}
	return c
}

// connectorHealth is a connector's line in the overview: what the audit
// last said about its STS.
type connectorHealth struct {
	Name   string
	Seen   stsSeen
	Status string // "reachable", "failing", "not seen"
}

// overviewView is the overview page's data.
type overviewView struct {
	Health     *credbroker.Health
	StatsError string
	Hour, Day  chart
	Snap       snapshot
	Connectors []connectorHealth
	Now        time.Time
}

// SortedSealed lists the sealed counts by key version.
func (v *overviewView) SortedSealed() [][2]int {
	var out [][2]int
	for k, n := range v.Health.SealedByVersion {
		out = append(out, [2]int{k, n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request, a *signedIn) {
	ctx := r.Context()
	now := c.now()
	h, err := c.svc.Health(ctx, a.tok)
	if err != nil {
		c.failed(w, r, a.s, err)
		return
	}
	data := &overviewView{Health: h, Now: now}
	if err := c.stats.refresh(ctx, c.svc, a.tok, now); err != nil {
		data.StatsError, _ = publicError(err)
	}
	data.Snap = c.stats.snapshot(now)
	data.Hour = newChart("Last hour", data.Snap.Hour, 3, "15:04")
	data.Day = newChart("Last day", data.Snap.Day, 4, "15:00")
	if list, err := c.svc.ListConnectors(ctx, a.tok); err == nil {
		for _, in := range list {
			ch := connectorHealth{Name: in.Name, Seen: data.Snap.STS[in.Name], Status: "not seen"}
			switch {
			case !ch.Seen.Failed.IsZero() && ch.Seen.Failed.After(ch.Seen.OK):
				ch.Status = "failing"
			case !ch.Seen.OK.IsZero():
				ch.Status = "reachable"
			}
			data.Connectors = append(data.Connectors, ch)
		}
	}
	c.render(w, r, http.StatusOK, "overview", a.view("Overview", "overview", data))
}

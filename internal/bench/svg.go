package bench

import (
	"bufio"
	"fmt"
	"html"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// Series is one latency distribution of a figure.
type Series struct {
	// Name labels the series in the legend.
	Name string
	// Latencies are the measured values, in any order.
	Latencies []time.Duration
	// Dashed draws the line dashed (baselines).
	Dashed bool
}

// Figure is a latency-distribution plot in the style of HdrHistogram's
// percentile spectrum: the x axis is the percentile on a scale that
// spreads the tail (50%, 90%, 99%, 99.9%, ...), the y axis the latency on
// a logarithmic scale. A line that stays low further to the right has the
// better tail.
type Figure struct {
	Title  string
	Series []Series
}

// Figure geometry, in SVG user units.
const (
	figW, plotH              = 760, 300
	padL, padR, padT         = 78, 44, 44
	plotW                    = figW - padL - padR
	maxNines                 = 5.0 // the x axis ends at 99.999% at most
	spectrumPoints           = 400
	legendRowH, legendSwatch = 18, 26
)

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf", "#7f7f7f"}

// nines maps a quantile q in [0, 1) to the x scale: -log10(1-q), so 90% is
// 1, 99% is 2, 99.9% is 3.
func nines(q float64) float64 { return -math.Log10(1 - q) }

// WriteSVG draws f as a standalone SVG document.
func (f Figure) WriteSVG(w io.Writer) error {
	type line struct {
		s      Series
		sorted []time.Duration
		xmax   float64
	}
	var lines []line
	lo, hi := math.Inf(1), math.Inf(-1)
	xmax := 1.0
	for _, s := range f.Series {
		if len(s.Latencies) == 0 {
			continue
		}
		sorted := slices.Clone(s.Latencies)
		slices.Sort(sorted)
		// With n values the last one is the (1-1/n) quantile.
		lx := min(math.Log10(float64(len(sorted))), maxNines)
		lines = append(lines, line{s, sorted, lx})
		xmax = max(xmax, lx)
		lo = min(lo, float64(max(sorted[0], time.Microsecond)))
		hi = max(hi, float64(max(sorted[len(sorted)-1], time.Microsecond)))
	}
	if len(lines) == 0 {
		lo, hi = float64(time.Microsecond), float64(time.Millisecond)
	}
	ylo := math.Floor(math.Log10(lo))
	yhi := math.Ceil(math.Log10(hi))
	if yhi <= ylo {
		yhi = ylo + 1
	}
	xmax = math.Ceil(xmax)
	px := func(x float64) float64 { return padL + x/xmax*plotW }
	py := func(d float64) float64 {
		return padT + plotH - (math.Log10(math.Max(d, 1))-ylo)/(yhi-ylo)*plotH
	}

	// Below the plot: tick labels, the axis title, then the legend, one
	// series a line.
	figH := padT + plotH + 48 + len(lines)*legendRowH + 8
	bw := bufio.NewWriter(w)
	p := func(format string, args ...any) { fmt.Fprintf(bw, format, args...) }
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">`+"\n", figW, figH, figW, figH)
	p(`<rect width="100%%" height="100%%" fill="white"/>` + "\n")
	p(`<text x="%d" y="24" font-size="15" font-weight="bold">%s</text>`+"\n", padL, html.EscapeString(f.Title))

	// Horizontal grid: 1, 2 and 5 times each power of ten; labels on each.
	for e := ylo; e <= yhi; e++ {
		for _, m := range []float64{1, 2, 5} {
			d := m * math.Pow(10, e)
			if math.Log10(d) > yhi+1e-9 {
				continue
			}
			y := py(d)
			stroke, width := "#e4e4e4", 1.0
			if m == 1 {
				stroke = "#c8c8c8"
			}
			p(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s" stroke-width="%.1f"/>`+"\n", padL, y, padL+plotW, y, stroke, width)
			p(`<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle" fill="#444">%s</text>`+"\n", padL-6, y, FormatDuration(time.Duration(d)))
		}
	}
	// Vertical grid at the percentiles.
	ticks := []struct {
		x     float64
		label string
	}{{0, "0%"}, {nines(0.5), "50%"}, {1, "90%"}, {2, "99%"}, {3, "99.9%"}, {4, "99.99%"}, {5, "99.999%"}}
	for _, t := range ticks {
		if t.x > xmax+1e-9 {
			continue
		}
		x := px(t.x)
		p(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e4e4e4"/>`+"\n", x, padT, x, padT+plotH)
		p(`<text x="%.1f" y="%d" text-anchor="middle" fill="#444">%s</text>`+"\n", x, padT+plotH+16, t.label)
	}
	p(`<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#888"/>`+"\n", padL, padT, plotW, plotH)
	p(`<text x="%d" y="%d" text-anchor="middle" fill="#222">percentile</text>`+"\n", padL+plotW/2, padT+plotH+34)
	p(`<text transform="translate(16 %d) rotate(-90)" text-anchor="middle" fill="#222">latency (log scale)</text>`+"\n", padT+plotH/2)

	for i, l := range lines {
		color := palette[i%len(palette)]
		var pts strings.Builder
		for k := 0; k <= spectrumPoints; k++ {
			x := l.xmax * float64(k) / spectrumPoints
			q := 1 - math.Pow(10, -x)
			if k == spectrumPoints {
				q = 1
			}
			d := float64(max(Percentile(l.sorted, q), time.Microsecond/10))
			fmt.Fprintf(&pts, "%.1f,%.1f ", px(x), py(d))
		}
		dash := ""
		if l.s.Dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		p(`<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"/>`+"\n", color, dash, strings.TrimSpace(pts.String()))
	}
	// The legend.
	for i, l := range lines {
		color := palette[i%len(palette)]
		x := padL
		y := padT + plotH + 56 + i*legendRowH
		dash := ""
		if l.s.Dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		p(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"%s/>`+"\n", x, y, x+legendSwatch, y, color, dash)
		p(`<text x="%d" y="%d" dominant-baseline="middle" fill="#222">%s (n=%d)</text>`+"\n", x+legendSwatch+6, y, html.EscapeString(l.s.Name), len(l.sorted))
	}
	p("</svg>\n")
	return bw.Flush()
}

// FormatDuration shows d with three significant digits at most and the
// unit that suits it: 870ns, 12.3µs, 4.56ms, 1.2s.
func FormatDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "0"
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", d.Nanoseconds())
	case d < time.Millisecond:
		return trimUnit(float64(d)/float64(time.Microsecond), "µs")
	case d < time.Second:
		return trimUnit(float64(d)/float64(time.Millisecond), "ms")
	default:
		return trimUnit(d.Seconds(), "s")
	}
}

func trimUnit(v float64, unit string) string {
	var s string
	switch {
	case v >= 100:
		s = fmt.Sprintf("%.0f", v)
	case v >= 10:
		s = fmt.Sprintf("%.1f", v)
	default:
		s = fmt.Sprintf("%.2f", v)
	}
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s + unit
}

package main

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"
	"slices"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// chartStyle holds the colours and geometry of the chart.
type chartStyle struct {
	Width      int // of the whole image, in pixels
	Margin     int // around the image and between the label column and the bars
	TitleH     int // height of a panel's title row
	BarH       int // height of one bar
	RowPitch   int // vertical distance from one bar to the next
	PanelGap   int // space between two panels
	ValueSpace int // room kept right of the longest bar for its value

	Background color.RGBA
	Text       color.RGBA
	Axis       color.RGBA
	Bar        color.RGBA
	Highlight  color.RGBA // the tiercache bar
}

// defaultChartStyle returns the style benchreport draws with.
func defaultChartStyle() chartStyle {
	return chartStyle{
		Width:      1200,
		Margin:     16,
		TitleH:     28,
		BarH:       16,
		RowPitch:   22,
		PanelGap:   24,
		ValueSpace: 130,

		Background: color.RGBA{0xff, 0xff, 0xff, 0xff},
		Text:       color.RGBA{0x20, 0x20, 0x20, 0xff},
		Axis:       color.RGBA{0xb0, 0xb0, 0xb0, 0xff},
		Bar:        color.RGBA{0x8c, 0xa3, 0xbf, 0xff},
		Highlight:  color.RGBA{0xe0, 0x5a, 0x10, 0xff},
	}
}

// face is the font all text is drawn in; it covers printable ASCII.
func face() font.Face { return basicfont.Face7x13 }

// plotUnits returns the units a scenario's panels plot, one panel each:
// ops/s and the local hit ratio for a throughput workload, the 90th
// percentile of the staleness window for a staleness scenario, loader calls for a stampede,
// ns/op otherwise.
func plotUnits(sc scenario) []string {
	switch {
	case sc.hasUnit("ops/s"):
		units := []string{"ops/s"}
		if sc.hasUnit("l1-hit-%") {
			units = append(units, "l1-hit-%")
		}
		return units
	case sc.hasUnit("window-p90-ms"):
		return []string{"window-p90-ms"}
	case strings.HasPrefix(sc.Name, "Stampede") && sc.hasUnit("loads/op"):
		return []string{"loads/op"}
	}
	return []string{unitNs}
}

// A panel is one scenario's bars of one unit.
type panel struct {
	sc   scenario
	unit string
}

// panelsOf returns the panels of rep, in order.
func panelsOf(rep report) []panel {
	var ps []panel
	for _, sc := range rep.Scenarios {
		for _, u := range plotUnits(sc) {
			ps = append(ps, panel{sc: sc, unit: u})
		}
	}
	return ps
}

// panelHeight returns the height of the panel of sc.
func (st chartStyle) panelHeight(sc scenario) int {
	return st.TitleH + len(sc.Rows)*st.RowPitch
}

// renderChart draws the panels of rep (see plotUnits), stacked
// vertically, each with a horizontal bar per library.
func renderChart(rep report, st chartStyle) *image.RGBA {
	panels := panelsOf(rep)
	height := 2 * st.Margin
	for i, p := range panels {
		if i > 0 {
			height += st.PanelGap
		}
		height += st.panelHeight(p.sc)
	}
	img := image.NewRGBA(image.Rect(0, 0, st.Width, height))
	fill(img, img.Bounds(), st.Background)

	labelW := labelColumnWidth(rep, st)
	top := st.Margin
	for _, p := range panels {
		drawPanel(img, p.sc, p.unit, st, top, labelW)
		top += st.panelHeight(p.sc) + st.PanelGap
	}
	return img
}

// labelColumnWidth returns the width kept left of the bars for the library
// names: the longest name, within bounds that leave the bars room.
func labelColumnWidth(rep report, st chartStyle) int {
	widest := 0
	for _, sc := range rep.Scenarios {
		for _, rw := range sc.Rows {
			widest = max(widest, textWidth(libraryLabel(rw.Library)))
		}
	}
	return min(max(widest, 60), st.Width/3)
}

// drawPanel draws the panel of sc with its top edge at y = top.
func drawPanel(img *image.RGBA, sc scenario, unit string, st chartStyle, top, labelW int) {
	drawText(img, st.Margin, top+st.TitleH-10, ascii(fmt.Sprintf("%s  (%s)", sc.Name, unit)), st.Text)

	x0 := st.Margin + labelW + st.Margin
	barsTop := top + st.TitleH
	maxW := st.Width - st.Margin - x0 - st.ValueSpace
	peak := scalePeak(sc, unit)
	fill(img, image.Rect(x0-1, barsTop-3, x0, barsTop+len(sc.Rows)*st.RowPitch-3), st.Axis)

	for i, rw := range sc.Rows {
		y := barsTop + i*st.RowPitch
		baselineY := y + (st.BarH+basicfont.Face7x13.Ascent-basicfont.Face7x13.Descent)/2
		label := ascii(libraryLabel(rw.Library))
		drawText(img, x0-st.Margin-textWidth(label), baselineY, label, st.Text)

		s, ok := rw.Metrics[unit]
		if !ok {
			drawText(img, x0+6, baselineY, "n/a", st.Text)
			continue
		}
		w := barWidth(min(s.Median, peak), peak, maxW)
		if w > 0 {
			col := st.Bar
			if rw.Library == baseline {
				col = st.Highlight
			}
			fill(img, image.Rect(x0, y, x0+w, y+st.BarH), col)
		}
		text := formatValue(unit, s.Median)
		if s.Median > peak {
			text = ">> " + text // cut: the bar would be longer
		}
		drawText(img, x0+w+6, baselineY, ascii(text), st.Text)
	}
}

// offScale is how many times the median of a panel's values a bar may
// reach before it is cut at that length and marked: one library far ahead
// (a cache without Redis in a workload that needs Redis) would otherwise
// flatten every other bar.
const offScale = 4

// scalePeak returns the value a full-length bar of the panel stands for:
// the largest value, or offScale times the median of the positive values
// when that is smaller.
func scalePeak(sc scenario, unit string) float64 {
	var vals []float64
	for _, rw := range sc.Rows {
		if s, ok := rw.Metrics[unit]; ok && s.Median > 0 {
			vals = append(vals, s.Median)
		}
	}
	if len(vals) == 0 {
		return 0
	}
	slices.Sort(vals)
	peak := vals[len(vals)-1]
	if len(vals) >= 3 {
		peak = min(peak, offScale*vals[len(vals)/2])
	}
	return peak
}

// barWidth scales v linearly from 0 to peak onto 0 to maxW pixels. A
// positive value gets at least one pixel; zero and negative values none.
func barWidth(v, peak float64, maxW int) int {
	if v <= 0 || peak <= 0 {
		return 0
	}
	return max(1, int(math.Round(v/peak*float64(maxW))))
}

// fill paints r of img in c.
func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	draw.Draw(img, r, image.NewUniform(c), image.Point{}, draw.Src)
}

// drawText draws s with its baseline starting at (x, y).
func drawText(img *image.RGBA, x, y int, s string, c color.RGBA) {
	d := font.Drawer{
		Dst:  img,
		Src:  image.NewUniform(c),
		Face: face(),
		Dot:  fixed.P(x, y),
	}
	d.DrawString(s)
}

// textWidth returns the width of s in pixels.
func textWidth(s string) int {
	return font.MeasureString(face(), s).Round()
}

// ascii replaces the characters the font lacks: µ becomes u, dashes -, and
// anything else outside printable ASCII ?.
func ascii(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == 'µ' || r == 'μ':
			return 'u'
		case r == '–' || r == '—':
			return '-'
		case r < ' ' || r > '~':
			return '?'
		default:
			return r
		}
	}, s)
}

// writePNG encodes img as PNG into the file at path.
func writePNG(path string, img image.Image) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("benchreport: creating chart: %w", err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("benchreport: closing chart: %w", cerr)
		}
	}()
	if err := png.Encode(f, img); err != nil {
		return fmt.Errorf("benchreport: encoding chart: %w", err)
	}
	return nil
}

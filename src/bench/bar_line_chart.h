#pragma once
// A small SVG chart writer for benchmark results: grouped bars (one colour per
// series, a group per category) on the left axis, and optional lines on a
// secondary right axis (speed-up factors, latencies). PNG comes from
// converting the SVG with rsvg-convert (Debian: librsvg2-bin).
#include <string>
#include <vector>

namespace gptoss::bench {

struct ChartSeries {
  std::string name;
  std::vector<double> values;  // one per category
};

struct BarLineChart {
  std::string title;
  std::string subtitle;
  std::vector<std::string> categories;
  std::vector<ChartSeries> bars;
  std::string bar_axis_label;
  std::vector<ChartSeries> lines;  // drawn against the right axis
  std::string line_axis_label;
  double line_reference = 0;  // > 0: a dashed rule at this right-axis value (1.0 for speed-ups)
  std::string line_value_format = "%.2f";  // labels on line points
  std::string bar_value_format = "%.0f";   // labels on bar tops
};

// The chart as a complete SVG document (fixed 960 x 540 user units).
std::string render_svg(const BarLineChart& chart);

// Writes PATH.svg and, when rsvg-convert exists, PATH.png next to it; `path`
// may end in .svg or have no extension. Returns the PNG path, or an empty
// string after saying on stderr why no PNG was made. Throws Error when the
// SVG cannot be written.
std::string write_chart(const BarLineChart& chart, const std::string& path);

// "Nice" axis maximum and tick step for data up to `max` (1, 2, 2.5, 5 x 10^k).
void nice_axis(double max, double& top, double& step);

}  // namespace gptoss::bench

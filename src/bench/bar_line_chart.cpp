#include "bench/bar_line_chart.h"

#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/error.h"

extern char** environ;

namespace gptoss::bench {

namespace {

constexpr double kWidth = 960, kHeight = 540;
constexpr const char* kBarColors[] = {"#4C78A8", "#F58518", "#54A24B", "#B279A2", "#9D755D", "#72B7B2"};
constexpr const char* kLineColors[] = {"#D62728", "#222222", "#17BECF", "#8C564B"};
constexpr const char* kFont = "DejaVu Sans, Helvetica, Arial, sans-serif";
// Value labels get a white outline so they stay legible where bars and lines cross.
constexpr const char* kHalo = " stroke=\"white\" stroke-width=\"3\" paint-order=\"stroke\" stroke-linejoin=\"round\"";

std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}

std::string num(const std::string& fmt, double v) {
  char b[64];
  std::snprintf(b, sizeof b, fmt.c_str(), v);
  return b;
}

// Tick labels: as few decimals as the step needs (0.25 -> 2, 0.5 -> 1).
std::string tick(double v, double step) {
  int decimals = 0;
  while (decimals < 3 && std::abs(step * std::pow(10, decimals) - std::round(step * std::pow(10, decimals))) > 1e-6) ++decimals;
  return num("%." + std::to_string(decimals) + "f", v);
}

// Splits a label into at most two lines of about `chars` characters each.
std::vector<std::string> wrap(const std::string& s, size_t chars) {
  if (s.size() <= chars) return {s};
  size_t best = std::string::npos;
  for (size_t i = s.find(' '); i != std::string::npos; i = s.find(' ', i + 1))
    if (best == std::string::npos || std::abs(double(i) - double(s.size()) / 2) < std::abs(double(best) - double(s.size()) / 2))
      best = i;
  if (best == std::string::npos) return {s};
  return {s.substr(0, best), s.substr(best + 1)};
}

double series_max(const std::vector<ChartSeries>& ss) {
  double m = 0;
  for (auto& s : ss)
    for (double v : s.values)
      if (std::isfinite(v)) m = std::max(m, v);
  return m;
}

}  // namespace

void nice_axis(double max, double& top, double& step) {
  if (!(max > 0) || !std::isfinite(max)) {
    top = 1;
    step = 0.2;
    return;
  }
  const double raw = max * 1.1 / 5;  // ~5 ticks, room for value labels above the tallest bar
  const double mag = std::pow(10, std::floor(std::log10(raw)));
  double m = 10;
  for (double c : {1.0, 2.0, 2.5, 5.0})
    if (raw <= c * mag * (1 + 1e-9)) {
      m = c;
      break;
    }
  step = m * mag;
  top = std::ceil(max * 1.1 / step - 1e-9) * step;
}

std::string render_svg(const BarLineChart& c) {
  const bool has_lines = !c.lines.empty();
  const double left = 90, right = kWidth - (has_lines ? 90 : 40), top = c.subtitle.empty() ? 60 : 78,
               bottom = kHeight - 120;
  const double pw = right - left, ph = bottom - top;
  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << kWidth << "\" height=\"" << kHeight << "\" viewBox=\"0 0 "
    << kWidth << " " << kHeight << "\" font-family=\"" << kFont << "\">\n";
  o << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  o << "<text x=\"" << kWidth / 2 << "\" y=\"32\" text-anchor=\"middle\" font-size=\"20\" font-weight=\"bold\">"
    << esc(c.title) << "</text>\n";
  if (!c.subtitle.empty())
    o << "<text x=\"" << kWidth / 2 << "\" y=\"56\" text-anchor=\"middle\" font-size=\"13\" fill=\"#555\">"
      << esc(c.subtitle) << "</text>\n";

  // Left axis: grid, ticks, label.
  double ytop, ystep;
  // With lines on the right axis, bars keep to the lower two thirds so the
  // lines' points and labels mostly sit above them.
  nice_axis(series_max(c.bars) * (has_lines ? 1.45 : 1.0), ytop, ystep);
  auto y_of = [&](double v) { return bottom - ph * std::clamp(v / ytop, 0.0, 1.0); };
  for (double v = 0; v <= ytop + ystep / 2; v += ystep) {
    o << "<line x1=\"" << left << "\" x2=\"" << right << "\" y1=\"" << y_of(v) << "\" y2=\"" << y_of(v)
      << "\" stroke=\"" << (v == 0 ? "#333" : "#e3e3e3") << "\"/>\n";
    o << "<text x=\"" << left - 8 << "\" y=\"" << y_of(v) + 4 << "\" text-anchor=\"end\" font-size=\"12\">"
      << tick(v, ystep) << "</text>\n";
  }
  o << "<text transform=\"translate(24," << (top + bottom) / 2 << ") rotate(-90)\" text-anchor=\"middle\" font-size=\"14\">"
    << esc(c.bar_axis_label) << "</text>\n";

  // Right axis for the lines.
  double ltop = 1, lstep = 0.2;
  if (has_lines) {
    nice_axis(series_max(c.lines), ltop, lstep);
    o << "<line x1=\"" << right << "\" x2=\"" << right << "\" y1=\"" << top << "\" y2=\"" << bottom
      << "\" stroke=\"#333\"/>\n";
    for (double v = 0; v <= ltop + lstep / 2; v += lstep) {
      double y = bottom - ph * v / ltop;
      o << "<line x1=\"" << right << "\" x2=\"" << right + 5 << "\" y1=\"" << y << "\" y2=\"" << y << "\" stroke=\"#333\"/>\n";
      o << "<text x=\"" << right + 8 << "\" y=\"" << y + 4 << "\" font-size=\"12\">" << tick(v, lstep) << "</text>\n";
    }
    if (c.line_reference > 0 && c.line_reference <= ltop) {
      const double y = bottom - ph * c.line_reference / ltop;
      o << "<line x1=\"" << left << "\" x2=\"" << right << "\" y1=\"" << y << "\" y2=\"" << y
        << "\" stroke=\"#888\" stroke-dasharray=\"6 4\"/>\n";
    }
    o << "<text transform=\"translate(" << kWidth - 22 << "," << (top + bottom) / 2
      << ") rotate(90)\" text-anchor=\"middle\" font-size=\"14\">" << esc(c.line_axis_label) << "</text>\n";
  }

  // Bars, grouped by category.
  const size_t nc = std::max<size_t>(1, c.categories.size()), nb = std::max<size_t>(1, c.bars.size());
  const double gw = pw / double(nc), bw = std::min(gw * 0.72 / double(nb), 90.0);
  const int label_font = bw < 26 ? 9 : 11;
  for (size_t k = 0; k < c.categories.size(); ++k) {
    const double gx = left + gw * double(k) + (gw - bw * double(nb)) / 2;
    for (size_t b = 0; b < c.bars.size(); ++b) {
      if (k >= c.bars[b].values.size() || !std::isfinite(c.bars[b].values[k])) continue;
      const double v = c.bars[b].values[k], x = gx + bw * double(b), y = y_of(v);
      o << "<rect x=\"" << x + 1 << "\" y=\"" << y << "\" width=\"" << bw - 2 << "\" height=\"" << bottom - y
        << "\" fill=\"" << kBarColors[b % 6] << "\"><title>" << esc(c.bars[b].name) << ": " << num(c.bar_value_format, v)
        << "</title></rect>\n";
      o << "<text x=\"" << x + bw / 2 << "\" y=\"" << y - 4 << "\" text-anchor=\"middle\" font-size=\"" << label_font
        << "\" fill=\"#333\"" << kHalo << ">" << num(c.bar_value_format, v) << "</text>\n";
    }
    auto lines = wrap(c.categories[k], size_t(std::max(6.0, gw / 7.5)));
    for (size_t l = 0; l < lines.size(); ++l)
      o << "<text x=\"" << left + gw * (double(k) + 0.5) << "\" y=\"" << bottom + 20 + 16 * double(l)
        << "\" text-anchor=\"middle\" font-size=\"13\">" << esc(lines[l]) << "</text>\n";
  }

  // Lines on the right axis, a point per category centre.
  for (size_t s = 0; s < c.lines.size(); ++s) {
    const char* col = kLineColors[s % 4];
    std::string pts;
    for (size_t k = 0; k < c.categories.size() && k < c.lines[s].values.size(); ++k) {
      const double v = c.lines[s].values[k];
      if (!std::isfinite(v)) continue;
      pts += num("%.1f", left + gw * (double(k) + 0.5)) + "," + num("%.1f", bottom - ph * std::clamp(v / ltop, 0.0, 1.0)) + " ";
    }
    o << "<polyline points=\"" << pts << "\" fill=\"none\" stroke=\"" << col << "\" stroke-width=\"2.5\"/>\n";
    for (size_t k = 0; k < c.categories.size() && k < c.lines[s].values.size(); ++k) {
      const double v = c.lines[s].values[k];
      if (!std::isfinite(v)) continue;
      const double x = left + gw * (double(k) + 0.5), y = bottom - ph * std::clamp(v / ltop, 0.0, 1.0);
      o << "<circle cx=\"" << x << "\" cy=\"" << y << "\" r=\"4.5\" fill=\"white\" stroke=\"" << col
        << "\" stroke-width=\"2.5\"/>\n";
      // Alternate lines label above and below their points so two lines' labels do not collide.
      const double ty = s % 2 == 0 ? y - 9 : y + 19;
      o << "<text x=\"" << x << "\" y=\"" << ty << "\" text-anchor=\"middle\" font-size=\"12\" font-weight=\"bold\" fill=\"" << col
        << "\"" << kHalo << ">"
        << num(c.line_value_format, v) << "</text>\n";
    }
  }
  o << "<line x1=\"" << left << "\" x2=\"" << left << "\" y1=\"" << top << "\" y2=\"" << bottom << "\" stroke=\"#333\"/>\n";

  // Legend, centred under the category labels.
  struct Entry {
    std::string name;
    const char* color;
    bool line;
  };
  std::vector<Entry> entries;
  for (size_t b = 0; b < c.bars.size(); ++b) entries.push_back({c.bars[b].name, kBarColors[b % 6], false});
  for (size_t s = 0; s < c.lines.size(); ++s) entries.push_back({c.lines[s].name + " (right axis)", kLineColors[s % 4], true});
  double total = 0;
  for (auto& e : entries) total += 30 + 6.9 * double(e.name.size()) + 20;
  double x = std::max(10.0, (kWidth - total) / 2);
  const double ly = kHeight - 34;
  for (auto& e : entries) {
    if (e.line)
      o << "<line x1=\"" << x << "\" x2=\"" << x + 24 << "\" y1=\"" << ly << "\" y2=\"" << ly << "\" stroke=\"" << e.color
        << "\" stroke-width=\"2.5\"/><circle cx=\"" << x + 12 << "\" cy=\"" << ly << "\" r=\"4\" fill=\"white\" stroke=\""
        << e.color << "\" stroke-width=\"2.5\"/>\n";
    else
      o << "<rect x=\"" << x + 4 << "\" y=\"" << ly - 8 << "\" width=\"16\" height=\"16\" fill=\"" << e.color << "\"/>\n";
    o << "<text x=\"" << x + 30 << "\" y=\"" << ly + 5 << "\" font-size=\"13\">" << esc(e.name) << "</text>\n";
    x += 30 + 6.9 * double(e.name.size()) + 20;
  }
  o << "</svg>\n";
  return o.str();
}

std::string write_chart(const BarLineChart& chart, const std::string& path) {
  std::string base = path;
  if (base.size() > 4 && (base.ends_with(".svg") || base.ends_with(".png"))) base.resize(base.size() - 4);
  const std::string svg = base + ".svg", png = base + ".png";
  {
    std::ofstream out(svg);
    out << render_svg(chart);
    if (!out) throw Error("cannot write chart " + svg);
  }
  // rsvg-convert at 2x for a crisp PNG; run directly (no shell) so paths need no quoting.
  std::vector<std::string> args = {"rsvg-convert", "--zoom", "2", "--background-color", "white", "-o", png, svg};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid;
  int rc = posix_spawnp(&pid, "rsvg-convert", nullptr, nullptr, argv.data(), environ);
  if (rc != 0) {
    std::fprintf(stderr, "note: no PNG for %s: rsvg-convert not found (%s); install librsvg2-bin\n", svg.c_str(),
                 std::strerror(rc));
    return {};
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "note: no PNG for %s: rsvg-convert failed%s\n", svg.c_str(),
                 WIFEXITED(status) && WEXITSTATUS(status) == 127 ? " (not installed? install librsvg2-bin)" : "");
    return {};
  }
  return png;
}

}  // namespace gptoss::bench

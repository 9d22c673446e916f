#pragma once
/// A strict checker of the Prometheus text exposition format 0.0.4 (promtool
/// is not in Debian 12): parses every line and returns the problems found,
/// plus the samples for value checks.
///
/// Checked: metric and label names; `# HELP` / `# TYPE` at most once per
/// family, TYPE before the family's samples; a family's samples contiguous
/// (never interleaved with another family); label values use only the
/// escapes \\ \" \n; values parse (floats, +Inf, -Inf, NaN); no duplicate
/// series; counters end in `_total`; histograms have `_bucket` series with
/// `le`, cumulative, ending at le="+Inf" equal to `_count`, and a `_sum`.

#include <cmath>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace amq::test {

struct prom_sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct prom_page {
  std::vector<std::string> problems;
  std::vector<prom_sample> samples;
  std::map<std::string, std::string> types; ///< family → type
  std::map<std::string, std::string> helps; ///< family → help (unescaped)

  /// Value of the series `name` with exactly `labels`; NaN if absent.
  double value(std::string_view name, const std::map<std::string, std::string>& labels = {}) const {
    for (auto& s : samples)
      if (s.name == name && s.labels == labels)
        return s.value;
    return std::nan("");
  }
};

namespace detail {

inline bool name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}
inline bool name_char(char c) {
  return name_start(c) || (c >= '0' && c <= '9');
}
inline bool valid_metric_name(std::string_view n) {
  if (n.empty() || !name_start(n[0]))
    return false;
  for (char c : n)
    if (!name_char(c))
      return false;
  return true;
}
inline bool valid_label_name(std::string_view n) {
  if (n.empty() || !(name_start(n[0]) && n[0] != ':'))
    return false;
  for (char c : n)
    if (!name_char(c) || c == ':')
      return false;
  return !(n.size() >= 2 && n[0] == '_' && n[1] == '_');
}
inline bool parse_value(std::string_view v, double& out) {
  if (v == "+Inf" || v == "Inf") {
    out = INFINITY;
    return true;
  }
  if (v == "-Inf") {
    out = -INFINITY;
    return true;
  }
  if (v == "NaN") {
    out = NAN;
    return true;
  }
  if (v.empty())
    return false;
  std::string s{v};
  char* end = nullptr;
  out = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size() && s.find_first_of("xXpP") == std::string::npos;
}
/// The family a sample name belongs to, given the declared types.
inline std::string family_of(const std::string& name,
                             const std::map<std::string, std::string>& types) {
  for (std::string_view suffix : {"_bucket", "_sum", "_count"}) {
    if (name.size() > suffix.size() && name.ends_with(suffix)) {
      auto base = name.substr(0, name.size() - suffix.size());
      auto i = types.find(base);
      if (i != types.end() && (i->second == "histogram" || i->second == "summary"))
        return base;
    }
  }
  return name;
}

} // namespace detail

inline prom_page check_prometheus_text(std::string_view text) {
  using namespace detail;
  prom_page page;
  auto problem = [&](size_t line_no, std::string what) {
    page.problems.push_back("line " + std::to_string(line_no) + ": " + what);
  };
  std::set<std::string> seen_series;
  std::set<std::string> closed_families; ///< families whose samples ended
  std::string current_family;
  std::set<std::string> sampled_families;
  if (!text.empty() && text.back() != '\n')
    page.problems.push_back("the page does not end with a newline");
  size_t line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    auto nl = text.find('\n', pos);
    auto line = text.substr(pos, nl == std::string_view::npos ? text.size() - pos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    ++line_no;
    if (line.empty())
      continue;
    if (line[0] == '#') {
      if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
        bool help = line[2] == 'H';
        auto rest = line.substr(7);
        auto sp = rest.find(' ');
        auto name = std::string{rest.substr(0, sp)};
        auto arg = sp == std::string_view::npos ? std::string_view{} : rest.substr(sp + 1);
        if (!valid_metric_name(name))
          problem(line_no, "invalid metric name in comment: " + name);
        if (help) {
          if (page.helps.count(name))
            problem(line_no, "second HELP for " + name);
          std::string unescaped;
          for (size_t i = 0; i < arg.size(); ++i) {
            if (arg[i] == '\\') {
              if (i + 1 < arg.size() && (arg[i + 1] == '\\' || arg[i + 1] == 'n')) {
                unescaped += arg[i + 1] == 'n' ? '\n' : '\\';
                ++i;
              } else {
                problem(line_no, "bad escape in HELP of " + name);
              }
            } else {
              unescaped += arg[i];
            }
          }
          page.helps[name] = unescaped;
        } else {
          if (page.types.count(name))
            problem(line_no, "second TYPE for " + name);
          if (sampled_families.count(name))
            problem(line_no, "TYPE after samples of " + name);
          static const std::set<std::string_view> types{"counter", "gauge", "histogram",
                                                        "summary", "untyped"};
          if (!types.count(arg))
            problem(line_no, "unknown type " + std::string{arg});
          if (arg == "counter" && !name.ends_with("_total"))
            problem(line_no, "counter " + name + " does not end in _total");
          page.types[name] = std::string{arg};
        }
      }
      continue;
    }
    // sample: name[{labels}] value [timestamp]
    prom_sample s;
    size_t i = 0;
    while (i < line.size() && name_char(line[i]))
      ++i;
    s.name = std::string{line.substr(0, i)};
    if (!valid_metric_name(s.name)) {
      problem(line_no, "invalid metric name: " + std::string{line});
      continue;
    }
    std::string series = s.name + "{";
    if (i < line.size() && line[i] == '{') {
      ++i;
      bool ok = true;
      while (ok && i < line.size() && line[i] != '}') {
        size_t start = i;
        while (i < line.size() && line[i] != '=')
          ++i;
        auto lname = std::string{line.substr(start, i - start)};
        if (!valid_label_name(lname)) {
          problem(line_no, "invalid label name '" + lname + "'");
          ok = false;
          break;
        }
        if (i + 1 >= line.size() || line[i + 1] != '"') {
          problem(line_no, "label value not quoted");
          ok = false;
          break;
        }
        i += 2;
        std::string value;
        bool closed = false;
        while (i < line.size()) {
          char c = line[i];
          if (c == '\\') {
            if (i + 1 < line.size() && (line[i + 1] == '\\' || line[i + 1] == '"'
                                        || line[i + 1] == 'n')) {
              value += line[i + 1] == 'n' ? '\n' : line[i + 1];
              i += 2;
              continue;
            }
            problem(line_no, "bad escape in label value");
            ok = false;
            break;
          }
          if (c == '"') {
            closed = true;
            ++i;
            break;
          }
          value += c;
          ++i;
        }
        if (!ok)
          break;
        if (!closed) {
          problem(line_no, "unterminated label value");
          ok = false;
          break;
        }
        if (s.labels.count(lname))
          problem(line_no, "label " + lname + " twice");
        s.labels[lname] = value;
        if (i < line.size() && line[i] == ',')
          ++i;
        else if (i < line.size() && line[i] != '}') {
          problem(line_no, "expected , or } after a label");
          ok = false;
        }
      }
      if (!ok)
        continue;
      if (i >= line.size() || line[i] != '}') {
        problem(line_no, "unterminated label set");
        continue;
      }
      ++i;
    }
    for (auto& [k, v] : s.labels)
      series += k + "=" + v + ",";
    if (i >= line.size() || line[i] != ' ') {
      problem(line_no, "expected a space before the value");
      continue;
    }
    ++i;
    auto rest = line.substr(i);
    auto sp = rest.find(' ');
    auto value_text = rest.substr(0, sp);
    if (!parse_value(value_text, s.value)) {
      problem(line_no, "bad value '" + std::string{value_text} + "'");
      continue;
    }
    if (sp != std::string_view::npos) {
      auto ts = rest.substr(sp + 1);
      for (char c : ts)
        if (!(c >= '0' && c <= '9') && c != '-')
          problem(line_no, "bad timestamp");
    }
    if (!seen_series.insert(series).second)
      problem(line_no, "duplicate series " + series);
    auto fam = family_of(s.name, page.types);
    if (!page.types.count(fam))
      problem(line_no, "sample of " + s.name + " without TYPE");
    if (fam != current_family) {
      if (closed_families.count(fam))
        problem(line_no, "samples of " + fam + " are not contiguous");
      if (!current_family.empty())
        closed_families.insert(current_family);
      current_family = fam;
    }
    sampled_families.insert(fam);
    page.samples.push_back(std::move(s));
  }
  // Histograms: cumulative buckets ending at +Inf == _count, and a _sum.
  for (auto& [fam, type] : page.types) {
    if (type != "histogram")
      continue;
    std::map<std::string, std::vector<std::pair<double, double>>> buckets; // series → (le, v)
    std::map<std::string, double> counts;
    std::set<std::string> sums;
    for (auto& s : page.samples) {
      auto key_of = [&](bool drop_le) {
        std::string k;
        for (auto& [n, v] : s.labels)
          if (!(drop_le && n == "le"))
            k += n + "=" + v + ",";
        return k;
      };
      if (s.name == fam + "_bucket") {
        auto le = s.labels.find("le");
        double bound = 0;
        if (le == s.labels.end() || !parse_value(le->second, bound)) {
          page.problems.push_back(fam + ": bucket without a valid le");
          continue;
        }
        buckets[key_of(true)].emplace_back(bound, s.value);
      } else if (s.name == fam + "_count") {
        counts[key_of(false)] = s.value;
      } else if (s.name == fam + "_sum") {
        sums.insert(key_of(false));
      }
    }
    for (auto& [key, bs] : buckets) {
      for (size_t j = 1; j < bs.size(); ++j)
        if (bs[j].first <= bs[j - 1].first || bs[j].second < bs[j - 1].second)
          page.problems.push_back(fam + "{" + key + "}: buckets not increasing");
      if (bs.empty() || !std::isinf(bs.back().first))
        page.problems.push_back(fam + "{" + key + "}: no le=\"+Inf\" bucket");
      else if (!counts.count(key) || counts[key] != bs.back().second)
        page.problems.push_back(fam + "{" + key + "}: +Inf bucket differs from _count");
      if (!sums.count(key))
        page.problems.push_back(fam + "{" + key + "}: no _sum");
    }
  }
  return page;
}

} // namespace amq::test

#include "render.hpp"

#include "amq/config/load.hpp"
#include "amq/config/options.hpp"
#include "option_codec.hpp"

#include <yaml-cpp/yaml.h>

namespace amq::config::detail {

namespace {

constexpr size_t comment_width = 92;

std::vector<std::string> split_key(const std::string& key) {
  std::vector<std::string> out;
  size_t start = 0;
  for (auto dot = key.find('.'); dot != std::string::npos; dot = key.find('.', start)) {
    out.push_back(key.substr(start, dot - start));
    start = dot + 1;
  }
  out.push_back(key.substr(start));
  return out;
}

std::string indent_of(size_t depth) {
  return std::string(depth * 2, ' ');
}

void comment(std::string& out, size_t depth, std::string_view text) {
  auto pad = indent_of(depth);
  for (const auto& line : wrap(text, comment_width - pad.size()))
    out += pad + "# " + line + "\n";
}

const section_descriptor* find_section(const std::string& name) {
  for (const auto& s : sections())
    if (s.name == name)
      return &s;
  return nullptr;
}

/// Appends " value\n" or, for a non-empty collection, "\n" plus a block.
void value(std::string& out, size_t depth, const YAML::Node& node) {
  if (node.IsScalar()) {
    YAML::Emitter e;
    e << node;
    out += ' ';
    out += e.c_str();
    out += '\n';
    return;
  }
  if (node.size() == 0) {
    out += node.IsMap() ? " {}\n" : " []\n";
    return;
  }
  YAML::Emitter e;
  e << YAML::Block << node;
  out += '\n';
  std::string_view block{e.c_str()};
  auto pad = indent_of(depth + 1);
  while (!block.empty()) {
    auto nl = block.find('\n');
    out += pad;
    out.append(block.substr(0, nl));
    out += '\n';
    if (nl == std::string_view::npos)
      break;
    block.remove_prefix(nl + 1);
  }
}

std::string key_docs(const option_descriptor& opt) {
  auto text = "Type: " + opt.type;
  if (!opt.range.empty())
    text += " (" + opt.range + ")";
  YAML::Emitter def;
  def << YAML::Flow << opt.codec->to_yaml(broker_config{});
  return text + ". Default: " + def.c_str();
}

std::string env_docs(const option_descriptor& opt) {
  std::string text;
  for (const auto& name : opt.env_names())
    text += (text.empty() ? "Env: " : ", ") + name;
  return text;
}

} // namespace

std::vector<std::string> wrap(std::string_view text, size_t width) {
  std::vector<std::string> lines;
  std::string line;
  while (!text.empty()) {
    auto blank = text.find(' ');
    auto word = text.substr(0, blank);
    if (!line.empty() && line.size() + 1 + word.size() > width) {
      lines.push_back(std::move(line));
      line.clear();
    }
    if (!line.empty())
      line += ' ';
    line.append(word);
    if (blank == std::string_view::npos)
      break;
    text.remove_prefix(blank + 1);
  }
  if (!line.empty())
    lines.push_back(std::move(line));
  return lines;
}

std::string render_yaml(const broker_config& cfg, const render_options& opts) {
  std::string out;
  std::vector<std::string> open; // Section path of the previous key.
  for (const auto& opt : options()) {
    auto parts = split_key(opt.key);
    // Length of the common section prefix with the previous key.
    size_t common = 0;
    while (common < open.size() && common + 1 < parts.size() && open[common] == parts[common])
      ++common;
    bool opened = false; // No blank line right below a section header.
    for (size_t depth = common; depth + 1 < parts.size(); ++depth) {
      if (depth == 0) {
        if (!out.empty())
          out += '\n';
        if (opts.with_docs)
          if (const auto* s = find_section(parts[0]))
            comment(out, 0, "---- " + s->name + ": " + s->doc);
      } else if (opts.with_docs && !opened) {
        out += '\n';
      }
      out += indent_of(depth) + parts[depth] + ":\n";
      opened = true;
    }
    open.assign(parts.begin(), parts.end() - 1);
    auto depth = parts.size() - 1;
    if (opts.with_docs) {
      if (!opened)
        out += '\n';
      comment(out, depth, opt.doc);
      comment(out, depth, key_docs(opt));
      comment(out, depth, env_docs(opt));
      if (!opt.example.empty()) {
        comment(out, depth, "Example:");
        auto pad = indent_of(depth);
        std::string_view ex{opt.example};
        while (!ex.empty()) {
          auto nl = ex.find('\n');
          out += pad + "#   ";
          out.append(ex.substr(0, nl));
          out += '\n';
          if (nl == std::string_view::npos)
            break;
          ex.remove_prefix(nl + 1);
        }
      }
    }
    out += indent_of(depth) + parts.back() + ":";
    auto node = opt.codec->to_yaml(cfg);
    if (opts.redact_secrets && opt.secret && !opt.codec->to_text(cfg).empty())
      node = YAML::Node("<redacted>");
    value(out, depth, node);
  }
  return out;
}

} // namespace amq::config::detail

namespace amq::config {

std::string to_yaml(const broker_config& cfg, bool redact_secrets) {
  return detail::render_yaml(cfg, {false, redact_secrets});
}

} // namespace amq::config

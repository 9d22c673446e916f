#include "amq/web/assets.hpp"

#include <vector>

namespace amq::web {

namespace {

std::string_view content_type_of(std::string_view path) {
  auto ends = [&](std::string_view ext) { return path.ends_with(ext); };
  if (ends(".html"))
    return "text/html; charset=utf-8";
  if (ends(".js"))
    return "text/javascript; charset=utf-8";
  if (ends(".css"))
    return "text/css; charset=utf-8";
  if (ends(".svg"))
    return "image/svg+xml";
  if (ends(".png"))
    return "image/png";
  if (ends(".ico"))
    return "image/x-icon";
  if (ends(".json"))
    return "application/json";
  return "application/octet-stream";
}

const std::vector<asset>& table() {
  static const std::vector<asset> assets = [] {
    std::vector<asset> result;
    for (auto& f : files())
      result.push_back(asset{&f, content_type_of(f.path)});
    return result;
  }();
  return assets;
}

} // namespace

std::span<const embedded_file> files() {
  return {detail::embedded_files, detail::embedded_file_count};
}

const asset* find(std::string_view target) {
  auto path = target.substr(0, target.find_first_of("?#"));
  if (path == "/" || path.empty())
    path = "/index.html";
  for (auto& a : table())
    if (a.file->path == path)
      return &a;
  return nullptr;
}

} // namespace amq::web

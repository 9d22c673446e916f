#pragma once

// The Sessions page's static files (actors/web/), compiled into the binary by
// cmake/EmbedFiles.cmake: the admin HTTP server serves them at "/" without
// authentication (the page itself asks for the API token). No file system
// access, no install path.

#include <cstddef>
#include <span>
#include <string_view>

namespace amq::web {

/// One embedded file.
struct embedded_file {
  std::string_view path; // "/index.html"
  std::string_view body; // the file's bytes
  std::string_view etag; // quoted, e.g. "\"3f2a...\"": first 16 hex digits of its SHA-1
};

/// A file to serve for a GET request.
struct asset {
  const embedded_file* file;
  std::string_view content_type; // from the extension, e.g. "text/html; charset=utf-8"
};

/// Every embedded file.
std::span<const embedded_file> files();

/// The file for a request target (path, optional query), or nullptr: "/" and
/// "/index.html" are the page; "/app.js" etc. its files. Never matches
/// "/api/...", "..", or anything not embedded.
const asset* find(std::string_view target);

/// Headers an HTTP server should send with every asset: the page may only
/// load its own scripts/styles and talk to its own origin.
inline constexpr std::string_view content_security_policy =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
  "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

namespace detail {
extern const embedded_file embedded_files[];
extern const std::size_t embedded_file_count;
} // namespace detail

} // namespace amq::web

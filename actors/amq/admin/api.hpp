#pragma once
/// The admin REST API (/api/v1/...): routes on the admin HTTP server that
/// read the session directory and ask the broker (through `broker_ops`) for
/// what only its actors know. Reference: docs/admin-api.md.
///
/// List and detail calls are answered from the directory (no actor is asked
/// per listed session); a detail call asks the one session actor for its
/// subscriptions; disconnect, clear and the retained calls are one request
/// to the registry or the router. Every operation answers through a
/// callback, so no HTTP thread ever waits for an actor and no actor thread
/// ever waits for HTTP.

#include "amq/admin/http_server.hpp"
#include "amq/admin/session_directory.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace amq::admin {

/// One subscription as the detail call shows it.
struct subscription_view {
  std::string filter;
  uint8_t qos = 0;
  bool no_local = false;
  bool retain_as_published = false;
  uint8_t retain_handling = 0;
  uint32_t subscription_id = 0; ///< 0: none
};

/// One retained message as the retained list shows it.
struct retained_view {
  std::string topic;
  uint8_t qos = 0;
  size_t payload_bytes = 0;
  std::string payload_preview; ///< the first bytes (at most 256)
  std::optional<uint32_t> expires_in_s;
};

struct retained_list {
  std::vector<retained_view> items; ///< in topic order
  bool more = false;                ///< more topics after the last item
  uint64_t total = 0;               ///< retained messages on the node
};

enum class op_result : uint8_t {
  done,
  not_found, ///< no such session / topic
  conflict,  ///< e.g. disconnect of a session that is not connected
  failed,    ///< the broker did not answer in time, or storage failed
};

/// What the API needs from the broker's actors. Every callback is called
/// exactly once, from any thread.
class broker_ops {
public:
  virtual ~broker_ops() = default;
  /// The session's subscriptions; nullopt if it does not answer (gone).
  virtual void subscriptions(const std::string& client_id,
                             std::function<void(std::optional<std::vector<subscription_view>>)>
                               done) = 0;
  /// Administrative disconnect (MQTT 5 reason 0x98).
  virtual void disconnect(const std::string& client_id, std::function<void(op_result)> done) = 0;
  /// Ends a disconnected session and erases its stored state. `force`:
  /// disconnect it first if connected (else: conflict).
  virtual void clear(const std::string& client_id, bool force,
                     std::function<void(op_result)> done) = 0;
  /// Retained messages whose topic starts with `prefix`, after topic
  /// `after` (empty: from the start), at most `limit`.
  virtual void retained(const std::string& prefix, const std::string& after, size_t limit,
                        std::function<void(std::optional<retained_list>)> done) = 0;
  /// Deletes the retained message of `topic`, durably.
  virtual void delete_retained(const std::string& topic, std::function<void(op_result)> done) = 0;
  /// Open MQTT connections on this node.
  virtual uint64_t connections() = 0;
};

struct api_info {
  std::string version;
  std::string node;
  std::chrono::system_clock::time_point started = std::chrono::system_clock::now();
};

/// Registers the /api/v1 routes (all require authentication).
void register_api(http_server& server, std::shared_ptr<const session_directory> directory,
                  std::shared_ptr<broker_ops> ops, api_info info);

} // namespace amq::admin

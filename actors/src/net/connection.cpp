// The Boost.Asio connection. Design: amq/net/connection.hpp.
#include "tcp_connection.hpp"

#include <algorithm>

#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <chrono>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

namespace amq::net {

namespace {

class error_category_impl final : public std::error_category {
public:
  const char* name() const noexcept override {
    return "amq.net";
  }

  std::string message(int value) const override {
    switch (static_cast<error>(value)) {
      case error::peer_closed:
        return "peer closed the connection";
      case error::aborted:
        return "connection aborted";
      case error::write_queue_overflow:
        return "write queue above max_write_queue";
      case error::server_stopped:
        return "server stopped";
      case error::receiver_failed:
        return "receiver callback threw";
      case error::tls_handshake_failed:
        return "TLS handshake failed";
      case error::tls_handshake_timeout:
        return "TLS handshake timed out";
    }
    return "unknown amq.net error";
  }
};

} // namespace

const std::error_category& error_category() noexcept {
  static const error_category_impl instance;
  return instance;
}

} // namespace amq::net

namespace amq::net::detail {

namespace asio = boost::asio;

namespace {

thread_local std::vector<uint8_t>* tl_read_buffer = nullptr;
thread_local int64_t tl_read_arrival = 0;

bool would_block(const boost::system::error_code& ec) {
  return ec == asio::error::would_block || ec == asio::error::try_again;
}

} // namespace

std::vector<uint8_t>& io_thread_read_buffer(size_t size) {
  if (tl_read_buffer != nullptr)
    return *tl_read_buffer;
  thread_local std::vector<uint8_t> fallback;
  fallback.resize(size);
  return fallback;
}

void set_io_thread_read_buffer(std::vector<uint8_t>* buf) noexcept {
  tl_read_buffer = buf;
}

bool on_io_thread() noexcept {
  return tl_read_buffer != nullptr;
}

arrival_scope::arrival_scope(int64_t arrival) noexcept : previous_(tl_read_arrival) {
  tl_read_arrival = arrival;
}

arrival_scope::~arrival_scope() {
  tl_read_arrival = previous_;
}

int64_t realtime_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

size_t read_stamped(int fd, uint8_t* data, size_t size, int64_t& arrival,
                    boost::system::error_code& ec) noexcept {
  arrival = 0;
  iovec iov{data, size};
  // Room for one SCM_TIMESTAMPNS (a timespec) and nothing else: a stream socket carries no
  // other ancillary data unless asked to.
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(timespec))];
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = control;
  m.msg_controllen = sizeof control;
  ssize_t n = 0;
  do {
    n = ::recvmsg(fd, &m, MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    ec = boost::system::error_code(errno, boost::system::system_category());
    if (would_block(ec))
      ec = asio::error::would_block;
    return 0;
  }
  if (n == 0 && size > 0) {
    ec = asio::error::eof;
    return 0;
  }
  ec = {};
  for (auto* c = CMSG_FIRSTHDR(&m); c != nullptr; c = CMSG_NXTHDR(&m, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
      timespec ts{};
      std::memcpy(&ts, CMSG_DATA(c), sizeof ts);
      arrival = static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
    }
  }
  return static_cast<size_t>(n);
}

} // namespace amq::net::detail

namespace amq::net {

int64_t connection::read_arrival() noexcept {
  return detail::tl_read_arrival;
}

namespace {
thread_local write_gather* tl_gather = nullptr;
} // namespace

write_gather::~write_gather() {
  uninstall();
  flush();
}

void write_gather::install() noexcept {
  tl_gather = this;
}

void write_gather::uninstall() noexcept {
  if (tl_gather == this)
    tl_gather = nullptr;
}

write_gather* write_gather::current() noexcept {
  return tl_gather;
}

void write_gather::note(std::shared_ptr<detail::edge_connection> c) {
  if (empty())
    oldest_ = std::chrono::steady_clock::now();
  (noting_late_ ? late_ : conns_).push_back(std::move(c));
}

void write_gather::flush() {
  // A connection is noted once per flush (its write stays owned until flush_gathered), so the
  // list holds each at most once; taking it first lets a flush_gathered that sends again (it
  // never does today) note for the next round instead of growing this one.
  auto write = [](std::vector<std::shared_ptr<detail::edge_connection>>& noted) {
    auto conns = std::move(noted);
    noted.clear();
    for (auto& c : conns)
      c->flush_gathered();
    if (noted.empty() && noted.capacity() < conns.capacity()) {
      conns.clear();
      noted.swap(conns); // keep the capacity: no allocation per round
    }
  };
  write(conns_);
  if (!late_.empty())
    write(late_);
}

io_thread_scope::io_thread_scope(std::vector<uint8_t>& read_buffer) noexcept
  : previous_(detail::tl_read_buffer) {
  detail::tl_read_buffer = &read_buffer;
}

io_thread_scope::~io_thread_scope() {
  detail::tl_read_buffer = previous_;
}

io_thread_pause::io_thread_pause() noexcept : previous_(detail::tl_read_buffer) {
  detail::tl_read_buffer = nullptr;
}

io_thread_pause::~io_thread_pause() {
  detail::tl_read_buffer = previous_;
}

} // namespace amq::net

namespace amq::net::detail {

std::error_code to_close_reason(const boost::system::error_code& ec) {
  if (ec == asio::error::eof)
    return error::peer_closed;
  if (ec.category() == boost::system::system_category())
    return {ec.value(), std::system_category()};
  return static_cast<std::error_code>(ec);
}

template <class Executor>
std::error_code tcp_connection<Executor>::close_reason(const boost::system::error_code& ec) {
  return to_close_reason(ec);
}

// -- construction ------------------------------------------------------------------------------------

template <class Executor>
tcp_connection<Executor>::tcp_connection(std::shared_ptr<server_state> state, socket_type socket,
                                         uint64_t id, std::string peer)
  : base(std::move(state), id, std::move(peer)), socket_(std::move(socket)) {
}

template <class Executor>
tcp_connection<Executor>::~tcp_connection() {
  // Reached without finish() only when nothing was pending (e.g. paused, or no receiver ever set)
  // and every handle was dropped: the socket closes itself; there is no receiver to tell.
  if (!released_)
    state_->release(*this);
}

// -- I/O thread: reading -----------------------------------------------------------------------------

template <class Executor>
void tcp_connection<Executor>::start() {
  started_ = true;
  if (!done_ && !paused_ && phase_.load() == phase::open && current_receiver())
    arm_read();
}

template <class Executor>
void tcp_connection<Executor>::arm_read(bool drained) {
  if (reading_ || done_)
    return;
  reading_ = true;
  async_wait_readable(socket_, drained,
                      [self = self()](const boost::system::error_code& ec) { self->on_readable(ec); });
}

template <class Executor>
void tcp_connection<Executor>::on_readable(const boost::system::error_code& ec) {
  reading_ = false;
  if (done_)
    return;
  if (ec) {
    if (ec != asio::error::operation_aborted)
      finish(to_close_reason(ec), false);
    return;
  }
  if (lingering_) {
    discard_input();
    return;
  }
  if (paused_ || phase_.load() != phase::open)
    return;
  auto& buf = io_thread_read_buffer(state_->opts.read_buffer_size);
  const connection_ptr me = this->shared_from_this();
  bool drained = false; // the last read came back short or would block (edge_wait.hpp)
  for (int i = 0; i < max_reads_per_wakeup; ++i) {
    boost::system::error_code rec;
    int64_t arrival = 0;
    const size_t n = read_stamped(socket_.native_handle(), buf.data(), buf.size(), arrival, rec);
    if (would_block(rec)) {
      drained = true;
      break;
    }
    if (rec) {
      finish(to_close_reason(rec), false);
      return;
    }
    state_->reads.fetch_add(1, std::memory_order_relaxed);
    state_->bytes_in.fetch_add(n, std::memory_order_relaxed);
    arrival_scope stamp{arrival};
    notify([&](connection_receiver& r) { r.on_data(me, std::span<const uint8_t>{buf.data(), n}); });
    if (done_ || paused_ || phase_.load() != phase::open)
      return; // finish, resume_reading or begin_linger re-arm as needed
    if (n < buf.size()) {
      drained = true; // a stream socket's recv returns less only when nothing more is queued
      break;
    }
  }
  arm_read(drained);
}

template <class Executor>
void tcp_connection<Executor>::discard_input() {
  auto& buf = io_thread_read_buffer(state_->opts.read_buffer_size);
  for (int i = 0; i < 16; ++i) {
    boost::system::error_code rec;
    socket_.read_some(asio::buffer(buf), rec);
    if (would_block(rec))
      break;
    if (rec) { // the peer's EOF we waited for, or an error: either way we are done
      finish({}, false);
      return;
    }
  }
  arm_read();
}

// -- I/O thread: closing -----------------------------------------------------------------------------

template <class Executor>
void tcp_connection<Executor>::begin_linger() {
  lingering_ = true;
  boost::system::error_code ignored;
  socket_.shutdown(socket_type::shutdown_send, ignored); // FIN after the flushed bytes
  timer_ = std::make_unique<asio::steady_timer>(socket_.get_executor());
  timer_->expires_after(state_->opts.close_linger);
  timer_->async_wait([self = self()](const boost::system::error_code& ec) {
    if (!ec)
      self->finish({}, false);
  });
  arm_read(); // even when paused: we read to discard until the peer's EOF
}

template class tcp_connection<loop_executor>;
template class tcp_connection<strand_executor>;

} // namespace amq::net::detail

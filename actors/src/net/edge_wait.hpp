#pragma once
/// Private: wait for a socket to become readable again without a syscall, for a reader that
/// drained it (its last `recv` came back short or would block).
///
/// Why: `socket.async_wait(wait_read)` in Boost.Asio 1.74 starts its reactor op without the
/// "speculative" flag, and the epoll reactor then re-arms the descriptor with an
/// `epoll_ctl(EPOLL_CTL_MOD)` — one syscall per read of every connection (it re-arms the edge
/// trigger, which is what makes it safe when data may be waiting). `async_read_some` avoids the
/// `epoll_ctl` but makes a speculative `recv` that returns EAGAIN instead (Asio marks a read
/// "exhausted" only at EOF). Neither is needed after a drained read: the descriptor is registered
/// edge-triggered once, and every later arrival of data is a new event.
///
/// How: a reactor op like Asio's own `reactive_wait_op`, started *with* the speculative flag, whose
/// `perform` does no I/O and reports `done_and_exhausted`. The reactor keeps, per descriptor and
/// op type, "an event came since an op last reported exhaustion" (`try_speculative_`):
/// - no event since our last wait completed: the op is queued, no syscall; the next EPOLLIN (or
///   EPOLLHUP/EPOLLERR) completes it;
/// - an event came in between (data arrived while the reader was busy): the op completes at once
///   (posted), and the reader's `recv` finds the data.
/// Either way no arrival is missed, provided the caller had drained the socket; otherwise (it
/// stopped reading early, or resumes after a pause) it must use `async_wait`, whose
/// `epoll_ctl(MOD)` re-reports data already waiting.
///
/// Uses Asio's detail API (the socket service's protected `start_op`, which hands the op to the
/// epoll reactor), so it is compiled only for the Boost version it was written and tested
/// against; any other version (or reactor) falls back to `async_wait`, which is always correct.

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/version.hpp>

#include <type_traits>

#if BOOST_VERSION == 107400 && defined(BOOST_ASIO_HAS_EPOLL) && !defined(BOOST_ASIO_HAS_IO_URING)
#define AMQ_NET_EDGE_WAIT 1
#include <boost/asio/detail/bind_handler.hpp>
#include <boost/asio/detail/fenced_block.hpp>
#include <boost/asio/detail/handler_alloc_helpers.hpp>
#include <boost/asio/detail/handler_work.hpp>
#include <boost/asio/detail/memory.hpp>
#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#else
#define AMQ_NET_EDGE_WAIT 0
#endif

namespace amq::net::detail {

#if AMQ_NET_EDGE_WAIT

template <typename Handler, typename IoExecutor>
class drained_wait_op : public boost::asio::detail::reactor_op {
public:
  BOOST_ASIO_DEFINE_HANDLER_PTR(drained_wait_op);

  drained_wait_op(const boost::system::error_code& success_ec, Handler& handler, const IoExecutor& io_ex)
      : reactor_op(success_ec, &drained_wait_op::do_perform, &drained_wait_op::do_complete),
        handler_(std::move(handler)),
        work_(handler_, io_ex) {
  }

  static status do_perform(reactor_op*) {
    return done_and_exhausted; // no I/O here; "exhausted" makes the next wait wait for an event
  }

  static void do_complete(void* owner, boost::asio::detail::operation* base,
                          const boost::system::error_code& /*ec*/, std::size_t /*bytes_transferred*/) {
    namespace d = boost::asio::detail;
    auto* o = static_cast<drained_wait_op*>(base);
    ptr p = {d::addressof(o->handler_), o, o};
    d::handler_work<Handler, IoExecutor> w(std::move(o->work_));
    d::binder1<Handler, boost::system::error_code> handler(o->handler_, o->ec_);
    p.h = d::addressof(handler.handler_);
    p.reset();
    if (owner) {
      d::fenced_block b(d::fenced_block::half);
      w.complete(handler, handler.handler_);
    }
  }

private:
  Handler handler_;
  /// Asio's work tracking, as in its own ops. For a socket on an io_context's own executor (the
  /// edge's loops) it is an empty class whose `complete` calls the handler directly: the reactor
  /// counts the pending op as the context's work itself (`start_op`), and the op completes on the
  /// thread running that context. So it takes no space here; for a strand's socket
  /// (`io_model::shared_context`) it holds the strand and dispatches the handler through it.
  [[no_unique_address]] boost::asio::detail::handler_work<Handler, IoExecutor> work_;
};

/// Reaches the protected implementation of an Asio socket (its descriptor and reactor data) and
/// its service.
template <typename Socket>
struct socket_access : Socket {
  static auto& implementation(Socket& s) {
    return (s.*(&socket_access::impl_)).get_implementation();
  }
  static auto& service(Socket& s) {
    return (s.*(&socket_access::impl_)).get_service();
  }
};

/// Reaches the protected `start_op` of a socket's service: it starts a reactor op on the reactor
/// the service holds (the socket's), as Asio's own `async_receive` does, with no service look-up.
template <typename Service>
struct service_access : Service {
  static constexpr auto start = &service_access::start_op;
};

#endif

/// Calls `handler(error_code)` once `socket` (an `asio::basic_stream_socket`, non-blocking) is
/// readable; `drained` says the caller's last read came back short or would block (see above).
/// Without it, or without the fast path, it is `socket.async_wait(wait_read, handler)`.
template <typename Socket, typename Handler>
void async_wait_readable(Socket& socket, bool drained, Handler&& handler) {
#if AMQ_NET_EDGE_WAIT
  if (drained) {
    namespace d = boost::asio::detail;
    using op = drained_wait_op<std::decay_t<Handler>, typename Socket::executor_type>;
    auto& impl = socket_access<Socket>::implementation(socket);
    auto& service = socket_access<Socket>::service(socket);
    std::decay_t<Handler> h(std::forward<Handler>(handler));
    typename op::ptr p = {d::addressof(h), op::ptr::allocate(h), nullptr};
    p.p = new (p.v) op(boost::system::error_code{}, h, socket.get_executor());
    // The service's start_op: reactor::start_op(read_op, ..., allow_speculative = true) for a
    // socket in non-blocking mode (the edge sets it at accept).
    (service.*service_access<std::remove_reference_t<decltype(service)>>::start)(
        impl, d::reactor::read_op, p.p, /*is_continuation=*/false, /*is_non_blocking=*/true,
        /*noop=*/false);
    p.v = p.p = nullptr;
    return;
  }
#else
  (void)drained;
#endif
  socket.async_wait(boost::asio::socket_base::wait_read, std::forward<Handler>(handler));
}

} // namespace amq::net::detail

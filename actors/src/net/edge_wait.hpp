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
/// Uses Asio's detail API (the epoll reactor's `start_op`), so it is compiled only for the Boost
/// version it was written and tested against; any other version (or reactor) falls back to
/// `async_wait`, which is always correct.

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/version.hpp>

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
  boost::asio::detail::handler_work<Handler, IoExecutor> work_;
};

/// Reaches the protected implementation of an Asio socket (its descriptor and reactor data).
struct socket_access : boost::asio::ip::tcp::socket {
  static auto& implementation(boost::asio::ip::tcp::socket& s) {
    return (s.*(&socket_access::impl_)).get_implementation();
  }
};

#endif

/// Calls `handler(error_code)` once `socket` is readable; `drained` says the caller's last read
/// came back short or would block (see above). Without it, or without the fast path, it is
/// `socket.async_wait(wait_read, handler)`. `reactor_cache` is the caller's per-socket slot for the
/// socket's reactor (null at first).
template <typename Handler>
void async_wait_readable(boost::asio::ip::tcp::socket& socket, bool drained, void*& reactor_cache,
                         Handler&& handler) {
#if AMQ_NET_EDGE_WAIT
  if (drained) {
    namespace d = boost::asio::detail;
    using executor_type = boost::asio::ip::tcp::socket::executor_type;
    using op = drained_wait_op<std::decay_t<Handler>, executor_type>;
    auto& impl = socket_access::implementation(socket);
    // use_service locks the context's service registry and walks its list: looked up once per
    // connection (a socket's reactor never changes), not once per read.
    if (reactor_cache == nullptr)
      reactor_cache = &boost::asio::use_service<d::reactor>(
          static_cast<boost::asio::execution_context&>(boost::asio::query(
              socket.get_executor(), boost::asio::execution::context)));
    auto& reactor = *static_cast<d::reactor*>(reactor_cache);
    std::decay_t<Handler> h(std::forward<Handler>(handler));
    typename op::ptr p = {d::addressof(h), op::ptr::allocate(h), nullptr};
    p.p = new (p.v) op(boost::system::error_code{}, h, socket.get_executor());
    reactor.start_op(d::reactor::read_op, impl.socket_, impl.reactor_data_, p.p,
                     /*is_continuation=*/false, /*allow_speculative=*/true);
    p.v = p.p = nullptr;
    return;
  }
#else
  (void)drained;
  (void)reactor_cache;
#endif
  socket.async_wait(boost::asio::socket_base::wait_read, std::forward<Handler>(handler));
}

} // namespace amq::net::detail

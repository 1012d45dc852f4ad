//! The P2P listener. Bound to `::` it is dual-stack on every platform (IPV6_V6ONLY off, set
//! explicitly because some systems default it on), so IPv4 peers still connect; their
//! addresses arrive as IPv4-mapped IPv6 and are turned back into IPv4 by [`canonical`]. On a
//! machine without IPv6, `::` falls back to `0.0.0.0`.

use std::net::{Ipv4Addr, SocketAddr};

use socket2::{Domain, Socket, Type};
use tokio::net::TcpListener;

/// Pending connections the kernel queues for `accept`.
const BACKLOG: i32 = 1024;

/// Binds `addr` for the P2P listener (dual-stack for `::`).
pub fn bind_listener(addr: SocketAddr) -> std::io::Result<TcpListener> {
    match bind(addr) {
        Err(e) if addr.ip().is_unspecified() && addr.is_ipv6() => {
            tracing::info!("no IPv6 here ({e}): listening on IPv4 only");
            bind(SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), addr.port()))
        }
        result => result,
    }
}

fn socket_for(addr: SocketAddr) -> std::io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    if addr.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    // As TcpListener::bind does on Unix: a restarted peer can take its port back at once.
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    Ok(socket)
}

fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    // SO_REUSEPORT (below) lets our dials leave from this port (`dial.rs`), but it would also
    // let a second peer of the same user bind the same port and silently share its
    // connections. So the port is first taken without it: a port already in use is refused
    // as it always was.
    #[cfg(unix)]
    if addr.port() != 0 {
        socket_for(addr)?.bind(&addr.into())?;
    }
    let socket = socket_for(addr)?;
    #[cfg(unix)]
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    TcpListener::from_std(socket.into())
}

/// `addr` with an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, how a dual-stack listener sees
/// IPv4 peers) written as the IPv4 address it is.
pub fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_port_in_use_is_refused_even_though_dials_share_it() {
        let first = bind_listener("127.0.0.1:0".parse().unwrap()).unwrap();
        let taken = first.local_addr().unwrap();
        let second = bind_listener(taken);
        assert_eq!(
            second.map(|_| ()).unwrap_err().kind(),
            std::io::ErrorKind::AddrInUse
        );
    }

    #[tokio::test]
    async fn a_dual_stack_listener_accepts_ipv4_and_reports_it_as_ipv4() {
        let listener = match bind_listener("[::]:0".parse().unwrap()) {
            Ok(listener) => listener,
            Err(e) => panic!("bind [::]:0: {e}"),
        };
        let port = listener.local_addr().unwrap().port();
        let client = tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .await
            .unwrap();
        let (_, from) = listener.accept().await.unwrap();
        assert_eq!(canonical(from), client.local_addr().unwrap());
        assert_eq!(
            canonical(from).ip(),
            std::net::IpAddr::V4(Ipv4Addr::LOCALHOST)
        );
    }
}

//! Outgoing TCP connections that leave from the P2P listening port ("port reuse").
//!
//! Behind a home router, the address a contact sees us connect from is the router's mapping of
//! the *source* port. Dialling from the port we listen on makes that mapping the one of our
//! listening port, so the observed address a contact reports (PROTOCOL.md §7.1) is worth
//! passing on, and a hole punch (§7.2) — both sides dialling each other at once from their
//! listening ports, a TCP simultaneous open — finds each router expecting the other's packets.
//! The listener and these sockets share the port with SO_REUSEADDR and SO_REUSEPORT
//! (`listen.rs` sets them on the listener too).
//!
//! An ordinary dial falls back to an ephemeral port when the port cannot be shared for that
//! connection (the same four-tuple is still in TIME_WAIT, or is the very connection the
//! remote already opened to us): reaching the contact matters more than the source port. A
//! punch never falls back: from another port it would open no hole.

use std::io::{Error, ErrorKind};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::net::{TcpSocket, TcpStream};

/// A socket bound to `port` on the unspecified address of `target`'s family, sharing the port
/// with the listener and with other such sockets.
fn shared_port_socket(target: SocketAddr, port: u16) -> std::io::Result<TcpSocket> {
    let (socket, local): (TcpSocket, SocketAddr) = if target.is_ipv4() {
        (TcpSocket::new_v4()?, (Ipv4Addr::UNSPECIFIED, port).into())
    } else {
        (TcpSocket::new_v6()?, (Ipv6Addr::UNSPECIFIED, port).into())
    };
    socket.set_reuseaddr(true)?;
    #[cfg(unix)]
    socket.set_reuseport(true)?;
    socket.bind(local)?;
    Ok(socket)
}

/// Connects to `target` from local port `port` (never another), within `timeout`.
pub async fn connect_from_port(
    target: SocketAddr,
    port: u16,
    timeout: Duration,
) -> std::io::Result<TcpStream> {
    let socket = shared_port_socket(target, port)?;
    match tokio::time::timeout(timeout, socket.connect(target)).await {
        Ok(result) => result,
        Err(_) => Err(Error::new(ErrorKind::TimedOut, "connect timed out")),
    }
}

/// Whether `error` says only that this source port cannot be used for this connection.
fn port_unusable(error: &Error) -> bool {
    matches!(
        error.kind(),
        ErrorKind::AddrInUse | ErrorKind::AddrNotAvailable
    )
}

/// Connects to `target` within `timeout`: from local port `port` when given (falling back to
/// an ephemeral port if that port cannot be used for this connection), else from any port.
pub async fn connect(
    target: SocketAddr,
    port: Option<u16>,
    timeout: Duration,
) -> std::io::Result<TcpStream> {
    if let Some(port) = port.filter(|p| *p != 0) {
        match connect_from_port(target, port, timeout).await {
            Err(e) if port_unusable(&e) => {
                tracing::debug!(%target, "cannot dial from port {port} ({e}); dialling from another");
            }
            result => return result,
        }
    }
    match tokio::time::timeout(timeout, TcpStream::connect(target)).await {
        Ok(result) => result,
        Err(_) => Err(Error::new(ErrorKind::TimedOut, "connect timed out")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_dial_leaves_from_the_listening_port_and_the_listener_still_accepts() {
        let listener = crate::reach::bind_listener("127.0.0.1:0".parse().unwrap()).unwrap();
        let port = listener.local_addr().unwrap().port();
        let other = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = other.local_addr().unwrap();
        let stream = connect(target, Some(port), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(stream.local_addr().unwrap().port(), port);
        let (_, seen) = other.accept().await.unwrap();
        assert_eq!(seen.port(), port, "the remote sees the listening port");
        // The listener is unaffected: a connection to it is still accepted.
        let _client = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let _ = listener.accept().await.unwrap();
        // The same four-tuple again while the first is open: an ordinary dial falls back to
        // another port, a punch does not.
        let again = connect(target, Some(port), Duration::from_secs(5))
            .await
            .unwrap();
        assert_ne!(again.local_addr().unwrap().port(), port);
        let punch = connect_from_port(target, port, Duration::from_secs(5)).await;
        assert!(punch.is_err_and(|e| port_unusable(&e)));
    }

    #[tokio::test]
    async fn two_sockets_dialling_each_other_from_their_listening_ports_meet() {
        // A TCP simultaneous open over loopback: both sides connect at once from their
        // listening ports; whichever way the SYNs cross, each side ends with one connection
        // to the other's listening port (its own dial, or one its listener accepted).
        let a = crate::reach::bind_listener("127.0.0.1:0".parse().unwrap()).unwrap();
        let b = crate::reach::bind_listener("127.0.0.1:0".parse().unwrap()).unwrap();
        let (pa, pb) = (
            a.local_addr().unwrap().port(),
            b.local_addr().unwrap().port(),
        );
        let to_b: SocketAddr = ([127, 0, 0, 1], pb).into();
        let to_a: SocketAddr = ([127, 0, 0, 1], pa).into();
        let wait = Duration::from_secs(5);
        let (from_a, from_b) = tokio::join!(
            connect_from_port(to_b, pa, wait),
            connect_from_port(to_a, pb, wait)
        );
        let connected = [&from_a, &from_b].iter().filter(|r| r.is_ok()).count();
        assert!(connected >= 1, "{from_a:?} {from_b:?}");
        for stream in [from_a, from_b].into_iter().flatten() {
            let local = stream.local_addr().unwrap().port();
            let remote = stream.peer_addr().unwrap().port();
            assert!((local, remote) == (pa, pb) || (local, remote) == (pb, pa));
        }
    }
}

//! Router port mapping: asks the default gateway to forward the P2P port, so that people on
//! other networks can dial this peer through the router's external address.
//!
//! PCP and NAT-PMP come from `crab_nat`, UPnP-IGD from `igd-next`: both map TCP ports (the
//! `portmapper` crate only maps UDP). PCP/NAT-PMP are tried first (one UDP exchange with the
//! gateway), UPnP-IGD second (an SSDP search on the LAN, then HTTP to the router). A mapping
//! is renewed at half its lifetime and removed on clean shutdown. Without a gateway, or when
//! the gateway answers none of them, the peer says so once (INFO) and goes on without.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU16;
use std::sync::Arc;
use std::time::Duration;

use crab_nat::{InternetProtocol, PortMapping, PortMappingOptions, TimeoutConfig};
use igd_next::aio::tokio::Tokio;
use igd_next::PortMappingProtocol;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The lifetime asked for; the gateway may grant less.
const LEASE_SECONDS: u32 = 3600;
/// After a failure (or a lost mapping) the next attempt waits this long, doubling up to
/// [`RETRY_MAX`] while the gateway keeps refusing (a gateway that maps nothing is not asked
/// every minute forever).
const RETRY_AFTER: Duration = Duration::from_secs(60);
const RETRY_MAX: Duration = Duration::from_secs(30 * 60);
/// Renewals never come closer together than this, whatever lifetime the gateway grants.
const MIN_RENEW: Duration = Duration::from_secs(15);
/// Removing the mapping on shutdown gives up after this long.
const REMOVE_DEADLINE: Duration = Duration::from_secs(3);
/// What the router's table shows as the mapping's owner (UPnP-IGD).
const DESCRIPTION: &str = "p2p-chat";

/// PCP/NAT-PMP: 250 ms, then 500 ms, then 1 s (a LAN gateway answers within milliseconds).
const PMP_TIMEOUTS: TimeoutConfig = TimeoutConfig {
    initial_timeout: Duration::from_millis(250),
    max_retries: 2,
    max_retry_timeout: Some(Duration::from_secs(1)),
};

/// Why no mapping was obtained.
#[derive(Debug, thiserror::Error)]
pub enum MapError {
    /// This computer has no IPv4 default gateway.
    #[error("no default gateway")]
    NoGateway,
    /// No local IPv4 address routes to the gateway.
    #[error("no local address towards the gateway {0}")]
    NoLocalAddress(Ipv4Addr),
    /// The gateway answered neither PCP/NAT-PMP nor UPnP-IGD (or refused).
    #[error("the gateway {gateway} maps nothing (PCP/NAT-PMP: {pmp}; UPnP-IGD: {upnp})")]
    Refused {
        /// The gateway asked.
        gateway: Ipv4Addr,
        /// What PCP/NAT-PMP said.
        pmp: GatewayError,
        /// What UPnP-IGD said.
        upnp: GatewayError,
    },
}

/// What one gateway protocol (PCP/NAT-PMP or UPnP-IGD) answered when it did not map, renew or
/// remove: the crates' own error types differ, so their message is kept for the log line.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct GatewayError(String);

impl GatewayError {
    fn of(error: impl std::fmt::Display) -> Self {
        GatewayError(error.to_string())
    }
}

/// A mapping held on the gateway.
enum Mapping {
    Pmp(PortMapping),
    Upnp {
        gateway: igd_next::aio::Gateway<Tokio>,
        local: SocketAddr,
        external_port: u16,
    },
}

impl Mapping {
    fn protocol(&self) -> String {
        match self {
            Mapping::Pmp(m) => m.mapping_type().to_string(),
            Mapping::Upnp { .. } => "UPnP-IGD".to_owned(),
        }
    }

    /// When to renew: half the granted lifetime.
    fn renew_in(&self) -> Duration {
        let lifetime = match self {
            Mapping::Pmp(m) => m.lifetime(),
            Mapping::Upnp { .. } => LEASE_SECONDS,
        };
        Duration::from_secs(u64::from(lifetime / 2)).max(MIN_RENEW)
    }

    async fn renew(&mut self) -> Result<(), GatewayError> {
        match self {
            Mapping::Pmp(m) => m.renew().await.map_err(GatewayError::of),
            Mapping::Upnp {
                gateway,
                local,
                external_port,
            } => gateway
                .add_port(
                    PortMappingProtocol::TCP,
                    *external_port,
                    *local,
                    LEASE_SECONDS,
                    DESCRIPTION,
                )
                .await
                .map_err(GatewayError::of),
        }
    }

    async fn remove(self) -> Result<(), GatewayError> {
        match self {
            Mapping::Pmp(m) => m.try_drop().await.map_err(|(e, _)| GatewayError::of(e)),
            Mapping::Upnp {
                gateway,
                external_port,
                ..
            } => gateway
                .remove_port(PortMappingProtocol::TCP, external_port)
                .await
                .map_err(GatewayError::of),
        }
    }
}

/// The IPv4 default gateway, if this computer has one.
fn default_gateway() -> Option<Ipv4Addr> {
    netdev::get_default_gateway()
        .ok()?
        .ipv4
        .into_iter()
        .find(|ip| !ip.is_unspecified())
}

/// Our address towards the gateway: the listening address, or the routed one when listening
/// on every interface.
fn client_address(local: SocketAddr, gateway: Ipv4Addr) -> Option<Ipv4Addr> {
    let ip = match local.ip().to_canonical() {
        ip if ip.is_unspecified() => {
            super::interfaces::routed_address(SocketAddr::new(gateway.into(), 5351))?
        }
        ip => ip,
    };
    match ip {
        IpAddr::V4(v4) => Some(v4),
        IpAddr::V6(_) => None,
    }
}

/// Asks the gateway for a mapping of `local`'s port, PCP/NAT-PMP first, then UPnP-IGD.
/// Returns the mapping and the external address.
async fn request(local: SocketAddr) -> Result<(Mapping, SocketAddr), MapError> {
    let gateway = default_gateway().ok_or(MapError::NoGateway)?;
    let client = client_address(local, gateway).ok_or(MapError::NoLocalAddress(gateway))?;
    let port = NonZeroU16::new(local.port()).ok_or(MapError::NoLocalAddress(gateway))?;
    let pmp = match pmp_request(gateway, client, port).await {
        Ok(found) => return Ok(found),
        Err(e) => e,
    };
    match upnp_request(SocketAddr::new(client.into(), port.get())).await {
        Ok(found) => Ok(found),
        Err(upnp) => Err(MapError::Refused { gateway, pmp, upnp }),
    }
}

async fn pmp_request(
    gateway: Ipv4Addr,
    client: Ipv4Addr,
    port: NonZeroU16,
) -> Result<(Mapping, SocketAddr), GatewayError> {
    let options = PortMappingOptions {
        external_port: Some(port),
        lifetime_seconds: Some(LEASE_SECONDS),
        timeout_config: Some(PMP_TIMEOUTS),
    };
    // PCP first (NAT-PMP when the gateway says it only speaks that); any other PCP failure
    // still gets a plain NAT-PMP attempt, as some gateways answer PCP badly.
    let mapping = match PortMapping::new(
        gateway.into(),
        client.into(),
        InternetProtocol::Tcp,
        port,
        options,
    )
    .await
    {
        Ok(mapping) => mapping,
        Err(pcp) => {
            crab_nat::natpmp::port_mapping(gateway.into(), InternetProtocol::Tcp, port, options)
                .await
                .map_err(|pmp| GatewayError(format!("{pcp}; NAT-PMP({pmp})")))?
        }
    };
    let external_ip = match mapping.mapping_type() {
        crab_nat::PortMappingType::Pcp { external_ip, .. } => external_ip,
        crab_nat::PortMappingType::NatPmp => {
            match crab_nat::natpmp::external_address(gateway.into(), Some(PMP_TIMEOUTS)).await {
                Ok(ip) => ip.into(),
                Err(e) => {
                    let _ = mapping.try_drop().await;
                    return Err(GatewayError(format!("no external address: {e}")));
                }
            }
        }
    };
    let external = SocketAddr::new(external_ip.to_canonical(), mapping.external_port().get());
    Ok((Mapping::Pmp(mapping), external))
}

async fn upnp_request(local: SocketAddr) -> Result<(Mapping, SocketAddr), GatewayError> {
    let options = igd_next::SearchOptions {
        bind_addr: SocketAddr::new(local.ip(), 0),
        timeout: Some(Duration::from_secs(2)),
        single_search_timeout: Some(Duration::from_secs(1)),
        ..Default::default()
    };
    let gateway = igd_next::aio::tokio::search_gateway(options)
        .await
        .map_err(GatewayError::of)?;
    let external_port = match gateway
        .add_port(
            PortMappingProtocol::TCP,
            local.port(),
            local,
            LEASE_SECONDS,
            DESCRIPTION,
        )
        .await
    {
        Ok(()) => local.port(),
        // Someone else holds that external port: let the router pick one.
        Err(_) => gateway
            .add_any_port(PortMappingProtocol::TCP, local, LEASE_SECONDS, DESCRIPTION)
            .await
            .map_err(GatewayError::of)?,
    };
    let external_ip = match gateway.get_external_ip().await {
        Ok(ip) => ip,
        Err(e) => {
            let _ = gateway
                .remove_port(PortMappingProtocol::TCP, external_port)
                .await;
            return Err(GatewayError(format!("no external address: {e}")));
        }
    };
    let mapping = Mapping::Upnp {
        gateway,
        local,
        external_port,
    };
    Ok((mapping, SocketAddr::new(external_ip, external_port)))
}

/// What the mapper reports: the external address while a mapping holds, `None` when it is lost.
pub type OnChange = Arc<dyn Fn(Option<SocketAddr>) + Send + Sync>;

/// The background task holding a mapping of the P2P port.
pub struct PortMapper {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl PortMapper {
    /// Starts mapping `local`'s port; `on_change` hears every external address obtained or lost.
    pub fn spawn(local: SocketAddr, on_change: OnChange) -> PortMapper {
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(keep_mapped(local, on_change, stopped));
        PortMapper { stop, task }
    }

    /// Removes the mapping from the gateway (bounded wait) and ends the task.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        let _ = tokio::time::timeout(REMOVE_DEADLINE + Duration::from_secs(1), self.task).await;
    }
}

async fn keep_mapped(local: SocketAddr, on_change: OnChange, mut stopped: oneshot::Receiver<()>) {
    let mut told_failure = false;
    let mut retry = RETRY_AFTER;
    loop {
        let (mut mapping, external) = tokio::select! {
            result = request(local) => match result {
                Ok(found) => found,
                Err(MapError::NoGateway) => {
                    tracing::info!("port mapping: no default gateway, nothing to map");
                    return;
                }
                Err(e) => {
                    if !told_failure {
                        tracing::info!("port mapping: {e}");
                        told_failure = true;
                    }
                    tokio::select! {
                        () = tokio::time::sleep(retry) => {
                            retry = (retry * 2).min(RETRY_MAX);
                            continue;
                        }
                        _ = &mut stopped => return,
                    }
                }
            },
            _ = &mut stopped => return,
        };
        tracing::info!(
            "port mapping: {} maps {external} to port {}",
            mapping.protocol(),
            local.port()
        );
        on_change(Some(external));
        retry = RETRY_AFTER;
        loop {
            tokio::select! {
                () = tokio::time::sleep(mapping.renew_in()) => {
                    if let Err(e) = mapping.renew().await {
                        tracing::info!("port mapping: renewal failed ({e}); asking again");
                        on_change(None);
                        break;
                    }
                    tracing::debug!("port mapping renewed");
                }
                _ = &mut stopped => {
                    match tokio::time::timeout(REMOVE_DEADLINE, mapping.remove()).await {
                        Ok(Ok(())) => tracing::info!("port mapping removed"),
                        Ok(Err(e)) => tracing::info!("port mapping: removing failed: {e}"),
                        Err(_) => tracing::info!("port mapping: the gateway did not answer the removal"),
                    }
                    return;
                }
            }
        }
    }
}

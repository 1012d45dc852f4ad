//! Entry points behind `main`: parse the command line, set up logging, dispatch.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use clap::Parser;
use crypto_core::fingerprint;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::cli::{Cli, Command, RunArgs};
use crate::node::{Node, NodeConfig};
use crate::ui::{AppState, UiConfig};
use crate::{chat_cli, config, vectors_cmd};

/// Parses the command line and runs it.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // The terminal chat keeps stderr for its own status lines unless RUST_LOG asks for more.
    let default_level = match cli.command {
        Some(Command::Chat { .. } | Command::SendFile { .. }) => "warn",
        _ => "info",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            None => run_peer(cli.run).await.map(|()| ExitCode::SUCCESS),
            Some(Command::Id { port, storage }) => {
                let (identity, dir) = config::load_identity(&storage, port)?;
                let key = identity.public_key();
                println!("public key:  {}", key.to_base64());
                println!("fingerprint: {}", fingerprint(key));
                if let Some(dir) = dir {
                    println!("data dir:    {}", dir.display());
                }
                Ok(ExitCode::SUCCESS)
            }
            Some(Command::Invite {
                host,
                port,
                storage,
            }) => {
                let (identity, dir) = config::load_identity(&storage, port)?;
                let (host, port) = match host {
                    Some(host) => (host, port),
                    None => crate::reach::invite_command_target(dir.as_deref(), port),
                };
                let invite = crate::invite::Invite {
                    host: host
                        .trim_start_matches('[')
                        .trim_end_matches(']')
                        .to_owned(),
                    port,
                    key: *identity.public_key(),
                };
                println!("{}", invite.to_uri());
                Ok(ExitCode::SUCCESS)
            }
            Some(Command::Chat {
                address,
                name,
                linger_ms,
                handshake_timeout_ms,
                files_dir,
                max_file_size,
            }) => Ok(chat_cli::run(chat_cli::ChatOptions {
                address,
                name,
                linger: Duration::from_millis(linger_ms),
                handshake_timeout: Duration::from_millis(handshake_timeout_ms),
                files_dir,
                max_file_size,
            })
            .await),
            Some(Command::SendFile {
                address,
                path,
                port,
                data_dir,
                handshake_timeout_ms,
            }) => {
                let storage = crate::cli::StorageArgs {
                    data_dir,
                    ephemeral: false,
                };
                crate::send_file_cli::run(crate::send_file_cli::SendFileOptions {
                    address,
                    path,
                    storage,
                    port,
                    handshake_timeout: Duration::from_millis(handshake_timeout_ms),
                })
                .await
            }
            Some(Command::Url { port, data_dir }) => {
                let storage = crate::cli::StorageArgs {
                    data_dir,
                    ephemeral: false,
                };
                let dir = config::data_dir(&storage, port)?.context("no data directory")?;
                println!("{}", crate::ui_url::running_url(&dir)?);
                Ok(ExitCode::SUCCESS)
            }
            Some(Command::Search {
                query,
                conversation,
                limit,
                port,
                data_dir,
            }) => {
                // As grep: 0 something matched, 1 nothing did, 2 the search failed.
                let found = command_data_dir(data_dir, port).and_then(|dir| {
                    crate::history_cli::search(&dir, &query, conversation.as_deref(), limit.into())
                });
                Ok(match found {
                    Ok(0) => ExitCode::from(1),
                    Ok(_) => ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("p2p-chat: {e:#}");
                        ExitCode::from(2)
                    }
                })
            }
            Some(Command::Conversations { port, data_dir }) => {
                let dir = command_data_dir(data_dir, port)?;
                crate::history_cli::conversations(&dir)?;
                Ok(ExitCode::SUCCESS)
            }
            Some(Command::Export {
                conversation,
                format,
                port,
                data_dir,
            }) => {
                let dir = command_data_dir(data_dir, port)?;
                crate::history_cli::export(&dir, conversation.as_deref(), format)?;
                Ok(ExitCode::SUCCESS)
            }
            Some(Command::Vectors { dir, parity_out }) => Ok(vectors_cmd::run(
                &crate::assets::Assets {
                    vectors_dir: dir,
                    ..Default::default()
                },
                parity_out.as_deref(),
            )),
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("p2p-chat: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The data directory a history command reads: `--data-dir`, else the default one of `port`.
fn command_data_dir(
    data_dir: Option<std::path::PathBuf>,
    port: u16,
) -> anyhow::Result<std::path::PathBuf> {
    let storage = crate::cli::StorageArgs {
        data_dir,
        ephemeral: false,
    };
    config::data_dir(&storage, port)?.context("no data directory")
}

async fn resolve(host: &str, port: u16) -> anyhow::Result<SocketAddr> {
    tokio::net::lookup_host((host, port))
        .await
        .with_context(|| format!("cannot resolve {host}"))?
        .next()
        .with_context(|| format!("no address for {host}"))
}

/// A fresh UI token: 32 random bytes, base64url without padding.
pub fn new_token() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

/// Our display name at start: `--name` if given (and then saved), else the saved one.
fn own_name_at_start(store: &mut crate::store::Store, flag: &str) -> String {
    let flag = crypto_core::wire::clean_name(flag);
    if flag.is_empty() {
        return store.own_name().ok().flatten().unwrap_or_default();
    }
    if let Err(e) = store.set_own_name(&flag) {
        tracing::warn!("cannot save our name: {e}");
    }
    flag
}

/// Runs a peer until Ctrl-C/SIGTERM.
async fn run_peer(args: RunArgs) -> anyhow::Result<()> {
    let (identity, data_dir) = config::load_identity(&args.storage, args.port)?;
    let public = *identity.public_key();
    crate::limits::raise_nofile_limit();
    let ui_limits = args.limits.ui_limits();
    let store = match &data_dir {
        Some(dir) => crate::store::Store::open(dir.join(config::DATABASE_FILE)),
        None => crate::store::Store::open_in_memory(),
    }
    .map_err(|e| anyhow::anyhow!("cannot open the database: {e}"))?;
    let mut store = store;
    let name = own_name_at_start(&mut store, &args.name);
    store.set_timer_unit_ms(args.timer_unit_ms);
    store.set_early_amendment_max_ms(args.early_amendment_ms);
    let node = Node::with_limits(
        NodeConfig {
            identity,
            name,
            handshake_timeout: Duration::from_millis(args.handshake_timeout_ms),
            store: crate::persist::StoreHandle::spawn(store)
                .context("cannot start the store thread")?,
        },
        args.limits.node_limits(),
    );
    // Files and pictures live under the data directory (README); --ephemeral keeps none.
    if let Some(dir) = &data_dir {
        node.enable_files(args.files.config(dir.join("files")))
            .context("cannot create the files directory")?;
    }
    let p2p_addr = resolve(&args.host, args.port).await?;
    let p2p = node
        .listen(p2p_addr)
        .await
        .with_context(|| format!("cannot listen on {p2p_addr}"))?;
    node.start_redial(Duration::from_millis(args.redial_base_ms));
    let reach = crate::reach::Reach::start(
        p2p,
        crate::reach::ReachOptions {
            port_mapping: !args.no_port_mapping,
            data_dir: data_dir.clone(),
            interface_poll: Duration::from_millis(args.interface_poll_ms.max(10)),
        },
        {
            let node = node.clone();
            Arc::new(move |list| node.set_addresses(list))
        },
    );
    let mdns = crate::reach::mdns::Mdns::start(
        p2p,
        crate::reach::mdns::MdnsOptions {
            off: args.no_mdns,
            loopback_only: args.mdns_loopback,
        },
        crate::reach::mdns::MdnsPeer {
            key: public,
            name: {
                let node = node.clone();
                Arc::new(move || node.name())
            },
            publish: {
                let node = node.clone();
                Arc::new(move |people| node.set_nearby(people))
            },
        },
    );
    node.start_request_expiry();
    node.start_timers();
    let web_addr = resolve(&args.web_host, args.web_port).await?;
    let web_listener = TcpListener::bind(web_addr)
        .await
        .with_context(|| format!("cannot listen on {web_addr}"))?;
    let web = web_listener.local_addr()?;
    let token = new_token();
    let api_token = data_dir.as_ref().map(|_| new_token());
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let state = AppState {
        node: node.clone(),
        config: Arc::new(UiConfig {
            assets: crate::assets::Assets {
                web_dir: args.web_dir.clone(),
                vectors_dir: args.vectors_dir.clone(),
            },
            token: token.clone(),
            api_token: api_token.clone(),
            web_host: args.web_host.clone(),
            web_port: web.port(),
            limits: ui_limits,
            client_slots: Arc::new(tokio::sync::Semaphore::new(ui_limits.max_clients)),
        }),
        shutdown: shutdown_rx,
    };
    println!("p2p-chat P2P: listening on {p2p}");
    // On every interface, loopback reaches it; otherwise only the bound address does.
    let ui_host = match web.ip() {
        ip if ip.is_unspecified() => "127.0.0.1".to_owned(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    let ui_url = format!("http://{ui_host}:{}/?token={token}", web.port());
    // Written before the address is printed, so whoever reads that line finds the file; removed
    // again when this function returns (a clean exit).
    let _ui_url_file = match &data_dir {
        Some(dir) => {
            tracing::info!("data directory {}", dir.display());
            let file =
                crate::launch_file::LaunchFile::write(dir, crate::ui_url::UI_URL_FILE, &ui_url);
            Some(file.context("cannot write the UI address file")?)
        }
        None => {
            tracing::info!("ephemeral: nothing is written to disk");
            None
        }
    };
    let _api_token_file = match (&data_dir, &api_token) {
        (Some(dir), Some(api)) => Some(
            crate::launch_file::LaunchFile::write(dir, crate::api_token::API_TOKEN_FILE, api)
                .context("cannot write the local API token file")?,
        ),
        _ => None,
    };
    println!("p2p-chat UI: {ui_url}");
    println!(
        "p2p-chat identity: {} fingerprint {}",
        public.to_base64(),
        fingerprint(&public)
    );
    {
        use std::io::Write;
        let _ = std::io::stdout().flush();
    }
    if crate::browser::wanted(args.open, args.no_open) {
        crate::browser::open(ui_url);
    }
    // Every reply is one small write; without TCP_NODELAY a reply that follows another
    // unacknowledged one waits for the client's delayed ACK (~40 ms on Linux).
    let web_listener = axum::serve::ListenerExt::tap_io(web_listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let server =
        axum::serve(web_listener, crate::ui::router(state)).with_graceful_shutdown(async move {
            shutdown_signal().await;
            tracing::info!("shutting down");
            let _ = shutdown_tx.send(true);
        });
    server.await.context("web server failed")?;
    if let Some(mdns) = mdns {
        mdns.shutdown().await;
    }
    reach.shutdown().await;
    node.shutdown().await;
    Ok(())
}

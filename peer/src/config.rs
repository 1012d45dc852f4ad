//! Where things live: the data directory and the identity key file in it.
//!
//! The identity file is `identity.key` in the data directory: the 32 raw X25519 secret bytes
//! in standard base64 followed by a newline, mode 0600 (the directory is 0700). `--ephemeral`
//! writes nothing.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use crypto_core::{encoding, Identity};
use zeroize::Zeroizing;

use crate::cli::StorageArgs;

/// The SQLite database's name inside the data directory.
pub const DATABASE_FILE: &str = "p2p-chat.db";

/// The identity file's name inside the data directory.
pub const IDENTITY_FILE: &str = "identity.key";

/// The default data directory for a P2P port: `p2p-chat/peer-<port>` in the platform's data
/// directory (the `directories` crate): `$XDG_DATA_HOME` or `~/.local/share` on Linux (the
/// same place earlier versions used, so existing data directories keep working),
/// `~/Library/Application Support` on macOS, `%APPDATA%` on Windows.
pub fn default_data_dir(port: u16) -> anyhow::Result<PathBuf> {
    let base = directories::BaseDirs::new()
        .context("no home directory found; use --data-dir or --ephemeral")?;
    Ok(base
        .data_dir()
        .join("p2p-chat")
        .join(format!("peer-{port}")))
}

/// The data directory these options name, without creating it (`None` with `--ephemeral`).
pub fn data_dir(storage: &StorageArgs, port: u16) -> anyhow::Result<Option<PathBuf>> {
    if storage.ephemeral {
        return Ok(None);
    }
    match &storage.data_dir {
        Some(dir) => Ok(Some(dir.clone())),
        None => default_data_dir(port).map(Some),
    }
}

/// The identity for these storage options: a fresh one with `--ephemeral`, else loaded from
/// (or created in) the data directory. Also returns the directory used, if any.
pub fn load_identity(
    storage: &StorageArgs,
    port: u16,
) -> anyhow::Result<(Identity, Option<PathBuf>)> {
    let Some(dir) = data_dir(storage, port)? else {
        return Ok((Identity::generate(), None));
    };
    create_private_dir(&dir)?;
    crate::datadir::make_private(&dir)?;
    let identity = load_or_create_key(&dir.join(IDENTITY_FILE))?;
    Ok((identity, Some(dir)))
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .with_context(|| format!("cannot create data directory {}", dir.display()))
}

/// The identity kept in data directory `dir`, if it has one (creating nothing).
pub fn read_identity(dir: &Path) -> anyhow::Result<Option<Identity>> {
    let path = dir.join(IDENTITY_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => identity_from_text(&path, text).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => bail!("cannot read {}: {e}", path.display()),
    }
}

fn identity_from_text(path: &Path, text: String) -> anyhow::Result<Identity> {
    warn_if_readable_by_others(path);
    let text = Zeroizing::new(text);
    let bytes = Zeroizing::new(
        encoding::from_base64(text.trim())
            .ok()
            .with_context(|| format!("{} is not base64", path.display()))?,
    );
    let secret: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .ok()
        .with_context(|| format!("{} does not hold 32 bytes", path.display()))?;
    Ok(Identity::from_secret_bytes(secret))
}

fn load_or_create_key(path: &Path) -> anyhow::Result<Identity> {
    match fs::read_to_string(path) {
        Ok(text) => identity_from_text(path, text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let identity = Identity::generate();
            let mut options = fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            let mut file = options
                .open(path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            let mut text = Zeroizing::new(encoding::to_base64(identity.secret_bytes().as_ref()));
            text.push('\n');
            let written = file
                .write_all(text.as_bytes())
                .and_then(|()| file.sync_all());
            written.with_context(|| format!("cannot write {}", path.display()))?;
            tracing::info!("created a new identity in {}", path.display());
            Ok(identity)
        }
        Err(e) => bail!("cannot read {}: {e}", path.display()),
    }
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = fs::metadata(path) {
            if meta.permissions().mode() & 0o077 != 0 {
                tracing::warn!(
                    "{} is readable by other users; chmod 600 it",
                    path.display()
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_survives_a_reload_with_mode_0600() {
        let dir = std::env::temp_dir().join(format!("p2p-chat-test-{}", rand::random::<u64>()));
        let storage = StorageArgs {
            data_dir: Some(dir.clone()),
            ephemeral: false,
        };
        let (a, _) = load_identity(&storage, 0).unwrap();
        let (b, _) = load_identity(&storage, 0).unwrap();
        assert_eq!(a.public_key(), b.public_key());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.join(IDENTITY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        fs::remove_dir_all(&dir).unwrap();
    }
}
